// Introspection: what a node knows and hosts right now.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mesh/pid.hpp"

namespace mesh {

// One live activation hosted by a node.
struct ActivationInfo {
  std::string module;
  std::string id;
  std::string capability;
  std::uint32_t shard = 0;
  Pid pid;
};

// A consistent-enough picture of one node (each part is read under its own lock, so parts may
// be a moment apart). Plain value type.
struct NodeStatus {
  std::string name;
  std::uint64_t view_epoch = 0;       // increases on every membership or capability change
  std::vector<std::string> members;   // sorted; this node and its connected peers
  std::map<std::string, std::vector<std::uint32_t>> owned_shards;  // capability -> shards owned here
  std::size_t activations = 0;
  std::map<std::uint32_t, std::size_t> activations_per_shard;      // shards with activations only
  std::size_t handoffs_in_progress = 0;
  std::uint64_t reconciler_runs = 0;
  std::uint64_t reconciler_stopped = 0;  // activations the reconciler stopped, in total
  std::size_t timers = 0;  // timers running on this node's activations
  // Reminders on the shards this node owns, and how many of them are due and not yet handed to
  // their actor (read from the state store: a pass over the reminders; 0 without a store).
  std::uint64_t reminders_held = 0;
  std::uint64_t reminders_due = 0;
  std::uint64_t reminders_fired = 0;  // deliveries this node completed, in total
};

}  // namespace mesh

// NodeOptions: how a Node is started.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mesh/placement.hpp"

namespace mesh {

// Built with designated initializers, so the field order is part of the API: new fields go at
// the end. Node's constructor throws std::invalid_argument for values it cannot use.
struct NodeOptions {
  std::string name;                // unique in the cluster; empty = derived from host (and port)
  std::string listen;              // "host:port"; empty = standalone node, no network
  std::vector<std::string> seeds;  // "host:port" of nodes to join through
  std::string cookie;              // shared cluster secret; peers without it are refused
  std::uint32_t shard_count = 4096;                // 1 .. 1'048'576, the same on every node
  std::shared_ptr<PlacementStrategy> strategy;    // null = rendezvous_strategy()

  // Threads that run queued actor messages. 0 = one per hardware thread (at least 2). A call to
  // an idle actor runs on the caller's own thread instead, with no hand-off.
  std::uint32_t worker_threads = 0;
  // Extra threads the pool may add while its workers are blocked (a handler waiting on another
  // actor, or a handler running far longer than inline_limit), so that queued work for other
  // actors never waits behind them. Extra threads retire after a second without work.
  std::uint32_t max_extra_workers = 64;
  // A module whose handler ran longer than this stops running on callers' threads for a while:
  // its calls go through the pool, where a caller's timeout can cut the wait short.
  std::chrono::microseconds inline_limit{1000};
};

}  // namespace mesh

// Reminders seen from outside an actor: which actor, and what a reminder holds.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "mesh/value.hpp"

namespace mesh {

// Names one actor: the capability it is reached through, its module and its id (the fields a
// Request routes by).
struct ActorAddress {
  std::string capability;
  std::string module;
  std::string id;
};

// One reminder of an actor (Node::reminders).
struct ReminderInfo {
  std::string name;
  // When it fires next (while its owner is delivering it, the end of that delivery's lease).
  std::chrono::system_clock::time_point due;
  std::optional<std::chrono::milliseconds> period;  // none: it fires once
  Value payload;
};

// The largest reminder payload, as MessagePack bytes: a reminder names work, it does not carry it.
inline constexpr std::size_t kMaxReminderPayloadBytes = 64 * 1024;

}  // namespace mesh

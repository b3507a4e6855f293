// ActorType: one registered actor class (module) of a node.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "mesh/actor.hpp"

namespace mesh::detail {

// Lives as long as its node; activations point to it. Thread-safe: the only mutable part is the
// inline flag, an atomic hint.
struct ActorType {
  std::string module;
  const ActorVTable* vtable;
  ActorOptions options;
  // False while a handler of this type recently ran longer than NodeOptions::inline_limit: its
  // calls then go through the pool, where a caller's timeout can cut the wait short.
  std::atomic<bool> inline_allowed{true};
};

}  // namespace mesh::detail

// ActorType: one registered actor class (module) of a node.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "mesh/actor.hpp"
#include "runtime/host_metrics.hpp"

namespace mesh::detail {

// Lives as long as its node; activations point to it. Thread-safe: the only mutable part is the
// inline flag, an atomic hint.
struct ActorType {
  std::string module;
  const ActorVTable* vtable;
  ActorOptions options;
  // Whether idle actors of this type may run calls on callers' threads (HandlerMode): always
  // for non_blocking, never for blocking; adaptive types earn it with kFastRunsToInline fast
  // runs in a row and lose it with one slow run, for at least kSlowCooldown.
  // Mutable: hints the runtime updates through the const ActorType every activation points to.
  mutable std::atomic<bool> inline_allowed{false};
  mutable std::atomic<std::uint32_t> fast_runs{0};  // adaptive: fast runs since the last slow one
  mutable std::atomic<std::int64_t> slow_until_ms{0};  // adaptive: no inline runs before
  // Names the type's counts in host_metrics (process-wide, never reused).
  std::uint64_t metrics_id = host_metrics::new_type_id();
};

}  // namespace mesh::detail

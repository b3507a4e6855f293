// ActorRegistry: the actor types (modules) a node can activate.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/snapshot_cell.hpp"
#include "core/string_map.hpp"
#include "runtime/actor_type.hpp"

namespace mesh::detail {

// Types are added, never removed, and live as long as the registry. find() takes no lock.
// Thread-safe.
class ActorRegistry {
 public:
  ActorRegistry();
  // Throws std::invalid_argument for an empty name, std::logic_error for a taken one.
  const ActorType& add(std::string module, const ActorVTable& vtable, ActorOptions options);
  const ActorType* find(std::string_view module) const;
  // Every type, in the order added.
  std::vector<const ActorType*> all() const;

 private:
  using Index = StringMap<const ActorType*>;
  mutable std::mutex mutex_;
  std::deque<std::unique_ptr<ActorType>> types_;  // guarded by mutex_
  SnapshotCell<Index> index_;
};

}  // namespace mesh::detail

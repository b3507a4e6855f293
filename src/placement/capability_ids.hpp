// CapabilityIds: small stable numbers for capability names, so activations store 4 bytes.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

#include "core/string_map.hpp"

namespace mesh::detail {

// Ids are never reused or forgotten for the node's lifetime; names stay at a stable address.
// Thread-safe. Interning happens when a routing table is built, never on the call path.
class CapabilityIds {
 public:
  std::uint32_t intern(std::string_view capability) {
    std::lock_guard lock(mutex_);
    if (const auto it = ids_.find(capability); it != ids_.end()) return it->second;
    const auto id = static_cast<std::uint32_t>(names_.size());
    names_.emplace_back(capability);
    ids_.emplace(names_.back(), id);
    return id;
  }
  const std::string& name(std::uint32_t id) const {
    std::lock_guard lock(mutex_);
    return names_[id];
  }

 private:
  mutable std::mutex mutex_;
  StringMap<std::uint32_t> ids_;  // guarded by mutex_
  std::deque<std::string> names_; // guarded by mutex_; deque keeps addresses stable
};

}  // namespace mesh::detail

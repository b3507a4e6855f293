// RoutingTable: for one membership view, the owner of every shard of every capability.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/string_map.hpp"
#include "mesh/placement.hpp"

namespace mesh::detail {

// A node as placement sees it.
struct MemberInfo {
  std::string name;
  std::vector<std::string> capabilities;
};

// The nodes that have one capability and which of them owns each shard.
struct CapabilityRoute {
  std::uint32_t id;                  // the capability's interned id on this node
  std::vector<std::string> nodes;    // sorted, unique, never empty
  std::vector<std::uint32_t> owner;  // shard -> index into nodes
  std::uint32_t self;                // index of this node in nodes, or kNotMember
  static constexpr std::uint32_t kNotMember = ~0u;
  bool owned_here(std::uint32_t shard) const { return owner[shard] == self; }
  const std::string& owner_of(std::uint32_t shard) const { return nodes[owner[shard]]; }
};

// Immutable once built; shared between threads through a SnapshotCell. Building it asks the
// strategy once per (capability, shard); reading it is a hash lookup and an array index.
class RoutingTable {
 public:
  // intern(capability) gives the capability's id; self is this node's name.
  RoutingTable(std::uint64_t epoch, std::span<const MemberInfo> members,
               const PlacementStrategy& strategy, std::uint32_t shard_count,
               std::string_view self,
               const std::function<std::uint32_t(std::string_view)>& intern);

  RoutingTable(const RoutingTable&) = delete;  // by_id_ points into routes_
  RoutingTable& operator=(const RoutingTable&) = delete;

  std::uint64_t epoch() const { return epoch_; }
  std::uint32_t shard_count() const { return shard_count_; }
  // Null when no member has the capability.
  const CapabilityRoute* find(std::string_view capability) const;
  // Whether this node owns the shard of the capability with interned id `capability`.
  bool owned_here(std::uint32_t capability, std::uint32_t shard) const {
    const CapabilityRoute* route = capability < by_id_.size() ? by_id_[capability] : nullptr;
    return route && shard < shard_count_ && route->owned_here(shard);
  }
  const std::vector<std::string>& capabilities() const { return capabilities_; }  // sorted

 private:
  std::uint64_t epoch_;
  std::uint32_t shard_count_;
  StringMap<CapabilityRoute> routes_;
  std::vector<std::string> capabilities_;
  std::vector<const CapabilityRoute*> by_id_;  // interned id -> route (into routes_)
};

}  // namespace mesh::detail

#include "placement/routing_table.hpp"

#include <algorithm>
#include <map>

namespace mesh::detail {

RoutingTable::RoutingTable(std::uint64_t epoch, std::span<const MemberInfo> members,
                           const PlacementStrategy& strategy, std::uint32_t shard_count,
                           std::string_view self,
                           const std::function<std::uint32_t(std::string_view)>& intern)
    : epoch_(epoch), shard_count_(shard_count) {
  std::map<std::string, std::vector<std::string>, std::less<>> by_capability;
  for (const MemberInfo& member : members) {
    for (const std::string& capability : member.capabilities) {
      by_capability[capability].push_back(member.name);
    }
  }
  for (auto& [capability, nodes] : by_capability) {
    std::sort(nodes.begin(), nodes.end());
    nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
    const auto me = std::lower_bound(nodes.begin(), nodes.end(), self);
    const std::uint32_t self_index = me != nodes.end() && *me == self
                                         ? static_cast<std::uint32_t>(me - nodes.begin())
                                         : CapabilityRoute::kNotMember;
    CapabilityRoute route{intern(capability), std::move(nodes),
                          std::vector<std::uint32_t>(shard_count), self_index};
    for (std::uint32_t shard = 0; shard < shard_count; ++shard) {
      route.owner[shard] = static_cast<std::uint32_t>(
          strategy.owner(shard, capability, route.nodes) % route.nodes.size());
    }
    capabilities_.push_back(capability);
    routes_.emplace(capability, std::move(route));
  }
  for (const std::string& capability : capabilities_) {
    const CapabilityRoute* route = find(capability);
    if (route->id >= by_id_.size()) by_id_.resize(route->id + 1, nullptr);
    by_id_[route->id] = route;
  }
}

const CapabilityRoute* RoutingTable::find(std::string_view capability) const {
  const auto it = routes_.find(capability);
  return it == routes_.end() ? nullptr : &it->second;
}

}  // namespace mesh::detail

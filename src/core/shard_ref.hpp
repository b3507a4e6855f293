// ShardRef: one shard of one capability, the unit that moves between nodes.
#pragma once

#include <compare>
#include <cstdint>

namespace mesh::detail {

// `capability` is the capability's interned id on this node (placement/capability_ids.hpp), not
// a wire value: on the wire a shard travels with its capability's name.
struct ShardRef {
  std::uint32_t capability;
  std::uint32_t shard;
  friend auto operator<=>(const ShardRef&, const ShardRef&) = default;
};

}  // namespace mesh::detail

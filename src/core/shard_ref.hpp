// ShardRef: one shard of one capability, the unit that moves between nodes.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace mesh::detail {

// `capability` is the capability's interned id on this node (placement/capability_ids.hpp), not
// a wire value: on the wire a shard travels with its capability's name.
struct ShardRef {
  std::uint32_t capability;
  std::uint32_t shard;
  friend auto operator<=>(const ShardRef&, const ShardRef&) = default;
};

// The shards of one capability that travel between this node and one peer together (a RELEASE,
// an ASK_RELEASE): who, and which capability (interned id).
struct PeerCapability {
  std::string peer;
  std::uint32_t capability;
  friend auto operator<=>(const PeerCapability&, const PeerCapability&) = default;
};

}  // namespace mesh::detail

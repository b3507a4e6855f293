// Placement: which shard an actor id falls in, and which node owns a shard.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace mesh {

// The stable 64-bit hash of an actor id: XXH3-64 (xxHash 0.8, seed 0) of the id's bytes. It is
// the same on every node, platform and version; changing it would move every actor.
// Thread-safe (pure function).
std::uint64_t stable_hash(std::string_view id) noexcept;

// stable_hash(id) % shard_count. shard_count must be > 0. Thread-safe (pure function).
std::uint32_t shard_of(std::string_view id, std::uint32_t shard_count) noexcept;

// Maps a shard to its owner among the nodes that have a capability. A node calls owner() once
// per shard and capability each time its view changes, never on the call path, and every node
// must use the same strategy or they will disagree on owners. Implementations must be
// deterministic (same inputs, same answer on every node) and thread-safe.
class PlacementStrategy {
 public:
  virtual ~PlacementStrategy() = default;
  // nodes: names of the nodes with `capability`, sorted, never empty. Returns an index into
  // nodes; an out-of-range index is treated as index % nodes.size().
  virtual std::size_t owner(std::uint32_t shard, std::string_view capability,
                            std::span<const std::string> nodes) const = 0;
};

// The default. Highest-random-weight (rendezvous) hashing: each shard goes to the node whose
// hash of (node name, shard) is largest, so a join or leave moves only the ~1/n of shards that
// the change must move. Documented in docs/placement.md.
std::shared_ptr<PlacementStrategy> rendezvous_strategy();

// nodes[shard % n], the Elixir Mesh default. Simple, but a join moves most shards
// (about 75% going from 3 to 4 nodes).
std::shared_ptr<PlacementStrategy> modulo_strategy();

}  // namespace mesh

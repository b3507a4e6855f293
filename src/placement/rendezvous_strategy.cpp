#include <cstdint>

#include "mesh/placement.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace mesh {
namespace {

// Weight of (node, shard): XXH3-64 of the node name seeded with the shard. Every node computes
// the same weights, and a node's weights do not depend on which other nodes exist, which is
// what makes a join or leave move only the shards it must.
std::uint64_t weight(std::string_view node, std::uint32_t shard) noexcept {
  return XXH3_64bits_withSeed(node.data(), node.size(), shard);
}

class RendezvousStrategy final : public PlacementStrategy {
 public:
  std::size_t owner(std::uint32_t shard, std::string_view /*capability*/,
                    std::span<const std::string> nodes) const override {
    std::size_t best = 0;
    std::uint64_t best_weight = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const std::uint64_t w = weight(nodes[i], shard);
      // Ties (astronomically rare) go to the smaller name, which is the earlier index.
      if (i == 0 || w > best_weight) {
        best = i;
        best_weight = w;
      }
    }
    return best;
  }
};

}  // namespace

std::shared_ptr<PlacementStrategy> rendezvous_strategy() {
  static const auto instance = std::make_shared<RendezvousStrategy>();
  return instance;
}

}  // namespace mesh

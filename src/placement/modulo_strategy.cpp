#include "mesh/placement.hpp"

namespace mesh {
namespace {

class ModuloStrategy final : public PlacementStrategy {
 public:
  std::size_t owner(std::uint32_t shard, std::string_view /*capability*/,
                    std::span<const std::string> nodes) const override {
    return shard % nodes.size();
  }
};

}  // namespace

std::shared_ptr<PlacementStrategy> modulo_strategy() {
  static const auto instance = std::make_shared<ModuloStrategy>();
  return instance;
}

}  // namespace mesh

#include "store/store_contract.hpp"

namespace mesh::testing {
namespace {

std::shared_ptr<StateStore> open_memory(bool reopen) {
  static std::shared_ptr<StateStore> last;
  if (!reopen || !last) last = memory_store();
  return last;
}

INSTANTIATE_TEST_SUITE_P(Memory, StoreContract,
                         ::testing::Values(StoreFactory{"memory", open_memory}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace mesh::testing

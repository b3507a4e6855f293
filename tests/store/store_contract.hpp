// The contract every StateStore keeps (include/mesh/state_store.hpp), as one parametrized
// suite: each store's test file instantiates it with a factory for that store.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include <mesh/state_store.hpp>

namespace mesh::testing {

// Opens a store. `reopen` = the same database as the previous call of this test (a restart):
// a file store opens the same file, a server store connects again; the memory store, which
// has no second life, returns the same object.
struct StoreFactory {
  std::string name;
  std::function<std::shared_ptr<StateStore>(bool reopen)> open;
};

inline std::string PrintToString(const StoreFactory& factory) { return factory.name; }

class StoreContract : public ::testing::TestWithParam<StoreFactory> {
 protected:
  std::shared_ptr<StateStore> open(bool reopen = false) { return GetParam().open(reopen); }
};

}  // namespace mesh::testing

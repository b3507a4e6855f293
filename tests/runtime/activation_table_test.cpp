#include "runtime/activation_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace mesh::detail {
namespace {

struct Dummy {
  explicit Dummy(std::string) {}
  Value handle_call(Value v) { return v; }
};

const ActorType kType{"Dummy", &actor_vtable<Dummy>, {}};

TEST(ActivationTableTest, MatchesAReferenceMapUnderRandomChurn) {
  ActivationTable table;
  std::map<std::string, Activation*> reference;
  std::mt19937 random(7);
  for (int step = 0; step < 20000; ++step) {
    const std::string id = "id-" + std::to_string(random() % 500);
    // Few distinct hashes force long probe runs and wrap-around.
    const std::uint32_t hash = static_cast<std::uint32_t>(std::hash<std::string>{}(id) % 37);
    Activation* found = table.find(hash, 0, &kType, id);
    auto it = reference.find(id);
    ASSERT_EQ(found, it == reference.end() ? nullptr : it->second) << id;
    if (found && random() % 2) {
      table.erase(found);
      reference.erase(it);
      Activation::destroy(found);
    } else if (!found) {
      Activation* a = Activation::create(kType, 0, id, step, hash);
      table.insert(a);
      reference.emplace(id, a);
    }
    ASSERT_EQ(table.size(), reference.size());
  }
  for (auto& [id, a] : reference) {
    EXPECT_EQ(table.find(a->key_hash, 0, &kType, id), a);
    table.erase(a);
    Activation::destroy(a);
  }
  EXPECT_EQ(table.size(), 0u);
}

// A slot's tag holds 16 bits of the key hash: up to 65,536 slots it places entries in a rehash,
// past that the activation's own hash must. 100,000 entries take the table past it and back
// (erasing shrinks it); hashes that share their low 16 bits, which the tags cannot tell apart,
// must still be found by the hash and id behind them.
TEST(ActivationTableTest, FindsEveryEntryPastTheTagsReach) {
  ActivationTable table;
  std::vector<Activation*> live;
  std::mt19937 random(11);
  for (std::uint32_t i = 0; i < 100'000; ++i) {
    // Every fourth one shares its low 16 bits with the one before it.
    const std::uint32_t hash =
        i % 4 == 3 ? (live.back()->key_hash ^ 0x5A5A0000u) : static_cast<std::uint32_t>(random());
    Activation* a = Activation::create(kType, 0, "n" + std::to_string(i), i, hash);
    table.insert(a);
    live.push_back(a);
  }
  for (Activation* a : live) ASSERT_EQ(table.find(a->key_hash, 0, &kType, a->id()), a);
  std::shuffle(live.begin(), live.end(), random);
  while (live.size() > 1'000) {
    table.erase(live.back());
    Activation::destroy(live.back());
    live.pop_back();
    if (live.size() % 9'973 == 0) {
      for (Activation* a : live) ASSERT_EQ(table.find(a->key_hash, 0, &kType, a->id()), a);
    }
  }
  EXPECT_EQ(table.size(), live.size());
  for (Activation* a : live) {
    EXPECT_EQ(table.find(a->key_hash, 0, &kType, a->id()), a);
    table.erase(a);
    Activation::destroy(a);
  }
  EXPECT_EQ(table.size(), 0u);
}

TEST(ActivationTableTest, KeyIncludesCapabilityAndType) {
  const ActorType other{"Other", &actor_vtable<Dummy>, {}};
  ActivationTable table;
  Activation* a = Activation::create(kType, 1, "x", 1, 5);
  Activation* b = Activation::create(kType, 2, "x", 2, 5);
  Activation* c = Activation::create(other, 1, "x", 3, 5);
  for (Activation* p : {a, b, c}) table.insert(p);
  EXPECT_EQ(table.find(5, 1, &kType, "x"), a);
  EXPECT_EQ(table.find(5, 2, &kType, "x"), b);
  EXPECT_EQ(table.find(5, 1, &other, "x"), c);
  EXPECT_EQ(table.find(5, 3, &kType, "x"), nullptr);
  for (Activation* p : {a, b, c}) {
    table.erase(p);
    Activation::destroy(p);
  }
}

}  // namespace
}  // namespace mesh::detail

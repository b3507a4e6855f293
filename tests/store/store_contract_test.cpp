#include "store/store_contract.hpp"

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "support/expect.hpp"

namespace mesh::testing {
namespace {

StateKey key(std::string id, std::uint32_t shard = 3, std::string capability = "game") {
  return StateKey{std::move(capability), "Counter", std::move(id), shard};
}

TEST_P(StoreContract, ClaimsOfAShardAreIncreasingAndShardsAreIndependent) {
  auto store = open();
  auto first = store->claim("game", 3, "a");
  ASSERT_TRUE(test::HasValue(first));
  auto second = store->claim("game", 3, "b");
  ASSERT_TRUE(test::HasValue(second));
  EXPECT_GT(*second, *first);
  auto other_shard = store->claim("game", 4, "a");
  auto other_capability = store->claim("chat", 3, "a");
  ASSERT_TRUE(test::HasValue(other_shard));
  ASSERT_TRUE(test::HasValue(other_capability));
  // A claim elsewhere does not supersede shard 3's latest claim.
  auto saved = store->save(std::vector<StateWrite>{{key("p"), *second, "x"}});
  ASSERT_TRUE(test::HasValue(saved));
  EXPECT_TRUE(saved->empty());
}

TEST_P(StoreContract, NothingStoredLoadsAsNothing) {
  auto store = open();
  auto loaded = store->load(key("never-saved"));
  ASSERT_TRUE(test::HasValue(loaded));
  EXPECT_FALSE(loaded->has_value());
}

TEST_P(StoreContract, ASaveUnderTheLatestClaimIsLoadedBackByteForByte) {
  auto store = open();
  const std::uint64_t fence = store->claim("game", 3, "a").value();
  const std::string bytes("\x81\xa1n\x00\xff 'quoted' \"x\"", 17);
  auto saved = store->save(std::vector<StateWrite>{{key("p1"), fence, bytes}});
  ASSERT_TRUE(test::HasValue(saved));
  EXPECT_TRUE(saved->empty());
  auto loaded = store->load(key("p1"));
  ASSERT_TRUE(test::HasValue(loaded));
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ(**loaded, bytes);
  auto other = store->load(StateKey{"game", "Other", "p1", 3});
  ASSERT_TRUE(test::HasValue(other));
  EXPECT_FALSE(other->has_value()) << "module is part of the key";
}

TEST_P(StoreContract, ASupersededClaimCannotCommit) {
  auto store = open();
  const std::uint64_t old_fence = store->claim("game", 3, "zombie").value();
  ASSERT_TRUE(test::HasValue(store->save(std::vector<StateWrite>{{key("p"), old_fence, "1"}})));
  const std::uint64_t new_fence = store->claim("game", 3, "owner").value();
  ASSERT_TRUE(test::HasValue(store->save(std::vector<StateWrite>{{key("p"), new_fence, "2"}})));
  auto stale = store->save(std::vector<StateWrite>{{key("p"), old_fence, "zombie"}});
  ASSERT_TRUE(test::HasValue(stale));
  EXPECT_EQ(*stale, (std::vector<std::size_t>{0}));
  EXPECT_EQ(store->load(key("p")).value(), std::optional<std::string>("2"));
  auto never_claimed = store->save(std::vector<StateWrite>{{key("q", 9), 1234567, "x"}});
  ASSERT_TRUE(test::HasValue(never_claimed));
  EXPECT_EQ(*never_claimed, (std::vector<std::size_t>{0})) << "a fence nobody was given";
}

TEST_P(StoreContract, ABatchAppliesItsCurrentWritesInOrderAndSkipsTheFencedOnes) {
  auto store = open();
  const std::uint64_t stale = store->claim("game", 5, "zombie").value();
  const std::uint64_t shard5 = store->claim("game", 5, "owner").value();
  const std::uint64_t shard6 = store->claim("game", 6, "owner").value();
  std::vector<StateWrite> batch{{key("a", 5), shard5, "a1"},
                                {key("b", 6), shard6, "b1"},
                                {key("a", 5), stale, "zombie"},
                                {key("a", 5), shard5, "a2"}};
  auto saved = store->save(batch);
  ASSERT_TRUE(test::HasValue(saved));
  EXPECT_EQ(*saved, (std::vector<std::size_t>{2}));
  EXPECT_EQ(store->load(key("a", 5)).value(), std::optional<std::string>("a2"));
  EXPECT_EQ(store->load(key("b", 6)).value(), std::optional<std::string>("b1"));
  auto empty = store->save({});
  ASSERT_TRUE(test::HasValue(empty));
  EXPECT_TRUE(empty->empty());
}

TEST_P(StoreContract, EraseIsFencedAndIdempotent) {
  auto store = open();
  const std::uint64_t old_fence = store->claim("game", 3, "a").value();
  ASSERT_TRUE(test::HasValue(store->save(std::vector<StateWrite>{{key("e"), old_fence, "v"}})));
  const std::uint64_t fence = store->claim("game", 3, "b").value();
  auto refused = store->erase(key("e"), old_fence);
  ASSERT_TRUE(test::IsError(refused, Errc::fenced));
  EXPECT_EQ(store->load(key("e")).value(), std::optional<std::string>("v"));
  ASSERT_TRUE(test::HasValue(store->erase(key("e"), fence)));
  EXPECT_FALSE(store->load(key("e")).value().has_value());
  EXPECT_TRUE(test::HasValue(store->erase(key("e"), fence))) << "erasing nothing succeeds";
}

TEST_P(StoreContract, ConcurrentClaimsAllGetDistinctTokens) {
  auto store = open();
  constexpr int kThreads = 4;
  constexpr int kClaims = 25;
  std::vector<std::vector<std::uint64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kClaims; ++i) {
        auto fence = store->claim("game", 11, "n" + std::to_string(t));
        if (fence) got[static_cast<std::size_t>(t)].push_back(*fence);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::uint64_t> all;
  for (const auto& tokens : got) {
    EXPECT_EQ(tokens.size(), static_cast<std::size_t>(kClaims));
    EXPECT_TRUE(std::is_sorted(tokens.begin(), tokens.end()));
    all.insert(tokens.begin(), tokens.end());
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kClaims));
}

TEST_P(StoreContract, StateAndClaimsOutliveTheStoreObject) {
  std::uint64_t fence = 0;
  {
    auto store = open();
    fence = store->claim("game", 7, "a").value();
    ASSERT_TRUE(test::HasValue(store->save(std::vector<StateWrite>{{key("kept", 7), fence, "v"}})));
  }
  auto store = open(/*reopen=*/true);
  EXPECT_EQ(store->load(key("kept", 7)).value(), std::optional<std::string>("v"));
  auto next = store->claim("game", 7, "b");
  ASSERT_TRUE(test::HasValue(next));
  EXPECT_GT(*next, fence) << "tokens keep increasing across restarts";
}

}  // namespace
}  // namespace mesh::testing

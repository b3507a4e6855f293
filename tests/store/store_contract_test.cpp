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

TEST_P(StoreContract, ClaimManyClaimsEachShardInOrder) {
  auto store = open();
  const std::uint64_t before = store->claim("game", 4, "a").value();
  const std::vector<std::uint32_t> shards{2, 4, 9};
  auto fences = store->claim_many("game", shards, "b");
  ASSERT_TRUE(test::HasValue(fences));
  ASSERT_EQ(fences->size(), 3u);
  EXPECT_GT((*fences)[1], before) << "a claim raises the shard's token";
  // Each returned token is its shard's latest: writes under them apply.
  for (std::size_t i = 0; i < shards.size(); ++i) {
    auto saved = store->save(std::vector<StateWrite>{{key("m", shards[i]), (*fences)[i], "v"}});
    ASSERT_TRUE(test::HasValue(saved));
    EXPECT_TRUE(saved->empty()) << "shard " << shards[i];
  }
  auto stale = store->save(std::vector<StateWrite>{{key("m", 4), before, "old"}});
  ASSERT_TRUE(test::HasValue(stale));
  EXPECT_EQ(*stale, std::vector<std::size_t>{0}) << "the batch claim fenced the earlier one";
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

// --- Reminders ----------------------------------------------------------------------------

ReminderRow reminder(std::string id, std::string name, std::int64_t due, std::int64_t period = 0,
                     std::uint32_t shard = 3) {
  return ReminderRow{key(std::move(id), shard), std::move(name), due, period, "\x81\xa1p\x01", 0};
}

std::vector<ShardFence> asking(std::vector<ShardFence> list) { return list; }

std::vector<std::string> names_of(const std::vector<ReminderRow>& rows) {
  std::vector<std::string> names;
  for (const ReminderRow& r : rows) names.push_back(r.key.id + "/" + r.name);
  return names;
}

TEST_P(StoreContract, RemindersAreSetListedReplacedAndRemovedIdempotently) {
  auto store = open();
  const std::uint64_t fence = store->claim("game", 3, "a").value();
  ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("p", "tick", 1000, 500), fence)));
  ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("p", "expire", 9000), fence)));
  ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("q", "tick", 1000), fence)));
  auto listed = store->reminders_of(key("p"));
  ASSERT_TRUE(test::HasValue(listed));
  ASSERT_EQ(names_of(*listed), (std::vector<std::string>{"p/expire", "p/tick"}));
  EXPECT_EQ((*listed)[1].due_ms, 1000);
  EXPECT_EQ((*listed)[1].period_ms, 500);
  EXPECT_EQ((*listed)[1].payload, "\x81\xa1p\x01");
  const std::uint64_t first_generation = (*listed)[1].generation;

  // The same name again replaces it, with a new generation.
  ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("p", "tick", 4000, 0), fence)));
  listed = store->reminders_of(key("p"));
  ASSERT_TRUE(test::HasValue(listed));
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[1].due_ms, 4000);
  EXPECT_EQ((*listed)[1].period_ms, 0);
  EXPECT_NE((*listed)[1].generation, first_generation);

  EXPECT_EQ(store->remove_reminder(key("p"), "tick", fence).value(), true);
  EXPECT_EQ(store->remove_reminder(key("p"), "tick", fence).value(), false);
  EXPECT_EQ(names_of(store->reminders_of(key("p")).value()), std::vector<std::string>{"p/expire"});
}

TEST_P(StoreContract, ReminderWritesUnderASupersededClaimAreFenced) {
  auto store = open();
  const std::uint64_t old_fence = store->claim("game", 3, "zombie").value();
  ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("p", "r", 10), old_fence)));
  const std::uint64_t fence = store->claim("game", 3, "owner").value();
  EXPECT_TRUE(test::IsError(store->set_reminder(reminder("p", "r2", 10), old_fence), Errc::fenced));
  EXPECT_TRUE(test::IsError(store->remove_reminder(key("p"), "r", old_fence), Errc::fenced));
  auto refused = store->take_due("game", asking({{3, old_fence}, {9, fence}}), 100, 5000, 10);
  ASSERT_TRUE(test::HasValue(refused));
  EXPECT_TRUE(refused->rows.empty());
  EXPECT_EQ(refused->fenced, (std::vector<std::uint32_t>{3, 9}))
      << "a superseded fence, and a shard never claimed, which has no current fence";
  EXPECT_EQ(names_of(store->reminders_of(key("p")).value()), std::vector<std::string>{"p/r"});
  auto taken = store->take_due("game", asking({{3, fence}}), 100, 5000, 10);
  ASSERT_TRUE(test::HasValue(taken));
  EXPECT_EQ(names_of(taken->rows), std::vector<std::string>{"p/r"});
  EXPECT_TRUE(taken->fenced.empty());
}

TEST_P(StoreContract, TakeDueHandsOutTheEarliestAndFiredMovesOrRemovesThem) {
  auto store = open();
  const std::uint64_t fence = store->claim("game", 3, "a").value();
  const std::uint64_t other = store->claim("game", 5, "a").value();
  ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("a", "late", 300), fence)));
  ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("b", "periodic", 200, 1000), fence)));
  ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("c", "once", 100), fence)));
  ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("d", "elsewhere", 50, 0, 5), other)));

  auto shards = store->reminder_shards("game", /*now=*/250);
  ASSERT_TRUE(test::HasValue(shards));
  EXPECT_EQ(*shards, (std::vector<ShardReminders>{{3, 100, 3, 2}, {5, 50, 1, 1}}));
  EXPECT_TRUE(store->reminder_shards("chat", 250).value().empty());
  EXPECT_EQ(store->next_due("game", 3).value(), std::optional<std::int64_t>(100));
  EXPECT_EQ(store->next_due("game", 4).value(), std::nullopt);

  auto result = store->take_due("game", asking({{3, fence}, {5, other}}), /*now=*/250,
                                /*lease_until=*/10'000, 10);
  ASSERT_TRUE(test::HasValue(result));
  const std::vector<ReminderRow> taken = result->rows;
  ASSERT_EQ(names_of(taken), (std::vector<std::string>{"c/once", "b/periodic", "d/elsewhere"}));
  EXPECT_EQ(taken[0].due_ms, 100) << "rows carry their due time";
  EXPECT_EQ(taken[1].period_ms, 1000);
  EXPECT_EQ(taken[2].key.shard, 5u);
  EXPECT_TRUE(result->fenced.empty());
  EXPECT_TRUE(result->leased.empty());

  std::vector<FiredReminder> fired{{taken[0].key, "once", taken[0].generation, std::nullopt},
                                   {taken[1].key, "periodic", taken[1].generation, 1200}};
  ASSERT_TRUE(test::HasValue(store->fired("game", fired, {})));
  EXPECT_TRUE(store->reminders_of(key("c")).value().empty()) << "a one-shot is gone once fired";
  auto periodic = store->reminders_of(key("b")).value();
  ASSERT_EQ(periodic.size(), 1u);
  EXPECT_EQ(periodic[0].due_ms, 1200);
  EXPECT_EQ(store->next_due("game", 3).value(), std::optional<std::int64_t>(300));

  ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("e", "later", 400), fence)));
  auto limited = store->take_due("game", asking({{3, fence}}), 5000, 10'000, 1);
  ASSERT_TRUE(test::HasValue(limited));
  EXPECT_EQ(names_of(limited->rows), std::vector<std::string>{"a/late"})
      << "earliest first, limit 1 per shard";
}

TEST_P(StoreContract, ALeaseKeepsOtherClaimantsOffItsShardUntilReleasedOrEnded) {
  auto store = open();
  const std::uint64_t old_fence = store->claim("game", 3, "old-owner").value();
  ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("p", "r", 100), old_fence)));
  ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("q", "r", 100, 500), old_fence)));
  auto first = store->take_due("game", asking({{3, old_fence}}), 200, /*lease_until=*/5000, 10);
  ASSERT_TRUE(test::HasValue(first));
  ASSERT_EQ(first->rows.size(), 2u);

  // The shard moves: its new owner claims it while the old one still delivers.
  const std::uint64_t fence = store->claim("game", 3, "new-owner").value();
  auto waiting = store->take_due("game", asking({{3, fence}}), 300, 6000, 10);
  ASSERT_TRUE(test::HasValue(waiting));
  EXPECT_TRUE(waiting->rows.empty()) << "nothing is taken twice while the lease holds";
  EXPECT_EQ(waiting->leased, (std::vector<std::pair<std::uint32_t, std::int64_t>>{{3, 5000}}));
  auto stale = store->take_due("game", asking({{3, old_fence}}), 300, 6000, 10);
  ASSERT_TRUE(test::HasValue(stale));
  EXPECT_EQ(stale->fenced, std::vector<std::uint32_t>{3}) << "the old owner takes no more";

  // The old owner records what it delivered and releases the shard (its fence is stale, its
  // lease is not): the new owner takes what is left at once.
  std::vector<FiredReminder> fired{
      {first->rows[0].key, "r", first->rows[0].generation, std::nullopt}};
  ASSERT_TRUE(test::HasValue(store->fired("game", fired, asking({{3, old_fence}}))));
  auto after = store->take_due("game", asking({{3, fence}}), 300, 6000, 10);
  ASSERT_TRUE(test::HasValue(after));
  EXPECT_EQ(names_of(after->rows), std::vector<std::string>{"q/r"})
      << "the delivery the old owner did not record is delivered again";

  // A lease nobody releases (its holder died) ends by itself.
  const std::uint64_t third = store->claim("game", 3, "third-owner").value();
  auto before_end = store->take_due("game", asking({{3, third}}), 5999, 9000, 10);
  ASSERT_TRUE(test::HasValue(before_end));
  EXPECT_TRUE(before_end->rows.empty());
  EXPECT_EQ(before_end->leased.size(), 1u);
  auto after_end = store->take_due("game", asking({{3, third}}), 6000, 9000, 10);
  ASSERT_TRUE(test::HasValue(after_end));
  EXPECT_EQ(names_of(after_end->rows), std::vector<std::string>{"q/r"});
  EXPECT_TRUE(after_end->leased.empty());
}

TEST_P(StoreContract, FiredLeavesAReminderThatWasSetAgainMeanwhile) {
  auto store = open();
  const std::uint64_t fence = store->claim("game", 3, "a").value();
  ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("p", "r", 100), fence)));
  auto taken = store->take_due("game", asking({{3, fence}}), 200, 10'000, 10).value().rows;
  ASSERT_EQ(taken.size(), 1u);
  ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("p", "r", 7000), fence)));
  std::vector<FiredReminder> fired{{taken[0].key, "r", taken[0].generation, std::nullopt}};
  ASSERT_TRUE(test::HasValue(store->fired("game", fired, asking({{3, fence}}))));
  auto kept = store->reminders_of(key("p")).value();
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].due_ms, 7000);
}

TEST_P(StoreContract, RemindersOutliveTheStoreObject) {
  {
    auto store = open();
    const std::uint64_t fence = store->claim("game", 3, "a").value();
    ASSERT_TRUE(test::HasValue(store->set_reminder(reminder("p", "kept", 123, 60'000), fence)));
  }
  auto store = open(/*reopen=*/true);
  auto kept = store->reminders_of(key("p"));
  ASSERT_TRUE(test::HasValue(kept));
  ASSERT_EQ(kept->size(), 1u);
  EXPECT_EQ((*kept)[0].due_ms, 123);
  EXPECT_EQ((*kept)[0].period_ms, 60'000);
}

}  // namespace
}  // namespace mesh::testing

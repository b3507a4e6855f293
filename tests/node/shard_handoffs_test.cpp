// ShardHandoffs on its own: asking again for a release that does not come, and answers.
#include "node/shard_handoffs.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace mesh::detail {
namespace {

using namespace std::chrono_literals;
using Clock = ShardHandoffs::Clock;

struct Adopted {
  std::vector<ShardRef> keys;
};

// Release work runs as soon as it is posted (after the releasing call let go of the lock).
ShardHandoffs make(Adopted& adopted) {
  return ShardHandoffs(
      [&adopted](const ShardRef& key, std::vector<ArrivingActor>&&) { adopted.keys.push_back(key); },
      [](std::function<void()> task) { task(); });
}

TEST(ShardHandoffsTest, AWaitIsAskedAboutAgainWithGrowingDelays) {
  Adopted adopted;
  ShardHandoffs handoffs = make(adopted);
  const auto start = Clock::now();
  handoffs.expect({1, 7}, "old", start + 10s);
  handoffs.expect({1, 9}, "old", start + 10s);
  const auto no_jitter = [] { return 1.0; };
  EXPECT_TRUE(handoffs.due_asks(start, no_jitter).empty()) << "not before the first 50 ms";

  auto first = handoffs.due_asks(start + 60ms, no_jitter);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first.begin()->first, (PeerCapability{"old", 1}));
  EXPECT_EQ(first.begin()->second, (std::vector<std::uint32_t>{7, 9})) << "one ask per owner";
  EXPECT_TRUE(handoffs.due_asks(start + 100ms, no_jitter).empty());

  // 100 ms after the first ask, then 200, 400, 800, 1000, 1000: exponential, capped at 1 s.
  std::vector<Clock::duration> gaps;
  auto last = start + 60ms;
  for (auto t = last; t < start + 5s; t += 10ms) {
    if (!handoffs.due_asks(t, no_jitter).empty()) {
      gaps.push_back(t - last);
      last = t;
    }
  }
  ASSERT_GE(gaps.size(), 5u);
  EXPECT_EQ(gaps[0], 100ms);
  EXPECT_EQ(gaps[1], 200ms);
  EXPECT_EQ(gaps[2], 400ms);
  EXPECT_EQ(gaps[3], 800ms);
  EXPECT_EQ(gaps[4], 1000ms);
}

TEST(ShardHandoffsTest, JitterStretchesEachDelay) {
  Adopted adopted;
  ShardHandoffs handoffs = make(adopted);
  const auto start = Clock::now();
  handoffs.expect({1, 7}, "old", start + 10s);
  ASSERT_FALSE(handoffs.due_asks(start + 60ms, [] { return 1.2; }).empty());
  EXPECT_TRUE(handoffs.due_asks(start + 60ms + 110ms, [] { return 1.2; }).empty());
  EXPECT_FALSE(handoffs.due_asks(start + 60ms + 125ms, [] { return 1.2; }).empty());
}

TEST(ShardHandoffsTest, AnAnswerReleasesAWaitButIsNeverKeptForLater) {
  Adopted adopted;
  ShardHandoffs handoffs = make(adopted);
  handoffs.expect({1, 7}, "old", Clock::now() + 10s);
  handoffs.released({1, 7}, "other", /*answer=*/true);
  EXPECT_TRUE(handoffs.waiting({1, 7})) << "only the node it waits for can release it";
  handoffs.released({1, 7}, "old", /*answer=*/true);
  EXPECT_FALSE(handoffs.waiting({1, 7}));
  ASSERT_EQ(adopted.keys.size(), 1u);

  // A late duplicate answer must not count as an early release of a later move.
  handoffs.released({1, 7}, "old", /*answer=*/true);
  handoffs.expect({1, 7}, "old", Clock::now() + 10s);
  EXPECT_TRUE(handoffs.waiting({1, 7}));
  EXPECT_EQ(adopted.keys.size(), 1u);

  // Whereas a RELEASE that the old owner sent on its own, before this node's view caught up,
  // does count.
  handoffs.released({1, 7}, "old");
  EXPECT_FALSE(handoffs.waiting({1, 7}));
  handoffs.released({1, 8}, "old");
  handoffs.expect({1, 8}, "old", Clock::now() + 10s);
  EXPECT_FALSE(handoffs.waiting({1, 8}));
  EXPECT_EQ(adopted.keys.size(), 3u);
}

TEST(ShardHandoffsTest, OutgoingShardsAreKnownUntilTheirLastActivationEnds) {
  Adopted adopted;
  ShardHandoffs handoffs = make(adopted);
  EXPECT_FALSE(handoffs.outgoing({2, 3}));
  EXPECT_EQ(handoffs.in_progress(), 0u);
  handoffs.outgoing_changed({2, 3}, +1);
  EXPECT_TRUE(handoffs.outgoing({2, 3}));
  EXPECT_EQ(handoffs.in_progress(), 1u);
  handoffs.expect({2, 4}, "old", Clock::now() + 10s);
  EXPECT_EQ(handoffs.in_progress(), 2u) << "incoming and outgoing both count";
  handoffs.outgoing_changed({2, 3}, -1);
  EXPECT_FALSE(handoffs.outgoing({2, 3}));
  handoffs.released({2, 4}, "old");
  EXPECT_EQ(handoffs.in_progress(), 0u);
}

// The thread that reports a release (the IO thread) runs none of its work: adoption and parked
// work are posted, and new work keeps waiting until all of them have run, in order.
TEST(ShardHandoffsTest, ReleaseWorkIsPostedAndKeepsItsOrderAheadOfNewWork) {
  std::vector<std::function<void()>> posted;
  std::vector<std::string> ran;
  ShardHandoffs* self = nullptr;
  ShardHandoffs handoffs(
      [&](const ShardRef& key, std::vector<ArrivingActor>&& actors) {
        ran.push_back("adopt " + std::to_string(actors.size()));
        EXPECT_TRUE(self->waiting(key)) << "new work must not pass while actors are adopted";
        // Work that arrives while the release is being handed over goes behind the parked.
        EXPECT_TRUE(self->park(key, [&] { ran.push_back("late"); }));
      },
      [&](std::function<void()> task) { posted.push_back(std::move(task)); });
  self = &handoffs;
  handoffs.expect({1, 5}, "old", Clock::now() + 10s);
  ASSERT_TRUE(handoffs.park({1, 5}, [&] {
    ran.push_back("first");
    // Resumed work routes again: on the finishing thread the shard lets it pass, or it would
    // park behind itself until its deadline.
    EXPECT_FALSE(self->waiting({1, 5}));
    EXPECT_FALSE(self->park({1, 5}, [] {}));
  }));
  ASSERT_TRUE(handoffs.park({1, 5}, [&] { ran.push_back("second"); }));
  handoffs.arrived({1, 5}, "old", ArrivingActor{"M", "a", Value(1)});
  handoffs.released({1, 5}, "old");
  EXPECT_TRUE(ran.empty()) << "nothing runs on the releasing thread";
  EXPECT_TRUE(handoffs.waiting({1, 5}));
  handoffs.released({1, 5}, "old");  // a duplicate posts nothing more
  ASSERT_EQ(posted.size(), 1u);
  posted[0]();
  EXPECT_EQ(ran, (std::vector<std::string>{"adopt 1", "first", "second", "late"}));
  EXPECT_FALSE(handoffs.waiting({1, 5}));
  EXPECT_EQ(handoffs.in_progress(), 0u);
}

TEST(ShardHandoffsTest, ReleaseAllRunsWhatWaitsOnTheCallingThread) {
  Adopted adopted;
  std::vector<std::function<void()>> posted;
  ShardHandoffs handoffs(
      [&](const ShardRef& key, std::vector<ArrivingActor>&&) { adopted.keys.push_back(key); },
      [&](std::function<void()> task) { posted.push_back(std::move(task)); });
  handoffs.expect({3, 1}, "old", Clock::now() + 10s);
  bool resumed = false;
  ASSERT_TRUE(handoffs.park({3, 1}, [&] { resumed = true; }));
  handoffs.release_all();
  EXPECT_TRUE(resumed) << "parked work meets the stopping node instead of being dropped";
  EXPECT_FALSE(handoffs.waiting({3, 1}));
  EXPECT_TRUE(posted.empty());
  ASSERT_EQ(adopted.keys.size(), 1u);
}

}  // namespace
}  // namespace mesh::detail

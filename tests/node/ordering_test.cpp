// One message at a time per actor, arrival order per caller, no actor delaying another.
#include <gtest/gtest.h>

#include <thread>

#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

// Fails the test if two of its handlers ever overlap.
struct Exclusive {
  explicit Exclusive(std::string) {}
  Value handle_call(Value) {
    EXPECT_EQ(inside.fetch_add(1), 0) << "two messages ran at once in one actor";
    std::this_thread::yield();
    ++count;
    inside.fetch_sub(1);
    return count;
  }
  void handle_cast(Value v) { handle_call(std::move(v)); }
  std::atomic<int> inside{0};
  int count = 0;
};

TEST(OrderingTest, CastThenCallFromOneThreadArriveInThatOrder) {
  Node node(small_node());
  register_all(node);
  for (int round = 0; round < 200; ++round) {
    const std::string id = "rec-" + std::to_string(round);
    ASSERT_TRUE(node.cast(req("Recorder", id, "cast-1")));
    ASSERT_TRUE(node.cast(req("Recorder", id, "cast-2")));
    auto r = node.call(req("Recorder", id, "call-3"));
    ASSERT_TRUE(r) << r.error();
    auto log = node.call(req("Recorder", id, {{"op", "log"}}));
    ASSERT_TRUE(log);
    EXPECT_EQ(log->value, (Value{"cast-1", "cast-2", "call-3"}));
  }
}

TEST(OrderingTest, EachCallersMessagesKeepTheirOrderUnderContention) {
  Node node(small_node());
  register_all(node);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Value v{{"t", t}, {"i", i}};
        if (i % 3 == 0) {
          ASSERT_TRUE(node.cast(req("Recorder", "shared", v)));
        } else {
          ASSERT_TRUE(node.call(req("Recorder", "shared", v)));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  auto log = node.call(req("Recorder", "shared", {{"op", "log"}}));
  ASSERT_TRUE(log);
  ASSERT_EQ(log->value.size(), std::size_t{kThreads * kPerThread});
  std::vector<int> next(kThreads, 0);
  for (const Value& v : log->value) {
    const int t = v["t"];
    EXPECT_EQ(v["i"].get<int>(), next[t]) << "caller " << t << " out of order";
    next[t] = v["i"].get<int>() + 1;
  }
}

TEST(OrderingTest, OneMessageAtATimePerActor) {
  Node node(small_node());
  node.register_actor<Exclusive>("Exclusive");
  node.register_capabilities({"test"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (i % 2) {
          ASSERT_TRUE(node.call(req("Exclusive", "one")));
        } else {
          ASSERT_TRUE(node.cast(req("Exclusive", "one")));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  auto r = node.call(req("Exclusive", "one"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value, 2001);
}

TEST(OrderingTest, SlowActorNeverDelaysAnother) {
  Node node(small_node(1));
  register_all(node);
  // Two slow actors, one pool thread: one is queued behind the other, yet others stay fast.
  ASSERT_TRUE(node.cast(req("Sleeper", "slow-1", {{"ms", 500}})));
  ASSERT_TRUE(node.cast(req("Sleeper", "slow-2", {{"ms", 500}})));
  std::thread caller([&] { (void)node.call(req("Sleeper", "slow-1", {{"ms", 0}})); });
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(node.call(req("Counter", "fast-" + std::to_string(i))));
  ASSERT_TRUE(node.cast(req("Counter", "fast-cast")));
  EXPECT_TRUE(eventually(
      [&] {
        auto r = node.call(req("Counter", "fast-cast", {{"op", "get"}}));
        return r && r->value == 1;
      },
      200ms))
      << "a cast to an idle actor waited behind slow actors";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 300ms);
  caller.join();
}

TEST(OrderingTest, DifferentActorsRunInParallel) {
  Node node(small_node(2));
  register_all(node);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      ASSERT_TRUE(node.call(req("Sleeper", "par-" + std::to_string(i), {{"ms", 200}})));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 700ms) << "four 200 ms calls ran serially";
}

}  // namespace
}  // namespace mesh::test

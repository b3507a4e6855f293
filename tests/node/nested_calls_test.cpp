// Actors calling actors: through the context and through Node::call, with small pools,
// and call cycles answered with deadlock.
#include <gtest/gtest.h>

#include <thread>

#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

class NestedCallsTest : public ::testing::TestWithParam<std::uint32_t> {
 protected:
  void SetUp() override { register_all(node); }
  Node node{small_node(GetParam())};
};

Value hop(std::string to, std::string via, Value then = Value::object()) {
  return Value{{"to", std::move(to)}, {"via", std::move(via)}, {"then", std::move(then)}};
}

TEST_P(NestedCallsTest, CallThroughContext) {
  auto r = node.call(req("Relay", "a", hop("b", "context")));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->value["from"], "a");
  EXPECT_EQ(r->value["reply"]["at"], "b");
}

TEST_P(NestedCallsTest, CallThroughPlainNodeCall) {
  auto r = node.call(req("Relay", "a", hop("b", "node", hop("c", "node"))));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->value["reply"]["reply"]["at"], "c");
}

TEST_P(NestedCallsTest, NestedCallToABusyActorDoesNotDeadlockTheSmallPool) {
  // "busy" sleeps on a pool thread while other sleepers occupy the rest of the pool; the relay
  // waits for "busy" and still gets its answer (the second message "busy" handles).
  ASSERT_TRUE(node.cast(req("Sleeper", "busy", {{"ms", 100}})));
  Value payload = hop("busy", "context", Value{{"ms", 0}});
  payload["module"] = "Sleeper";
  std::atomic<bool> ok{false};
  // Several concurrent relays through the pool, each waiting on the busy actor.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(node.cast(req("Sleeper", "occupy-" + std::to_string(i), {{"ms", 50}})));
  }
  std::thread caller([&] {
    auto r = node.call(req("Relay", "waiter", payload));
    ok = r && r->value.contains("reply") && r->value["reply"] == 2;
  });
  caller.join();
  EXPECT_TRUE(ok.load());
}

TEST_P(NestedCallsTest, HandlersOnPoolThreadsCallEachOther) {
  // Every relay is queued (casts first make them busy), so the nested calls run on pool
  // threads that block on each other: the pool must add threads rather than hang.
  constexpr int kRelays = 6;
  std::vector<std::thread> callers;
  std::atomic<int> good{0};
  for (int i = 0; i < kRelays; ++i) {
    ASSERT_TRUE(node.cast(req("Sleeper", "gate-" + std::to_string(i), {{"ms", 30}})));
  }
  for (int i = 0; i < kRelays; ++i) {
    callers.emplace_back([&, i] {
      Value payload = hop("gate-" + std::to_string(i), i % 2 ? "node" : "context", {{"ms", 1}});
      payload["module"] = "Sleeper";
      Value outer = hop("relay-" + std::to_string(i), "context", payload);
      auto r = node.call(req("Relay", "front-" + std::to_string(i), outer));
      if (r && r->value["reply"].contains("reply")) ++good;
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(good.load(), kRelays);
}

TEST_P(NestedCallsTest, CycleThroughContextIsDeadlockAtOnce) {
  // a -> b -> a
  Request cycle = req("Relay", "a", hop("b", "context", hop("a", "context")));
  cycle.timeout = 3000ms;
  const auto start = std::chrono::steady_clock::now();
  auto r = node.call(std::move(cycle));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->value["reply"]["error"], "deadlock");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms);
}

TEST_P(NestedCallsTest, CycleThroughPlainNodeCallIsDeadlockAtOnce) {
  // a -> b -> c -> a, through Node::call from inside the handlers.
  Request cycle = req("Relay", "a", hop("b", "node", hop("c", "node", hop("a", "node"))));
  const auto start = std::chrono::steady_clock::now();
  auto r = node.call(std::move(cycle));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->value["reply"]["reply"]["error"], "deadlock");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms);
}

TEST_P(NestedCallsTest, SelfCallIsDeadlock) {
  auto r = node.call(req("Relay", "narcissus", hop("narcissus", "context")));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->value["error"], "deadlock");
}

TEST_P(NestedCallsTest, CycleDetectedWhenTheOuterActorRunsOnThePool) {
  // Make "a" busy first so the outer call is queued and runs on a pool thread.
  node.register_capabilities({"test"});
  ASSERT_TRUE(node.cast(req("Relay", "pool-a")));
  auto r = node.call(req("Relay", "pool-a", hop("pool-b", "context", hop("pool-a", "context"))));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->value["reply"]["error"], "deadlock");
}

TEST_P(NestedCallsTest, AsyncCallBackToTheCallerIsNotADeadlock) {
  // An actor may async_call itself: the message waits in its own mailbox.
  struct SelfPinger {
    explicit SelfPinger(std::string) {}
    Value handle_call(Value payload, ActorContext& context) {
      if (payload == "ping") {
        context.async_call(Request{.module = "SelfPinger", .id = context.id(), .payload = "pong",
                                   .capability = context.capability()},
                           [](Result<Reply>) {});
        return "sent";
      }
      if (payload == "pong") ++pongs;
      return pongs;
    }
    int pongs = 0;
  };
  node.register_actor<SelfPinger>("SelfPinger");
  auto r = node.call(req("SelfPinger", "p", "ping"));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->value, "sent");
  EXPECT_TRUE(eventually([&] {
    auto n = node.call(req("SelfPinger", "p", "count"));
    return n && n->value.get<int>() == 1;
  }));
}

INSTANTIATE_TEST_SUITE_P(Pools, NestedCallsTest, ::testing::Values(1u, 2u),
                         [](const auto& info) { return std::to_string(info.param) + "_workers"; });

}  // namespace
}  // namespace mesh::test

// The rebalancer seen from outside: user code that runs during a handoff (an arriving actor's
// restore hook) may call other actors, and the handoffs in flight are what status() reports.
// Two nodes in this process, over loopback.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>

#include "support/expect.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

NodeOptions peer(std::string name, std::vector<std::string> seeds = {}) {
  return NodeOptions{.name = std::move(name), .listen = "127.0.0.1:0", .seeds = std::move(seeds),
                     .cookie = "rebalancer-test", .worker_threads = 2,
                     .heartbeat_interval = 50ms, .failure_timeout = 400ms,
                     .log = [](LogLevel, std::string_view) {}};
}

// An id of capability "moving" that node "b" owns once "a" and "b" both serve it.
std::string id_moving_to_b() {
  const std::vector<std::string> both{"a", "b"};
  const auto strategy = rendezvous_strategy();
  for (int i = 0;; ++i) {
    std::string id = "mover-" + std::to_string(i);
    if (strategy->owner(shard_of(id, 4096), "moving", both) == 1) return id;
  }
}

// Keeps a count across moves; its restore hook calls another actor on the node it arrives at.
struct Caller {
  static inline std::atomic<Node*> arriving_at{nullptr};
  static inline std::atomic<bool> restore_called_out{false};
  explicit Caller(std::string) {}
  int count = 0;
  Value handle_call(const Value&) { return ++count; }
  Value snapshot() { return count; }
  void restore(const Value& state) {
    count = state.get<int>();
    // "Local" is served only by b, so this call stays on the node running the hook.
    auto reply = arriving_at.load()->call(
        {.module = "Counter", .id = "from-restore", .payload = Value::object(),
         .capability = "local", .timeout = 2000ms});
    restore_called_out = reply.has_value();
  }
};

// A restore hook that calls another actor of its node used to run on the IO thread, under the
// handoff lock the call needs too: the node deadlocked. The bounded wait below turns a hang
// into a failure (the process then exits, since its stuck threads cannot be joined).
TEST(RebalancerTest, ARestoreHookMayCallAnotherActorOfItsNode) {
  Node a(peer("a"));
  a.register_actor<Caller>("Caller");
  a.register_capabilities({"moving"});
  const std::string id = id_moving_to_b();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(HasValue(a.call({.module = "Caller", .id = id,
                                                            .payload = Value::object(),
                                                            .capability = "moving"})));
  auto b = std::make_unique<Node>(peer("b", {a.listen_address()}));
  Caller::arriving_at = b.get();
  b->register_actor<Caller>("Caller");
  b->register_actor<Counter>("Counter");
  b->register_capabilities({"moving", "local"});
  if (!eventually([&] { return Caller::restore_called_out.load(); }, 5000ms)) {
    std::fprintf(stderr, "FAILED: the restore hook's call did not return within 5 s: the node "
                         "is stuck (user code under a node lock or on the IO thread)\n");
    std::_Exit(1);
  }
  auto moved = a.call({.module = "Caller", .id = id, .payload = Value::object(),
                       .capability = "moving"});
  ASSERT_TRUE(HasValue(moved));
  EXPECT_EQ(moved->pid.node, "b");
  EXPECT_EQ(moved->value, 4) << "the count came along";
  // The IO threads kept serving: a still reaches b's actors.
  EXPECT_TRUE(HasValue(a.call({.module = "Counter", .id = "other", .payload = Value::object(),
                               .capability = "local"})));
}

// Blocks its handler until released, so that its shard cannot finish moving.
struct Holder {
  static inline std::promise<void>* gate = nullptr;
  static inline std::atomic<bool> holding{false};
  explicit Holder(std::string) {}
  int count = 0;
  Value handle_call(const Value& payload) {
    if (payload.contains("hold")) {
      holding = true;
      gate->get_future().wait();  // NOLINT: one holder per test
    }
    return ++count;
  }
  Value snapshot() { return count; }
  void restore(const Value& state) { count = state.get<int>(); }
};

// The old owner reports the shard it still finishes, the new owner the shard it waits for;
// both report 0 once the move is done.
TEST(RebalancerTest, StatusCountsTheHandoffsInProgressAtBothEnds) {
  Node a(peer("a"));
  a.register_actor<Holder>("Holder");
  a.register_capabilities({"moving"});
  const std::string id = id_moving_to_b();
  std::promise<void> gate;
  Holder::gate = &gate;
  auto held = std::async(std::launch::async, [&] {
    return a.call({.module = "Holder", .id = id, .payload = Value{{"hold", true}},
                   .capability = "moving", .timeout = 10s});
  });
  ASSERT_TRUE(eventually([] { return Holder::holding.load(); }, 2000ms));
  EXPECT_EQ(a.status().handoffs_in_progress, 0u) << "nothing moves yet";

  Node b(peer("b", {a.listen_address()}));
  b.register_actor<Holder>("Holder");
  b.register_capabilities({"moving"});
  ASSERT_TRUE(eventually([&] { return a.nodes_for("moving").size() == 2; }, 3000ms));
  ASSERT_TRUE(eventually([&] { return b.nodes_for("moving").size() == 2; }, 3000ms));
  // The holder's shard went to b but its activation is still busy on a.
  EXPECT_GE(a.status().handoffs_in_progress, 1u) << "a still finishes the holder's shard";
  EXPECT_GE(b.status().handoffs_in_progress, 1u) << "b waits for the holder's shard";

  // A call for the holder waits at b (it is not failed, and not served by a fresh actor).
  auto waiting = std::async(std::launch::async, [&] {
    return b.call({.module = "Holder", .id = id, .payload = Value::object(),
                   .capability = "moving", .timeout = 5s});
  });
  EXPECT_EQ(waiting.wait_for(50ms), std::future_status::timeout);
  gate.set_value();
  ASSERT_EQ(held.wait_for(5s), std::future_status::ready);
  ASSERT_TRUE(HasValue(held.get()));
  auto after = waiting.get();
  ASSERT_TRUE(HasValue(after));
  EXPECT_EQ(after->pid.node, "b");
  EXPECT_EQ(after->value, 2) << "the count came along after the held call";
  EXPECT_TRUE(eventually([&] {
    return a.status().handoffs_in_progress == 0 && b.status().handoffs_in_progress == 0;
  }, 3000ms));
  Holder::gate = nullptr;
}

}  // namespace
}  // namespace mesh::test

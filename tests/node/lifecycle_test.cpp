// Idle passivation, stopping oneself, node shutdown, several nodes per process, bad options.
#include <gtest/gtest.h>

#include <thread>

#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

TEST(LifecycleTest, IdleTimeoutPassivatesAnIdleActor) {
  Node node(small_node());
  node.register_actor<Counter>("Idler", ActorOptions{.idle_timeout = 50ms});
  node.register_capabilities({"test"});
  auto first = node.call(req("Idler", "i"));
  ASSERT_TRUE(first);
  std::this_thread::sleep_for(200ms);
  auto second = node.call(req("Idler", "i"));
  ASSERT_TRUE(second);
  EXPECT_NE(second->pid, first->pid);
  EXPECT_EQ(second->value, 1) << "a passivated actor restarts fresh";
}

TEST(LifecycleTest, CallsKeepAnIdleTimeoutActorAlive) {
  Node node(small_node());
  node.register_actor<Counter>("Idler", ActorOptions{.idle_timeout = 150ms});
  node.register_capabilities({"test"});
  auto first = node.call(req("Idler", "kept"));
  ASSERT_TRUE(first);
  for (int i = 0; i < 12; ++i) {
    std::this_thread::sleep_for(25ms);
    auto again = node.call(req("Idler", "kept"));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->pid, first->pid) << "passivated while in use, after " << i + 1 << " calls";
  }
}

TEST(LifecycleTest, ActorsWithoutIdleTimeoutStay) {
  Node node(small_node());
  register_all(node);
  auto first = node.call(req("Counter", "stays"));
  std::this_thread::sleep_for(100ms);
  auto second = node.call(req("Counter", "stays"));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->pid, second->pid);
}

TEST(LifecycleTest, ActorCanStopItselfAfterTheCurrentMessage) {
  Node node(small_node());
  register_all(node);
  auto first = node.call(req("Stopper", "s"));
  auto stopping = node.call(req("Stopper", "s", {{"op", "stop"}}));
  ASSERT_TRUE(first && stopping);
  EXPECT_EQ(stopping->pid, first->pid) << "the stop request's own reply comes from the old actor";
  EXPECT_EQ(stopping->value, 2);
  auto after = node.call(req("Stopper", "s"));
  ASSERT_TRUE(after);
  EXPECT_NE(after->pid, first->pid);
  EXPECT_EQ(after->value, 1);
}

TEST(LifecycleTest, MessagesQueuedBehindACrashGoToTheFreshActor) {
  Node node(small_node());
  register_all(node);
  ASSERT_TRUE(node.cast(req("Sleeper", "hold", {{"ms", 50}})));
  // Queue a crash and then three increments behind the sleeping message.
  ASSERT_TRUE(node.cast(req("Crasher", "q", {{"op", "crash"}})));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(node.cast(req("Crasher", "q")));
  auto r = node.call(req("Crasher", "q"));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->value, 4) << "the casts queued behind the crash were lost";
}

TEST(LifecycleTest, DestroyingTheNodeFailsWaitingCallsWithShuttingDown) {
  auto node = std::make_unique<Node>(small_node());
  register_all(*node);
  ASSERT_TRUE(node->cast(req("Sleeper", "long", {{"ms", 300}})));
  std::atomic<int> code{-1};
  // The waiter holds the Node itself, not the unique_ptr that the main thread resets.
  std::thread waiter([&code, raw = node.get()] {
    auto r = raw->call(req("Sleeper", "long"));
    code = r ? 0 : static_cast<int>(r.error().code);
  });
  std::atomic<int> async_code{-1};
  node->async_call(req("Sleeper", "long"), [&](Result<Reply> r) {
    async_code = r ? 0 : static_cast<int>(r.error().code);
  });
  std::this_thread::sleep_for(100ms);  // let the waiter reach the mailbox (the actor sleeps 300)
  node.reset();
  waiter.join();
  EXPECT_EQ(code.load(), static_cast<int>(Errc::shutting_down));
  EXPECT_EQ(async_code.load(), static_cast<int>(Errc::shutting_down));
}

TEST(LifecycleTest, DestroyingANodeDestroysItsActors) {
  static std::atomic<int> alive{0};
  struct Tracked {
    explicit Tracked(std::string) { ++alive; }
    ~Tracked() { --alive; }
    Value handle_call(Value) { return alive.load(); }
  };
  {
    Node node(small_node());
    node.register_actor<Tracked>("Tracked");
    node.register_capabilities({"test"});
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(node.call(req("Tracked", std::to_string(i))));
    EXPECT_EQ(alive.load(), 100);
  }
  EXPECT_EQ(alive.load(), 0);
}

TEST(LifecycleTest, OnDeactivateIsToldWhy) {
  static std::mutex mutex;
  static std::vector<std::pair<std::string, DeactivateReason>> ended;
  struct Farewell {
    explicit Farewell(std::string id) : id(std::move(id)) {}
    Value handle_call(Value payload, ActorContext& context) {
      if (payload == "stop") context.stop();
      if (payload == "crash") throw std::runtime_error("crash");
      return "ok";
    }
    void on_deactivate(DeactivateReason why) {
      std::lock_guard lock(mutex);
      ended.emplace_back(id, why);
    }
    std::string id;
  };
  auto reason_of = [](const std::string& id) -> std::optional<DeactivateReason> {
    std::lock_guard lock(mutex);
    for (auto& [who, why] : ended) {
      if (who == id) return why;
    }
    return std::nullopt;
  };
  {
    Node node(small_node());
    node.register_actor<Farewell>("Farewell", ActorOptions{.idle_timeout = 30ms});
    node.register_capabilities({"test"});
    ASSERT_TRUE(node.call(req("Farewell", "stops", "stop")));
    EXPECT_EQ(reason_of("stops"), DeactivateReason::stopped);
    ASSERT_FALSE(node.call(req("Farewell", "crashes", "crash")));
    EXPECT_EQ(reason_of("crashes"), std::nullopt) << "a crashed actor gets no farewell";
    ASSERT_TRUE(node.call(req("Farewell", "idles", "x")));
    EXPECT_TRUE(eventually([&] { return reason_of("idles") == DeactivateReason::idle; }));
    node.register_capabilities({});
    node.register_capabilities({"test"});
    ASSERT_TRUE(node.call(req("Farewell", "stays", "x")));
  }
  EXPECT_EQ(reason_of("stays"), DeactivateReason::shutdown);
}

TEST(LifecycleTest, SnapshotAndRestoreMustComeTogether) {
  struct Both {
    explicit Both(std::string) {}
    Value handle_call(Value) { return 1; }
    Value snapshot() { return 1; }
    void restore(Value) {}
  };
  struct SnapshotOnly {
    explicit SnapshotOnly(std::string) {}
    Value handle_call(Value) { return 1; }
    Value snapshot() { return 1; }
  };
  static_assert(detail::actor_vtable<Both>.snapshot != nullptr);
  static_assert(detail::actor_vtable<Both>.restore != nullptr);
  // SnapshotOnly would fail register_actor's static_assert; its vtable carries no hooks.
  static_assert(detail::actor_vtable<SnapshotOnly>.snapshot == nullptr);
  static_assert(detail::actor_vtable<Counter>.on_deactivate == nullptr);
  SUCCEED();
}

TEST(LifecycleTest, SeveralNodesInOneProcessAreIndependent) {
  Node a(NodeOptions{.name = "a"});
  Node b(NodeOptions{.name = "b"});
  register_all(a);
  register_all(b);
  auto ra = a.call(req("Counter", "same"));
  auto rb = b.call(req("Counter", "same"));
  ASSERT_TRUE(ra && rb);
  EXPECT_EQ(ra->pid.node, "a");
  EXPECT_EQ(rb->pid.node, "b");
  EXPECT_EQ(rb->value, 1);
  b.register_capabilities({"only-b"});
  EXPECT_EQ(a.nodes_for("test"), std::vector<std::string>{"a"});
  EXPECT_TRUE(b.nodes_for("test").empty());
  EXPECT_EQ(b.all_capabilities(), std::vector<std::string>{"only-b"});
}

TEST(LifecycleTest, RegisteringAModuleTwiceOrUnnamedThrows) {
  Node node(small_node());
  node.register_actor<Counter>("Counter");
  EXPECT_THROW(node.register_actor<Counter>("Counter"), std::logic_error);
  EXPECT_THROW(node.register_actor<Counter>(""), std::invalid_argument);
  EXPECT_THROW(node.register_capabilities({"ok", ""}), std::invalid_argument);
}

TEST(LifecycleTest, BadNodeOptionsThrow) {
  EXPECT_THROW(Node(NodeOptions{.shard_count = 0}), std::invalid_argument);
  EXPECT_THROW(Node(NodeOptions{.shard_count = (1u << 20) + 1}), std::invalid_argument);
}

TEST(LifecycleTest, DefaultNameIsNotEmptyAndUnique) {
  Node a;
  Node b;
  EXPECT_FALSE(a.name().empty());
  EXPECT_NE(a.name(), b.name());
}

}  // namespace
}  // namespace mesh::test

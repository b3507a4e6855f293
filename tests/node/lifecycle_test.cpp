// Idle passivation, stopping oneself, node shutdown, several nodes per process, bad options.
#include <gtest/gtest.h>

#include <thread>

#include "support/expect.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

bool hosts(const Node& node, const std::string& module, const std::string& id) {
  for (const ActivationInfo& a : node.activations()) {
    if (a.module == module && a.id == id) return true;
  }
  return false;
}

TEST(LifecycleTest, IdleTimeoutPassivatesAnIdleActor) {
  Node node(small_node());
  node.register_actor<Counter>("Idler", ActorOptions{.idle_timeout = 50ms});
  node.register_capabilities({"test"});
  auto first = node.call(req("Idler", "i"));
  ASSERT_TRUE(first);
  ASSERT_TRUE(hosts(node, "Idler", "i"));
  ASSERT_TRUE(eventually([&] { return !hosts(node, "Idler", "i"); }))
      << "the idle actor was not passivated";
  auto second = node.call(req("Idler", "i"));
  ASSERT_TRUE(second);
  EXPECT_NE(second->pid, first->pid);
  EXPECT_EQ(second->value, 1) << "a passivated actor restarts fresh";
}

TEST(LifecycleTest, CallsKeepAnIdleTimeoutActorAlive) {
  using Clock = std::chrono::steady_clock;
  constexpr auto idle = 150ms;
  Node node(small_node());
  node.register_actor<Counter>("Idler", ActorOptions{.idle_timeout = idle});
  node.register_capabilities({"test"});
  // Calls 25 ms apart for twice the idle timeout. The actor may be passivated only if it
  // really sat idle for `idle`: that is, if from the start of one call to the end of the next
  // (a bound on the actor's idle time between them) took `idle` or more, which only a stalled
  // machine does. Such a round proves nothing either way and is tried again.
  bool conclusive = false;
  for (int round = 0; round < 3 && !conclusive; ++round) {
    const std::string id = "kept-" + std::to_string(round);
    auto previous_start = Clock::now();
    auto first = node.call(req("Idler", id));
    ASSERT_TRUE(first) << first.error();
    conclusive = true;
    for (int i = 0; i < 12; ++i) {
      std::this_thread::sleep_for(25ms);
      const auto start = Clock::now();
      auto again = node.call(req("Idler", id));
      const auto end = Clock::now();
      ASSERT_TRUE(again) << again.error();
      if (end - previous_start >= idle) {
        conclusive = false;  // stalled: this round cannot tell
        break;
      }
      ASSERT_EQ(again->pid, first->pid) << "passivated while in use, after " << i + 1 << " calls";
      EXPECT_EQ(again->value, i + 2);
      previous_start = start;
    }
  }
  EXPECT_TRUE(conclusive) << "every round stalled for longer than the idle timeout";
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
  // The Gate's cast handler keeps it busy until released, so calls to it wait in its mailbox.
  // The Waiter's cast handler makes such a blocking call and releases the Gate once the call
  // has returned: the node's destructor, which lets running handlers finish, can end only
  // after it failed the waiting call. Waiting inside a handler keeps the node alive while the
  // call is made, whenever the destructor starts.
  static std::atomic<bool> gate_busy, release_gate, waiter_calling;
  static std::atomic<int> waiter_code;
  gate_busy = false;
  release_gate = false;
  waiter_calling = false;
  waiter_code = -1;
  struct Gate {
    explicit Gate(std::string) {}
    Value handle_call(Value) { return "passed the gate"; }
    void handle_cast(Value) {
      gate_busy = true;
      eventually([] { return release_gate.load(); }, 5000ms);  // bounded if the test breaks
    }
  };
  struct Waiter {
    explicit Waiter(std::string) {}
    Value handle_call(Value) { return 0; }
    void handle_cast(Value, ActorContext& context) {
      waiter_calling = true;
      auto r = context.call(req("Gate", "g"));
      waiter_code = r ? 0 : static_cast<int>(r.error().code);
      release_gate = true;
    }
  };
  auto node = std::make_unique<Node>(small_node());
  node->register_actor<Gate>("Gate");
  node->register_actor<Waiter>("Waiter");
  node->register_capabilities({"test"});
  ASSERT_TRUE(node->cast(req("Gate", "g")));
  ASSERT_TRUE(eventually([] { return gate_busy.load(); }));
  ASSERT_TRUE(node->cast(req("Waiter", "w")));
  ASSERT_TRUE(eventually([] { return waiter_calling.load(); }));
  // The gate is busy, so this call is queued before async_call returns.
  std::atomic<int> async_code{-1};
  node->async_call(req("Gate", "g"), [&](Result<Reply> r) {
    async_code = r ? 0 : static_cast<int>(r.error().code);
  });
  EXPECT_EQ(async_code.load(), -1) << "the async call did not wait for the busy gate";
  // Only makes it likely that the waiter's call is queued too; a call made after the
  // destructor started fails with shutting_down as well.
  std::this_thread::sleep_for(20ms);
  const auto start = std::chrono::steady_clock::now();
  node.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s)
      << "the destructor waited for the gate's deadline: the waiting call was not failed";
  EXPECT_EQ(waiter_code.load(), static_cast<int>(Errc::shutting_down));
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
    std::lock_guard lock(mutex);
    ended.clear();  // from an earlier run of this test (--gtest_repeat)
  }
  {
    Node node(small_node());
    node.register_actor<Farewell>("Farewell", ActorOptions{.idle_timeout = 30ms});
    // No idle timeout: an actor that must still be there when the node shuts down.
    node.register_actor<Farewell>("Lasting");
    node.register_capabilities({"test"});
    ASSERT_TRUE(node.call(req("Farewell", "stops", "stop")));
    EXPECT_TRUE(eventually([&] { return reason_of("stops").has_value(); }));
    EXPECT_EQ(reason_of("stops"), DeactivateReason::stopped);
    EXPECT_TRUE(IsError(node.call(req("Farewell", "crashes", "crash")), Errc::actor_crashed));
    ASSERT_TRUE(node.call(req("Farewell", "idles", "x")));
    EXPECT_TRUE(eventually([&] { return reason_of("idles") == DeactivateReason::idle; }));
    EXPECT_EQ(reason_of("crashes"), std::nullopt) << "a crashed actor gets no farewell";
    node.register_capabilities({});
    node.register_capabilities({"test"});
    ASSERT_TRUE(node.call(req("Lasting", "stays", "x")));
  }
  EXPECT_EQ(reason_of("stays"), DeactivateReason::shutdown);
}

TEST(LifecycleTest, SnapshotAndRestoreMustComeTogether) {
  struct Both {
    explicit Both(std::string) {}
    Value handle_call(Value payload) { return total += payload.value("add", 0); }
    Value snapshot() { return Value{{"total", total}}; }
    void restore(Value state) { total = state.value("total", -1); }
    int total = 0;
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
  static_assert(detail::HasSnapshot<SnapshotOnly> && !detail::HasRestore<SnapshotOnly>);

  // At run time: SnapshotOnly carries neither hook; Both registers and serves calls, and its
  // state goes through its hooks: snapshot() of one instance, restore() into a fresh one (what
  // a move to another node does; rebalance_test covers real moves).
  EXPECT_EQ(detail::actor_vtable<SnapshotOnly>.snapshot, nullptr);
  EXPECT_EQ(detail::actor_vtable<SnapshotOnly>.restore, nullptr);
  const detail::ActorVTable& vtable = detail::actor_vtable<Both>;
  ASSERT_NE(vtable.snapshot, nullptr);
  ASSERT_NE(vtable.restore, nullptr);
  Node node(small_node());
  node.register_actor<Both>("Both");
  node.register_capabilities({"test"});
  auto one = node.call(req("Both", "b", {{"add", 5}}));
  auto two = node.call(req("Both", "b", {{"add", 2}}));
  ASSERT_TRUE(one && two);
  EXPECT_EQ(two->pid, one->pid);
  EXPECT_EQ(two->value, 7);

  Both old_actor("b");
  old_actor.handle_call(Value{{"add", 40}});
  const Value state = vtable.snapshot(&old_actor);
  EXPECT_EQ(state, (Value{{"total", 40}}));
  Both fresh("b");
  vtable.restore(&fresh, Value(state));
  EXPECT_EQ(fresh.handle_call(Value{{"add", 2}}), 42)
      << "the restored instance did not continue from the snapshot";
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

// Durable state through a node (docs/persistence.md): what each policy saves and when, loading
// before the first message, fencing, and a store that fails. The database stores have their
// own tests (tests/store); these use memory_store() and stores built on it.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "support/expect.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

// A counter that persists: {"op":"get"} reads, {"op":"crash"} throws, {"op":"stop"} stops
// after counting, {"op":"forget"} makes its snapshot null (its row is erased).
struct Tally {
  static inline std::atomic<int> deactivations{0};
  static inline std::atomic<std::thread::id> last_thread{};  // the thread of the last call
  explicit Tally(std::string) {}
  Tally(std::string, Value init) : count(init.value("start", 0)) {}
  Value handle_call(Value payload, ActorContext& context) {
    last_thread = std::this_thread::get_id();
    const std::string op = payload.value("op", "");
    if (op == "break") broken = true;  // its next snapshot throws
    if (op == "nap") std::this_thread::sleep_for(600ms);  // then counts as usual
    if (op == "get") return count;
    if (op == "crash") throw std::runtime_error("tally crashed");
    if (op == "forget") {
      forget = true;
      return count;
    }
    if (op == "stop") context.stop();
    return ++count;
  }
  void handle_cast(Value) { ++count; }
  Value snapshot() {
    if (broken) throw std::runtime_error("tally cannot say what it holds");
    return forget ? Value() : Value{{"count", count}};
  }
  void restore(Value state) { count = state.at("count").get<int>(); }
  void on_deactivate(DeactivateReason) { ++deactivations; }
  int count = 0;
  bool forget = false;
  bool broken = false;
};

// Has the hooks but cannot read what is stored.
struct Picky {
  explicit Picky(std::string) {}
  Value handle_call(Value) { return 1; }
  Value snapshot() { return 1; }
  void restore(Value) { throw std::runtime_error("unexpected row"); }
};

// A store that forwards to a memory store and lets a test fail it, hold its saves, or see the
// size of every batch.
class ControlledStore final : public StateStore {
 public:
  Result<std::uint64_t> claim(std::string_view c, std::uint32_t s, std::string_view n) override {
    if (down) return unavailable();
    return inner->claim(c, s, n);
  }
  Result<std::optional<std::string>> load(const StateKey& key) override {
    if (down) return unavailable();
    return inner->load(key);
  }
  Result<std::vector<std::size_t>> save(std::span<const StateWrite> writes) override {
    {
      std::unique_lock lock(mutex);
      batches.push_back(writes.size());
      most_at_once = std::max(most_at_once, ++saving);
      released.wait(lock, [&] { return !hold; });
      --saving;
    }
    if (down) return unavailable();
    return inner->save(writes);
  }
  Result<void> erase(const StateKey& key, std::uint64_t fence) override {
    if (down) return unavailable();
    return inner->erase(key, fence);
  }
  std::size_t concurrent_writes() const override { return lanes; }
  void set_hold(bool on) {
    std::lock_guard lock(mutex);
    hold = on;
    released.notify_all();
  }
  static std::unexpected<Error> unavailable() {
    return std::unexpected(Error{Errc::store_unavailable, "the test took the store down"});
  }

  std::shared_ptr<StateStore> inner = memory_store();
  std::atomic<bool> down{false};
  std::mutex mutex;
  std::condition_variable released;
  bool hold = false;
  std::vector<std::size_t> batches;
  std::size_t lanes = 2;         // what concurrent_writes() says
  std::size_t saving = 0;        // saves running now
  std::size_t most_at_once = 0;  // the most saves that ever ran at once
};

NodeOptions with_store(std::shared_ptr<StateStore> store, std::string name = "n1") {
  NodeOptions options = small_node();
  options.name = std::move(name);
  options.state_store = std::move(store);
  return options;
}

Request tally(std::string id, Value payload = Value::object()) {
  return req("Tally", std::move(id), std::move(payload));
}

int get(Node& node, const std::string& id) {
  auto reply = node.call(tally(id, {{"op", "get"}}));
  EXPECT_TRUE(HasValue(reply));
  return reply ? reply->value.get<int>() : -1;
}

TEST(PersistenceTest, AfterEachMessageStateOutlivesTheNode) {
  auto store = memory_store();
  {
    Node node(with_store(store));
    node.register_actor<Tally>("Tally", {.persistence = Persistence::after_each_message});
    node.register_capabilities({"test"});
    for (int i = 1; i <= 5; ++i) {
      auto reply = node.call(tally("p1"));
      ASSERT_TRUE(HasValue(reply));
      EXPECT_EQ(reply->value, i);
    }
    ASSERT_TRUE(HasValue(node.cast(tally("p1"))));
    EXPECT_EQ(get(node, "p1"), 6);
  }
  Node again(with_store(store));
  again.register_actor<Tally>("Tally", {.persistence = Persistence::after_each_message});
  again.register_capabilities({"test"});
  EXPECT_EQ(get(again, "p1"), 6) << "a restarted node loads the last committed state";
  EXPECT_EQ(get(again, "other"), 0);
}

TEST(PersistenceTest, InitArgIsUsedOnlyWhenTheStoreHasNothing) {
  auto store = memory_store();
  Node node(with_store(store));
  node.register_actor<Tally>("Tally", {.idle_timeout = 30ms,
                                       .persistence = Persistence::after_each_message});
  node.register_capabilities({"test"});
  Request first = tally("seeded");
  first.init_arg = Value{{"start", 100}};
  auto reply = node.call(first);
  ASSERT_TRUE(HasValue(reply));
  EXPECT_EQ(reply->value, 101);
  ASSERT_TRUE(eventually([&] { return node.activations().empty(); })) << "not passivated";
  Request again = tally("seeded");
  again.init_arg = Value{{"start", 500}};
  auto second = node.call(again);
  ASSERT_TRUE(HasValue(second));
  EXPECT_EQ(second->value, 102) << "the stored state wins over init_arg";
}

TEST(PersistenceTest, OnDeactivateSavesWhenTheActivationEndsButNotAfterACrash) {
  auto store = memory_store();
  Node node(with_store(store));
  node.register_actor<Tally>("Tally", {.idle_timeout = 30ms,
                                       .persistence = Persistence::on_deactivate});
  node.register_capabilities({"test"});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(HasValue(node.call(tally("d"))));
  ASSERT_TRUE(eventually([&] { return node.activations().empty(); })) << "not passivated";
  EXPECT_EQ(get(node, "d"), 3) << "saved when it idled out";
  ASSERT_TRUE(HasValue(node.call(tally("d"))));  // 4, in memory only
  EXPECT_TRUE(IsError(node.call(tally("d", {{"op", "crash"}})), Errc::actor_crashed));
  EXPECT_EQ(get(node, "d"), 3) << "a crash saves nothing: the fresh activation loads 3";
  auto stopped = node.call(tally("d", {{"op", "stop"}}));
  ASSERT_TRUE(HasValue(stopped));
  EXPECT_EQ(stopped->value, 4);
  EXPECT_EQ(get(node, "d"), 4) << "saved when it stopped itself";
}

// A counter whose farewell takes a while: it has left the table (the node shows no activation)
// well before the state it leaves is queued for the store.
struct SlowFarewell {
  explicit SlowFarewell(std::string) {}
  Value handle_call(Value) { return ++count; }
  Value snapshot() { return Value{{"count", count}}; }
  void restore(Value state) { count = state.at("count").get<int>(); }
  void on_deactivate(DeactivateReason) { std::this_thread::sleep_for(200ms); }
  int count = 0;
};

TEST(PersistenceTest, ANewActivationWaitsForThePreviousOneToQueueTheStateItLeaves) {
  Node node(with_store(memory_store()));
  node.register_actor<SlowFarewell>("SlowFarewell", {.idle_timeout = 20ms,
                                                     .persistence = Persistence::on_deactivate});
  node.register_capabilities({"test"});
  auto call = [&] { return node.call(req("SlowFarewell", "f", Value::object(), "test")); };
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(HasValue(call()));
  ASSERT_TRUE(eventually([&] { return node.activations().empty(); })) << "not passivated";
  // Its on_deactivate is still sleeping: its state is not saved yet.
  auto next = call();
  ASSERT_TRUE(HasValue(next));
  EXPECT_EQ(next->value, 4) << "the next activation loaded the state the previous one left";
}

TEST(PersistenceTest, OnDeactivateSavesAtShutdown) {
  auto store = memory_store();
  {
    Node node(with_store(store));
    node.register_actor<Tally>("Tally", {.persistence = Persistence::on_deactivate});
    node.register_capabilities({"test"});
    for (int id = 0; id < 50; ++id) {
      for (int i = 0; i <= id % 3; ++i) ASSERT_TRUE(HasValue(node.call(tally(std::to_string(id)))));
    }
  }
  Node again(with_store(store));
  again.register_actor<Tally>("Tally", {.persistence = Persistence::on_deactivate});
  again.register_capabilities({"test"});
  for (int id = 0; id < 50; ++id) EXPECT_EQ(get(again, std::to_string(id)), id % 3 + 1) << id;
}

TEST(PersistenceTest, AnActorPassivatedToMakeRoomSavesItsStateFirst) {
  NodeOptions options = with_store(memory_store());
  options.max_activations = 4;
  Node node(options);
  node.register_actor<Tally>("Tally", {.persistence = Persistence::on_deactivate});
  node.register_capabilities({"test"});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(HasValue(node.call(tally("lru-0"))));
  std::this_thread::sleep_for(10ms);  // recency is kept in milliseconds: make lru-0 the oldest
  // Enough others to push lru-0, the least recently used, out of the node.
  for (int id = 1; id <= 8; ++id) ASSERT_TRUE(HasValue(node.call(tally("lru-" + std::to_string(id)))));
  ASSERT_TRUE(eventually([&] {
    for (const ActivationInfo& a : node.activations()) {
      if (a.id == "lru-0") return false;
    }
    return true;
  })) << "lru-0 was not passivated";
  EXPECT_EQ(get(node, "lru-0"), 3) << "the passivated actor's state was not saved";
}

TEST(PersistenceTest, AReplyWaitsUntilItsStateIsCommitted) {
  auto store = std::make_shared<ControlledStore>();
  Node node(with_store(store));
  node.register_actor<Tally>("Tally", {.persistence = Persistence::after_each_message});
  node.register_capabilities({"test"});
  ASSERT_TRUE(HasValue(node.call(tally("w"))));
  store->set_hold(true);
  std::promise<Result<Reply>> replied;
  node.async_call(tally("w"), [&](Result<Reply> r) { replied.set_value(std::move(r)); });
  auto future = replied.get_future();
  EXPECT_EQ(future.wait_for(100ms), std::future_status::timeout)
      << "the reply was released before its state was durable";
  store->set_hold(false);
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  auto reply = future.get();
  ASSERT_TRUE(HasValue(reply));
  EXPECT_EQ(reply->value, 2);
}

// A blocking caller waits for the commit anyway, so it runs the handler itself instead of
// waking a pool worker for it (one thread hand-off fewer per durable call); its reply still
// waits for the commit, and an async caller's thread is never held for one.
TEST(PersistenceTest, ABlockingCallRunsTheHandlerOnItsOwnThreadAndRepliesAfterTheCommit) {
  auto store = std::make_shared<ControlledStore>();
  Node node(with_store(store));
  node.register_actor<Tally>("Tally", {.persistence = Persistence::after_each_message});
  node.register_capabilities({"test"});
  // Activated (and loaded) on the pool; an adaptive module earns callers' threads after a few
  // fast runs (docs/architecture.md).
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(HasValue(node.call(tally("t"))));
  store->set_hold(true);
  std::promise<std::thread::id> caller_id;
  std::promise<Result<Reply>> replied;
  std::thread caller([&] {
    caller_id.set_value(std::this_thread::get_id());
    replied.set_value(node.call(tally("t")));
  });
  const std::thread::id caller_thread = caller_id.get_future().get();
  auto future = replied.get_future();
  EXPECT_EQ(future.wait_for(100ms), std::future_status::timeout)
      << "the reply was released before its state was durable";
  EXPECT_EQ(Tally::last_thread.load(), caller_thread) << "the handler ran on another thread";
  store->set_hold(false);
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  caller.join();
  auto reply = future.get();
  ASSERT_TRUE(HasValue(reply));
  EXPECT_EQ(reply->value, 11);

  std::promise<Result<Reply>> async_replied;
  node.async_call(tally("t"), [&](Result<Reply> r) { async_replied.set_value(std::move(r)); });
  auto async_future = async_replied.get_future();
  ASSERT_EQ(async_future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(async_future.get().value().value, 12);
  EXPECT_NE(Tally::last_thread.load(), std::this_thread::get_id())
      << "an async call held its caller's thread for a commit";
}

TEST(PersistenceTest, WritesOfManyActorsShareACommit) {
  auto store = std::make_shared<ControlledStore>();
  Node node(with_store(store));
  node.register_actor<Tally>("Tally", {.persistence = Persistence::after_each_message});
  node.register_capabilities({"test"});
  // Hold the first commit so that the writes of every other actor queue up behind it.
  store->set_hold(true);
  std::atomic<int> done{0};
  for (int i = 0; i < 32; ++i) {
    node.async_call(tally("g" + std::to_string(i)), [&](Result<Reply> r) {
      EXPECT_TRUE(HasValue(r));
      ++done;
    });
  }
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(store->mutex);
    return !store->batches.empty();
  }));
  std::this_thread::sleep_for(50ms);
  store->set_hold(false);
  ASSERT_TRUE(eventually([&] { return done == 32; }));
  std::lock_guard lock(store->mutex);
  std::size_t most = 0;
  std::size_t total = 0;
  for (std::size_t n : store->batches) {
    most = std::max(most, n);
    total += n;
  }
  EXPECT_EQ(total, 32u);
  EXPECT_LT(store->batches.size(), 32u) << "one commit per write: no group commit";
  EXPECT_GT(most, 1u);
}

// A node commits on as many writer threads as its store's concurrent_writes() asks for: with
// every commit held, that many saves wait at once, and no more.
TEST(PersistenceTest, AsManyCommitsRunAtOnceAsTheStoreAsksFor) {
  for (const std::size_t lanes : {1u, 3u}) {
    auto store = std::make_shared<ControlledStore>();
    store->lanes = lanes;
    Node node(with_store(store));
    node.register_actor<Tally>("Tally", {.persistence = Persistence::after_each_message});
    node.register_capabilities({"test"});
    store->set_hold(true);
    std::atomic<int> done{0};
    for (int i = 0; i < 64; ++i) {
      node.async_call(tally("c" + std::to_string(i)), [&](Result<Reply> r) {
        EXPECT_TRUE(HasValue(r));
        ++done;
      });
    }
    const auto saving = [&] {
      std::lock_guard lock(store->mutex);
      return store->saving;
    };
    EXPECT_TRUE(eventually([&] { return saving() == lanes; })) << lanes << " lanes";
    std::this_thread::sleep_for(100ms);  // time for a save too many to begin
    store->set_hold(false);
    ASSERT_TRUE(eventually([&] { return done == 64; }));
    std::lock_guard lock(store->mutex);
    EXPECT_EQ(store->most_at_once, lanes) << lanes << " lanes";
  }
}

// The failure paths of a durable call, on both paths a call can take: through the pool
// (HandlerMode::blocking) and on the caller's thread (non_blocking: from the actor's second
// message on, its first loads its state on the pool). Each test checks the path it took.
class DurablePathTest : public ::testing::TestWithParam<HandlerMode> {
 protected:
  void serve(Node& node) {
    node.register_actor<Tally>(
        "Tally", {.handlers = GetParam(), .persistence = Persistence::after_each_message});
    node.register_capabilities({"test"});
  }
  // Whether the handler of the last call ran on this thread, as the parameter says it must.
  void expect_path() {
    if (GetParam() == HandlerMode::non_blocking) {
      EXPECT_EQ(Tally::last_thread.load(), std::this_thread::get_id())
          << "not on the caller's thread";
    } else {
      EXPECT_NE(Tally::last_thread.load(), std::this_thread::get_id()) << "not through the pool";
    }
  }
};

INSTANTIATE_TEST_SUITE_P(Paths, DurablePathTest,
                         ::testing::Values(HandlerMode::blocking, HandlerMode::non_blocking),
                         [](const ::testing::TestParamInfo<HandlerMode>& info) {
                           return info.param == HandlerMode::blocking ? std::string("pool")
                                                                      : std::string("caller");
                         });

TEST_P(DurablePathTest, AWriteUnderASupersededClaimIsFencedAndTheNextCallReloads) {
  auto store = memory_store();
  Node node(with_store(store));
  serve(node);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(HasValue(node.call(tally("z"))));
  // Another node takes the shard over and writes a newer state meanwhile.
  const std::uint32_t shard = node.shard_for("z");
  const std::uint64_t fence = store->claim("test", shard, "usurper").value();
  const StateKey key{"test", "Tally", "z", shard};
  std::string bytes;
  Value::to_msgpack(Value{{"count", 40}}, bytes);
  ASSERT_TRUE(HasValue(store->save(std::vector<StateWrite>{{key, fence, bytes}})));

  auto stale = node.call(tally("z"));
  expect_path();
  EXPECT_TRUE(IsError(stale, Errc::fenced)) << "a superseded owner committed";
  EXPECT_EQ(store->load(key).value(), std::optional<std::string>(bytes)) << "the row was overwritten";
  auto fresh = node.call(tally("z"));
  ASSERT_TRUE(HasValue(fresh)) << "the next activation claims again and reloads";
  EXPECT_EQ(fresh->value, 41);
}

TEST_P(DurablePathTest, AStoreThatIsDownFailsCallsFastAndTheyWorkOnceItIsBack) {
  auto store = std::make_shared<ControlledStore>();
  Node node(with_store(store));
  serve(node);
  ASSERT_TRUE(HasValue(node.call(tally("u"))));
  store->down = true;
  auto during = node.call(tally("u"));
  expect_path();
  EXPECT_TRUE(IsError(during, Errc::store_unavailable));
  auto fresh = node.call(tally("new-one"));
  EXPECT_TRUE(IsError(fresh, Errc::store_unavailable)) << "activation needs the store";
  store->down = false;
  auto after = node.call(tally("u"));
  ASSERT_TRUE(HasValue(after));
  EXPECT_EQ(after->value, 2) << "the failed write was not kept in memory";
}

TEST_P(DurablePathTest, ANullSnapshotErasesTheRow) {
  auto store = memory_store();
  Node node(with_store(store));
  serve(node);
  ASSERT_TRUE(HasValue(node.call(tally("f"))));
  const StateKey key{"test", "Tally", "f", node.shard_for("f")};
  ASSERT_TRUE(store->load(key).value().has_value());
  ASSERT_TRUE(HasValue(node.call(tally("f", {{"op", "forget"}}))));
  expect_path();
  EXPECT_FALSE(store->load(key).value().has_value());
}

TEST_P(DurablePathTest, AnActorThatStopsItselfRepliesOnceItsStateIsSaved) {
  auto store = memory_store();
  Node node(with_store(store));
  serve(node);
  ASSERT_TRUE(HasValue(node.call(tally("s"))));
  auto stopped = node.call(tally("s", {{"op", "stop"}}));
  expect_path();
  ASSERT_TRUE(HasValue(stopped));
  EXPECT_EQ(stopped->value, 2);
  auto next = node.call(tally("s"));
  ASSERT_TRUE(HasValue(next));
  EXPECT_NE(next->pid, stopped->pid);
  EXPECT_EQ(next->value, 3);
}

// snapshot() is user code: when it throws, the call fails as a crash, nothing is written and
// the next call meets a fresh activation holding the last committed state.
TEST_P(DurablePathTest, ASnapshotThatThrowsIsACrashThatSavesNothing) {
  auto store = memory_store();
  Node node(with_store(store));
  serve(node);
  auto first = node.call(tally("b"));
  ASSERT_TRUE(HasValue(first));
  auto broken = node.call(tally("b", {{"op", "break"}}));
  expect_path();
  ASSERT_TRUE(IsError(broken, Errc::actor_crashed));
  EXPECT_NE(broken.error().message.find("tally cannot say"), std::string::npos)
      << broken.error().message;
  auto after = node.call(tally("b"));
  ASSERT_TRUE(HasValue(after));
  EXPECT_EQ(after->value, 2) << "the state of the failed call was kept";
  EXPECT_NE(after->pid, first->pid) << "the activation whose snapshot threw lived on";
}

// The caller's deadline, counted from the start of its call (the handler's 600 ms included),
// holds while it waits for the commit; the commit still happens and the actor goes on with
// the state it left.
TEST_P(DurablePathTest, ACallerThatTimesOutWaitingForTheCommitLeavesTheActorWhole) {
  auto store = std::make_shared<ControlledStore>();
  Node node(with_store(store));
  serve(node);
  auto first = node.call(tally("late"));
  ASSERT_TRUE(HasValue(first));
  store->set_hold(true);
  Request hurried = tally("late", {{"op", "nap"}});
  hurried.timeout = 700ms;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(IsError(node.call(std::move(hurried)), Errc::timeout));
  // 700 ms when the deadline holds; 1,300 ms when it is counted from the handler's end.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1100ms) << "the deadline did not hold";
  expect_path();
  store->set_hold(false);
  auto next = node.call(tally("late"));
  ASSERT_TRUE(HasValue(next));
  EXPECT_EQ(next->value, 3) << "the timed-out call's state was lost";
  EXPECT_EQ(next->pid, first->pid) << "the activation was replaced";
}

TEST(PersistenceTest, ARowTheActorCannotRestoreIsActivationFailedNamingTheActor) {
  auto store = memory_store();
  Node node(with_store(store));
  node.register_actor<Picky>("Picky", {.persistence = Persistence::after_each_message});
  node.register_capabilities({"test"});
  const std::uint32_t shard = node.shard_for("row");
  const std::uint64_t fence = store->claim("test", shard, "someone").value();
  ASSERT_TRUE(HasValue(store->save(std::vector<StateWrite>{
      {StateKey{"test", "Picky", "row", shard}, fence, std::string("\x01", 1)}})));
  auto reply = node.call(req("Picky", "row"));
  ASSERT_TRUE(IsError(reply, Errc::activation_failed));
  EXPECT_NE(reply.error().message.find("Picky row"), std::string::npos) << reply.error().message;
  EXPECT_NE(reply.error().message.find("unexpected row"), std::string::npos);
}

TEST(PersistenceTest, AStoredRowThatIsNotMessagePackIsActivationFailed) {
  auto store = memory_store();
  Node node(with_store(store));
  node.register_actor<Tally>("Tally", {.persistence = Persistence::after_each_message});
  node.register_capabilities({"test"});
  const std::uint32_t shard = node.shard_for("junk");
  const std::uint64_t fence = store->claim("test", shard, "someone").value();
  ASSERT_TRUE(HasValue(store->save(std::vector<StateWrite>{
      {StateKey{"test", "Tally", "junk", shard}, fence, std::string("\xc1", 1)}})));
  auto reply = node.call(tally("junk"));
  ASSERT_TRUE(IsError(reply, Errc::activation_failed));
  EXPECT_NE(reply.error().message.find("Tally junk"), std::string::npos) << reply.error().message;
}

TEST(PersistenceTest, RegisterActorRefusesWhatCannotPersist) {
  Node plain(small_node());
  try {
    plain.register_actor<Tally>("Tally", {.persistence = Persistence::after_each_message});
    ADD_FAILURE() << "a persistent module on a node without a store was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("state_store"), std::string::npos) << e.what();
  }
  Node node(with_store(memory_store()));
  try {
    node.register_actor<Counter>("Counter", {.persistence = Persistence::on_deactivate});
    ADD_FAILURE() << "a persistent module without snapshot()/restore() was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("snapshot()"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(node.register_actor<Counter>("Counter"));
}

}  // namespace
}  // namespace mesh::test

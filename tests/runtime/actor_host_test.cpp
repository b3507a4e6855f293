// ActorHost with a fake router: what happens to a request whose shard stopped being this node's
// between routing and activation.
#include "runtime/actor_host.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "core/msgpack_codec.hpp"
#include "mesh/node.hpp"
#include "placement/capability_ids.hpp"
#include "runtime/actor_type.hpp"

namespace mesh::detail {
namespace {

using namespace std::chrono_literals;

struct Tally {
  explicit Tally(std::string) {}
  int count = 0;
  Value handle_call(Value&&) { return ++count; }
  void handle_cast(Value&&) { ++count; }
};

// Blocks in a call until released; counts; crashes on request; keeps its count across a move.
struct Mover {
  static inline std::promise<void>* gate = nullptr;
  explicit Mover(std::string) {}
  int count = 0;
  Value handle_call(Value&& payload) {
    if (payload.contains("block")) gate->get_future().wait();  // NOLINT: one waiter per test
    return count;
  }
  void handle_cast(Value&& payload) {
    if (payload.contains("crash")) throw std::runtime_error("crash while moving");
    ++count;
  }
  Value snapshot() { return count; }
  void restore(Value&& state) { count = state.get<int>(); }
};

class ActorHostTest : public ::testing::Test {
 protected:
  ActorHostTest()
      : host(HostOptions{"here", 16, 2, 2, 1000us, nullptr, &capabilities,
                         [this](LogEvent&& event) {
                           std::lock_guard lock(log_mutex);
                           log.push_back(std::move(event.message));
                         }}) {
    capabilities.intern("test");
    host.set_owner_check([this](std::uint32_t, std::uint32_t shard) {
      return owned[shard].load();
    });
    for (auto& o : owned) o = true;
  }
  Target target(std::uint32_t shard) { return Target{&type, 0, shard, 42}; }
  static Request request(std::string id, Value payload = Value::object()) {
    return Request{.module = "Tally", .id = std::move(id), .payload = std::move(payload)};
  }

  CapabilityIds capabilities;
  std::mutex log_mutex;
  std::vector<std::string> log;
  ActorType type{"Tally", &actor_vtable<Tally>, ActorOptions{}};
  std::array<std::atomic<bool>, 16> owned;
  ActorHost host;
};

TEST_F(ActorHostTest, ARequestForAShardNoLongerOwnedIsRefusedAndLeftIntact) {
  owned[3] = false;
  Request call = request("a", Value{{"n", 1}});
  EXPECT_FALSE(host.call(target(3), call, nullptr).has_value()) << "refused, not served";
  EXPECT_EQ(call.payload, (Value{{"n", 1}})) << "the node routes the same request again";
  EXPECT_EQ(call.id, "a");

  Request cast = request("a", Value{{"n", 7}});
  EXPECT_FALSE(host.cast(target(3), cast).has_value());
  EXPECT_EQ(cast.payload, (Value{{"n", 7}})) << "the payload travels on intact";

  Request async = request("a", Value{{"n", 9}});
  bool called = false;
  CallState::Callback done = [&](Result<Reply>) { called = true; };
  EXPECT_FALSE(host.async_call(target(3), async, nullptr, done,
                               ActorHost::AsyncOrigin::from_peer));
  EXPECT_FALSE(called) << "a refused async call's callback is the node's to call";
  ASSERT_TRUE(done) << "the callback is left with the caller";
  EXPECT_EQ(async.payload, (Value{{"n", 9}}));
  EXPECT_EQ(host.activation_count(), 0u) << "no second copy of the actor was created here";
}

TEST_F(ActorHostTest, AnActorStillActiveOnALostShardKeepsServingUntilItIsHandedOver) {
  // Only creating a new activation asks the owner check: an existing one is evicted (and
  // handed over) by the view change itself, after what it already holds.
  Request r1 = request("b");
  auto first = host.call(target(5), r1, nullptr);
  ASSERT_TRUE(first.has_value() && first->has_value());
  owned[5] = false;
  Request r2 = request("b");
  auto second = host.call(target(5), r2, nullptr);
  ASSERT_TRUE(second.has_value()) << "an existing activation is not refused";
  ASSERT_TRUE(second->has_value()) << second->error();
  EXPECT_EQ((*second)->pid, (*first)->pid);
  EXPECT_EQ((*second)->value, 2);
}

// Counts live instances; the destructor is slow, so a successor that started before its
// predecessor was destroyed would see two.
struct Lingering {
  static inline std::promise<void>* gate = nullptr;
  static inline std::atomic<int> alive{0};
  explicit Lingering(std::string) { ++alive; }
  ~Lingering() {
    std::this_thread::sleep_for(50ms);
    --alive;
  }
  Value handle_call(Value&& payload) {
    if (payload.contains("block")) gate->get_future().wait();  // NOLINT: one waiter per test
    return alive.load();
  }
  void handle_cast(Value&&) { throw std::runtime_error("crash"); }
};

TEST_F(ActorHostTest, ACrashedInstanceIsDestroyedBeforeTheSuccessorThatTakesItsQueueRuns) {
  ActorType lingering{"Lingering", &actor_vtable<Lingering>, ActorOptions{}};
  const Target t{&lingering, 0, 4, 77};
  std::promise<void> gate;
  Lingering::gate = &gate;
  // Hold the actor busy so that the crash and the call behind it queue up together.
  std::promise<Result<Reply>> blocked;
  Request blocking = request("l", Value{{"block", true}});
  CallState::Callback unblocked = [&](Result<Reply> r) { blocked.set_value(std::move(r)); };
  ASSERT_TRUE(host.async_call(t, blocking, nullptr, unblocked, ActorHost::AsyncOrigin::from_peer));
  Request crash = request("l");
  ASSERT_TRUE(host.cast(t, crash).value_or(Result<void>{}).has_value());
  std::promise<Result<Reply>> after;
  Request next = request("l");
  CallState::Callback done = [&](Result<Reply> r) { after.set_value(std::move(r)); };
  ASSERT_TRUE(host.async_call(t, next, nullptr, done, ActorHost::AsyncOrigin::from_peer));
  gate.set_value();
  ASSERT_EQ(blocked.get_future().wait_for(5s), std::future_status::ready);
  auto future = after.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  auto reply = future.get();
  ASSERT_TRUE(reply.has_value()) << reply.error();
  EXPECT_EQ(reply->value, 1) << "the successor ran while the crashed instance still existed";
  host.stop();
  EXPECT_EQ(Lingering::alive.load(), 0);
  Lingering::gate = nullptr;
}

// Collects what the host hands to the moved-actor and shard-moved sinks, and lets a test wait
// for a shard to be done; `actors_before_done` records how many actors had been reported when
// each shard was.
struct MovedSink {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<ActorHost::MovedActor> moved;
  std::vector<ShardRef> done;
  std::vector<std::size_t> actors_before_done;
  void attach(ActorHost& host) {
    host.set_moved_sink([this](ActorHost::MovedActor&& m) {
      std::lock_guard lock(mutex);
      moved.push_back(std::move(m));
    });
    host.set_shard_moved_sink([this](ShardRef key) {
      std::lock_guard lock(mutex);
      done.push_back(key);
      actors_before_done.push_back(moved.size());
      changed.notify_all();
    });
  }
  bool wait_for_shards(std::size_t count) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 5s, [&] { return done.size() >= count; });
  }
};

TEST_F(ActorHostTest, AnActorThatCrashesWhileMovingIsStillHandedOverOnce) {
  MovedSink sink;
  sink.attach(host);
  ActorType mover{"Mover", &actor_vtable<Mover>, ActorOptions{}};
  const Target t{&mover, 0, 7, 99};
  std::promise<void> gate;
  Mover::gate = &gate;
  std::promise<Result<Reply>> blocked;
  Request blocking = request("m", Value{{"block", true}});
  CallState::Callback done = [&](Result<Reply> r) { blocked.set_value(std::move(r)); };
  ASSERT_TRUE(host.async_call(t, blocking, nullptr, done, ActorHost::AsyncOrigin::from_peer));
  Request crash = request("m", Value{{"crash", true}});
  Request inc = request("m", Value{{"inc", 1}});
  ASSERT_TRUE(host.cast(t, crash).value_or(Result<void>{}).has_value());
  ASSERT_TRUE(host.cast(t, inc).value_or(Result<void>{}).has_value());
  const auto eviction = host.evict([](std::uint32_t, std::uint32_t shard) -> std::optional<DeactivateReason> {
    if (shard == 7) return DeactivateReason::moved;
    return std::nullopt;
  });
  EXPECT_EQ(eviction.ended, 1u);
  EXPECT_TRUE(eviction.busy.contains(ShardRef{0, 7}));
  gate.set_value();
  ASSERT_EQ(blocked.get_future().wait_for(5s), std::future_status::ready);
  // The crash discards the actor; its successor handles the queued increment, then moves.
  ASSERT_TRUE(sink.wait_for_shards(1)) << "the successor must end too, not stay behind";
  EXPECT_EQ(host.activation_count(), 0u);
  std::lock_guard lock(sink.mutex);
  ASSERT_EQ(sink.moved.size(), 1u) << "handed over once";
  EXPECT_EQ(sink.done, (std::vector<ShardRef>{{0, 7}}));
  EXPECT_EQ(sink.actors_before_done, (std::vector<std::size_t>{1}));
  ASSERT_TRUE(sink.moved[0].state.has_value());
  EXPECT_EQ(*sink.moved[0].state, 1);
  Mover::gate = nullptr;
}

// A shard's actors end on different pool threads; the shard is done only after all of them
// were reported, whichever thread ends last (else a HANDOFF could follow its RELEASE).
TEST_F(ActorHostTest, AShardIsDoneOnlyAfterEveryActorOfItWasReported) {
  MovedSink sink;
  sink.attach(host);
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 16; ++i) {
      Request r = request("m" + std::to_string(i));
      auto reply = host.call(target(9), r, nullptr);
      ASSERT_TRUE(reply.has_value() && reply->has_value());
    }
    const auto eviction = host.evict([](std::uint32_t, std::uint32_t shard) -> std::optional<DeactivateReason> {
      if (shard == 9) return DeactivateReason::moved;
      return std::nullopt;
    });
    ASSERT_EQ(eviction.ended, 16u);
    ASSERT_TRUE(sink.wait_for_shards(static_cast<std::size_t>(round) + 1));
    std::lock_guard lock(sink.mutex);
    EXPECT_EQ(sink.actors_before_done.back(), 16u * (static_cast<std::size_t>(round) + 1));
  }
}

// A sweep for lost shards (a view change, the reconciler) asks once per capability with
// activations in a shard, not once per activation, and ends only the lost capability's actors.
TEST_F(ActorHostTest, EvictionAsksOncePerCapabilityOfAShard) {
  const std::uint32_t other = capabilities.intern("other");
  for (int i = 0; i < 50; ++i) {
    for (const auto& [capability, shard] :
         {std::pair{0u, 3u}, std::pair{0u, 5u}, std::pair{other, 5u}}) {
      Request r = request("e" + std::to_string(i));
      auto reply = host.call(Target{&type, capability, shard, 42}, r, nullptr);
      ASSERT_TRUE(reply.has_value() && reply->has_value());
    }
  }
  ASSERT_EQ(host.activation_count(), 150u);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> asked;
  const auto eviction = host.evict(
      [&](std::uint32_t capability, std::uint32_t shard) -> std::optional<DeactivateReason> {
        asked.emplace_back(capability, shard);
        if (capability == other && shard == 5) return DeactivateReason::evicted;
        return std::nullopt;
      });
  EXPECT_EQ(eviction.ended, 50u);
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(asked, (std::vector<std::pair<std::uint32_t, std::uint32_t>>{
                       {0u, 3u}, {0u, 5u}, {other, 5u}}));
  // The census follows the table: the same sweep again finds nothing of `other` to ask about.
  asked.clear();
  EXPECT_EQ(host.evict([&](std::uint32_t capability,
                           std::uint32_t shard) -> std::optional<DeactivateReason> {
                  asked.emplace_back(capability, shard);
                  return std::nullopt;
                })
                .ended,
            0u);
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(asked, (std::vector<std::pair<std::uint32_t, std::uint32_t>>{{0u, 3u}, {0u, 5u}}));
  EXPECT_EQ(host.activation_count(), 100u);
}

TEST_F(ActorHostTest, OwnedShardsActivateHere) {
  for (int i = 0; i < 10; ++i) {
    Request r = request("c" + std::to_string(i));
    auto reply = host.call(target(static_cast<std::uint32_t>(i)), r, nullptr);
    ASSERT_TRUE(reply.has_value());
    ASSERT_TRUE(reply->has_value()) << reply->error();
    EXPECT_EQ((*reply)->pid.node, "here");
  }
  EXPECT_EQ(host.activation_count(), 10u);
}

// Hooks that block until released and record the thread they ran on.
struct Slow {
  static inline std::promise<void>* gate = nullptr;
  static inline std::atomic<std::thread::id> restored_on{};
  static inline std::atomic<std::thread::id> deactivated_on{};
  explicit Slow(std::string) {}
  int count = 0;
  Value handle_call(Value&&) { return ++count; }
  Value snapshot() { return count; }
  void restore(Value&& state) {
    restored_on = std::this_thread::get_id();
    gate->get_future().wait();  // NOLINT: one waiter per test
    count = state.get<int>();
  }
  void on_deactivate(DeactivateReason) {
    deactivated_on = std::this_thread::get_id();
    gate->get_future().wait();  // NOLINT: one waiter per test
  }
};

TEST_F(ActorHostTest, AnArrivingActorIsRestoredOnThePoolAheadOfItsNextMessage) {
  ActorType slow{"Slow", &actor_vtable<Slow>, ActorOptions{}};
  const Target t{&slow, 0, 2, 7};
  std::promise<void> gate;
  Slow::gate = &gate;
  // adopt() returns while the restore hook is still blocked: it runs no user code itself.
  host.adopt(t, "s", Value(41));
  EXPECT_EQ(host.activation_count(), 1u);
  std::future<std::optional<Result<Reply>>> next = std::async(std::launch::async, [&] {
    Request r{.module = "Slow", .id = "s", .payload = Value::object()};
    return host.call(t, r, nullptr);
  });
  EXPECT_EQ(next.wait_for(50ms), std::future_status::timeout)
      << "the next message waits for the restore";
  gate.set_value();
  ASSERT_EQ(next.wait_for(5s), std::future_status::ready);
  auto reply = next.get();
  ASSERT_TRUE(reply.has_value() && reply->has_value());
  EXPECT_EQ((*reply)->value, 42) << "the restored state came first";
  EXPECT_NE(Slow::restored_on.load(), std::this_thread::get_id());
  host.stop();  // before `slow`, which its activation points to, goes out of scope
  Slow::gate = nullptr;
}

TEST_F(ActorHostTest, EvictionEndsIdleActorsOnThePoolNotOnTheCaller) {
  MovedSink sink;
  sink.attach(host);
  ActorType slow{"Slow", &actor_vtable<Slow>, ActorOptions{}};
  const Target t{&slow, 0, 4, 9};
  Request r{.module = "Slow", .id = "e", .payload = Value::object()};
  auto first = host.call(t, r, nullptr);
  ASSERT_TRUE(first.has_value() && first->has_value());
  std::promise<void> gate;
  Slow::gate = &gate;
  // evict() returns while the on_deactivate hook is blocked: the caller (a view change, under
  // the rebalancer's lock on the IO thread) runs no user code.
  const auto eviction = host.evict([](std::uint32_t, std::uint32_t shard) -> std::optional<DeactivateReason> {
    if (shard == 4) return DeactivateReason::moved;
    return std::nullopt;
  });
  EXPECT_EQ(eviction.ended, 1u);
  EXPECT_TRUE(eviction.busy.contains(ShardRef{0, 4})) << "its RELEASE waits for it to end";
  gate.set_value();
  ASSERT_TRUE(sink.wait_for_shards(1));
  EXPECT_NE(Slow::deactivated_on.load(), std::this_thread::get_id());
  std::lock_guard lock(sink.mutex);
  ASSERT_EQ(sink.moved.size(), 1u);
  EXPECT_EQ(sink.done, (std::vector<ShardRef>{{0, 4}}));
  ASSERT_TRUE(sink.moved[0].state.has_value());
  EXPECT_EQ(*sink.moved[0].state, 1);
  Slow::gate = nullptr;
}

}  // namespace
}  // namespace mesh::detail

namespace mesh::detail {
namespace {

template <class F>
bool eventually_true(F done) {
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// host_metrics: every activation's start and end is counted once, by reason, on whichever
// thread ran it.
TEST_F(ActorHostTest, ActivationsAreCountedAsTheyStartAndEndByReason) {
  ActorType counted{"Counted", &actor_vtable<Tally>, ActorOptions{}};
  const auto ended = [&](DeactivateReason reason) {
    const auto totals = host_metrics::totals({counted.metrics_id});
    return totals.empty() ? 0 : totals.begin()->second.ended[static_cast<std::size_t>(reason)];
  };
  for (std::uint32_t shard = 0; shard < 6; ++shard) {
    Request r{.module = "Counted", .id = "c" + std::to_string(shard), .payload = Value::object()};
    auto reply = host.call(Target{&counted, 0, shard, 7}, r, nullptr);
    ASSERT_TRUE(reply && *reply);
  }
  // Two shards' actors sit where this node does not own them (the reconciler's case).
  const auto eviction =
      host.evict([](std::uint32_t, std::uint32_t shard) -> std::optional<DeactivateReason> {
        if (shard < 2) return DeactivateReason::evicted;
        return std::nullopt;
      });
  EXPECT_EQ(eviction.ended, 2u);
  ASSERT_TRUE(eventually_true([&] { return ended(DeactivateReason::evicted) == 2; }));
  host.stop();
  const auto totals = host_metrics::totals({counted.metrics_id});
  ASSERT_EQ(totals.size(), 1u);
  const TypeTotals& t = totals.begin()->second;
  EXPECT_EQ(t.started, 6u);
  EXPECT_EQ(t.ended[static_cast<std::size_t>(DeactivateReason::evicted)], 2u);
  EXPECT_EQ(t.ended[static_cast<std::size_t>(DeactivateReason::shutdown)], 4u);
  EXPECT_EQ(t.ended[kCrashed], 0u);
  EXPECT_EQ(t.calls[0], 6u) << "six calls, all ok";
  std::uint64_t timed = 0;
  for (const std::uint64_t bucket : t.duration) timed += bucket;
  EXPECT_EQ(timed, 6u) << "each call's handler time is in the histogram";
}

// Answers with the payload it got, the thread it ran on and the last cast's payload.
struct PayloadEcho {
  explicit PayloadEcho(std::string) {}
  Value handle_call(Value&& payload) {
    std::ostringstream thread;
    thread << std::this_thread::get_id();
    return {{"payload", std::move(payload)}, {"thread", thread.str()}, {"last_cast", last_cast}};
  }
  void handle_cast(Value&& payload) { last_cast = std::move(payload); }
  Value last_cast;
};

Result<Reply> call_encoded(ActorHost& host, const Target& target, std::string_view encoded) {
  Request request{.module = "PayloadEcho", .id = "e"};
  std::promise<Result<Reply>> replied;
  CallState::Callback done = [&](Result<Reply> r) { replied.set_value(std::move(r)); };
  EXPECT_TRUE(host.async_call(target, request, nullptr, done, ActorHost::AsyncOrigin::from_peer,
                              encoded));
  auto future = replied.get_future();
  if (future.wait_for(5s) != std::future_status::ready) {
    return std::unexpected(Error{Errc::timeout, "no reply within 5 s"});
  }
  return future.get();
}

// A peer's call keeps its payload encoded until the worker that runs it decodes it; bytes that
// do not decode fail that call alone.
TEST_F(ActorHostTest, APeersEncodedPayloadIsDecodedByTheWorkerThatRunsIt) {
  ActorType echo{"PayloadEcho", &actor_vtable<PayloadEcho>, ActorOptions{}};
  const Target t{&echo, 0, 5, 11};
  const Value payload{{"action", "add"}, {"n", {1, -2, 3.5}}, {"tag", std::string(40, 't')}};
  std::string encoded;
  msgpack::Writer(encoded).value(payload);
  auto reply = call_encoded(host, t, encoded);
  ASSERT_TRUE(reply) << reply.error();
  EXPECT_EQ(reply->value["payload"], payload);
  std::ostringstream here;
  here << std::this_thread::get_id();
  EXPECT_NE(reply->value["thread"], here.str()) << "run (and decoded) by a pool worker";

  auto bad = call_encoded(host, t, "\xc1");  // a byte MessagePack does not use
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_request) << bad.error();
  EXPECT_NE(bad.error().message.find("could not be decoded"), std::string::npos);

  auto after = call_encoded(host, t, std::string_view("\xa2ok", 3));
  ASSERT_TRUE(after) << after.error() << ": the actor goes on";
  EXPECT_EQ(after->value["payload"], "ok");
  EXPECT_EQ(after->pid.serial, reply->pid.serial) << "the same activation";
  host.stop();  // before `echo`, which its activation points to, goes
}

// A peer's cast too: decoded by the worker, in mailbox order; bytes that do not decode drop
// that cast alone.
TEST_F(ActorHostTest, APeersEncodedCastIsDecodedByTheWorkerThatRunsIt) {
  ActorType echo{"PayloadEcho", &actor_vtable<PayloadEcho>, ActorOptions{}};
  const Target t{&echo, 0, 6, 12};
  const Value payload{{"score", 7}, {"names", {"a", "b"}}};
  std::string encoded;
  msgpack::Writer(encoded).value(payload);
  Request cast{.module = "PayloadEcho", .id = "e"};
  ASSERT_TRUE(host.cast(t, cast, encoded).value_or(std::unexpected(Error{})).has_value());
  Request bad{.module = "PayloadEcho", .id = "e"};
  ASSERT_TRUE(host.cast(t, bad, "\xc1").value_or(std::unexpected(Error{})).has_value());
  auto reply = call_encoded(host, t, std::string_view("\xc0", 1));
  ASSERT_TRUE(reply) << reply.error();
  EXPECT_EQ(reply->value["last_cast"], payload) << "the good cast ran before the call";
  EXPECT_TRUE(reply->value["payload"].is_null());
  host.stop();
}

}  // namespace
}  // namespace mesh::detail

// ActorHost with a fake router: what happens to a request whose shard stopped being this node's
// between routing and activation.
#include "runtime/actor_host.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "mesh/node.hpp"
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

// Records what the host hands back for routing again, and answers for the "new owner".
class FakeRouter final : public Router {
 public:
  std::atomic<int> calls{0}, casts{0}, async_calls{0};
  std::atomic<bool> may_run_here{true};
  Result<Reply> route_call(Request&&, const ChainPtr&) override {
    ++calls;
    return Reply{Pid{"new-owner", 1}, Value("elsewhere")};
  }
  Result<void> route_cast(Request&& request) override {
    ++casts;
    last_cast_payload = request.payload;
    return {};
  }
  void route_async_call(Request&&, const ChainPtr&, CallState::Callback done, bool here) override {
    ++async_calls;
    may_run_here = here;
    done(Reply{Pid{"new-owner", 2}, Value("elsewhere")});
  }
  Node& facade() override { std::abort(); }
  const std::string& capability_name(std::uint32_t) const override { return name; }
  std::string name = "test";
  Value last_cast_payload;
};

class ActorHostTest : public ::testing::Test {
 protected:
  ActorHostTest() : host(HostOptions{"here", 16, 2, 2, 1000us}, router) {
    host.set_owner_check([this](std::uint32_t, std::uint32_t shard) {
      return owned[shard].load();
    });
    for (auto& o : owned) o = true;
  }
  Target target(std::uint32_t shard) { return Target{&type, 0, shard, 42}; }
  static Request request(std::string id, Value payload = Value::object()) {
    return Request{.module = "Tally", .id = std::move(id), .payload = std::move(payload)};
  }

  FakeRouter router;
  ActorType type{"Tally", &actor_vtable<Tally>, ActorOptions{}};
  std::array<std::atomic<bool>, 16> owned;
  ActorHost host;
};

TEST_F(ActorHostTest, ARequestForAShardNoLongerOwnedGoesBackToTheRouter) {
  owned[3] = false;
  auto r = host.call(target(3), request("a"), nullptr);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->pid.node, "new-owner");
  EXPECT_EQ(router.calls.load(), 1);
  EXPECT_EQ(host.activation_count(), 0u) << "no second copy of the actor was created here";

  ASSERT_TRUE(host.cast(target(3), request("a", Value{{"n", 7}})));
  EXPECT_EQ(router.casts.load(), 1);
  EXPECT_EQ(router.last_cast_payload, (Value{{"n", 7}})) << "the payload travels on intact";

  std::promise<Result<Reply>> done;
  host.async_call(target(3), request("a"), nullptr,
                  [&](Result<Reply> reply) { done.set_value(std::move(reply)); },
                  ActorHost::AsyncOrigin::from_peer);
  auto async = done.get_future().get();
  ASSERT_TRUE(async);
  EXPECT_EQ(async->pid.node, "new-owner");
  EXPECT_FALSE(router.may_run_here.load()) << "a peer's request must not run on the IO thread";
  EXPECT_EQ(host.activation_count(), 0u);
}

TEST_F(ActorHostTest, AnActorStillActiveOnALostShardKeepsServingUntilItIsHandedOver) {
  // Only creating a new activation asks the owner check: an existing one is evicted (and
  // handed over) by the view change itself, after what it already holds.
  auto first = host.call(target(5), request("b"), nullptr);
  ASSERT_TRUE(first);
  owned[5] = false;
  auto second = host.call(target(5), request("b"), nullptr);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->pid, first->pid);
  EXPECT_EQ(second->value, 2);
  EXPECT_EQ(router.calls.load(), 0);
}

TEST_F(ActorHostTest, AnActorThatCrashesWhileMovingIsStillHandedOverOnce) {
  std::mutex mutex;
  std::vector<ActorHost::MovedActor> moved;
  host.set_moved_sink([&](ActorHost::MovedActor&& m) {
    std::lock_guard lock(mutex);
    moved.push_back(std::move(m));
  });
  ActorType mover{"Mover", &actor_vtable<Mover>, ActorOptions{}};
  const Target t{&mover, 0, 7, 99};
  std::promise<void> gate;
  Mover::gate = &gate;
  std::promise<Result<Reply>> blocked;
  host.async_call(t, request("m", Value{{"block", true}}), nullptr,
                  [&](Result<Reply> r) { blocked.set_value(std::move(r)); },
                  ActorHost::AsyncOrigin::from_peer);
  ASSERT_TRUE(host.cast(t, request("m", Value{{"crash", true}})));
  ASSERT_TRUE(host.cast(t, request("m", Value{{"inc", 1}})));
  const auto eviction = host.evict([](std::uint32_t, std::uint32_t shard) -> std::optional<DeactivateReason> {
    if (shard == 7) return DeactivateReason::moved;
    return std::nullopt;
  });
  EXPECT_EQ(eviction.ended, 1u);
  EXPECT_TRUE(eviction.busy.contains({0u, 7u}));
  gate.set_value();
  ASSERT_EQ(blocked.get_future().wait_for(5s), std::future_status::ready);
  // The crash discards the actor; its successor handles the queued increment, then moves.
  for (int i = 0; i < 500 && host.activation_count() > 0; ++i) std::this_thread::sleep_for(2ms);
  EXPECT_EQ(host.activation_count(), 0u) << "the successor must end too, not stay behind";
  std::lock_guard lock(mutex);
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_TRUE(moved[0].last);
  ASSERT_TRUE(moved[0].state.has_value());
  EXPECT_EQ(*moved[0].state, 1);
  Mover::gate = nullptr;
}

TEST_F(ActorHostTest, OwnedShardsActivateHere) {
  for (int i = 0; i < 10; ++i) {
    auto r = host.call(target(static_cast<std::uint32_t>(i)), request("c" + std::to_string(i)), nullptr);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->pid.node, "here");
  }
  EXPECT_EQ(host.activation_count(), 10u);
  EXPECT_EQ(router.calls.load(), 0);
}

}  // namespace
}  // namespace mesh::detail

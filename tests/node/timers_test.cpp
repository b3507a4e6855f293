// Timers (ActorContext::start_timer): ticks through the mailbox, one at a time, dying with the
// activation that started them (docs/timers-and-reminders.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "support/expect.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

using Clock = std::chrono::steady_clock;

// What every Ticker saw, shared with the test (one test at a time in this process).
struct TickLog {
  std::mutex mutex;
  std::vector<Clock::time_point> ticks;
  std::vector<Value> payloads;
  std::atomic<int> inside{0};       // handlers of the actor running right now
  std::atomic<int> overlaps{0};     // times a handler started while another ran
  std::atomic<int> deactivations{0};
  std::atomic<int> idle_deactivations{0};
  void reset() {
    std::lock_guard lock(mutex);
    ticks.clear();
    payloads.clear();
    inside = 0;
    overlaps = 0;
    deactivations = 0;
    idle_deactivations = 0;
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return ticks.size();
  }
};
TickLog& log() {
  static TickLog instance;
  return instance;
}

// Marks a handler's run so that two runs of the same actor at once are counted.
struct Running {
  Running() {
    if (log().inside.fetch_add(1) != 0) ++log().overlaps;
  }
  ~Running() { --log().inside; }
};

// Calls: {"start": due_ms, "period": ms (optional), "payload": any} -> the timer id;
// {"cancel": id} -> bool; {"sleep": ms}; {"stop": true}; {"crash": true}.
struct Ticker {
  explicit Ticker(std::string) {}
  Value handle_call(Value request, ActorContext& context) {
    Running running;
    if (request.contains("start")) {
      std::optional<std::chrono::milliseconds> period;
      if (request.contains("period")) period = std::chrono::milliseconds(request["period"].get<int>());
      auto timer = context.start_timer(std::chrono::milliseconds(request["start"].get<int>()),
                                       period, request.value("payload", Value()));
      if (!timer) return Value{{"error", to_string(timer.error().code)}, {"message", timer.error().message}};
      return *timer;
    }
    if (request.contains("cancel")) return context.cancel_timer(request["cancel"].get<TimerId>());
    if (request.contains("sleep")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(request["sleep"].get<int>()));
    }
    if (request.contains("stop")) context.stop();
    if (request.contains("crash")) throw std::runtime_error("asked to crash");
    return true;
  }
  void handle_timer(TimerId, Value payload) {
    Running running;
    std::lock_guard lock(log().mutex);
    log().ticks.push_back(Clock::now());
    log().payloads.push_back(std::move(payload));
  }
  void on_deactivate(DeactivateReason why) {
    ++log().deactivations;
    if (why == DeactivateReason::idle) ++log().idle_deactivations;
  }
};

// Load for the pool: sleeps a millisecond per call.
struct Busy {
  explicit Busy(std::string) {}
  Value handle_call(Value) {
    std::this_thread::sleep_for(1ms);
    return true;
  }
};

// A module without handle_timer.
struct NoTimers {
  explicit NoTimers(std::string) {}
  Value handle_call(Value, ActorContext& context) {
    auto timer = context.start_timer(10ms);
    return timer ? Value("started") : Value(to_string(timer.error().code));
  }
};

class TimersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log().reset();
    node_.register_actor<Ticker>("Ticker");
    node_.register_actor<Ticker>("IdleTicker", {.idle_timeout = 150ms});
    node_.register_actor<NoTimers>("NoTimers");
    node_.register_actor<Busy>("Busy");
    node_.register_capabilities({"test"});
  }
  Value call(const std::string& id, Value payload, const std::string& module = "Ticker") {
    auto reply = node_.call(req(module, id, std::move(payload)));
    EXPECT_TRUE(HasValue(reply));
    return reply ? reply->value : Value();
  }
  Node node_{small_node()};
};

TEST_F(TimersTest, AOneShotTimerFiresOnceWithItsPayload) {
  const Value id = call("a", {{"start", 20}, {"payload", {{"round", 7}}}});
  ASSERT_TRUE(id.is_number()) << id.dump();
  ASSERT_TRUE(eventually([] { return log().count() == 1; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(log().count(), 1u);
  std::lock_guard lock(log().mutex);
  EXPECT_EQ(log().payloads[0], (Value{{"round", 7}}));
  EXPECT_EQ(node_.status().timers, 0u) << "a one-shot ends once it fired";
}

TEST_F(TimersTest, APeriodicTimerKeepsItsPeriodUnderLoad) {
  // Other actors keep the pool busy meanwhile.
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (int t = 0; t < 2; ++t) {
    load.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) (void)node_.call(req("Busy", std::to_string(t * 100 + i % 50)));
    });
  }
  ASSERT_TRUE(call("p", {{"start", 20}, {"period", 20}}).is_number());
  ASSERT_TRUE(eventually([] { return log().count() >= 25; }, 3000ms));
  stop = true;
  for (auto& t : load) t.join();
  std::vector<Clock::time_point> ticks;
  {
    std::lock_guard lock(log().mutex);
    ticks = log().ticks;
  }
  std::vector<double> gaps;
  for (std::size_t i = 1; i < ticks.size(); ++i) {
    gaps.push_back(std::chrono::duration<double, std::milli>(ticks[i] - ticks[i - 1]).count());
  }
  std::sort(gaps.begin(), gaps.end());
  const double median = gaps[gaps.size() / 2];
  EXPECT_GT(median, 15.0);
  EXPECT_LT(median, 25.0);
  // The rhythm holds: no tick is late by more than a few periods, none bunches up.
  EXPECT_LT(gaps.back(), 100.0);
  const double total = std::chrono::duration<double, std::milli>(ticks.back() - ticks.front()).count();
  EXPECT_NEAR(total / static_cast<double>(gaps.size()), 20.0, 3.0) << "fixed rate, not drifting";
  EXPECT_EQ(log().overlaps.load(), 0);
}

TEST_F(TimersTest, ATickNeverRunsBesideAHandlerOfTheSameActor) {
  ASSERT_TRUE(call("busy", {{"start", 0}, {"period", 1}}).is_number());
  for (int i = 0; i < 10; ++i) call("busy", {{"sleep", 15}});
  ASSERT_GT(log().count(), 5u);
  EXPECT_EQ(log().overlaps.load(), 0);
  // A slow actor gets one tick queued at a time, not a backlog: ~150 ms of 1 ms periods while
  // it slept gave about one tick per call, far fewer than 150.
  EXPECT_LT(log().count(), 100u);
}

TEST_F(TimersTest, TicksStopWhenTheActivationStopsOrCrashes) {
  ASSERT_TRUE(call("s", {{"start", 5}, {"period", 5}}).is_number());
  ASSERT_TRUE(eventually([] { return log().count() >= 3; }));
  call("s", {{"stop", true}});
  std::this_thread::sleep_for(30ms);
  const std::size_t after_stop = log().count();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(log().count(), after_stop) << "no tick after the activation stopped";
  EXPECT_TRUE(eventually([&] { return node_.status().timers == 0; }));

  ASSERT_TRUE(call("c", {{"start", 5}, {"period", 5}}).is_number());
  ASSERT_TRUE(eventually([&] { return log().count() >= after_stop + 3; }));
  EXPECT_TRUE(IsError(node_.call(req("Ticker", "c", {{"crash", true}})), Errc::actor_crashed));
  std::this_thread::sleep_for(30ms);
  const std::size_t after_crash = log().count();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(log().count(), after_crash) << "no tick after the activation crashed";
  // The crashed actor's next activation has no timer of its predecessor's.
  call("c", {{"sleep", 0}});
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(log().count(), after_crash);
}

TEST_F(TimersTest, TicksDoNotKeepAnActorFromIdlingOut) {
  ASSERT_TRUE(call("i", {{"start", 10}, {"period", 10}}, "IdleTicker").is_number());
  ASSERT_TRUE(eventually([] { return log().idle_deactivations.load() == 1; }, 3000ms))
      << "an actor whose only messages are ticks still passivates after idle_timeout";
  const std::size_t ticked = log().count();
  EXPECT_GT(ticked, 5u);
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(log().count(), ticked) << "its timer died with it";
}

TEST_F(TimersTest, ACancelledTimerTicksNoMore) {
  const Value id = call("x", {{"start", 5}, {"period", 5}});
  ASSERT_TRUE(id.is_number());
  ASSERT_TRUE(eventually([] { return log().count() >= 2; }));
  EXPECT_EQ(call("y", {{"cancel", id}}), false) << "another actor cannot cancel it";
  EXPECT_EQ(call("x", {{"cancel", id}}), true);
  const std::size_t at_cancel = log().count();
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(log().count(), at_cancel);
  EXPECT_EQ(call("x", {{"cancel", id}}), false) << "cancelling twice";
  EXPECT_EQ(node_.status().timers, 0u);
}

TEST_F(TimersTest, BadTimersAreRefusedWithClearErrors) {
  const Value negative = call("b", {{"start", -1}});
  EXPECT_EQ(negative.value("error", ""), "invalid_request");
  EXPECT_NE(negative.value("message", "").find("negative"), std::string::npos);
  EXPECT_EQ(call("b", {{"start", 10}, {"period", 0}}).value("error", ""), "invalid_request");
  EXPECT_EQ(call("b", {{"start", 10}, {"period", -5}}).value("error", ""), "invalid_request");
  EXPECT_EQ(call("n", Value::object(), "NoTimers"), "invalid_request");
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(log().count(), 0u);
}

}  // namespace
}  // namespace mesh::test

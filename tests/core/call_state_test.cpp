// CallState: a blocking caller's wait for its outcome (src/core/call_state.hpp): woken by the
// completer, or timed out at its deadline, and exactly one of the two.
#include "core/call_state.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

namespace mesh::detail {
namespace {

using namespace std::chrono_literals;

Reply reply(int value) { return Reply{Pid{"n", 1}, Value(value)}; }

TEST(CallStateTest, AnOutcomeCompletedBeforeTheWaitIsReturnedAtOnce) {
  RefPtr<CallState> state(new CallState(Clock::now() + 10s));
  EXPECT_TRUE(state->complete(reply(7)));
  EXPECT_FALSE(state->complete(reply(8))) << "a second completion is dropped";
  const auto start = Clock::now();
  auto result = state->wait();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->value, 7);
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST(CallStateTest, ASleepingWaiterIsWokenByTheCompleterOnAnotherThread) {
  // The completer comes long after the waiter's polling window (40 us): the waiter sleeps on
  // its futex and must be woken, not left until its deadline.
  for (int round = 0; round < 20; ++round) {
    RefPtr<CallState> state(new CallState(Clock::now() + 30s));
    std::thread completer([state, round] {
      std::this_thread::sleep_for(2ms);
      EXPECT_TRUE(state->complete(reply(round)));
    });
    const auto start = Clock::now();
    auto result = state->wait();
    completer.join();
    ASSERT_TRUE(result) << to_string(result.error());
    EXPECT_EQ(result->value, round);
    EXPECT_LT(Clock::now() - start, 5s) << "woken by the completion, not by the deadline";
  }
}

TEST(CallStateTest, NoOutcomeIsATimeoutAtTheDeadline) {
  const auto deadline = Clock::now() + 50ms;
  RefPtr<CallState> state(new CallState(deadline));
  auto result = state->wait();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::timeout);
  EXPECT_GE(Clock::now(), deadline);
  EXPECT_LT(Clock::now(), deadline + 2s);
  EXPECT_FALSE(state->complete(reply(1))) << "the timeout completed it: a late reply is dropped";
}

TEST(CallStateTest, ACompletionRacingTheDeadlineIsEitherTheReplyOrATimeoutNeverBoth) {
  // The completer's complete() returns true exactly when the waiter gets the reply; otherwise
  // the waiter got timeout. Both sides run near the deadline, so both orders happen.
  std::mt19937 random(12345);
  int replies = 0, timeouts = 0;
  for (int round = 0; round < 2000; ++round) {
    const auto deadline = Clock::now() + 200us;
    RefPtr<CallState> state(new CallState(deadline));
    const auto delay = std::chrono::microseconds(random() % 400);
    std::atomic<bool> delivered{false};
    std::thread completer([&] {
      const auto at = Clock::now() + delay;
      while (Clock::now() < at) {
      }
      delivered = state->complete(reply(round));
    });
    auto result = state->wait();
    completer.join();
    if (delivered) {
      ASSERT_TRUE(result) << "round " << round << ": the completer won, the waiter must see it";
      EXPECT_EQ(result->value, round);
      ++replies;
    } else {
      ASSERT_FALSE(result) << "round " << round;
      EXPECT_EQ(result.error().code, Errc::timeout);
      ++timeouts;
    }
  }
  EXPECT_GT(replies, 0);
  EXPECT_GT(timeouts, 0);
}

}  // namespace
}  // namespace mesh::detail

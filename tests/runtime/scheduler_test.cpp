#include "runtime/scheduler.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <thread>

namespace mesh::detail {
namespace {

using namespace std::chrono_literals;

// The scheduler treats activations as opaque pointers; tests hand it tagged fake ones.
Activation* tag(std::uintptr_t n) { return reinterpret_cast<Activation*>(n * 8); }
std::uintptr_t untag(Activation* a) { return reinterpret_cast<std::uintptr_t>(a) / 8; }

TEST(SchedulerTest, RunsEverySubmission) {
  std::atomic<std::uint64_t> sum{0};
  {
    Scheduler scheduler(2, 4, [&](Activation* a) { sum += untag(a); });
    for (std::uintptr_t i = 1; i <= 1000; ++i) scheduler.submit(tag(i));
  }  // stop() finishes what is queued
  EXPECT_EQ(sum.load(), 1000u * 1001 / 2);
}

TEST(SchedulerTest, BlockedWorkerIsCompensated) {
  // One worker blocks until a second submission has run: only an extra worker can run it.
  std::mutex m;
  std::condition_variable cv;
  bool second_ran = false;
  Scheduler scheduler(1, 4, [&](Activation* a) {
    if (untag(a) == 1) {
      BlockingScope blocked;  // what CallState::wait opens
      std::unique_lock lock(m);
      cv.wait_for(lock, 2s, [&] { return second_ran; });
    } else {
      std::lock_guard lock(m);
      second_ran = true;
      cv.notify_all();
    }
  });
  scheduler.submit(tag(1));
  std::this_thread::sleep_for(20ms);
  scheduler.submit(tag(2));
  const auto start = std::chrono::steady_clock::now();
  {
    std::unique_lock lock(m);
    cv.wait_for(lock, 2s, [&] { return second_ran; });
    EXPECT_TRUE(second_ran);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(SchedulerTest, LongRunningWorkIsCompensatedByTheStallCheck) {
  std::atomic<bool> release{false};
  std::atomic<bool> second_ran{false};
  Scheduler scheduler(1, 4, [&](Activation* a) {
    if (untag(a) == 1) {
      while (!release) std::this_thread::sleep_for(1ms);
    } else {
      second_ran = true;
    }
  });
  scheduler.submit(tag(1));
  std::this_thread::sleep_for(20ms);
  scheduler.submit(tag(2));
  for (int i = 0; i < 100 && !second_ran; ++i) {
    scheduler.check_stalled();
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(second_ran.load());
  EXPECT_GE(scheduler.thread_count(), 2u);
  release = true;
}

}  // namespace
}  // namespace mesh::detail

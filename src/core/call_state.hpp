// CallState: where the outcome of one queued call meets the caller waiting for it.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>

#include "core/blocking.hpp"
#include "core/ref_ptr.hpp"
#include "mesh/error.hpp"
#include "mesh/request.hpp"

namespace mesh::detail {

using Clock = std::chrono::steady_clock;

// Shared by the caller and the runner of a queued call; completed exactly once, by the reply,
// the caller's timeout or shutdown, whichever comes first (later completions are dropped, which
// is how a late reply is dropped). Thread-safe.
class CallState final : public RefCounted {
 public:
  using Callback = std::function<void(Result<Reply>)>;

  explicit CallState(Clock::time_point deadline) : deadline_(deadline) {}
  CallState(Clock::time_point deadline, Callback done)
      : deadline_(deadline), callback_(std::move(done)) {}

  Clock::time_point deadline() const { return deadline_; }
  bool completed() const { return completed_.load(std::memory_order_acquire); }

  // Delivers the outcome if nothing has yet; returns whether it did. Runs the callback (async
  // calls) on the completing thread.
  bool complete(Result<Reply> outcome);

  // Blocking calls: waits for the outcome until the deadline, then completes with timeout. The
  // wait is a BlockingScope: a pool worker that waits here lets its pool compensate.
  // A remote reply usually comes within tens of microseconds, so one waiter at a time first
  // polls for a short while: that saves the thread wake-up, which costs as much again on the
  // 2-core VMs we measure on (docs/benchmarks.md).
  // The waiter sleeps on a futex of its own word, not a mutex and condition variable: the
  // completer makes one wake syscall only when the waiter really sleeps, and the woken waiter
  // takes no lock the completer might still hold (docs/benchmarks.md, 64 blocking callers).
  Result<Reply> wait();

 private:
  // word_: empty until the outcome is published; sleeping while the waiter is (or is about
  // to be) in futex_wait and needs a wake.
  static constexpr std::uint32_t kEmpty = 0, kSleeping = 1, kReady = 2;
  // Sleeps while word_ == expected, until `until` (absolute, steady_clock = CLOCK_MONOTONIC)
  // or forever when null. Returns false on timeout.
  bool sleep_while(std::uint32_t expected, const Clock::time_point* until);
  void publish();  // after outcome_ is written: marks it ready and wakes a sleeping waiter

  const Clock::time_point deadline_;
  std::atomic<bool> completed_{false};
  std::atomic<std::uint32_t> word_{kEmpty};
  Callback callback_;
  std::optional<Result<Reply>> outcome_;  // written once by the completer, before publish()
};

// Limits polling waiters to one per process: more would only take CPU from the threads that
// produce the replies.
inline std::atomic<int>& polling_waiters() {
  static std::atomic<int> count{0};
  return count;
}

// A remote round trip takes 40-60 us on the 2-vCPU VMs of docs/benchmarks.md; a waiter that
// sleeps pays a futex wake on top, and a hypervisor's wake-up when its vCPU halted meanwhile.
// 120 us covers most round trips: against 40 us, the median lone caller's p50 went from 0.65 to
// 0.62 of a raw TCP ping-pong and its p99 from ~165 to ~106 us (8 alternating rounds).
inline constexpr auto kPollFor = std::chrono::microseconds(120);

// Polling pays only while replies come about that fast. The process keeps a running average of
// how long waits took; while it is above kPollWhileTypicalBelow (durable calls wait for a disk,
// 64 callers share the link, handlers are slow), waiters go straight to sleep, leaving the CPU
// to the threads that produce replies.
// Relaxed: it is a hint.
inline std::atomic<std::int64_t>& typical_wait_ns() {
  static std::atomic<std::int64_t> average{0};
  return average;
}
inline constexpr auto kPollWhileTypicalBelow = std::chrono::microseconds(150);

inline bool CallState::complete(Result<Reply> outcome) {
  if (completed_.exchange(true, std::memory_order_acq_rel)) return false;
  if (callback_) {
    Callback done = std::move(callback_);  // release captures as soon as the call is over
    done(std::move(outcome));
    return true;
  }
  outcome_ = std::move(outcome);
  publish();
  return true;
}

inline void CallState::publish() {
  if (word_.exchange(kReady, std::memory_order_acq_rel) == kSleeping) {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word_), FUTEX_WAKE_PRIVATE, 1, nullptr,
              nullptr, 0);
  }
}

inline bool CallState::sleep_while(std::uint32_t expected, const Clock::time_point* until) {
  timespec at{};
  if (until) {
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(until->time_since_epoch()).count();
    at.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    at.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  }
  // FUTEX_WAIT_BITSET takes an absolute time on CLOCK_MONOTONIC, which steady_clock reads.
  const long rc =
      ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word_), FUTEX_WAIT_BITSET_PRIVATE,
                expected, until ? &at : nullptr, nullptr, FUTEX_BITSET_MATCH_ANY);
  return !(rc != 0 && errno == ETIMEDOUT);
}

inline Result<Reply> CallState::wait() {
  BlockingScope blocked;
  const Clock::time_point start = Clock::now();
  const bool worth_polling = typical_wait_ns().load(std::memory_order_relaxed) <
                             std::chrono::nanoseconds(kPollWhileTypicalBelow).count();
  if (worth_polling && polling_waiters().fetch_add(1, std::memory_order_relaxed) == 0) {
    const Clock::time_point until = std::min(start + kPollFor, deadline_);
    for (int i = 0; word_.load(std::memory_order_acquire) != kReady; ++i) {
      if ((i & 63) == 63 && Clock::now() >= until) break;
      __builtin_ia32_pause();
    }
    polling_waiters().fetch_sub(1, std::memory_order_relaxed);
  } else if (worth_polling) {
    polling_waiters().fetch_sub(1, std::memory_order_relaxed);
  }
  // Every wait feeds the average, so that it notices when replies become fast again.
  struct Sample {
    Clock::time_point start;
    ~Sample() {
      const std::int64_t took = (Clock::now() - start).count();
      std::atomic<std::int64_t>& average = typical_wait_ns();
      const std::int64_t old = average.load(std::memory_order_relaxed);
      average.store(old + (took - old) / 8, std::memory_order_relaxed);
    }
  } sample{start};
  for (;;) {
    std::uint32_t word = word_.load(std::memory_order_acquire);
    if (word == kReady) break;
    if (word == kEmpty &&
        !word_.compare_exchange_strong(word, kSleeping, std::memory_order_acq_rel)) {
      continue;  // published meanwhile
    }
    if (sleep_while(kSleeping, &deadline_) || Clock::now() < deadline_) continue;
    if (word_.load(std::memory_order_acquire) == kReady) break;
    if (!completed_.exchange(true, std::memory_order_acq_rel)) {
      return std::unexpected(Error{Errc::timeout, "no reply within the request's timeout"});
    }
    // A completer won the race just now; its outcome is on the way.
    while (word_.load(std::memory_order_acquire) != kReady) sleep_while(kSleeping, nullptr);
    break;
  }
  return std::move(*outcome_);
}

}  // namespace mesh::detail

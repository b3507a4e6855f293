// CallState: where the outcome of one queued call meets the caller waiting for it.
#pragma once

#include <chrono>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>

#include "mesh/error.hpp"
#include "core/blocking.hpp"
#include "core/ref_ptr.hpp"
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
  Result<Reply> wait();

 private:
  const Clock::time_point deadline_;
  std::atomic<bool> completed_{false};
  Callback callback_;
  std::mutex mutex_;
  std::condition_variable ready_cv_;
  std::optional<Result<Reply>> outcome_;  // guarded by mutex_
  std::atomic<bool> ready_{false};         // outcome_ is set
};

// Limits polling waiters to one per process: more would only take CPU from the threads that
// produce the replies.
inline std::atomic<int>& polling_waiters() {
  static std::atomic<int> count{0};
  return count;
}

inline constexpr auto kPollFor = std::chrono::microseconds(40);

// Polling pays only while replies come about that fast. The process keeps a running average of
// how long waits took; while it is far above kPollFor (durable calls wait for a disk, handlers
// are slow), waiters go straight to sleep, leaving the CPU to the threads that produce replies.
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
  {
    std::lock_guard lock(mutex_);
    outcome_ = std::move(outcome);
    ready_.store(true, std::memory_order_release);
  }
  ready_cv_.notify_one();
  return true;
}

inline Result<Reply> CallState::wait() {
  BlockingScope blocked;
  const Clock::time_point start = Clock::now();
  const bool worth_polling = typical_wait_ns().load(std::memory_order_relaxed) <
                             std::chrono::nanoseconds(kPollWhileTypicalBelow).count();
  if (worth_polling && polling_waiters().fetch_add(1, std::memory_order_relaxed) == 0) {
    const Clock::time_point until = std::min(start + kPollFor, deadline_);
    for (int i = 0; !ready_.load(std::memory_order_acquire); ++i) {
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
  std::unique_lock lock(mutex_);
  if (!ready_cv_.wait_until(lock, deadline_, [&] { return outcome_.has_value(); })) {
    if (!completed_.exchange(true, std::memory_order_acq_rel)) {
      return std::unexpected(Error{Errc::timeout, "no reply within the request's timeout"});
    }
    // A completer won the race just now; its outcome is on the way.
    ready_cv_.wait(lock, [&] { return outcome_.has_value(); });
  }
  return std::move(*outcome_);
}

}  // namespace mesh::detail

#include "runtime/timer_service.hpp"

#include "core/thread_name.hpp"

namespace mesh::detail {

TimerService::TimerService() : thread_([this] {
  name_this_thread("mesh-timer");
  run();
}) {}

TimerService::~TimerService() { stop(); }

void TimerService::at(Clock::time_point when, Task task) {
  push(Entry{when, 0, std::move(task), Clock::duration::zero()});
}

void TimerService::every(Clock::duration period, Task task) {
  push(Entry{Clock::now() + period, 0, std::move(task), period});
}

void TimerService::push(Entry entry) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    entry.sequence = sequence_++;
    const bool earliest = entries_.empty() || entry.when < entries_.top().when;
    entries_.push(std::move(entry));
    if (!earliest) return;
  }
  cv_.notify_one();
}

void TimerService::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (entries_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const Clock::time_point when = entries_.top().when;
    if (Clock::now() < when) {
      cv_.wait_until(lock, when);
      continue;
    }
    Entry entry = std::move(const_cast<Entry&>(entries_.top()));
    entries_.pop();
    lock.unlock();
    entry.task();
    lock.lock();
    if (entry.period != Clock::duration::zero() && !stopping_) {
      entry.when += entry.period;
      entry.sequence = sequence_++;
      entries_.push(std::move(entry));
    }
  }
}

void TimerService::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  while (!entries_.empty()) entries_.pop();
}

}  // namespace mesh::detail

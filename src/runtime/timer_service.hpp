// TimerService: one thread per node for deadlines and periodic housekeeping.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace mesh::detail {

// Runs each task on its own thread at (or just after) its time. Tasks must be short: they share
// the one thread. Thread-safe; tasks scheduled after stop() never run.
class TimerService {
 public:
  using Clock = std::chrono::steady_clock;
  using Task = std::function<void()>;

  TimerService();
  ~TimerService();  // stops: see stop()
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;

  void at(Clock::time_point when, Task task);
  // Runs task every period, first one period from now, until stop().
  void every(Clock::duration period, Task task);
  // Joins the thread; pending tasks are dropped (their captures are destroyed here).
  void stop();

 private:
  struct Entry {
    Clock::time_point when;
    std::uint64_t sequence;  // FIFO among equal times
    Task task;
    Clock::duration period;  // zero = one-shot
    bool operator>(const Entry& other) const {
      return when != other.when ? when > other.when : sequence > other.sequence;
    }
  };

  void run();
  void push(Entry entry);

  std::mutex mutex_;
  std::condition_variable cv_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> entries_;  // guarded by mutex_
  std::uint64_t sequence_ = 0;                                             // guarded by mutex_
  bool stopping_ = false;                                                  // guarded by mutex_
  std::thread thread_;
};

}  // namespace mesh::detail

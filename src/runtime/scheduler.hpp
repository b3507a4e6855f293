// Scheduler: the worker pool that drains busy actors' mailboxes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/blocking.hpp"

namespace mesh::detail {

class Activation;

// Runs `drain(activation)` for every submitted activation on one of its threads. Each base
// worker has its own queue; a worker's own submissions stay on its queue, other threads spread
// theirs round-robin, and an idle worker steals. While workers are blocked (a handler waiting
// on a busy actor) or stuck in long handlers, the pool adds extra threads so that queued work
// for other actors keeps moving. Thread-safe.
class Scheduler {
 public:
  using Drain = std::function<void(Activation*)>;

  Scheduler(std::uint32_t workers, std::uint32_t max_extra_workers, Drain drain);
  ~Scheduler();  // stops: see stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void submit(Activation* activation);
  // Finishes what is queued, then joins every thread. Submissions after stop() are dropped.
  void stop();
  // Adds a worker if work is queued and nothing was taken from the queues since the last check;
  // called periodically, it is how long-running handlers stop starving other actors.
  void check_stalled();
  std::uint32_t thread_count() const;


 private:
  // Installed on every worker (core/blocking.hpp): a worker that blocks (a handler waiting for
  // a reply) is counted, and the pool compensates with an extra worker when work is waiting.
  class WorkerBlocking final : public BlockingListener {
   public:
    explicit WorkerBlocking(Scheduler& scheduler) : scheduler_(scheduler) {}
    void blocking_begins() override;
    void blocking_ends() noexcept override;

   private:
    Scheduler& scheduler_;
  };

  struct alignas(64) Queue {
    std::mutex mutex;
    std::deque<Activation*> items;
  };

  void run_worker(std::size_t own_queue, bool extra);
  Activation* take(std::size_t own_queue);
  Activation* try_pop(Queue& queue);
  bool wait_for_work(bool extra);
  void add_extra_worker();
  void wake_one();

  const Drain drain_;
  std::vector<std::unique_ptr<Queue>> queues_;
  const std::uint32_t max_extra_;

  alignas(64) std::atomic<std::int64_t> pending_{0};
  std::atomic<std::uint64_t> taken_{0};
  std::atomic<std::uint32_t> sleepers_{0};
  std::atomic<bool> waking_{false};  // a wake-up was sent and its worker has not taken work yet
  std::atomic<std::uint32_t> blocked_{0};
  std::atomic<bool> stopping_{false};

  std::mutex idle_mutex_;
  std::condition_variable idle_cv_;

  mutable std::mutex threads_mutex_;
  std::list<std::thread> threads_;           // guarded by threads_mutex_
  std::uint32_t extra_running_ = 0;          // guarded by threads_mutex_
  std::uint64_t taken_at_last_check_ = 0;    // guarded by threads_mutex_
  std::vector<std::thread::id> finished_;    // extra threads that returned; joined lazily
  WorkerBlocking blocking_{*this};
};

}  // namespace mesh::detail

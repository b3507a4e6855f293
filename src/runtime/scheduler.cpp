#include "runtime/scheduler.hpp"

#include "core/thread_name.hpp"
#include "core/batch_flush.hpp"

#include <algorithm>
#include <chrono>

namespace mesh::detail {
namespace {

constexpr std::size_t kNoQueue = static_cast<std::size_t>(-1);
constexpr auto kBaseIdleWait = std::chrono::milliseconds(100);
constexpr auto kExtraRetireAfter = std::chrono::seconds(1);

struct WorkerIdentity {
  Scheduler* scheduler = nullptr;
  std::size_t queue = kNoQueue;
};
thread_local WorkerIdentity current_worker;

}  // namespace

Scheduler::Scheduler(std::uint32_t workers, std::uint32_t max_extra_workers, Drain drain)
    : drain_(std::move(drain)), max_extra_(max_extra_workers) {
  workers = std::max<std::uint32_t>(workers, 1);
  for (std::uint32_t i = 0; i < workers; ++i) queues_.push_back(std::make_unique<Queue>());
  std::lock_guard lock(threads_mutex_);
  for (std::size_t i = 0; i < workers; ++i) {
    threads_.emplace_back([this, i] { run_worker(i, false); });
  }
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::submit(Activation* activation) {
  std::size_t index;
  if (current_worker.scheduler == this && current_worker.queue != kNoQueue) {
    index = current_worker.queue;
  } else {
    thread_local std::size_t round_robin = 0;
    index = round_robin++ % queues_.size();
  }
  {
    std::lock_guard lock(queues_[index]->mutex);
    queues_[index]->items.push_back(activation);
  }
  pending_.fetch_add(1);
  // One wake-up in flight is enough: the woken worker passes it on if more work is waiting.
  if (sleepers_.load() > 0 && !waking_.exchange(true)) wake_one();
}

void Scheduler::wake_one() {
  std::lock_guard lock(idle_mutex_);
  idle_cv_.notify_one();
}

Activation* Scheduler::try_pop(Queue& queue) {
  std::lock_guard lock(queue.mutex);
  if (queue.items.empty()) return nullptr;
  Activation* activation = queue.items.front();
  queue.items.pop_front();
  return activation;
}

Activation* Scheduler::take(std::size_t own_queue) {
  const std::size_t n = queues_.size();
  const std::size_t start = own_queue == kNoQueue ? 0 : own_queue;
  for (std::size_t i = 0; i < n; ++i) {
    if (Activation* activation = try_pop(*queues_[(start + i) % n])) return activation;
  }
  return nullptr;
}

bool Scheduler::wait_for_work(bool extra) {
  std::unique_lock lock(idle_mutex_);
  sleepers_.fetch_add(1);
  bool keep_going = true;
  if (pending_.load() <= 0) {
    if (stopping_.load()) {
      keep_going = false;
    } else if (idle_cv_.wait_for(lock, extra ? kExtraRetireAfter : kBaseIdleWait) ==
                   std::cv_status::timeout &&
               extra && pending_.load() <= 0) {
      keep_going = false;  // an extra worker with nothing to do retires
    }
  }
  sleepers_.fetch_sub(1);
  waking_.store(false);
  return keep_going;
}

void Scheduler::run_worker(std::size_t own_queue, bool extra) {
  current_worker = {this, own_queue};
  name_this_thread(extra ? "mesh-extra" : "mesh-worker");
  BatchFlush::enable();
  set_blocking_listener(&blocking_);
  int since_flush = 0;
  for (;;) {
    if (Activation* activation = take(own_queue)) {
      waking_.store(false, std::memory_order_relaxed);
      if (pending_.fetch_sub(1) > 1 && sleepers_.load() > 0 && !waking_.exchange(true)) wake_one();
      taken_.fetch_add(1, std::memory_order_relaxed);
      drain_(activation);
      // Writes deferred by the handlers (replies to peers) leave when the queue runs dry, or
      // every few activations under load so that no reply waits long.
      if (pending_.load(std::memory_order_relaxed) <= 0 || ++since_flush >= 16) {
        BatchFlush::run();
        since_flush = 0;
      }
      continue;
    }
    BatchFlush::run();
    if (!wait_for_work(extra)) break;
  }
  current_worker = {};
  set_blocking_listener(nullptr);
  if (extra) {
    std::lock_guard lock(threads_mutex_);
    --extra_running_;
    finished_.push_back(std::this_thread::get_id());
  }
}

void Scheduler::add_extra_worker() {
  // Caller holds threads_mutex_.
  if (stopping_.load() || extra_running_ >= max_extra_) return;
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (std::find(finished_.begin(), finished_.end(), it->get_id()) != finished_.end()) {
      it->join();
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
  finished_.clear();
  ++extra_running_;
  threads_.emplace_back([this] { run_worker(kNoQueue, true); });
}

void Scheduler::check_stalled() {
  std::lock_guard lock(threads_mutex_);
  const std::uint64_t taken = taken_.load(std::memory_order_relaxed);
  if (pending_.load() > 0 && taken == taken_at_last_check_) add_extra_worker();
  taken_at_last_check_ = taken;
}

std::uint32_t Scheduler::thread_count() const {
  std::lock_guard lock(threads_mutex_);
  return static_cast<std::uint32_t>(queues_.size()) + extra_running_;
}

void Scheduler::stop() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard lock(idle_mutex_);
    idle_cv_.notify_all();
  }
  std::list<std::thread> threads;
  for (;;) {
    {
      std::lock_guard lock(threads_mutex_);
      if (threads_.empty()) break;
      threads.splice(threads.end(), threads_);
    }
    for (std::thread& t : threads) t.join();
    threads.clear();
  }
}

void Scheduler::WorkerBlocking::blocking_begins() {
  BatchFlush::run();  // nothing this worker deferred may wait for the end of its wait
  const std::uint32_t blocked = scheduler_.blocked_.fetch_add(1) + 1;
  std::lock_guard lock(scheduler_.threads_mutex_);
  const std::uint32_t total =
      static_cast<std::uint32_t>(scheduler_.queues_.size()) + scheduler_.extra_running_;
  if (total - std::min(total, blocked) < scheduler_.queues_.size()) scheduler_.add_extra_worker();
}

void Scheduler::WorkerBlocking::blocking_ends() noexcept { scheduler_.blocked_.fetch_sub(1); }

}  // namespace mesh::detail

// SnapshotCell: an immutable value that is replaced rarely and read on every call.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace mesh::detail {

// Each live cell owns a slot of every thread's snapshot cache, so that no two live cells share
// one: a reader may hold the snapshot of one cell while it reads another (resolving a request
// reads the routing table, then the actor registry), and a shared slot would free the first.
// Slots are reused after a cell dies; until then a thread's entry keeps that cell's last
// snapshot alive. Thread-safe.
class SnapshotSlots {
 public:
  static std::uint32_t acquire() {
    std::lock_guard lock(state().mutex);
    auto& free = state().free;
    if (free.empty()) return state().next++;
    const std::uint32_t slot = free.back();
    free.pop_back();
    return slot;
  }
  static void release(std::uint32_t slot) {
    std::lock_guard lock(state().mutex);
    state().free.push_back(slot);
  }

 private:
  struct State {
    std::mutex mutex;
    std::vector<std::uint32_t> free;  // guarded by mutex
    std::uint32_t next = 0;           // guarded by mutex
  };
  static State& state() {
    static State s;
    return s;
  }
};

// Readers get the current snapshot without a lock or a shared atomic write: each thread caches
// a shared_ptr to the last snapshot it saw and only checks the cell's version (a read of a line
// that changes once per publish). A thread's cache keeps at most one old snapshot per cell alive.
// Thread-safe. T must be immutable once published.
template <class T>
class SnapshotCell {
 public:
  explicit SnapshotCell(std::shared_ptr<const T> initial)
      : id_(next_cell_id()), slot_(SnapshotSlots::acquire()), current_(std::move(initial)) {}
  ~SnapshotCell() { SnapshotSlots::release(slot_); }
  SnapshotCell(const SnapshotCell&) = delete;
  SnapshotCell& operator=(const SnapshotCell&) = delete;

  // The current snapshot; valid until this thread calls read() on this cell again.
  const T& read() const {
    const std::uint64_t version = version_.load(std::memory_order_acquire);
    Entry& entry = cache_entry();
    if (entry.cell != id_ || entry.version != version) refresh(entry);
    return *static_cast<const T*>(entry.value.get());
  }

  // A reference-counted copy, for readers that hold a snapshot across calls.
  std::shared_ptr<const T> load() const {
    std::lock_guard lock(mutex_);
    return current_;
  }

  void publish(std::shared_ptr<const T> next) {
    std::lock_guard lock(mutex_);
    current_ = std::move(next);
    version_.fetch_add(1, std::memory_order_release);
  }

 private:
  struct Entry {
    std::uint64_t cell = 0;
    std::uint64_t version = 0;
    std::shared_ptr<const void> value;
  };

  static std::uint64_t next_cell_id() {
    static std::atomic<std::uint64_t> counter{1};
    return counter.fetch_add(1, std::memory_order_relaxed);
  }

  // Entries move when the cache grows, but readers hold the snapshots, not the entries.
  Entry& cache_entry() const {
    thread_local std::vector<Entry> cache;
    if (slot_ >= cache.size()) cache.resize(slot_ + 1);
    return cache[slot_];
  }

  void refresh(Entry& entry) const {
    std::lock_guard lock(mutex_);
    entry.cell = id_;
    entry.version = version_.load(std::memory_order_relaxed);
    entry.value = current_;
  }

  const std::uint64_t id_;   // never reused: tells a reused slot's stale entry apart
  const std::uint32_t slot_;
  alignas(64) std::atomic<std::uint64_t> version_{0};
  mutable std::mutex mutex_;
  std::shared_ptr<const T> current_;  // guarded by mutex_
};

}  // namespace mesh::detail

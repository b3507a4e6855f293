// SnapshotCell: an immutable value that is replaced rarely and read on every call.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace mesh::detail {

// Readers get the current snapshot without a lock or a shared atomic write: each thread caches
// a shared_ptr to the last snapshot it saw and only checks the cell's version (a read of a line
// that changes once per publish). A thread's cache keeps at most one old snapshot per cell alive.
// Thread-safe. T must be immutable once published.
template <class T>
class SnapshotCell {
 public:
  explicit SnapshotCell(std::shared_ptr<const T> initial)
      : id_(next_cell_id()), current_(std::move(initial)) {}

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

  // A few entries per thread, so a handful of cells (several nodes in one process) do not evict
  // each other on every read. Cells are identified by a never-reused id, not by address.
  Entry& cache_entry() const {
    thread_local std::array<Entry, 8> cache;
    return cache[id_ % cache.size()];
  }

  void refresh(Entry& entry) const {
    std::lock_guard lock(mutex_);
    entry.cell = id_;
    entry.version = version_.load(std::memory_order_relaxed);
    entry.value = current_;
  }

  const std::uint64_t id_;
  alignas(64) std::atomic<std::uint64_t> version_{0};
  mutable std::mutex mutex_;
  std::shared_ptr<const T> current_;  // guarded by mutex_
};

}  // namespace mesh::detail

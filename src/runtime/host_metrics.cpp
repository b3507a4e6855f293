#include "runtime/host_metrics.hpp"

#include <memory>
#include <mutex>
#include <vector>

#include "runtime/actor_type.hpp"

namespace mesh::detail {

void TypeTotals::add(const TypeTotals& other) {
  for (std::size_t i = 0; i < kOutcomeCount; ++i) {
    calls[i] += other.calls[i];
    casts[i] += other.casts[i];
  }
  started += other.started;
  for (std::size_t i = 0; i < kReasonCount; ++i) ended[i] += other.ended[i];
  for (std::size_t i = 0; i < kDurationBuckets; ++i) duration[i] += other.duration[i];
  duration_sum_ns += other.duration_sum_ns;
}

namespace host_metrics {
namespace {

using Counter = std::atomic<std::uint64_t>;

// Only the owning thread writes a cell, so an increment needs no read-modify-write instruction;
// the atomic type is for the readers, which may load at any time.
void bump(Counter& counter, std::uint64_t n = 1) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

struct Cells {
  std::array<Counter, kOutcomeCount> calls{};
  std::array<Counter, kOutcomeCount> casts{};
  Counter started{0};
  std::array<Counter, kReasonCount> ended{};
  std::array<Counter, kDurationBuckets> duration{};
  Counter duration_sum_ns{0};

  void add_to(TypeTotals& totals) const {
    const auto load = [](const Counter& c) { return c.load(std::memory_order_relaxed); };
    for (std::size_t i = 0; i < kOutcomeCount; ++i) {
      totals.calls[i] += load(calls[i]);
      totals.casts[i] += load(casts[i]);
    }
    totals.started += load(started);
    for (std::size_t i = 0; i < kReasonCount; ++i) totals.ended[i] += load(ended[i]);
    for (std::size_t i = 0; i < kDurationBuckets; ++i) totals.duration[i] += load(duration[i]);
    totals.duration_sum_ns += load(duration_sum_ns);
  }
};

struct ThreadCells;

// Every thread's cells, and the totals of threads that ended. Never destroyed: threads may end
// (and fold their cells in) while static objects are being destroyed at exit.
struct Book {
  std::mutex mutex;
  std::vector<ThreadCells*> live;      // guarded by mutex
  std::map<Key, TypeTotals> retired;   // guarded by mutex
};
Book& book() {
  static Book* const instance = new Book;
  return *instance;
}

// The last cells this thread counted in, so that a run of messages to one (type, capability)
// costs a compare: constant-initialized, so reading them needs no guard.
thread_local Key tl_last_key{~std::uint64_t{0}, ~std::uint32_t{0}};
thread_local Cells* tl_last = nullptr;
// Set once the thread's cells were folded into the book (thread exit): later counts are dropped.
thread_local bool tl_gone = false;

Cells spare;  // where counts go once a thread's own cells are gone

struct ThreadCells {
  // The owner reads the map without the lock (only it changes the map) and inserts under it;
  // readers take it to walk the map.
  std::mutex mutex;
  std::map<Key, std::unique_ptr<Cells>> cells;

  ThreadCells() {
    Book& b = book();
    std::lock_guard lock(b.mutex);
    b.live.push_back(this);
  }
  ~ThreadCells() {
    tl_gone = true;
    tl_last = nullptr;
    Book& b = book();
    std::lock_guard lock(b.mutex);
    for (const auto& [key, c] : cells) c->add_to(b.retired[key]);
    std::erase(b.live, this);
  }

  Cells& of(const Key& key) {
    auto it = cells.find(key);
    if (it == cells.end()) {
      std::lock_guard lock(mutex);
      it = cells.emplace(key, std::make_unique<Cells>()).first;
    }
    return *it->second;
  }
};

[[gnu::noinline]] Cells& cells_of_slow(const Key& key) {
  if (tl_gone) return spare;
  thread_local ThreadCells mine;
  Cells& cells = mine.of(key);
  tl_last_key = key;
  tl_last = &cells;
  return cells;
}

inline Cells& cells_of(const ActorType& type, std::uint32_t capability) {
  const Key key{type.metrics_id, capability};
  if (tl_last != nullptr && key == tl_last_key) [[likely]] return *tl_last;
  return cells_of_slow(key);
}

}  // namespace

void call(const ActorType& type, std::uint32_t capability, const Error* error) noexcept {
  bump(cells_of(type, capability).calls[outcome_index(error)]);
}

void cast(const ActorType& type, std::uint32_t capability, const Error* error) noexcept {
  bump(cells_of(type, capability).casts[outcome_index(error)]);
}

void started(const ActorType& type, std::uint32_t capability) noexcept {
  bump(cells_of(type, capability).started);
}

void ended(const ActorType& type, std::uint32_t capability,
           std::optional<DeactivateReason> reason) noexcept {
  const std::size_t index = reason ? static_cast<std::size_t>(*reason) : kCrashed;
  bump(cells_of(type, capability).ended[index < kReasonCount ? index : kCrashed]);
}

void handler_time(const ActorType& type, std::uint32_t capability, std::uint64_t ns) noexcept {
  Cells& cells = cells_of(type, capability);
  // Most handlers take microseconds: the scan from the small end stops within a few steps.
  std::size_t bucket = 0;
  while (bucket < kDurationBoundsNs.size() && ns > kDurationBoundsNs[bucket]) ++bucket;
  bump(cells.duration[bucket]);
  bump(cells.duration_sum_ns, ns);
}

std::uint64_t new_type_id() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::map<Key, TypeTotals> totals(const std::set<std::uint64_t>& types) {
  std::map<Key, TypeTotals> result;
  Book& b = book();
  std::lock_guard lock(b.mutex);
  for (const auto& [key, t] : b.retired) {
    if (types.contains(key.type_id)) result[key].add(t);
  }
  for (ThreadCells* thread : b.live) {
    std::lock_guard cells_lock(thread->mutex);
    for (const auto& [key, c] : thread->cells) {
      if (types.contains(key.type_id)) c->add_to(result[key]);
    }
  }
  return result;
}

}  // namespace host_metrics
}  // namespace mesh::detail

#include "node/reminders.hpp"

#include <algorithm>

#include "core/thread_name.hpp"

namespace mesh::detail {
namespace {

using Steady = std::chrono::steady_clock;

// Reminders one take hands out per shard, and in flight on the node at once: bounds the memory
// a burst of due reminders costs (a million due at once go through in slices).
constexpr std::size_t kTakeBatch = 512;
constexpr std::size_t kMaxInFlight = 16384;
// After a view change the owned shards are read again this much later, twice: a reminder the
// previous owner set just before it saw the change is then found.
constexpr auto kLateRefresh = std::chrono::milliseconds(1000);
// And once in a while regardless, should anything else have been missed.
constexpr auto kPeriodicRefresh = std::chrono::seconds(60);
// How soon a shard whose take failed (store down, claim lost) is tried again.
constexpr std::int64_t kRetryMs = 1000;
constexpr std::int64_t kRetryFencedMs = 100;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The first due time after `now` in the reminder's rhythm: periods missed while nobody
// delivered it fire once, not once each.
std::optional<std::int64_t> next_due(const ReminderRow& row, std::int64_t now) {
  if (row.period_ms <= 0) return std::nullopt;
  if (row.due_ms > now) return row.due_ms + row.period_ms;
  return row.due_ms + row.period_ms * ((now - row.due_ms) / row.period_ms + 1);
}

}  // namespace

Reminders::Reminders(std::shared_ptr<StateStore> store, ActorHost& host, Rebalancer& rebalancer,
                     const CapabilityIds& capabilities, Deliver deliver, Log log)
    : store_(std::move(store)),
      host_(host),
      rebalancer_(rebalancer),
      capabilities_(capabilities),
      deliver_(std::move(deliver)),
      log_(std::move(log)) {}

Reminders::~Reminders() { stop(); }

void Reminders::start() {
  thread_ = std::thread([this] {
    name_this_thread("mesh-reminders");
    run();
  });
}

void Reminders::stop() {
  std::call_once(stopped_, [this] {
    {
      std::unique_lock lock(mutex_);
      stopping_ = true;
      wake_.notify_all();
      // Deliveries under way are recorded before the node goes: a reminder delivered and not
      // recorded would fire again at its next owner.
      wake_.wait_for(lock, kLease, [&] { return in_flight_ == 0 && acks_.empty(); });
    }
    if (thread_.joinable()) thread_.join();
  });
}

void Reminders::warn(const std::string& message) {
  {
    std::lock_guard lock(mutex_);
    const auto now = Steady::now();
    if (now < warned_at_ + std::chrono::seconds(1)) return;
    warned_at_ = now;
  }
  if (log_) log_(LogLevel::warning, message);
}

template <class T>
Result<T> Reminders::with_fence(std::uint32_t capability, std::uint32_t shard,
                                const std::function<Result<T>(std::uint64_t)>& write) {
  for (int attempt = 0;; ++attempt) {
    // A claim by a node that does not own the shard would fence its owner's writes.
    if (!rebalancer_.table_snapshot()->owned_here(capability, shard)) {
      return std::unexpected(Error{Errc::fenced, "shard " + std::to_string(shard) + " of '" +
                                                     capabilities_.name(capability) +
                                                     "' is no longer owned by this node"});
    }
    auto fence = host_.shard_fence(capability, shard);
    if (!fence) return std::unexpected(std::move(fence.error()));
    Result<T> result = write(*fence);
    // Fenced: another node claimed the shard since this node did. If this node still owns it
    // (it got it back), a fresh claim is right; otherwise the fresh claim fences the other.
    // Only once: the caller is told after that.
    if (result || result.error().code != Errc::fenced || attempt > 0) return result;
    host_.forget_fence(capability, shard, *fence);
  }
}

Result<void> Reminders::set(std::uint32_t capability, const ReminderRow& reminder) {
  auto done = with_fence<void>(capability, reminder.key.shard, [&](std::uint64_t fence) {
    return store_->set_reminder(reminder, fence);
  });
  if (!done) return done;
  std::lock_guard lock(mutex_);
  ShardEntry& entry = shards_[{capability, reminder.key.shard}];
  // A busy shard reads its next due time back from the store once its deliveries are done.
  if (!entry.busy) entry.next_due = std::min(entry.next_due, reminder.due_ms);
  wake_.notify_all();
  return {};
}

Result<bool> Reminders::remove(std::uint32_t capability, const StateKey& key,
                               std::string_view name) {
  return with_fence<bool>(capability, key.shard, [&](std::uint64_t fence) {
    return store_->remove_reminder(key, name, fence);
  });
}

std::pair<std::uint64_t, std::uint64_t> Reminders::held_and_due() {
  const std::shared_ptr<const RoutingTable> table = rebalancer_.table_snapshot();
  const std::int64_t now = wall_ms();
  std::uint64_t held = 0, due = 0;
  for (const std::string& capability : table->capabilities()) {
    const CapabilityRoute* route = table->find(capability);
    auto shards = store_->reminder_shards(capability, now);
    if (!route || !shards) continue;
    for (const ShardReminders& s : *shards) {
      if (s.shard >= route->owner.size() || !route->owned_here(s.shard)) continue;
      held += s.count;
      due += s.due;
    }
  }
  return {held, due};
}

bool Reminders::refresh(const std::shared_ptr<const RoutingTable>& table) {
  std::map<Key, ShardEntry> fresh;
  const std::int64_t now = wall_ms();
  for (const std::string& capability : table->capabilities()) {
    const CapabilityRoute* route = table->find(capability);
    if (!route || std::find(route->owner.begin(), route->owner.end(), route->self) ==
                      route->owner.end()) {
      continue;  // owns none of its shards
    }
    auto shards = store_->reminder_shards(capability, now);
    if (!shards) {
      warn("reminders of '" + capability + "' could not be read: " + shards.error().message);
      return false;
    }
    for (const ShardReminders& s : *shards) {
      if (s.shard < route->owner.size() && route->owned_here(s.shard)) {
        fresh[{route->id, s.shard}].next_due = s.earliest_due_ms;
      }
    }
  }
  std::lock_guard lock(mutex_);
  // Shards with deliveries under way stay (their acks find them), with what is now known.
  for (auto& [key, entry] : shards_) {
    if (!entry.busy) continue;
    ShardEntry& kept = fresh[key];
    kept.busy = true;
    kept.in_flight = entry.in_flight;
  }
  shards_ = std::move(fresh);
  return true;
}

void Reminders::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_ || in_flight_ > 0 || !acks_.empty()) {
    if (!acks_.empty()) {
      std::vector<Ack> acks = std::move(acks_);
      acks_.clear();
      lock.unlock();
      record(std::move(acks));
      lock.lock();
      continue;
    }
    if (stopping_) {
      wake_.wait_for(lock, std::chrono::milliseconds(50));
      continue;
    }
    // The view: read the owned shards again when the table changed, then twice more shortly
    // after, then now and then.
    std::shared_ptr<const RoutingTable> table = rebalancer_.table_snapshot();
    const auto steady_now = Steady::now();
    if (table != table_ || steady_now >= refresh_at_) {
      const bool changed = table != table_;
      lock.unlock();
      const bool read = refresh(table);
      lock.lock();
      if (!read) {
        refresh_at_ = Steady::now() + std::chrono::milliseconds(kRetryMs);
        table_ = table;  // retried at refresh_at_
        continue;
      }
      table_ = table;
      if (changed) refreshes_left_ = 2;
      refresh_at_ = Steady::now() + (refreshes_left_ > 0 ? kLateRefresh : kPeriodicRefresh);
      if (!changed && refreshes_left_ > 0) --refreshes_left_;
      continue;
    }
    // Due shards, earliest first, while the in-flight bound allows.
    const std::int64_t now = wall_ms();
    std::vector<Key> due;
    std::int64_t earliest = kNever;
    for (auto& [key, entry] : shards_) {
      if (entry.busy) continue;
      if (entry.next_due <= now && in_flight_ + (due.size() + 1) * kTakeBatch <= kMaxInFlight + kTakeBatch) {
        entry.busy = true;
        due.push_back(key);
      } else {
        earliest = std::min(earliest, entry.next_due);
      }
    }
    if (!due.empty()) {
      lock.unlock();
      for (const Key& key : due) take(key);
      lock.lock();
      continue;
    }
    // Asleep until the earliest shard is due, an ack or a set arrives, or the view may have
    // changed (checked every 100 ms: the table is a pointer read).
    auto until = std::min(refresh_at_, steady_now + std::chrono::milliseconds(100));
    if (earliest != kNever) {
      until = std::min(until, steady_now + std::chrono::milliseconds(std::max<std::int64_t>(
                                               0, earliest - now)));
    }
    wake_.wait_until(lock, until);
  }
}

void Reminders::take(Key key) {
  const auto [capability, shard] = key;
  const std::string& name = capabilities_.name(capability);
  const std::int64_t now = wall_ms();
  auto rows = with_fence<std::vector<ReminderRow>>(capability, shard, [&](std::uint64_t fence) {
    return store_->take_due(name, shard, fence, now, now + kLease.count(), kTakeBatch);
  });
  if (!rows) {
    warn("due reminders of '" + name + "' shard " + std::to_string(shard) +
         " could not be taken: " + rows.error().message);
    std::lock_guard lock(mutex_);
    settle(key, now + (rows.error().code == Errc::fenced ? kRetryFencedMs : kRetryMs), true);
    return;
  }
  if (rows->empty()) {
    auto next = store_->next_due(name, shard);
    std::lock_guard lock(mutex_);
    if (!next) {
      settle(key, now + kRetryMs, true);
    } else {
      settle(key, *next, false);
    }
    return;
  }
  {
    std::lock_guard lock(mutex_);
    auto it = shards_.find(key);
    if (it == shards_.end()) it = shards_.emplace(key, ShardEntry{kNever, 0, true}).first;
    it->second.in_flight += static_cast<std::uint32_t>(rows->size());
    in_flight_ += rows->size();
  }
  for (ReminderRow& row : *rows) {
    deliver_(row, [this, key, fired = FiredReminder{row.key, row.name, row.generation, std::nullopt},
                   due = row.due_ms, period = row.period_ms](bool delivered) mutable {
      if (delivered) {
        ReminderRow timing;
        timing.due_ms = due;
        timing.period_ms = period;
        fired.next_due_ms = next_due(timing, wall_ms());
      }
      std::lock_guard lock(mutex_);
      acks_.push_back(Ack{key, delivered, std::move(fired)});
      wake_.notify_all();
    });
  }
}

void Reminders::record(std::vector<Ack> acks) {
  std::vector<FiredReminder> fired;
  for (Ack& ack : acks) {
    if (ack.delivered) fired.push_back(std::move(ack.fired));
  }
  if (!fired.empty()) {
    auto recorded = store_->fired(fired);
    if (recorded) {
      fired_.fetch_add(fired.size(), std::memory_order_relaxed);
    } else {
      // They fire again once their lease ends: at least once, not exactly once.
      warn(std::to_string(fired.size()) + " delivered reminders could not be recorded: " +
           recorded.error().message);
    }
  }
  std::vector<Key> finished;
  {
    std::lock_guard lock(mutex_);
    in_flight_ -= acks.size();
    for (const Ack& ack : acks) {
      const auto it = shards_.find(ack.key);
      if (it != shards_.end() && --it->second.in_flight == 0) finished.push_back(ack.key);
    }
    wake_.notify_all();  // stop() may wait for in_flight_
  }
  std::sort(finished.begin(), finished.end());
  finished.erase(std::unique(finished.begin(), finished.end()), finished.end());
  for (const Key& key : finished) {
    auto next = store_->next_due(capabilities_.name(key.first), key.second);
    std::lock_guard lock(mutex_);
    if (next) {
      settle(key, *next, false);
    } else {
      settle(key, wall_ms() + kRetryMs, true);
    }
  }
}

void Reminders::settle(Key key, std::optional<std::int64_t> next_due, bool failed) {
  const auto it = shards_.find(key);
  if (it == shards_.end()) return;
  if (it->second.in_flight > 0) return;  // a set's take raced; the last ack settles it
  it->second.busy = false;
  if (!failed && !next_due) {
    shards_.erase(it);
    return;
  }
  it->second.next_due = next_due.value_or(kNever);
  wake_.notify_all();
}

}  // namespace mesh::detail

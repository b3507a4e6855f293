#include "node/reminders.hpp"

#include <algorithm>
#include <set>

#include "core/thread_name.hpp"

namespace mesh::detail {
namespace {

using Steady = std::chrono::steady_clock;

// Reminders one take hands out per shard, and in flight on the node at once: bounds the memory
// a burst of due reminders costs (a million due at once go through in slices).
constexpr std::size_t kTakeBatch = 256;
constexpr std::size_t kMaxInFlight = 65536;
// Deliveries are recorded in batches: once this many are done, or the oldest has waited this
// long, or none is left under way. Each batch is one commit of the store.
constexpr std::size_t kRecordBatch = 8192;
constexpr auto kRecordDelay = std::chrono::milliseconds(5);
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
      // recorded would fire again at its next owner. One that takes longer than a lease is
      // left to its lease.
      wake_.wait_for(lock, kLease, [&] { return in_flight_ == 0 && acks_.empty(); });
      abandoned_ = true;
      wake_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  });
}

void Reminders::warn(std::string_view event, std::string capability, const std::string& error,
                     std::string message) {
  {
    std::lock_guard lock(mutex_);
    const auto now = Steady::now();
    if (now < warned_at_ + std::chrono::seconds(1)) return;
    warned_at_ = now;
  }
  if (log_) {
    log_({LogLevel::warning, event, std::move(message),
          {{"capability", std::move(capability)}, {"reason", error}}});
  }
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
      warn("reminders_unreadable", capability, shards.error().message,
           "reminders of '" + capability + "' could not be read: " + shards.error().message);
      return false;
    }
    for (const ShardReminders& s : *shards) {
      if (s.shard < route->owner.size() && route->owned_here(s.shard)) {
        fresh[{route->id, s.shard}].next_due = s.earliest_due_ms;
      }
    }
  }
  std::lock_guard lock(mutex_);
  for (auto& [key, entry] : shards_) {
    if (entry.busy) {
      // Deliveries under way: the entry stays (their acks find it), with what is now known.
      ShardEntry& kept = fresh[key];
      kept.busy = true;
      kept.in_flight = entry.in_flight;
    } else if (table->owned_here(key.first, key.second)) {
      // A set that landed after the read above is not in `fresh`; an earlier time that turns
      // out stale costs one empty take.
      ShardEntry& kept = fresh[key];
      kept.next_due = std::min(kept.next_due, entry.next_due);
    }
  }
  shards_ = std::move(fresh);
  return true;
}

void Reminders::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_ || (!abandoned_ && (in_flight_ > 0 || !acks_.empty()))) {
    const auto steady_now = Steady::now();
    if (!acks_.empty() && (stopping_ || acks_.size() >= kRecordBatch ||
                           acks_.size() >= in_flight_ || steady_now >= first_ack_at_ + kRecordDelay)) {
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
    if (table != table_ || steady_now >= refresh_at_) {
      const bool changed = table != table_;
      lock.unlock();
      const bool read = refresh(table);
      lock.lock();
      table_ = table;
      if (!read) {
        refresh_at_ = Steady::now() + std::chrono::milliseconds(kRetryMs);
        continue;
      }
      if (changed) refreshes_left_ = 2;
      refresh_at_ = Steady::now() + (refreshes_left_ > 0 ? kLateRefresh : kPeriodicRefresh);
      if (!changed && refreshes_left_ > 0) --refreshes_left_;
      continue;
    }
    // Due shards, as many as the in-flight bound allows, taken per capability in one go.
    const std::int64_t now = wall_ms();
    std::map<std::uint32_t, std::vector<std::uint32_t>> due;  // capability -> shards
    std::size_t picked = 0;
    std::int64_t earliest = kNever;
    for (auto& [key, entry] : shards_) {
      if (entry.busy) continue;
      if (entry.next_due > now) {
        earliest = std::min(earliest, entry.next_due);
      } else if (in_flight_ + (picked + 1) * kTakeBatch <= kMaxInFlight) {
        entry.busy = true;
        due[key.first].push_back(key.second);
        ++picked;
      }
      // Due but no room in flight: recording a batch makes room and wakes this loop.
    }
    if (!due.empty()) {
      lock.unlock();
      for (auto& [capability, shards] : due) take(capability, shards);
      lock.lock();
      continue;
    }
    // Asleep until the earliest shard is due, a batch of acks is ready, a set arrives, or the
    // view may have changed (checked every 100 ms: the table is a pointer read).
    auto until = std::min(refresh_at_, steady_now + std::chrono::milliseconds(100));
    if (!acks_.empty()) until = std::min(until, first_ack_at_ + kRecordDelay);
    if (earliest != kNever) {
      until = std::min(until, steady_now + std::chrono::milliseconds(std::max<std::int64_t>(
                                               0, earliest - now)));
    }
    wake_.wait_until(lock, until);
  }
}

void Reminders::take(std::uint32_t capability, const std::vector<std::uint32_t>& shards) {
  const std::string& name = capabilities_.name(capability);
  const std::int64_t now = wall_ms();
  const std::shared_ptr<const RoutingTable> table = rebalancer_.table_snapshot();
  std::vector<ShardFence> asked;
  std::vector<std::uint32_t> gone, failed;
  std::vector<std::uint32_t> owned;
  for (const std::uint32_t shard : shards) {
    // A claim by a node that does not own the shard would fence its owner's writes.
    if (table->owned_here(capability, shard)) {
      owned.push_back(shard);
    } else {
      gone.push_back(shard);
    }
  }
  if (!owned.empty()) {
    auto fences = host_.shard_fences(capability, owned);
    if (fences) {
      for (std::size_t i = 0; i < owned.size(); ++i) asked.push_back({owned[i], (*fences)[i]});
    } else {
      warn("reminder_shards_unclaimed", name, fences.error().message,
           "shards of '" + name + "' could not be claimed for their reminders: " +
               fences.error().message);
      failed = owned;
    }
  }
  auto taken = asked.empty() ? Result<TakenReminders>{}
                             : store_->take_due(name, asked, now, now + kLease.count(), kTakeBatch);
  if (!taken) {
    warn("reminders_not_taken", name, taken.error().message,
         "due reminders of '" + name + "' could not be taken: " + taken.error().message);
    for (const ShardFence& s : asked) failed.push_back(s.shard);
    asked.clear();
    taken = TakenReminders{};
  }
  for (const std::uint32_t shard : taken->fenced) {
    // Claimed by another node since: this node claims again if it still owns it.
    for (const ShardFence& s : asked) {
      if (s.shard == shard) host_.forget_fence(capability, shard, s.fence);
    }
  }
  std::map<std::uint32_t, std::uint32_t> per_shard;
  for (const ReminderRow& row : taken->rows) ++per_shard[row.key.shard];
  std::vector<std::pair<std::uint32_t, std::optional<std::int64_t>>> empty;  // nothing due now
  for (const ShardFence& s : asked) {
    const bool fenced = std::find(taken->fenced.begin(), taken->fenced.end(), s.shard) !=
                        taken->fenced.end();
    const bool leased = std::any_of(taken->leased.begin(), taken->leased.end(),
                                    [&](const auto& lease) { return lease.first == s.shard; });
    if (fenced || leased || per_shard.count(s.shard)) continue;
    auto next = store_->next_due(name, s.shard);
    if (next) {
      empty.emplace_back(s.shard, *next);
    } else {
      failed.push_back(s.shard);
    }
  }
  {
    std::lock_guard lock(mutex_);
    for (const std::uint32_t shard : gone) shards_.erase({capability, shard});
    for (const std::uint32_t shard : failed) settle({capability, shard}, now + kRetryMs, true);
    for (const std::uint32_t shard : taken->fenced) {
      settle({capability, shard}, now + kRetryFencedMs, true);
    }
    // Another node's lease (it was delivering when the shard came here): after it ends.
    for (const auto& [shard, until] : taken->leased) settle({capability, shard}, until, true);
    for (const auto& [shard, next] : empty) settle({capability, shard}, next, false);
    for (const auto& [shard, count] : per_shard) {
      auto it = shards_.find({capability, shard});
      if (it == shards_.end()) {
        it = shards_.emplace(Key{capability, shard}, ShardEntry{kNever, 0, true}).first;
      }
      it->second.in_flight += count;
    }
    in_flight_ += taken->rows.size();
  }
  std::map<std::uint32_t, std::uint64_t> fences;
  for (const ShardFence& s : asked) fences[s.shard] = s.fence;
  for (ReminderRow& row : taken->rows) {
    const Key key{capability, row.key.shard};
    deliver_(row, [this, key, fence = fences[row.key.shard],
                   fired = FiredReminder{row.key, row.name, row.generation, std::nullopt},
                   due = row.due_ms, period = row.period_ms](bool delivered) mutable {
      if (delivered) {
        ReminderRow timing;
        timing.due_ms = due;
        timing.period_ms = period;
        fired.next_due_ms = next_due(timing, wall_ms());
      }
      std::lock_guard lock(mutex_);
      if (acks_.empty()) first_ack_at_ = Steady::now();
      acks_.push_back(Ack{key, fence, delivered, std::move(fired)});
      if (acks_.size() >= kRecordBatch || acks_.size() >= in_flight_) wake_.notify_all();
    });
  }
}

void Reminders::record(std::vector<Ack> acks) {
  // Per capability: the deliveries to record, and the leases of the shards whose last delivery
  // under way is among these acks (released in the same transaction).
  std::map<std::uint32_t, std::vector<FiredReminder>> fired;
  std::map<std::uint32_t, std::vector<ShardFence>> release;
  std::vector<std::pair<Key, bool>> finished;  // and whether a delivery of it failed
  {
    std::lock_guard lock(mutex_);
    in_flight_ -= acks.size();
    for (Ack& ack : acks) {
      if (ack.delivered) fired[ack.key.first].push_back(std::move(ack.fired));
      const auto it = shards_.find(ack.key);
      if (it == shards_.end()) continue;
      ShardEntry& entry = it->second;
      entry.failed = entry.failed || !ack.delivered;
      if (--entry.in_flight == 0) {
        release[ack.key.first].push_back(ShardFence{ack.key.second, ack.fence});
        finished.emplace_back(ack.key, entry.failed);
        entry.failed = false;
      }
    }
    wake_.notify_all();  // stop() may wait for in_flight_
  }
  std::set<std::uint32_t> capabilities;
  for (const auto& [capability, list] : fired) capabilities.insert(capability);
  for (const auto& [capability, list] : release) capabilities.insert(capability);
  std::set<std::uint32_t> unrecorded;
  for (const std::uint32_t capability : capabilities) {
    const auto& done = fired[capability];
    const auto& leases = release[capability];
    auto recorded = store_->fired(capabilities_.name(capability), done, leases);
    if (recorded) {
      fired_.fetch_add(done.size(), std::memory_order_relaxed);
    } else {
      // They fire again once their leases end: at least once, not exactly once.
      warn("reminders_not_recorded", capabilities_.name(capability), recorded.error().message,
           std::to_string(done.size()) + " delivered reminders could not be recorded: " +
               recorded.error().message);
      unrecorded.insert(capability);
    }
  }
  const std::int64_t now = wall_ms();
  for (const auto& [key, failed] : finished) {
    if (failed || unrecorded.count(key.first)) {
      // Not delivered, or not recorded: try again shortly (or at the lease's end) rather than
      // at once, which could spin on a reminder that cannot be delivered here.
      std::lock_guard lock(mutex_);
      settle(key, now + (unrecorded.count(key.first) ? kLease.count() : kRetryMs), true);
      continue;
    }
    auto next = store_->next_due(capabilities_.name(key.first), key.second);
    std::lock_guard lock(mutex_);
    if (next) {
      settle(key, *next, false);
    } else {
      settle(key, now + kRetryMs, true);
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

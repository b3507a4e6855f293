// memory_store(): the StateStore of tests, with the same fencing rules as the real ones.
#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "mesh/state_store.hpp"

namespace mesh {
namespace {

class MemoryStore final : public StateStore {
 public:
  Result<std::uint64_t> claim(std::string_view capability, std::uint32_t shard,
                              std::string_view) override {
    std::lock_guard lock(mutex_);
    return ++fences_[{std::string(capability), shard}];
  }

  Result<std::optional<std::string>> load(const StateKey& key) override {
    std::lock_guard lock(mutex_);
    const auto it = rows_.find(row_of(key));
    if (it == rows_.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }

  Result<std::vector<std::size_t>> save(std::span<const StateWrite> writes) override {
    std::lock_guard lock(mutex_);
    std::vector<std::size_t> fenced;
    for (std::size_t i = 0; i < writes.size(); ++i) {
      if (!current(writes[i].key, writes[i].fence)) {
        fenced.push_back(i);
        continue;
      }
      rows_[row_of(writes[i].key)] = writes[i].state;
    }
    return fenced;
  }

  Result<void> erase(const StateKey& key, std::uint64_t fence) override {
    std::lock_guard lock(mutex_);
    if (!current(key, fence)) return fenced(key);
    rows_.erase(row_of(key));
    return {};
  }

  Result<void> set_reminder(const ReminderRow& reminder, std::uint64_t fence) override {
    std::lock_guard lock(mutex_);
    if (!current(reminder.key, fence)) return fenced(reminder.key);
    ReminderRow& row = reminders_[reminder_of(reminder.key, reminder.name)];
    row = reminder;
    row.generation = ++generations_;
    return {};
  }

  Result<bool> remove_reminder(const StateKey& key, std::string_view name,
                               std::uint64_t fence) override {
    std::lock_guard lock(mutex_);
    if (!current(key, fence)) return fenced(key);
    return reminders_.erase(reminder_of(key, name)) > 0;
  }

  Result<std::vector<ReminderRow>> reminders_of(const StateKey& key) override {
    std::lock_guard lock(mutex_);
    std::vector<ReminderRow> out;
    for (const auto& [at, row] : reminders_) {
      if (row.key.capability == key.capability && row.key.module == key.module &&
          row.key.id == key.id) {
        out.push_back(row);
      }
    }
    return out;
  }

  Result<std::vector<ShardReminders>> reminder_shards(std::string_view capability,
                                                      std::int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    std::map<std::uint32_t, ShardReminders> shards;
    for (const auto& [at, row] : reminders_) {
      if (row.key.capability != capability) continue;
      auto [it, added] =
          shards.try_emplace(row.key.shard, ShardReminders{row.key.shard, row.due_ms, 0, 0});
      ShardReminders& s = it->second;
      s.earliest_due_ms = std::min(s.earliest_due_ms, row.due_ms);
      ++s.count;
      if (row.due_ms <= now_ms) ++s.due;
    }
    std::vector<ShardReminders> out;
    for (auto& [shard, s] : shards) out.push_back(s);
    return out;
  }

  Result<std::optional<std::int64_t>> next_due(std::string_view capability,
                                               std::uint32_t shard) override {
    std::lock_guard lock(mutex_);
    std::optional<std::int64_t> earliest;
    for (const auto& [at, row] : reminders_) {
      if (row.key.capability == capability && row.key.shard == shard) {
        earliest = std::min(earliest.value_or(row.due_ms), row.due_ms);
      }
    }
    return earliest;
  }

  Result<TakenReminders> take_due(std::string_view capability, std::span<const ShardFence> shards,
                                  std::int64_t now_ms, std::int64_t lease_until_ms,
                                  std::size_t limit) override {
    std::lock_guard lock(mutex_);
    TakenReminders taken;
    for (const ShardFence& asked : shards) {
      const std::pair<std::string, std::uint32_t> shard{std::string(capability), asked.shard};
      const auto it = fences_.find(shard);
      if (it == fences_.end() || it->second != asked.fence) {
        taken.fenced.push_back(asked.shard);
        continue;
      }
      if (const auto held = leases_.find(shard);
          held != leases_.end() && held->second.first != asked.fence && held->second.second > now_ms) {
        taken.leased.emplace_back(asked.shard, held->second.second);
        continue;
      }
      std::vector<const ReminderRow*> due;
      for (const auto& [at, row] : reminders_) {
        if (row.key.capability == capability && row.key.shard == asked.shard &&
            row.due_ms <= now_ms) {
          due.push_back(&row);
        }
      }
      if (due.empty()) continue;
      std::stable_sort(due.begin(), due.end(), [](const ReminderRow* a, const ReminderRow* b) {
        return a->due_ms < b->due_ms;
      });
      if (due.size() > limit) due.resize(limit);
      for (const ReminderRow* row : due) taken.rows.push_back(*row);
      leases_[shard] = {asked.fence, lease_until_ms};
    }
    return taken;
  }

  Result<void> fired(std::string_view capability, std::span<const FiredReminder> reminders,
                     std::span<const ShardFence> release) override {
    std::lock_guard lock(mutex_);
    for (const FiredReminder& f : reminders) {
      const auto it = reminders_.find(reminder_of(f.key, f.name));
      if (it == reminders_.end() || it->second.generation != f.generation) continue;
      if (f.next_due_ms) {
        it->second.due_ms = *f.next_due_ms;
      } else {
        reminders_.erase(it);
      }
    }
    for (const ShardFence& lease : release) {
      const auto held = leases_.find({std::string(capability), lease.shard});
      if (held != leases_.end() && held->second.first == lease.fence) leases_.erase(held);
    }
    return {};
  }

 private:
  using Row = std::tuple<std::string, std::string, std::string>;
  using ReminderAt = std::tuple<std::string, std::string, std::string, std::string>;
  static Row row_of(const StateKey& key) { return {key.capability, key.module, key.id}; }
  static ReminderAt reminder_of(const StateKey& key, std::string_view name) {
    return {key.capability, key.module, key.id, std::string(name)};
  }
  static std::unexpected<Error> fenced(const StateKey& key) {
    return std::unexpected(Error{Errc::fenced, "shard " + std::to_string(key.shard) + " of " +
                                                   key.capability + " was claimed since"});
  }
  bool current(const StateKey& key, std::uint64_t fence) const {
    const auto it = fences_.find({key.capability, key.shard});
    return it != fences_.end() && it->second == fence;
  }

  std::mutex mutex_;
  std::map<std::pair<std::string, std::uint32_t>, std::uint64_t> fences_;
  std::map<Row, std::string> rows_;
  std::map<ReminderAt, ReminderRow> reminders_;
  // (capability, shard) -> the fence holding the shard's reminder lease, and when it ends.
  std::map<std::pair<std::string, std::uint32_t>, std::pair<std::uint64_t, std::int64_t>> leases_;
  std::uint64_t generations_ = 0;
};

}  // namespace

std::shared_ptr<StateStore> memory_store() { return std::make_shared<MemoryStore>(); }

}  // namespace mesh

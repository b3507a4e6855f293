// Reminders: the durable reminders of the shards this node owns, kept in the state store and
// delivered when due (docs/timers-and-reminders.md).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/log_event.hpp"
#include "mesh/node_options.hpp"
#include "mesh/state_store.hpp"
#include "node/rebalancer.hpp"
#include "placement/capability_ids.hpp"
#include "runtime/actor_host.hpp"

namespace mesh::detail {

// Memory: one small entry per owned shard that has reminders (its earliest due time), never
// one per reminder: the store's (capability, shard, due_ms) index is the due-time index. Its
// thread wakes when the earliest shard is due, takes the shard's due reminders from the store
// under a lease on the shard (StateStore::take_due) and hands them to `deliver`; once delivered
// they are recorded in batches, releasing the lease (StateStore::fired), and the shard's next
// due time is read back.
//
// The shards are the current routing table's: a shard this node gains is read from the store
// when the view changes (and again shortly after, for reminders its previous owner set late),
// a shard it loses is dropped; a shard its previous owner still holds a lease on waits until
// that owner released it (after recording its deliveries) or the lease ended (it died). A
// reminder handed out and not recorded is taken again: delivery is at least once. Thread-safe; no lock is held while the store, the
// host or `deliver` is called.
class Reminders {
 public:
  // Delivers one reminder to its actor on this node; `done(true)` once its handler ran (or
  // threw), `done(false)` when it was not delivered and must be taken again. Runs `done`
  // exactly once, on any thread, possibly before returning.
  using Deliver = std::function<void(const ReminderRow&, std::function<void(bool)> done)>;
  using Log = Logger;

  // How long a reminder handed out stays leased, and how long its delivery may take.
  static constexpr std::chrono::milliseconds kLease{1000};

  Reminders(std::shared_ptr<StateStore> store, ActorHost& host, Rebalancer& rebalancer,
            const CapabilityIds& capabilities, Deliver deliver, Log log);
  ~Reminders();  // stop()
  Reminders(const Reminders&) = delete;
  Reminders& operator=(const Reminders&) = delete;

  void start();
  // Takes no more reminders, waits (at most kLease) for the deliveries under way and records
  // them, then joins the thread. Idempotent.
  void stop();

  // On the shard's owner (the caller made sure), under this node's claim on the shard.
  Result<void> set(std::uint32_t capability, const ReminderRow& reminder);
  Result<bool> remove(std::uint32_t capability, const StateKey& key, std::string_view name);

  std::uint64_t fired() const { return fired_.load(std::memory_order_relaxed); }
  // Reminders on the shards owned here, and how many are due (asks the store).
  std::pair<std::uint64_t, std::uint64_t> held_and_due();

 private:
  using Key = std::pair<std::uint32_t, std::uint32_t>;  // capability id, shard
  static constexpr std::int64_t kNever = INT64_MAX;
  struct ShardEntry {
    std::int64_t next_due = kNever;  // the earliest due time the store had (or a retry time)
    std::uint32_t in_flight = 0;     // reminders handed out and not yet recorded
    bool busy = false;               // a take or its deliveries are under way
    bool failed = false;             // a delivery of the current take failed
  };
  struct Ack {
    Key key;
    std::uint64_t fence;  // the one the shard's lease was taken under
    bool delivered;
    FiredReminder fired;
  };

  void run();
  // Reads the owned shards' earliest due times; false when the store failed.
  bool refresh(const std::shared_ptr<const RoutingTable>& table);
  // Takes the due reminders of some of a capability's shards and hands them to `deliver`.
  void take(std::uint32_t capability, const std::vector<std::uint32_t>& shards);
  void record(std::vector<Ack> acks);
  // With mutex_ held: the entry's next due time after its deliveries, or the entry gone.
  void settle(Key key, std::optional<std::int64_t> next_due, bool failed);
  // Runs a fenced write for a shard this node owns, claiming it again once if it was fenced.
  template <class T>
  Result<T> with_fence(std::uint32_t capability, std::uint32_t shard,
                       const std::function<Result<T>(std::uint64_t fence)>& write);
  // At most one a second: a store that is down fails every pass.
  void warn(std::string_view event, std::string capability, const std::string& error,
            std::string message);

  const std::shared_ptr<StateStore> store_;
  ActorHost& host_;
  Rebalancer& rebalancer_;
  const CapabilityIds& capabilities_;
  const Deliver deliver_;
  const Log log_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<Key, ShardEntry> shards_;             // guarded: owned shards with reminders
  std::vector<Ack> acks_;                        // guarded
  std::chrono::steady_clock::time_point first_ack_at_{};  // guarded: when acks_ got its first
  std::shared_ptr<const RoutingTable> table_;    // guarded: the table shards_ was read for
  std::chrono::steady_clock::time_point refresh_at_{};  // guarded: when to read them again
  int refreshes_left_ = 0;                       // guarded: extra reads after a view change
  std::size_t in_flight_ = 0;                    // guarded: over all shards
  bool stopping_ = false;                        // guarded
  bool abandoned_ = false;                       // guarded: stop() waits no longer
  std::chrono::steady_clock::time_point warned_at_{};  // guarded: rate limit for warnings
  std::atomic<std::uint64_t> fired_{0};
  std::once_flag stopped_;
  std::thread thread_;
};

}  // namespace mesh::detail

// StateStore: where persistent actors keep their state, and how a node's claim on a shard is
// fenced so that a superseded owner can never commit (docs/persistence.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mesh/error.hpp"

namespace mesh {

// One actor's row. `shard` is shard_for(id) under the cluster's shard_count: fencing is per
// (capability, shard), and a store may use it to find a shard's rows.
struct StateKey {
  std::string capability;
  std::string module;
  std::string id;
  std::uint32_t shard = 0;

  friend bool operator==(const StateKey&, const StateKey&) = default;
};

// The state of one actor after a message, as written by the node that owns its shard.
struct StateWrite {
  StateKey key;
  std::uint64_t fence = 0;  // the token of the claim the writing activation loaded under
  std::string state;        // the actor's snapshot(), as MessagePack bytes
};

// A durable reminder of one actor (docs/timers-and-reminders.md), as the store keeps it.
struct ReminderRow {
  StateKey key;                 // the actor it is delivered to
  std::string name;             // unique per actor; setting a name again replaces the reminder
  std::int64_t due_ms = 0;      // when it fires next: milliseconds since the Unix epoch
  std::int64_t period_ms = 0;   // 0 = fires once, then is removed
  std::string payload;          // MessagePack bytes handed to the actor's handle_reminder
  // Set by the store on every set_reminder (a random number): fired() applies only to the
  // reminder it was taken as, never to one set again meanwhile.
  std::uint64_t generation = 0;
};

// What became of a reminder that take_due() handed out and the actor has handled.
struct FiredReminder {
  StateKey key;
  std::string name;
  std::uint64_t generation = 0;
  std::optional<std::int64_t> next_due_ms;  // nullopt: it fired for the last time (remove it)
};

// A summary of one shard's reminders (StateStore::reminder_shards).
struct ShardReminders {
  std::uint32_t shard = 0;
  std::int64_t earliest_due_ms = 0;  // the earliest due time among them
  std::uint64_t count = 0;           // how many
  std::uint64_t due = 0;             // how many are due at the time asked about

  friend bool operator==(const ShardReminders&, const ShardReminders&) = default;
};

// One shard to take due reminders from, with the fence token its owner holds.
struct ShardFence {
  std::uint32_t shard = 0;
  std::uint64_t fence = 0;
};

// What StateStore::take_due handed out.
struct TakenReminders {
  std::vector<ReminderRow> rows;      // shard by shard, earliest first within each
  std::vector<std::uint32_t> fenced;  // shards whose fence was not the latest: none taken there
  // Shards another fence's lease still holds, with when it ends: none taken there.
  std::vector<std::pair<std::uint32_t, std::int64_t>> leased;
};

// The interface a node uses to persist actors; implement it to keep state in another database.
// Implementations must be thread-safe: a node calls claim and load from its worker threads and
// save/erase from its writer threads (concurrent_writes() of them, each with its own keys),
// concurrently. Every failure to reach or use the database is an Error with
// Errc::store_unavailable and a message naming the cause; nothing may block without bound (give
// up after a few seconds at most: callers' timeouts are shorter).
//
// Fencing: the store keeps, per (capability, shard), the latest fence token. claim() raises it;
// a write carries the token its activation loaded under and is applied only while that token is
// still the latest. The store itself orders claims (one transaction or row lock), so every node
// sees one order and a node that was paused or cut off while another claimed its shard can
// never commit again under its old token.
class StateStore {
 public:
  virtual ~StateStore() = default;

  // Makes `node` the latest claimant of (capability, shard) and returns the new fence token:
  // greater than every token returned for that shard before, by any node, across restarts.
  virtual Result<std::uint64_t> claim(std::string_view capability, std::uint32_t shard,
                                      std::string_view node) = 0;
  // claim() for several shards of one capability, in order, returning their tokens in that
  // order; in one transaction where the store can (a node gaining many shards claims them at
  // the cost of one commit). The default calls claim() for each.
  virtual Result<std::vector<std::uint64_t>> claim_many(std::string_view capability,
                                                        std::span<const std::uint32_t> shards,
                                                        std::string_view node);
  // The actor's stored state, or nullopt when it has none.
  virtual Result<std::optional<std::string>> load(const StateKey& key) = 0;
  // Applies `writes` in one transaction, in order (a later write of a key replaces an earlier
  // one). A write whose fence is no longer its shard's latest is skipped; returns the indices
  // of the skipped writes (empty when all applied). An error means none was applied.
  virtual Result<std::vector<std::size_t>> save(std::span<const StateWrite> writes) = 0;
  // Removes the actor's row if `fence` is still its shard's latest; Errc::fenced otherwise.
  // Removing a row that does not exist succeeds.
  virtual Result<void> erase(const StateKey& key, std::uint64_t fence) = 0;

  // Reminders (docs/timers-and-reminders.md). A store that keeps none may leave these out:
  // each then fails with Errc::invalid_request, and a node with such a store refuses to set
  // reminders. Writes are fenced like save(): set_reminder and remove_reminder fail with
  // Errc::fenced when `fence` is no longer the shard's latest (take_due reports such shards).
  //
  // Sets (or replaces, by key and name) a reminder; the store gives it a new generation.
  virtual Result<void> set_reminder(const ReminderRow& reminder, std::uint64_t fence);
  // Removes a reminder; true when there was one.
  virtual Result<bool> remove_reminder(const StateKey& key, std::string_view name,
                                       std::uint64_t fence);
  // Every reminder of one actor, by name.
  virtual Result<std::vector<ReminderRow>> reminders_of(const StateKey& key);
  // A summary of each shard of `capability` that has reminders, `due` counted at `now_ms`
  // (costs a pass over the capability's reminders).
  virtual Result<std::vector<ShardReminders>> reminder_shards(std::string_view capability,
                                                              std::int64_t now_ms);
  // The earliest due_ms among one shard's reminders, nullopt when it has none.
  virtual Result<std::optional<std::int64_t>> next_due(std::string_view capability,
                                                        std::uint32_t shard);
  // Hands out up to `limit_per_shard` of each listed shard's reminders due at `now_ms`,
  // earliest first, and in the same transaction gives the caller the shard's *lease* until
  // `lease_until_ms`: while it holds, no other fence takes from the shard (those shards are
  // listed in `leased`). The caller releases it once the reminders it took are recorded
  // (fired); a node that dies while delivering leaves it to end by itself, and whoever owns
  // the shard then takes them again: delivery is at least once. Shards whose fence is not the
  // latest are listed in `fenced`. One transaction for all the shards (the rows are only read:
  // what is leased is the shard, not each row).
  virtual Result<TakenReminders> take_due(std::string_view capability,
                                          std::span<const ShardFence> shards,
                                          std::int64_t now_ms, std::int64_t lease_until_ms,
                                          std::size_t limit_per_shard);
  // Records delivered reminders of `capability` and releases the leases of `release` (each
  // only if its fence still holds the lease), in one transaction: each reminder moves to its
  // next due time or, with none, is removed, provided its generation is still the one taken (a
  // reminder set again meanwhile is left as set). Not fenced: a delivery that happened is
  // recorded even if the shard moved since, which is what keeps a planned move from firing a
  // reminder twice.
  virtual Result<void> fired(std::string_view capability,
                             std::span<const FiredReminder> reminders,
                             std::span<const ShardFence> release);

  // How many save/erase transactions a node runs at once, each from its own writer thread
  // with its own keys (1 to 4; the default is 2). One lane puts every queued write in one
  // batch; more keep a database busy while a commit waits. sqlite_store and postgres_store
  // say 1 (measured best, for PostgreSQL with the server on the node's machine), memory_store
  // keeps 2; a store that wraps another may say otherwise. Read once, when a node starts.
  virtual std::size_t concurrent_writes() const { return 2; }
};

// An embedded store in one SQLite file (created with its schema on first use; WAL mode, every
// commit synced). Several nodes may share a file only on one machine. Throws
// std::runtime_error when the file cannot be opened or holds a newer schema than this build.
std::shared_ptr<StateStore> sqlite_store(std::string path);

// How a SQLite store makes commits durable.
enum class SqliteSync : std::uint8_t {
  // Every commit is synced to disk before it is acknowledged: it survives a power loss. A
  // commit then costs a disk flush (about 1 ms on the VM of docs/benchmarks.md).
  full,
  // A commit is acknowledged once the OS has it; the disk is synced at checkpoints. It
  // survives the process being killed, not an OS crash or a power loss; commits are several
  // times cheaper.
  normal,
};
// sqlite_store(path) is sqlite_store(path, SqliteSync::full).
std::shared_ptr<StateStore> sqlite_store(std::string path, SqliteSync sync);
// A PostgreSQL store for clusters (libpq conninfo, e.g. "host=db dbname=mesh user=mesh"). The
// schema is created on first use. Tries to connect once when made (for at most a few seconds)
// but does not need the server then: it reconnects with backoff, and while the server is
// unreachable, operations fail at once with Errc::store_unavailable. Throws std::runtime_error
// when libpq cannot parse the conninfo, or when the server is reachable but holds a newer
// schema than this build. Messages never show the password.
std::shared_ptr<StateStore> postgres_store(std::string conninfo);
// An in-process store for tests: shared by the nodes of one process, gone with it.
std::shared_ptr<StateStore> memory_store();

}  // namespace mesh

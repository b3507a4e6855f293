// sqlite_store(): the StateStore in one SQLite file. One write connection, shared by claim,
// save and erase under a mutex, takes SQLite's write lock for each of them (BEGIN IMMEDIATE),
// which orders claims and commits against this process and any other on the same file. Loads
// and reminder queries run on a small pool of read connections beside it: in WAL mode a reader
// sees the last commit without waiting for the writer.
//
// Saves append to mesh_state_log instead of updating mesh_state in place. An update rewrites
// the 4 KiB leaf page of its row, and the rows of one commit are spread over the table, so a
// commit of 30 saves wrote and synced ~30 pages; appended rows share the log's last page or
// two. The log is folded into mesh_state (the newest row of each key) every kFoldAfterRows
// appended rows, in every claim and erase, and when a store opens or closes. A fold keeps the
// log's last row, emptied (shard -1), so that seqs only grow: the log's last seq tells a
// store whether another process appended since it did. While none did, the store knows which
// rows of the log are its own (an index in memory of what it appended since its last fold) and
// reads a key's row by its seq, or mesh_state; otherwise it searches the log for the key first
// (docs/persistence.md).
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mesh/state_store.hpp"

namespace mesh {
namespace {

using Clock = std::chrono::steady_clock;

// 2 added mesh_state_log; a file of version 1 is upgraded in place when it is opened.
constexpr int kSchemaVersion = 2;
// Rows appended to the log before the next save folds it. A fold writes each table page that
// one of the log's keys lives on once, however often the key was saved; a bigger log makes the
// fold's commit (which callers of that commit wait for) longer: on the VM of
// docs/benchmarks.md, ~20 ms for 8,192 rows on 10,000 keys, ~6 ms for 2,048, and per save the
// same either way.
constexpr std::size_t kFoldAfterRows = 8192;
// A batch this big already shares its commit's sync among many rows, and it writes about as many
// table pages when it is folded as it would write now: it goes straight to mesh_state.
constexpr std::size_t kWriteThroughFrom = 256;
// How long an operation may wait for the file's write lock (held by another process's
// transaction) or for this store's own writer. Callers give up sooner than this; waiting longer
// would only pile up work behind a store that is not coming back.
constexpr std::chrono::milliseconds kBusyBudget{3000};
// Enough read connections for loads from every core to run at once; more would only hold
// file descriptors and page caches. They are opened on first use.
constexpr std::size_t kMaxReaders = 16;

// WITHOUT ROWID: both tables are looked up only by their primary key, which then is the table's
// own b-tree instead of an index beside a rowid table (one search per load instead of two).
constexpr const char* kCreateTables = R"sql(
CREATE TABLE IF NOT EXISTS mesh_shards (
  capability TEXT NOT NULL,
  shard INTEGER NOT NULL,
  fence INTEGER NOT NULL,
  owner TEXT NOT NULL,
  PRIMARY KEY (capability, shard)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mesh_state (
  capability TEXT NOT NULL,
  module TEXT NOT NULL,
  id TEXT NOT NULL,
  shard INTEGER NOT NULL,
  fence INTEGER NOT NULL,
  state BLOB NOT NULL,
  PRIMARY KEY (capability, module, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mesh_state_log (
  seq INTEGER PRIMARY KEY,
  capability TEXT NOT NULL,
  module TEXT NOT NULL,
  id TEXT NOT NULL,
  shard INTEGER NOT NULL,
  fence INTEGER NOT NULL,
  state BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS mesh_reminders (
  capability TEXT NOT NULL,
  module TEXT NOT NULL,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  shard INTEGER NOT NULL,
  due_ms INTEGER NOT NULL,
  period_ms INTEGER NOT NULL,
  payload BLOB NOT NULL,
  generation INTEGER NOT NULL,
  PRIMARY KEY (capability, module, id, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mesh_reminders_due ON mesh_reminders (capability, shard, due_ms);
CREATE TABLE IF NOT EXISTS mesh_reminder_leases (
  capability TEXT NOT NULL,
  shard INTEGER NOT NULL,
  fence INTEGER NOT NULL,
  lease_until INTEGER NOT NULL,
  PRIMARY KEY (capability, shard)
) WITHOUT ROWID;
)sql";

constexpr const char* kClaim =
    "INSERT INTO mesh_shards (capability, shard, fence, owner) VALUES (?1, ?2, 1, ?3) "
    "ON CONFLICT (capability, shard) DO UPDATE SET fence = fence + 1, owner = excluded.owner "
    "RETURNING fence";
constexpr const char* kFenceOf =
    "SELECT fence FROM mesh_shards WHERE capability = ?1 AND shard = ?2";
constexpr const char* kPut =
    "INSERT INTO mesh_state (capability, module, id, shard, fence, state) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (capability, module, id) DO UPDATE SET "
    "shard = excluded.shard, fence = excluded.fence, state = excluded.state";
constexpr const char* kAppend =
    "INSERT INTO mesh_state_log (capability, module, id, shard, fence, state) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
// The newest row of each key: with a single max() in an aggregate query, SQLite takes the
// other columns from the row that has the maximum (documented; "bare columns"). WHERE true
// tells the parser that ON CONFLICT belongs to the INSERT, not to a join.
constexpr const char* kFold =
    "INSERT INTO mesh_state (capability, module, id, shard, fence, state) "
    "SELECT capability, module, id, shard, fence, state FROM ("
    "  SELECT capability, module, id, shard, fence, state, max(seq) FROM mesh_state_log "
    "  WHERE shard >= 0 GROUP BY capability, module, id) WHERE true "
    "ON CONFLICT (capability, module, id) DO UPDATE SET "
    "shard = excluded.shard, fence = excluded.fence, state = excluded.state";
// After a fold: the last row stays, as the marker of the log's end (shard -1, which no key
// has), so that the next row's seq is greater than every seq before it.
constexpr const char* kTrimLog =
    "DELETE FROM mesh_state_log WHERE seq < (SELECT max(seq) FROM mesh_state_log)";
constexpr const char* kMarkLogEnd =
    "UPDATE mesh_state_log SET capability = '', module = '', id = '', shard = -1, fence = 0, "
    "state = x''";
constexpr const char* kLogEnd = "SELECT coalesce(max(seq), 0) FROM mesh_state_log";
constexpr const char* kDelete =
    "DELETE FROM mesh_state WHERE capability = ?1 AND module = ?2 AND id = ?3";
// Reminders: the owner of a shard finds its due ones through (capability, shard, due_ms).
constexpr const char* kSetReminder =
    "INSERT INTO mesh_reminders (capability, module, id, name, shard, due_ms, period_ms, payload, "
    "generation) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, random()) "
    "ON CONFLICT (capability, module, id, name) DO UPDATE SET shard = excluded.shard, "
    "due_ms = excluded.due_ms, period_ms = excluded.period_ms, payload = excluded.payload, "
    "generation = excluded.generation";
constexpr const char* kRemoveReminder =
    "DELETE FROM mesh_reminders WHERE capability = ?1 AND module = ?2 AND id = ?3 AND name = ?4";
constexpr const char* kRemindersOf =
    "SELECT name, shard, due_ms, period_ms, payload, generation FROM mesh_reminders "
    "WHERE capability = ?1 AND module = ?2 AND id = ?3 ORDER BY name";
constexpr const char* kReminderShards =
    "SELECT shard, min(due_ms), count(*), sum(due_ms <= ?2) FROM mesh_reminders "
    "WHERE capability = ?1 GROUP BY shard ORDER BY shard";
constexpr const char* kNextDue =
    "SELECT min(due_ms) FROM mesh_reminders WHERE capability = ?1 AND shard = ?2";
constexpr const char* kDue =
    "SELECT module, id, name, due_ms, period_ms, payload, generation FROM mesh_reminders "
    "WHERE capability = ?1 AND shard = ?2 AND due_ms <= ?3 ORDER BY due_ms LIMIT ?4";
constexpr const char* kLeaseOf =
    "SELECT fence, lease_until FROM mesh_reminder_leases WHERE capability = ?1 AND shard = ?2";
constexpr const char* kLease =
    "INSERT INTO mesh_reminder_leases (capability, shard, fence, lease_until) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (capability, shard) DO UPDATE SET "
    "fence = excluded.fence, lease_until = excluded.lease_until";
constexpr const char* kRelease =
    "DELETE FROM mesh_reminder_leases WHERE capability = ?1 AND shard = ?2 AND fence = ?3";
constexpr const char* kFiredMove =
    "UPDATE mesh_reminders SET due_ms = ?6 "
    "WHERE capability = ?1 AND module = ?2 AND id = ?3 AND name = ?4 AND generation = ?5";
constexpr const char* kFiredRemove =
    "DELETE FROM mesh_reminders "
    "WHERE capability = ?1 AND module = ?2 AND id = ?3 AND name = ?4 AND generation = ?5";
// One row: the log's end (see kLogEnd) and the key's state in the table (NULL when it has none).
constexpr const char* kLoad =
    "SELECT (SELECT coalesce(max(seq), 0) FROM mesh_state_log), "
    "(SELECT state FROM mesh_state WHERE capability = ?1 AND module = ?2 AND id = ?3)";
// The key is checked too: a fold (by any process on the file) may have made the row the
// marker of the log's end since.
constexpr const char* kLoadLogged =
    "SELECT state FROM mesh_state_log WHERE seq = ?4 AND capability = ?1 AND module = ?2 "
    "AND id = ?3 AND shard >= 0";
// A search of the whole log (it has no index by key; it is at most a few thousand rows).
constexpr const char* kFindLogged =
    "SELECT state FROM mesh_state_log WHERE capability = ?1 AND module = ?2 AND id = ?3 "
    "AND shard >= 0 ORDER BY seq DESC LIMIT 1";

struct CloseDatabase {
  // close_v2: a statement still alive somewhere must not make the close fail and leak the file.
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Database = std::unique_ptr<sqlite3, CloseDatabase>;

struct FinalizeStatement {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, FinalizeStatement>;

// Resets a statement when the scope ends: a statement left mid-step keeps its read snapshot
// (or its transaction) open, which would hold back checkpoints and hide later commits.
class Using {
 public:
  explicit Using(const Statement& statement) : statement_(statement.get()) {}
  ~Using() { sqlite3_reset(statement_); }
  Using(const Using&) = delete;
  Using& operator=(const Using&) = delete;

  sqlite3_stmt* get() const { return statement_; }

 private:
  sqlite3_stmt* statement_;
};

struct Blob {
  std::string_view bytes;
};

// The arguments are bound SQLITE_STATIC: they outlive the statement's use, which Using ends.
int bind_one(sqlite3_stmt* statement, int index, std::string_view text) {
  return sqlite3_bind_text64(statement, index, text.data(), text.size(), SQLITE_STATIC,
                             SQLITE_UTF8);
}
int bind_one(sqlite3_stmt* statement, int index, Blob blob) {
  return sqlite3_bind_blob64(statement, index, blob.bytes.data(), blob.bytes.size(), SQLITE_STATIC);
}
int bind_one(sqlite3_stmt* statement, int index, std::uint64_t number) {
  return sqlite3_bind_int64(statement, index, static_cast<sqlite3_int64>(number));
}
int bind_one(sqlite3_stmt* statement, int index, std::int64_t number) {
  return sqlite3_bind_int64(statement, index, number);
}

std::string column_text(sqlite3_stmt* statement, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, column));
  return text == nullptr ? std::string()
                         : std::string(text, static_cast<std::size_t>(
                                                 sqlite3_column_bytes(statement, column)));
}

std::string column_blob(sqlite3_stmt* statement, int column) {
  // A zero-length blob comes back as a null pointer.
  const auto* bytes = static_cast<const char*>(sqlite3_column_blob(statement, column));
  const auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement, column));
  return bytes == nullptr ? std::string() : std::string(bytes, size);
}

template <class... Args>
int bind_all(sqlite3_stmt* statement, const Args&... args) {
  int index = 0;
  int rc = SQLITE_OK;
  ((rc = rc == SQLITE_OK ? bind_one(statement, ++index, args) : rc), ...);
  return rc;
}

// One SQLite connection with the statements it runs, prepared once: claims, saves and loads
// are small and frequent enough that parsing their SQL each time would cost as much as running
// them.
struct Writer {
  Database db;
  Statement begin, commit, rollback, claim, fence_of, put, append, fold, trim_log, mark_log_end,
      log_end, remove;
  Statement set_reminder, remove_reminder, due, lease_of, lease, release, fired_move,
      fired_remove;
};

struct Reader {
  Database db;
  Statement load, load_logged, find_logged, reminders_of, reminder_shards, next_due;
};

// Aligned to a cache line so that threads taking neighbouring slots do not share one.
struct alignas(64) ReaderSlot {
  std::mutex mutex;
  std::unique_ptr<Reader> reader;
};

// The write connection, one user at a time, waited for until a deadline. A mutex and a
// condition variable rather than std::timed_mutex, whose timed lock (pthread_mutex_clocklock)
// ThreadSanitizer does not see, so that it reports every unlock as one of an unlocked mutex.
class WriterGate {
 public:
  bool enter(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    if (!free_.wait_until(lock, deadline, [&] { return !taken_; })) return false;
    taken_ = true;
    return true;
  }
  void leave() {
    {
      std::lock_guard lock(mutex_);
      taken_ = false;
    }
    free_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable free_;
  bool taken_ = false;  // guarded by mutex_
};

class WriterTurn {
 public:
  WriterTurn(WriterGate& gate, Clock::time_point deadline)
      : gate_(gate), entered_(gate.enter(deadline)) {}
  ~WriterTurn() {
    if (entered_) gate_.leave();
  }
  WriterTurn(const WriterTurn&) = delete;
  WriterTurn& operator=(const WriterTurn&) = delete;
  explicit operator bool() const { return entered_; }

 private:
  WriterGate& gate_;
  const bool entered_;
};

class SqliteStore final : public StateStore {
 public:
  SqliteStore(std::string path, SqliteSync sync)
      : path_(std::move(path)),
        slot_count_(std::clamp<std::size_t>(std::thread::hardware_concurrency(), 2, kMaxReaders)),
        slots_(std::make_unique<ReaderSlot[]>(slot_count_)) {
    // Each read connection must be its own database on the same file; an in-memory or
    // temporary database would give every connection a different, empty one.
    if (path_.empty() || path_ == ":memory:") {
      throw std::runtime_error("sqlite_store needs a file path, not \"" + path_ +
                               "\" (memory_store() keeps state in memory)");
    }
    // The connections are used by one thread at a time (under this store's mutexes) but by
    // different threads: a library built without thread support cannot allow that.
    if (sqlite3_threadsafe() == 0) {
      throw std::runtime_error("sqlite_store: this SQLite library was built without threads");
    }
    if (connect(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, writer_.db) != SQLITE_OK) {
      refuse(sqlite3_errmsg(writer_.db.get()));
    }
    sqlite3* db = writer_.db.get();
    // WAL lets the read connections load while a save is being written; it is a property of
    // the file, so every process sharing it uses it once one has set it.
    if (query_text(db, "PRAGMA journal_mode = WAL") != "wal") {
      refuse("it cannot be put in WAL mode");
    }
    // FULL syncs the WAL at every commit: an acknowledged save survives a power loss, not
    // only a crash of the process. NORMAL, when asked for, syncs only at checkpoints: a commit
    // is in the OS's hands at once (a killed process loses nothing), the disk's later.
    exec_or_throw(db, sync == SqliteSync::normal ? "PRAGMA synchronous = NORMAL"
                                                 : "PRAGMA synchronous = FULL");
    // The writer reads the pages it changes: through a memory map (no read() per page) and a
    // page cache big enough to keep the indexes a reminder burst walks (64 MiB at most).
    exec_or_throw(db, "PRAGMA mmap_size = 1073741824");
    exec_or_throw(db, "PRAGMA cache_size = -65536");
    create_schema(db);
    writer_.begin = prepare_or_throw(db, "BEGIN IMMEDIATE");
    writer_.commit = prepare_or_throw(db, "COMMIT");
    writer_.rollback = prepare_or_throw(db, "ROLLBACK");
    writer_.claim = prepare_or_throw(db, kClaim);
    writer_.fence_of = prepare_or_throw(db, kFenceOf);
    writer_.put = prepare_or_throw(db, kPut);
    writer_.append = prepare_or_throw(db, kAppend);
    writer_.fold = prepare_or_throw(db, kFold);
    writer_.trim_log = prepare_or_throw(db, kTrimLog);
    writer_.mark_log_end = prepare_or_throw(db, kMarkLogEnd);
    writer_.log_end = prepare_or_throw(db, kLogEnd);
    writer_.remove = prepare_or_throw(db, kDelete);
    writer_.set_reminder = prepare_or_throw(db, kSetReminder);
    writer_.remove_reminder = prepare_or_throw(db, kRemoveReminder);
    writer_.due = prepare_or_throw(db, kDue);
    writer_.lease_of = prepare_or_throw(db, kLeaseOf);
    writer_.lease = prepare_or_throw(db, kLease);
    writer_.release = prepare_or_throw(db, kRelease);
    writer_.fired_move = prepare_or_throw(db, kFiredMove);
    writer_.fired_remove = prepare_or_throw(db, kFiredRemove);
  }

  // Leaves the file with an empty log when it can (a tidy file for other tools; nothing
  // depends on it: a store that opens the file folds what it finds).
  ~SqliteStore() override {
    (void)write<void>("closing", [&] { return fold_if_needed(); });
  }

  Result<std::uint64_t> claim(std::string_view capability, std::uint32_t shard,
                              std::string_view node) override {
    return write<std::uint64_t>("claim", [&]() -> Result<std::uint64_t> {
      if (auto folded = fold_if_needed(); !folded) return std::unexpected(folded.error());
      Using statement(writer_.claim);
      if (bind_all(statement.get(), capability, std::uint64_t{shard}, node) != SQLITE_OK ||
          sqlite3_step(statement.get()) != SQLITE_ROW) {
        return std::unexpected(unavailable(writer_.db.get(), "claim"));
      }
      const auto fence = static_cast<std::uint64_t>(sqlite3_column_int64(statement.get(), 0));
      if (sqlite3_step(statement.get()) != SQLITE_DONE) {
        return std::unexpected(unavailable(writer_.db.get(), "claim"));
      }
      return fence;
    });
  }

  Result<std::vector<std::uint64_t>> claim_many(std::string_view capability,
                                                std::span<const std::uint32_t> shards,
                                                std::string_view node) override {
    using Fences = std::vector<std::uint64_t>;
    return write<Fences>("claim", [&]() -> Result<Fences> {
      if (auto folded = fold_if_needed(); !folded) return std::unexpected(folded.error());
      Fences fences;
      fences.reserve(shards.size());
      for (const std::uint32_t shard : shards) {
        Using statement(writer_.claim);
        if (bind_all(statement.get(), capability, std::uint64_t{shard}, node) != SQLITE_OK ||
            sqlite3_step(statement.get()) != SQLITE_ROW) {
          return std::unexpected(unavailable(writer_.db.get(), "claim"));
        }
        fences.push_back(static_cast<std::uint64_t>(sqlite3_column_int64(statement.get(), 0)));
        if (sqlite3_step(statement.get()) != SQLITE_DONE) {
          return std::unexpected(unavailable(writer_.db.get(), "claim"));
        }
      }
      return fences;
    });
  }

  Result<std::optional<std::string>> load(const StateKey& key) override {
    using Loaded = std::optional<std::string>;
    return with_reader<Loaded>([&](Reader& reader) -> Result<Loaded> {
      sqlite3* db = reader.db.get();
      const Logged mine = logged(key);
      // The log's end and the table's row, in one snapshot.
      Using load(reader.load);
      if (bind_all(load.get(), key.capability, key.module, key.id) != SQLITE_OK ||
          sqlite3_step(load.get()) != SQLITE_ROW) {
        return std::unexpected(unavailable(db, "load"));
      }
      const std::int64_t end = sqlite3_column_int64(load.get(), 0);
      // No other process appended since this store's last fold, and the store appended no row
      // of the key since: the table's row is the newest (the usual case, one statement).
      const bool known = mine.end == end;
      if (known && !mine.seq) return table_row(load.get());
      // Otherwise the key's newest row in the log: the one the index names, or (when another
      // process appended) whichever the log has. When there is none, the row may have been
      // folded into the table after the snapshot above: the table is read again.
      sqlite3_reset(load.get());
      Using row(known ? reader.load_logged : reader.find_logged);
      int rc = bind_all(row.get(), key.capability, key.module, key.id);
      if (rc == SQLITE_OK && known) rc = bind_one(row.get(), 4, *mine.seq);
      if (rc != SQLITE_OK) return std::unexpected(unavailable(db, "load"));
      switch (sqlite3_step(row.get())) {
        case SQLITE_ROW:
          return Loaded{column_blob(row.get(), 0)};
        case SQLITE_DONE:
          break;
        default:
          return std::unexpected(unavailable(db, "load"));
      }
      if (sqlite3_step(load.get()) != SQLITE_ROW) return std::unexpected(unavailable(db, "load"));
      return table_row(load.get());
    });
  }

  Result<std::vector<std::size_t>> save(std::span<const StateWrite> writes) override {
    if (writes.empty()) return std::vector<std::size_t>{};
    return write<std::vector<std::size_t>>("save", [&]() -> Result<std::vector<std::size_t>> {
      // Nothing changes a fence inside this transaction, so each shard's is read once.
      std::map<std::pair<std::string_view, std::uint32_t>, std::optional<std::uint64_t>> fences;
      std::vector<std::size_t> fenced;
      // Rows written straight to the table must not be overridden by older rows of their keys
      // at the next fold: the log is folded first.
      const bool through = writes.size() >= kWriteThroughFrom;
      if (through) {
        if (auto folded = fold_if_needed(); !folded) return std::unexpected(folded.error());
      }
      for (std::size_t i = 0; i < writes.size(); ++i) {
        const StateWrite& entry = writes[i];
        auto [it, added] = fences.try_emplace({entry.key.capability, entry.key.shard});
        if (added) {
          auto fence = fence_of(entry.key);
          if (!fence) return std::unexpected(fence.error());
          it->second = *fence;
        }
        if (it->second != entry.fence) {
          fenced.push_back(i);
          continue;
        }
        Using write(through ? writer_.put : writer_.append);
        if (bind_all(write.get(), entry.key.capability, entry.key.module, entry.key.id,
                     std::uint64_t{entry.key.shard}, entry.fence, Blob{entry.state}) != SQLITE_OK ||
            sqlite3_step(write.get()) != SQLITE_DONE) {
          return std::unexpected(unavailable(writer_.db.get(), "save"));
        }
        if (!through) {
          staged_.emplace_back(log_key(entry.key), sqlite3_last_insert_rowid(writer_.db.get()));
        }
      }
      if (appended_ + staged_.size() >= kFoldAfterRows) {
        if (auto folded = fold(); !folded) return std::unexpected(folded.error());
      }
      return fenced;
    });
  }

  // One file has one writer at a time: a second lane would only split the batches in two
  // and wait for this store's write lock (measured in docs/benchmarks.md).
  std::size_t concurrent_writes() const override { return 1; }

  Result<void> erase(const StateKey& key, std::uint64_t fence) override {
    return write<void>("erase", [&]() -> Result<void> {
      if (auto current = check_fence(key, fence); !current) return current;
      // The key's older rows in the log must not come back at the next fold.
      if (auto folded = fold_if_needed(); !folded) return folded;
      Using remove(writer_.remove);
      if (bind_all(remove.get(), key.capability, key.module, key.id) != SQLITE_OK ||
          sqlite3_step(remove.get()) != SQLITE_DONE) {
        return std::unexpected(unavailable(writer_.db.get(), "erase"));
      }
      return {};
    });
  }

  Result<void> set_reminder(const ReminderRow& r, std::uint64_t fence) override {
    return write<void>("set_reminder", [&]() -> Result<void> {
      if (auto current = check_fence(r.key, fence); !current) return current;
      Using put(writer_.set_reminder);
      if (bind_all(put.get(), r.key.capability, r.key.module, r.key.id, r.name,
                   std::uint64_t{r.key.shard}, r.due_ms, r.period_ms, Blob{r.payload}) != SQLITE_OK ||
          sqlite3_step(put.get()) != SQLITE_DONE) {
        return std::unexpected(unavailable(writer_.db.get(), "set_reminder"));
      }
      return {};
    });
  }

  Result<bool> remove_reminder(const StateKey& key, std::string_view name,
                               std::uint64_t fence) override {
    return write<bool>("remove_reminder", [&]() -> Result<bool> {
      if (auto current = check_fence(key, fence); !current) {
        return std::unexpected(current.error());
      }
      Using remove(writer_.remove_reminder);
      if (bind_all(remove.get(), key.capability, key.module, key.id, name) != SQLITE_OK ||
          sqlite3_step(remove.get()) != SQLITE_DONE) {
        return std::unexpected(unavailable(writer_.db.get(), "remove_reminder"));
      }
      return sqlite3_changes(writer_.db.get()) > 0;
    });
  }

  Result<std::vector<ReminderRow>> reminders_of(const StateKey& key) override {
    using Rows = std::vector<ReminderRow>;
    return with_reader<Rows>([&](Reader& reader) -> Result<Rows> {
      Using select(reader.reminders_of);
      if (bind_all(select.get(), key.capability, key.module, key.id) != SQLITE_OK) {
        return std::unexpected(unavailable(reader.db.get(), "reminders_of"));
      }
      std::vector<ReminderRow> out;
      int rc;
      while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
        sqlite3_stmt* row = select.get();
        out.push_back(ReminderRow{
            StateKey{key.capability, key.module, key.id,
                     static_cast<std::uint32_t>(sqlite3_column_int64(row, 1))},
            column_text(row, 0), sqlite3_column_int64(row, 2), sqlite3_column_int64(row, 3),
            column_blob(row, 4), static_cast<std::uint64_t>(sqlite3_column_int64(row, 5))});
      }
      if (rc != SQLITE_DONE) return std::unexpected(unavailable(reader.db.get(), "reminders_of"));
      return out;
    });
  }

  Result<std::vector<ShardReminders>> reminder_shards(std::string_view capability,
                                                      std::int64_t now_ms) override {
    using Shards = std::vector<ShardReminders>;
    return with_reader<Shards>([&](Reader& reader) -> Result<Shards> {
      Using select(reader.reminder_shards);
      if (bind_all(select.get(), capability, now_ms) != SQLITE_OK) {
        return std::unexpected(unavailable(reader.db.get(), "reminder_shards"));
      }
      Shards out;
      int rc;
      while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
        sqlite3_stmt* row = select.get();
        out.push_back(ShardReminders{static_cast<std::uint32_t>(sqlite3_column_int64(row, 0)),
                                     sqlite3_column_int64(row, 1),
                                     static_cast<std::uint64_t>(sqlite3_column_int64(row, 2)),
                                     static_cast<std::uint64_t>(sqlite3_column_int64(row, 3))});
      }
      if (rc != SQLITE_DONE) {
        return std::unexpected(unavailable(reader.db.get(), "reminder_shards"));
      }
      return out;
    });
  }

  Result<std::optional<std::int64_t>> next_due(std::string_view capability,
                                               std::uint32_t shard) override {
    using Due = std::optional<std::int64_t>;
    return with_reader<Due>([&](Reader& reader) -> Result<Due> {
      Using select(reader.next_due);
      if (bind_all(select.get(), capability, std::uint64_t{shard}) != SQLITE_OK ||
          sqlite3_step(select.get()) != SQLITE_ROW) {
        return std::unexpected(unavailable(reader.db.get(), "next_due"));
      }
      if (sqlite3_column_type(select.get(), 0) == SQLITE_NULL) return Due{};
      return Due{sqlite3_column_int64(select.get(), 0)};
    });
  }

  Result<TakenReminders> take_due(std::string_view capability, std::span<const ShardFence> shards,
                                  std::int64_t now_ms, std::int64_t lease_until_ms,
                                  std::size_t limit) override {
    return write<TakenReminders>("take_due", [&]() -> Result<TakenReminders> {
      TakenReminders taken;
      for (const ShardFence& asked : shards) {
        const StateKey shard_key{std::string(capability), "", "", asked.shard};
        if (auto current = check_fence(shard_key, asked.fence); !current) {
          if (current.error().code != Errc::fenced) return std::unexpected(current.error());
          taken.fenced.push_back(asked.shard);
          continue;
        }
        {
          Using lease_of(writer_.lease_of);
          if (bind_all(lease_of.get(), capability, std::uint64_t{asked.shard}) != SQLITE_OK) {
            return std::unexpected(unavailable(writer_.db.get(), "take_due"));
          }
          const int rc = sqlite3_step(lease_of.get());
          if (rc == SQLITE_ROW) {
            const auto holder = static_cast<std::uint64_t>(sqlite3_column_int64(lease_of.get(), 0));
            const std::int64_t until = sqlite3_column_int64(lease_of.get(), 1);
            if (holder != asked.fence && until > now_ms) {
              taken.leased.emplace_back(asked.shard, until);
              continue;
            }
          } else if (rc != SQLITE_DONE) {
            return std::unexpected(unavailable(writer_.db.get(), "take_due"));
          }
        }
        const std::size_t first = taken.rows.size();
        {
          Using select(writer_.due);
          if (bind_all(select.get(), capability, std::uint64_t{asked.shard}, now_ms,
                       static_cast<std::int64_t>(limit)) != SQLITE_OK) {
            return std::unexpected(unavailable(writer_.db.get(), "take_due"));
          }
          int rc;
          while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
            sqlite3_stmt* row = select.get();
            taken.rows.push_back(ReminderRow{
                StateKey{std::string(capability), column_text(row, 0), column_text(row, 1),
                         asked.shard},
                column_text(row, 2), sqlite3_column_int64(row, 3), sqlite3_column_int64(row, 4),
                column_blob(row, 5), static_cast<std::uint64_t>(sqlite3_column_int64(row, 6))});
          }
          if (rc != SQLITE_DONE) return std::unexpected(unavailable(writer_.db.get(), "take_due"));
        }
        if (taken.rows.size() == first) continue;
        Using lease(writer_.lease);
        if (bind_all(lease.get(), capability, std::uint64_t{asked.shard}, asked.fence,
                     lease_until_ms) != SQLITE_OK ||
            sqlite3_step(lease.get()) != SQLITE_DONE) {
          return std::unexpected(unavailable(writer_.db.get(), "take_due"));
        }
      }
      return taken;
    });
  }

  Result<void> fired(std::string_view capability, std::span<const FiredReminder> reminders,
                     std::span<const ShardFence> release) override {
    if (reminders.empty() && release.empty()) return {};
    return write<void>("fired", [&]() -> Result<void> {
      for (const FiredReminder& f : reminders) {
        Using done(f.next_due_ms ? writer_.fired_move : writer_.fired_remove);
        int rc = bind_all(done.get(), f.key.capability, f.key.module, f.key.id, f.name,
                          f.generation);
        if (rc == SQLITE_OK && f.next_due_ms) rc = bind_one(done.get(), 6, *f.next_due_ms);
        if (rc != SQLITE_OK || sqlite3_step(done.get()) != SQLITE_DONE) {
          return std::unexpected(unavailable(writer_.db.get(), "fired"));
        }
      }
      for (const ShardFence& lease : release) {
        Using gone(writer_.release);
        if (bind_all(gone.get(), capability, std::uint64_t{lease.shard}, lease.fence) != SQLITE_OK ||
            sqlite3_step(gone.get()) != SQLITE_DONE) {
          return std::unexpected(unavailable(writer_.db.get(), "fired"));
        }
      }
      return {};
    });
  }

 private:
  // Folds the log into mesh_state inside the current write transaction. The index of this
  // process's appended rows is cleared when the transaction commits.
  Result<void> fold() {
    for (const Statement* step : {&writer_.fold, &writer_.trim_log, &writer_.mark_log_end}) {
      if (auto done = run(*step, "folding the log"); !done) return done;
    }
    auto end = log_end();
    if (!end) return std::unexpected(end.error());
    staged_fold_end_ = *end;
    return {};
  }

  // The log's last seq (0 when it never had a row), inside the current write transaction.
  Result<std::int64_t> log_end() {
    Using end(writer_.log_end);
    if (sqlite3_step(end.get()) != SQLITE_ROW) {
      return std::unexpected(unavailable(writer_.db.get(), "reading the log's end"));
    }
    return sqlite3_column_int64(end.get(), 0);
  }

  // fold(), unless the log holds nothing but its end marker: this store appended nothing since
  // its last fold, and no other process since (the log's end is still the one it left).
  Result<void> fold_if_needed() {
    if (appended_ == 0 && end_) {
      auto end = log_end();
      if (!end) return std::unexpected(end.error());
      if (*end == *end_) return {};
    }
    return fold();
  }

  // After a commit, on the writer's turn: what the transaction appended becomes findable by
  // loads, or everything is forgotten when it folded the log.
  void publish_log_changes() {
    if (staged_fold_end_) {
      appended_ = 0;
      std::lock_guard lock(log_mutex_);
      log_index_.clear();  // the log holds only its end marker
      end_ = staged_fold_end_;
    } else if (!staged_.empty()) {
      appended_ += staged_.size();
      std::lock_guard lock(log_mutex_);
      // The rows of one transaction have consecutive seqs after the log's end as it was: this
      // store still knows whose every row is only if that end was its own.
      const bool mine_only = end_ && staged_.front().second == *end_ + 1;
      end_ = mine_only ? std::optional(staged_.back().second) : std::nullopt;
      for (auto& [key, seq] : staged_) log_index_.insert_or_assign(std::move(key), seq);
    }
    staged_.clear();
    staged_fold_end_.reset();
  }

  struct Logged {
    // The log's end after this store's last change, while no other process appended since
    // this store's last fold.
    std::optional<std::int64_t> end;
    std::optional<std::int64_t> seq;  // of the key's newest row this store appended since
  };
  Logged logged(const StateKey& key) {
    thread_local std::string probe;  // keeps its buffer: no allocation per load
    write_log_key(key, probe);
    std::lock_guard lock(log_mutex_);
    Logged out{end_, std::nullopt};
    if (!log_index_.empty()) {
      if (const auto it = log_index_.find(probe); it != log_index_.end()) out.seq = it->second;
    }
    return out;
  }

  // The state column of a kLoad row: nullopt when the table has no row of the key.
  static std::optional<std::string> table_row(sqlite3_stmt* load) {
    if (sqlite3_column_type(load, 1) == SQLITE_NULL) return std::nullopt;
    return column_blob(load, 1);
  }

  // (capability, module, id) as one string, each of the first two preceded by its length so
  // that no two keys give the same string.
  static std::string log_key(const StateKey& key) {
    std::string out;
    write_log_key(key, out);
    return out;
  }
  static void write_log_key(const StateKey& key, std::string& out) {
    out.clear();
    out.reserve(8 + key.capability.size() + key.module.size() + key.id.size());
    for (const std::string_view part :
         {std::string_view(key.capability), std::string_view(key.module)}) {
      const auto size = static_cast<std::uint32_t>(part.size());
      out.append(reinterpret_cast<const char*>(&size), sizeof size);
      out.append(part);
    }
    out.append(key.id);
  }

  // Ok when `fence` is the latest of the key's shard, else Errc::fenced. Inside a write
  // transaction, so that no claim comes between the check and the write it guards.
  Result<void> check_fence(const StateKey& key, std::uint64_t fence) {
    auto current = fence_of(key);
    if (!current) return std::unexpected(current.error());
    if (*current != fence) {
      return std::unexpected(Error{Errc::fenced, "shard " + std::to_string(key.shard) + " of " +
                                                     key.capability + " was claimed since"});
    }
    return {};
  }

  // Runs `body` on a read connection. Each thread starts at a slot of its own, so that threads
  // do not take turns on one connection; it takes any free one when that is busy, and waits
  // only when all of them are. In WAL mode a reader sees the last commit without waiting for
  // the writer, so neither loads nor reminder queries hold up the commits.
  template <class T, class Body>
  Result<T> with_reader(Body&& body) {
    const std::size_t home = std::hash<std::thread::id>{}(std::this_thread::get_id()) % slot_count_;
    std::unique_lock<std::mutex> lock;
    ReaderSlot* slot = nullptr;
    for (std::size_t i = 0; i < slot_count_ && slot == nullptr; ++i) {
      ReaderSlot& candidate = slots_[(home + i) % slot_count_];
      lock = std::unique_lock(candidate.mutex, std::try_to_lock);
      if (lock.owns_lock()) slot = &candidate;
    }
    if (slot == nullptr) {
      slot = &slots_[home];
      lock = std::unique_lock(slot->mutex);
    }
    if (!slot->reader) {
      auto reader = open_reader();
      if (!reader) return std::unexpected(reader.error());
      slot->reader = std::move(*reader);
    }
    return body(*slot->reader);
  }

  // Runs `body` in one write transaction on the write connection: commits when it succeeds,
  // rolls back when it or the commit fails, so that an error never leaves part of it applied.
  // Gives up with store_unavailable when the connection or the file's lock is not free within
  // kBusyBudget.
  template <class T, class Body>
  Result<T> write(std::string_view doing, Body&& body) {
    const Clock::time_point deadline = Clock::now() + kBusyBudget;
    WriterTurn turn(writer_gate_, deadline);
    if (!turn) {
      return std::unexpected(
          Error{Errc::store_unavailable, "state store " + path_ + ": " + std::string(doing) +
                                             " failed: its writer stayed busy for " +
                                             std::to_string(kBusyBudget.count()) + " ms"});
    }
    sqlite3* db = writer_.db.get();
    // What is left of the budget is how long SQLite may wait for another process's lock.
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    sqlite3_busy_timeout(db, static_cast<int>(std::max<std::int64_t>(left.count(), 1)));
    if (auto begun = run(writer_.begin, doing); !begun) return std::unexpected(begun.error());
    staged_.clear();
    staged_fold_end_.reset();
    Result<T> result = body();
    if (result) {
      auto committed = run(writer_.commit, doing);
      if (!committed) result = std::unexpected(committed.error());
    }
    // SQLite rolls back by itself after some errors (a full disk, an I/O error); otherwise the
    // transaction is still open and must not be left for the next operation to commit.
    if (!result && sqlite3_get_autocommit(db) == 0) (void)run(writer_.rollback, doing);
    // The index changes only with a commit, and before this store's turn ends: a save is
    // acknowledged (and a later load of its key may run) only once its rows are findable.
    if (result) publish_log_changes();
    return result;
  }

  // Steps a statement that returns no row (BEGIN, COMMIT, ROLLBACK).
  Result<void> run(const Statement& statement, std::string_view doing) {
    Using use(statement);
    if (sqlite3_step(use.get()) != SQLITE_DONE) {
      return std::unexpected(unavailable(writer_.db.get(), doing));
    }
    return {};
  }

  // The latest fence of the key's shard, or nullopt when the shard was never claimed. Called
  // inside a write transaction, so no claim can come between the read and the write it guards.
  Result<std::optional<std::uint64_t>> fence_of(const StateKey& key) {
    Using select(writer_.fence_of);
    if (bind_all(select.get(), key.capability, std::uint64_t{key.shard}) != SQLITE_OK) {
      return std::unexpected(unavailable(writer_.db.get(), "reading a fence"));
    }
    switch (sqlite3_step(select.get())) {
      case SQLITE_DONE:
        return std::optional<std::uint64_t>{};
      case SQLITE_ROW:
        return std::optional<std::uint64_t>(
            static_cast<std::uint64_t>(sqlite3_column_int64(select.get(), 0)));
      default:
        return std::unexpected(unavailable(writer_.db.get(), "reading a fence"));
    }
  }

  Error unavailable(sqlite3* db, std::string_view doing) const {
    return Error{Errc::store_unavailable, "state store " + path_ + ": " + std::string(doing) +
                                              " failed: " + sqlite3_errmsg(db)};
  }

  // Opens a connection into `db`, which holds it even when the open fails (its message says
  // why, and the handle must still be closed).
  int connect(int flags, Database& db) const {
    sqlite3* raw = nullptr;
    // NOMUTEX: every connection is used under one of this store's mutexes already.
    const int rc = sqlite3_open_v2(path_.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    db.reset(raw);
    if (rc == SQLITE_OK) sqlite3_busy_timeout(raw, static_cast<int>(kBusyBudget.count()));
    return rc;
  }

  Result<Statement> prepare(sqlite3* db, const char* sql) const {
    sqlite3_stmt* raw = nullptr;
    // PERSISTENT: the statement lives as long as the store, so SQLite keeps it out of the
    // lookaside memory that short-lived ones use.
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
      return std::unexpected(unavailable(db, "preparing a statement"));
    }
    return Statement(raw);
  }

  Result<std::unique_ptr<Reader>> open_reader() const {
    auto reader = std::make_unique<Reader>();
    if (connect(SQLITE_OPEN_READWRITE, reader->db) != SQLITE_OK) {
      return std::unexpected(unavailable(reader->db.get(), "opening a read connection"));
    }
    // A guard: this connection must never write behind the write connection's back.
    if (sqlite3_exec(reader->db.get(), "PRAGMA query_only = ON", nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
      return std::unexpected(unavailable(reader->db.get(), "opening a read connection"));
    }
    // Reads through a memory map of the file instead of a read() per page: a load of a row
    // not in this connection's page cache costs no system call. WAL keeps the map coherent.
    if (sqlite3_exec(reader->db.get(), "PRAGMA mmap_size = 1073741824", nullptr, nullptr,
                     nullptr) != SQLITE_OK) {
      return std::unexpected(unavailable(reader->db.get(), "opening a read connection"));
    }
    for (auto [statement, sql] :
         {std::pair{&reader->load, kLoad}, std::pair{&reader->load_logged, kLoadLogged},
          std::pair{&reader->find_logged, kFindLogged},
          std::pair{&reader->reminders_of, kRemindersOf},
          std::pair{&reader->reminder_shards, kReminderShards},
          std::pair{&reader->next_due, kNextDue}}) {
      auto prepared = prepare(reader->db.get(), sql);
      if (!prepared) return std::unexpected(prepared.error());
      *statement = std::move(*prepared);
    }
    return reader;
  }

  // Creates the tables on first use and refuses a file written by a newer schema. One write
  // transaction, so that processes opening a new file at once create it once.
  void create_schema(sqlite3* db) {
    exec_or_throw(db, "BEGIN IMMEDIATE");
    try {
      exec_or_throw(db, "CREATE TABLE IF NOT EXISTS mesh_schema (version INTEGER NOT NULL)");
      const std::string version =
          query_text(db, "SELECT CAST(max(version) AS INTEGER) FROM mesh_schema");
      if (version.empty()) {
        exec_or_throw(db, "INSERT INTO mesh_schema (version) VALUES (" +
                              std::to_string(kSchemaVersion) + ")");
      } else if (version == "1") {
        // Version 2 only adds mesh_state_log (created below): every row of a version-1 file
        // means what it meant.
        exec_or_throw(db, "UPDATE mesh_schema SET version = " + std::to_string(kSchemaVersion));
      } else if (version != std::to_string(kSchemaVersion)) {
        // Only a newer build writes another version, and its tables may mean something else.
        throw std::runtime_error("state store " + path_ + " has schema version " + version +
                                 "; this build of mesh knows up to " +
                                 std::to_string(kSchemaVersion));
      }
      exec_or_throw(db, kCreateTables);
      // Rows a process appended before it was killed go to mesh_state (loads would find them
      // in a log this store did not write, by searching it).
      exec_or_throw(db, std::string(kFold) + "; " + kTrimLog + "; " + kMarkLogEnd);
      end_ = std::stoll(query_text(db, kLogEnd));
      exec_or_throw(db, "COMMIT");
    } catch (...) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  [[noreturn]] void refuse(std::string_view why) const {
    throw std::runtime_error("cannot open state store " + path_ + ": " + std::string(why));
  }

  void exec_or_throw(sqlite3* db, const std::string& sql) const {
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      refuse(sqlite3_errmsg(db));
    }
  }

  Statement prepare_or_throw(sqlite3* db, const char* sql) const {
    auto statement = prepare(db, sql);
    if (!statement) refuse(sqlite3_errmsg(db));
    return std::move(*statement);
  }

  // The first column of the first row as text ("" when there is no row or it is NULL).
  std::string query_text(sqlite3* db, const char* sql) const {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) refuse(sqlite3_errmsg(db));
    Statement statement(raw);
    const int rc = sqlite3_step(raw);
    if (rc == SQLITE_DONE) return {};
    if (rc != SQLITE_ROW) refuse(sqlite3_errmsg(db));
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
    return text == nullptr ? std::string() : std::string(text);
  }

  const std::string path_;
  // The write connection is declared first so that it closes last: the last connection to
  // close checkpoints the WAL into the database file.
  WriterGate writer_gate_;
  Writer writer_;
  // Written on the writer's turn (writer_gate_): what the open transaction appended and whether
  // it folded the log.
  std::vector<std::pair<std::string, std::int64_t>> staged_;
  std::optional<std::int64_t> staged_fold_end_;  // the log's end after a fold in it
  // Rows this process appended to the log since its last fold: key (log_key) -> newest seq.
  std::mutex log_mutex_;
  std::unordered_map<std::string, std::int64_t> log_index_;  // guarded by log_mutex_
  // The log's last seq after this store's last change, while no other process appended since
  // this store's last fold (then every row of the log but the end marker is in the index).
  std::optional<std::int64_t> end_;  // guarded by log_mutex_
  std::size_t appended_ = 0;         // rows appended since the last fold; on the writer's turn only
  const std::size_t slot_count_;
  std::unique_ptr<ReaderSlot[]> slots_;
};

}  // namespace

std::shared_ptr<StateStore> sqlite_store(std::string path) {
  return std::make_shared<SqliteStore>(std::move(path), SqliteSync::full);
}

std::shared_ptr<StateStore> sqlite_store(std::string path, SqliteSync sync) {
  if (sync != SqliteSync::full && sync != SqliteSync::normal) {
    throw std::invalid_argument("sqlite_store: sync is not a SqliteSync");
  }
  return std::make_shared<SqliteStore>(std::move(path), sync);
}

}  // namespace mesh

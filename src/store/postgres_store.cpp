// postgres_store(): the StateStore of clusters, on libpq. Each operation is one prepared
// statement (a save's writes travel as arrays), run on a connection from a small pool; the
// server's row locks order claims and saves between nodes.
#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mesh/state_store.hpp"
#include "store/pg_connection.hpp"

namespace mesh {
namespace {

using namespace std::chrono_literals;
using detail::PgClock;
using detail::PgConnection;
using detail::store_unavailable;

constexpr int kSchemaVersion = 1;
// Callers give up after a few seconds (state_store.hpp); the server cancels a statement a
// second before the client would give up on it, so a slow statement keeps its connection.
constexpr auto kOperationTimeout = 3s;
constexpr auto kConnectTimeout = 2s;
constexpr auto kFirstRetry = 50ms;
constexpr auto kLastRetry = 2s;
// A node's workers claim and load concurrently and one thread saves; more connections than
// that would only queue inside the server.
constexpr std::size_t kMaxConnections = 8;

// READ COMMITTED is what the fencing argument below relies on, whatever the server's default.
constexpr const char* kSessionSql =
    "SET statement_timeout = 2000; SET idle_in_transaction_session_timeout = 5000; "
    "SET default_transaction_isolation = 'read committed'; "
    "SELECT to_regclass('mesh_reminder_leases') IS NOT NULL";

// Nodes that start together must not race to create the tables: the first takes the lock and
// creates, the others wait and find them made.
constexpr const char* kLockSchemaSql =
    "BEGIN; SELECT pg_advisory_xact_lock(7234232470331929921); "
    "CREATE TABLE IF NOT EXISTS mesh_schema (version integer NOT NULL); "
    "SELECT coalesce(max(version), 0) FROM mesh_schema";

constexpr const char* kCreateSchemaSql =
    "CREATE TABLE IF NOT EXISTS mesh_shards (capability text NOT NULL, shard integer NOT NULL, "
    "  fence bigint NOT NULL, owner text NOT NULL, PRIMARY KEY (capability, shard)); "
    "CREATE TABLE IF NOT EXISTS mesh_state (capability text NOT NULL, module text NOT NULL, "
    "  id text NOT NULL, shard integer NOT NULL, fence bigint NOT NULL, state bytea NOT NULL, "
    "  PRIMARY KEY (capability, module, id)); "
    "CREATE TABLE IF NOT EXISTS mesh_reminders (capability text NOT NULL, module text NOT NULL, "
    "  id text NOT NULL, name text NOT NULL, shard integer NOT NULL, due_ms bigint NOT NULL, "
    "  period_ms bigint NOT NULL, payload bytea NOT NULL, generation bigint NOT NULL, "
    "  PRIMARY KEY (capability, module, id, name)); "
    "CREATE INDEX IF NOT EXISTS mesh_reminders_due ON mesh_reminders (capability, shard, due_ms); "
    "CREATE TABLE IF NOT EXISTS mesh_reminder_leases (capability text NOT NULL, "
    "  shard integer NOT NULL, fence bigint NOT NULL, lease_until bigint NOT NULL, "
    "  PRIMARY KEY (capability, shard)); "
    "INSERT INTO mesh_schema SELECT 1 WHERE NOT EXISTS (SELECT FROM mesh_schema); COMMIT";

// Why fencing holds between nodes (every statement below runs in its own transaction, READ
// COMMITTED):
// - A claim updates its shard's row in one statement, so the row lock orders the claims of a
//   shard and each returns the committed fence + 1: increasing, and durable across restarts.
// - A save locks the rows of its batch's shards FOR SHARE before comparing fences. Locking a
//   row waits for a claim in progress on it and yields the latest committed version, so the
//   comparison uses the latest fence; a claim that comes later waits for the save's commit.
//   The fences compared therefore still hold when the save commits, which is the instant it
//   takes effect: a write applied under a superseded fence would need a claim to commit
//   between the lock and the commit, and the lock forbids that.
// - A shard without a row has handed out no token before the save began (a claim that had
//   returned would have committed its row), so its writes are refused without a lock.
// - Erase is a save of one deletion, with the same lock.
// Within a batch, only the last current write of each key matters, so the upsert takes that
// one (ON CONFLICT cannot touch a row twice in one statement).
constexpr const char* kPrepareSql =
    "PREPARE mesh_claim (text, integer, text) AS "
    "INSERT INTO mesh_shards AS s (capability, shard, fence, owner) VALUES ($1, $2, 1, $3) "
    "ON CONFLICT (capability, shard) DO UPDATE SET fence = s.fence + 1, owner = excluded.owner "
    "RETURNING fence; "

    "PREPARE mesh_load (text, text, text) AS "
    "SELECT state FROM mesh_state WHERE capability = $1 AND module = $2 AND id = $3; "

    "PREPARE mesh_save (text[], text[], text[], integer[], bigint[], bytea[]) AS "
    "WITH w AS MATERIALIZED ("
    "  SELECT * FROM unnest($1, $2, $3, $4, $5, $6)"
    "    WITH ORDINALITY AS w(capability, module, id, shard, fence, state, i)), "
    "latest AS MATERIALIZED ("
    "  SELECT s.capability, s.shard, s.fence FROM mesh_shards s"
    "  WHERE (s.capability, s.shard) IN (SELECT capability, shard FROM w) FOR SHARE), "
    "current AS MATERIALIZED ("
    "  SELECT w.* FROM w JOIN latest USING (capability, shard, fence)), "
    "applied AS ("
    "  INSERT INTO mesh_state AS t (capability, module, id, shard, fence, state)"
    "  SELECT DISTINCT ON (capability, module, id) capability, module, id, shard, fence, state"
    "  FROM current ORDER BY capability, module, id, i DESC"
    "  ON CONFLICT (capability, module, id) DO UPDATE"
    "  SET shard = excluded.shard, fence = excluded.fence, state = excluded.state) "
    "SELECT i - 1 FROM w WHERE i NOT IN (SELECT i FROM current) ORDER BY i; "

    "PREPARE mesh_erase (text, text, text, integer, bigint) AS "
    "WITH latest AS MATERIALIZED ("
    "  SELECT fence FROM mesh_shards WHERE capability = $1 AND shard = $4 FOR SHARE), "
    "gone AS ("
    "  DELETE FROM mesh_state WHERE capability = $1 AND module = $2 AND id = $3"
    "  AND EXISTS (SELECT FROM latest WHERE fence = $5)) "
    "SELECT EXISTS (SELECT FROM latest WHERE fence = $5); "

    // Reminder writes lock their shard's row FOR SHARE like a save (same argument).
    "PREPARE mesh_set_reminder (text, text, text, integer, bigint, text, bigint, bigint, bytea) AS "
    "WITH latest AS MATERIALIZED ("
    "  SELECT fence FROM mesh_shards WHERE capability = $1 AND shard = $4 FOR SHARE), "
    "put AS ("
    "  INSERT INTO mesh_reminders AS r (capability, module, id, name, shard, due_ms, period_ms,"
    "    payload, generation)"
    "  SELECT $1, $2, $3, $6, $4, $7, $8, $9, (random() * 9.2e18)::bigint"
    "  WHERE EXISTS (SELECT FROM latest WHERE fence = $5)"
    "  ON CONFLICT (capability, module, id, name) DO UPDATE SET shard = excluded.shard,"
    "    due_ms = excluded.due_ms, period_ms = excluded.period_ms, payload = excluded.payload,"
    "    generation = excluded.generation) "
    "SELECT EXISTS (SELECT FROM latest WHERE fence = $5); "

    "PREPARE mesh_remove_reminder (text, text, text, integer, bigint, text) AS "
    "WITH latest AS MATERIALIZED ("
    "  SELECT fence FROM mesh_shards WHERE capability = $1 AND shard = $4 FOR SHARE), "
    "gone AS ("
    "  DELETE FROM mesh_reminders WHERE capability = $1 AND module = $2 AND id = $3"
    "  AND name = $6 AND EXISTS (SELECT FROM latest WHERE fence = $5) RETURNING 1) "
    "SELECT EXISTS (SELECT FROM latest WHERE fence = $5), (SELECT count(*) FROM gone)::bigint; "

    "PREPARE mesh_reminders_of (text, text, text) AS "
    "SELECT name, shard, due_ms, period_ms, payload, generation FROM mesh_reminders "
    "WHERE capability = $1 AND module = $2 AND id = $3 ORDER BY name; "

    "PREPARE mesh_reminder_shards (text, bigint) AS "
    "SELECT shard, min(due_ms), count(*), count(*) FILTER (WHERE due_ms <= $2) "
    "FROM mesh_reminders WHERE capability = $1 GROUP BY shard ORDER BY shard; "

    "PREPARE mesh_next_due (text, integer) AS "
    "SELECT min(due_ms) FROM mesh_reminders WHERE capability = $1 AND shard = $2; "

    // Rows of kind 0: shards asked about whose fence is not the latest; kind 2: shards another
    // fence's lease holds (with its end); kind 1: the reminders taken. Locking the shard's
    // fence row FOR SHARE and its lease row FOR UPDATE orders a take against claims and other
    // takes: only the latest fence passes, and it sees any lease committed before it.
    "PREPARE mesh_take_due (text, integer[], bigint[], bigint, bigint, bigint) AS "
    "WITH asked AS MATERIALIZED ("
    "  SELECT * FROM unnest($2, $3) AS a(shard, fence)), "
    "latest AS MATERIALIZED ("
    "  SELECT s.shard, s.fence FROM mesh_shards s"
    "  WHERE s.capability = $1 AND s.shard IN (SELECT shard FROM asked) FOR SHARE), "
    "current AS MATERIALIZED ("
    "  SELECT shard, fence FROM asked JOIN latest USING (shard, fence)), "
    "leases AS MATERIALIZED ("
    "  SELECT l.shard, l.fence, l.lease_until FROM mesh_reminder_leases l"
    "  WHERE l.capability = $1 AND l.shard IN (SELECT shard FROM current) FOR UPDATE), "
    "held AS MATERIALIZED ("
    "  SELECT c.shard, c.fence FROM current c LEFT JOIN leases l USING (shard)"
    "  WHERE l.shard IS NULL OR l.fence = c.fence OR l.lease_until <= $4), "
    "due AS MATERIALIZED ("
    "  SELECT d.* FROM held CROSS JOIN LATERAL ("
    "    SELECT module, id, name, shard, due_ms, period_ms, payload, generation"
    "    FROM mesh_reminders r WHERE r.capability = $1 AND r.shard = held.shard"
    "    AND r.due_ms <= $4 ORDER BY r.due_ms LIMIT $6) d), "
    "leased AS ("
    "  INSERT INTO mesh_reminder_leases AS l (capability, shard, fence, lease_until)"
    "  SELECT $1, h.shard, h.fence, $5 FROM held h WHERE h.shard IN (SELECT shard FROM due)"
    "  ON CONFLICT (capability, shard) DO UPDATE"
    "  SET fence = excluded.fence, lease_until = excluded.lease_until) "
    "SELECT 0 AS kind, shard, NULL::bigint AS until, NULL::text AS module, NULL::text AS id,"
    "  NULL::text AS name, NULL::bigint AS due_ms, NULL::bigint AS period_ms,"
    "  NULL::bytea AS payload, NULL::bigint AS generation"
    "  FROM asked WHERE shard NOT IN (SELECT shard FROM current) "
    "UNION ALL "
    "SELECT 2, shard, lease_until, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
    "  FROM leases WHERE shard NOT IN (SELECT shard FROM held) "
    "UNION ALL "
    "SELECT 1, shard, NULL, module, id, name, due_ms, period_ms, payload, generation FROM due "
    "ORDER BY 1, 2, 7; "

    "PREPARE mesh_fired (text[], text[], text[], text[], bigint[], bigint[], text, integer[],"
    "  bigint[]) AS "
    "WITH f AS MATERIALIZED ("
    "  SELECT * FROM unnest($1, $2, $3, $4, $5, $6)"
    "    AS f(capability, module, id, name, generation, next_due)), "
    "gone AS ("
    "  DELETE FROM mesh_reminders r USING f WHERE f.next_due < 0"
    "  AND r.capability = f.capability AND r.module = f.module AND r.id = f.id"
    "  AND r.name = f.name AND r.generation = f.generation), "
    "moved AS ("
    "  UPDATE mesh_reminders r SET due_ms = f.next_due FROM f WHERE f.next_due >= 0"
    "  AND r.capability = f.capability AND r.module = f.module AND r.id = f.id"
    "  AND r.name = f.name AND r.generation = f.generation), "
    "released AS ("
    "  DELETE FROM mesh_reminder_leases l USING unnest($8, $9) AS r(shard, fence)"
    "  WHERE l.capability = $7 AND l.shard = r.shard AND l.fence = r.fence) "
    "SELECT 1";

// The first value of the last statement's result, "" when it has none.
std::string first_value(const std::vector<detail::PgResult>& results) {
  if (results.empty() || PQntuples(results.back().get()) == 0) return "";
  return PQgetvalue(results.back().get(), 0, 0);
}

// Why a connection could not be made ready; `newer_schema` makes the constructor throw.
struct ConnectFailure {
  std::string message;
  bool newer_schema = false;
};

// The conninfo as messages may show it: parsed by libpq, without the password.
std::string describe(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    // libpq's message may quote the conninfo, password included: say less.
    throw std::runtime_error("postgres_store: the conninfo is not a valid libpq connection string");
  }
  std::string shown;
  for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr || std::string_view(option->keyword) == "password") continue;
    if (!shown.empty()) shown += ' ';
    shown += std::string(option->keyword) + '=' + option->val;
  }
  PQconninfoFree(options);
  return shown;
}

// Connections for operations: reused while healthy, opened on demand up to kMaxConnections.
// After a failed connect, nobody tries again until the backoff has passed: operations fail at
// once meanwhile. Thread-safe; mutex_ guards every member below it.
class ConnectionPool {
 public:
  using Opener = std::function<Result<PgConnection>(PgClock::time_point deadline)>;

  explicit ConnectionPool(Opener open) : open_(std::move(open)) {}

  // Returns the connection to the pool when destroyed, or closes it if it broke.
  class Lease {
   public:
    Lease(ConnectionPool* pool, PgConnection connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)), connection_(std::move(other.connection_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_ != nullptr) pool_->give_back(std::move(connection_));
    }
    PgConnection* operator->() { return &connection_; }

   private:
    ConnectionPool* pool_;
    PgConnection connection_;
  };

  Result<Lease> acquire(PgClock::time_point deadline) {
    std::unique_lock lock(mutex_);
    for (;;) {
      while (!idle_.empty()) {
        PgConnection connection = std::move(idle_.back());
        idle_.pop_back();
        if (connection.still_open()) return Lease(this, std::move(connection));
        --opened_;
      }
      if (opened_ < kMaxConnections) break;
      if (!returned_.wait_until(lock, deadline,
                                [&] { return !idle_.empty() || opened_ < kMaxConnections; })) {
        return std::unexpected(store_unavailable("all " + std::to_string(kMaxConnections) +
                                                 " postgres connections stayed busy"));
      }
    }
    const auto now = PgClock::now();
    if (now < retry_at_) return std::unexpected(store_unavailable(retrying(retry_at_ - now)));
    ++opened_;  // reserves the slot while connecting without the lock
    lock.unlock();
    auto connection = open_(std::min(deadline, now + kConnectTimeout));
    lock.lock();
    if (connection) {
      retry_delay_ = kFirstRetry;
      return Lease(this, std::move(*connection));
    }
    --opened_;
    returned_.notify_one();
    failed(connection.error().message);
    return std::unexpected(store_unavailable(retrying(retry_at_ - PgClock::now())));
  }

  // Takes a connection opened elsewhere (the store's first, at construction).
  void adopt(PgConnection connection) {
    std::lock_guard lock(mutex_);
    ++opened_;
    idle_.push_back(std::move(connection));
  }

  void failed_to_connect(std::string message) {
    std::lock_guard lock(mutex_);
    failed(std::move(message));
  }

 private:
  void give_back(PgConnection connection) {
    std::vector<PgConnection> closing;
    {
      std::lock_guard lock(mutex_);
      if (connection.usable()) {
        idle_.push_back(std::move(connection));
      } else {
        // The others idle since before the failure (a server restart) are likely dead too.
        closing.push_back(std::move(connection));
        closing.insert(closing.end(), std::make_move_iterator(idle_.begin()),
                       std::make_move_iterator(idle_.end()));
        opened_ -= closing.size();
        idle_.clear();
      }
    }
    returned_.notify_all();
  }

  void failed(std::string message) {
    last_failure_ = std::move(message);
    retry_at_ = PgClock::now() + retry_delay_;
    retry_delay_ = std::min<PgClock::duration>(retry_delay_ * 2, kLastRetry);
  }

  std::string retrying(PgClock::duration wait) const {
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
    return last_failure_ + "; retrying in " + std::to_string(ms) + " ms";
  }

  const Opener open_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<PgConnection> idle_;
  std::size_t opened_ = 0;  // idle, leased, or being opened
  PgClock::time_point retry_at_{};
  PgClock::duration retry_delay_ = kFirstRetry;
  std::string last_failure_;
};

class PostgresStore final : public StateStore {
 public:
  explicit PostgresStore(const std::string& conninfo)
      : shown_(describe(conninfo)),
        params_{{"connect_timeout", "2"},
                {"application_name", "mesh"},
                // Bound a blocked TCP send and find a dead peer while idle (no effect on a
                // unix socket, where a stopped server is an immediate error).
                {"tcp_user_timeout", "5000"},
                {"keepalives_idle", "5"},
                {"keepalives_interval", "1"},
                {"keepalives_count", "3"},
                {"dbname", conninfo}},
        pool_([this](PgClock::time_point deadline) -> Result<PgConnection> {
          auto connection = connect(deadline);
          if (!connection) return std::unexpected(store_unavailable(connection.error().message));
          return std::move(*connection);
        }) {
    auto first = connect(PgClock::now() + kConnectTimeout);
    if (first) {
      pool_.adopt(std::move(*first));
    } else if (first.error().newer_schema) {
      throw std::runtime_error(first.error().message);
    } else {
      pool_.failed_to_connect(first.error().message);
    }
  }

  Result<std::uint64_t> claim(std::string_view capability, std::uint32_t shard,
                              std::string_view node) override {
    const std::string shard_bytes = detail::pg_int4(shard);
    const std::string_view params[] = {capability, shard_bytes, node};
    auto result = run("mesh_claim", params);
    if (!result) return std::unexpected(result.error());
    if (PQntuples(result->get()) != 1 || PQgetlength(result->get(), 0, 0) != 8) {
      return std::unexpected(store_unavailable("postgres: a claim returned no fence"));
    }
    return detail::pg_read_int8(PQgetvalue(result->get(), 0, 0));
  }

  Result<std::optional<std::string>> load(const StateKey& key) override {
    const std::string_view params[] = {key.capability, key.module, key.id};
    auto result = run("mesh_load", params);
    if (!result) return std::unexpected(result.error());
    if (PQntuples(result->get()) == 0) return std::optional<std::string>{};
    return std::optional<std::string>{
        std::string(PQgetvalue(result->get(), 0, 0),
                    static_cast<std::size_t>(PQgetlength(result->get(), 0, 0)))};
  }

  Result<std::vector<std::size_t>> save(std::span<const StateWrite> writes) override {
    if (writes.empty()) return std::vector<std::size_t>{};
    detail::PgArray capabilities(detail::kPgText, writes.size());
    detail::PgArray modules(detail::kPgText, writes.size());
    detail::PgArray ids(detail::kPgText, writes.size());
    detail::PgArray shards(detail::kPgInt4, writes.size());
    detail::PgArray fences(detail::kPgInt8, writes.size());
    detail::PgArray states(detail::kPgBytea, writes.size());
    for (const StateWrite& write : writes) {
      capabilities.add(write.key.capability);
      modules.add(write.key.module);
      ids.add(write.key.id);
      shards.add(detail::pg_int4(write.key.shard));
      fences.add(detail::pg_int8(write.fence));
      states.add(write.state);
    }
    const std::string_view params[] = {capabilities.bytes(), modules.bytes(), ids.bytes(),
                                       shards.bytes(),       fences.bytes(),  states.bytes()};
    // A connection lost after the server committed reports an error for writes that were
    // applied. They were current, and the caller discards the activation on any error and
    // reloads, so the error costs a reload, never a stale state.
    auto result = run("mesh_save", params);
    if (!result) return std::unexpected(result.error());
    std::vector<std::size_t> fenced;
    for (int row = 0; row < PQntuples(result->get()); ++row) {
      fenced.push_back(detail::pg_read_int8(PQgetvalue(result->get(), row, 0)));
    }
    return fenced;
  }

  // One lane: with the server on the node's machine, two lanes gave 24.6–27.5k durable calls/s
  // and one 29.4–32.7k (docs/benchmarks.md), since each commit then carries twice the writes.
  std::size_t concurrent_writes() const override { return 1; }

  Result<void> erase(const StateKey& key, std::uint64_t fence) override {
    const std::string shard_bytes = detail::pg_int4(key.shard);
    const std::string fence_bytes = detail::pg_int8(fence);
    const std::string_view params[] = {key.capability, key.module, key.id, shard_bytes,
                                       fence_bytes};
    auto result = run("mesh_erase", params);
    if (!result) return std::unexpected(result.error());
    if (PQntuples(result->get()) == 1 && *PQgetvalue(result->get(), 0, 0) == 1) return {};
    return std::unexpected(Error{Errc::fenced, "shard " + std::to_string(key.shard) + " of " +
                                                   key.capability + " was claimed since"});
  }

  Result<void> set_reminder(const ReminderRow& r, std::uint64_t fence) override {
    const std::string shard = detail::pg_int4(r.key.shard);
    const std::string fence_bytes = detail::pg_int8(fence);
    const std::string due = detail::pg_int8(static_cast<std::uint64_t>(r.due_ms));
    const std::string period = detail::pg_int8(static_cast<std::uint64_t>(r.period_ms));
    const std::string_view params[] = {r.key.capability, r.key.module, r.key.id, shard,
                                       fence_bytes,      r.name,       due,      period,
                                       r.payload};
    auto result = run("mesh_set_reminder", params);
    if (!result) return std::unexpected(result.error());
    if (PQntuples(result->get()) == 1 && *PQgetvalue(result->get(), 0, 0) == 1) return {};
    return fenced(r.key);
  }

  Result<bool> remove_reminder(const StateKey& key, std::string_view name,
                               std::uint64_t fence) override {
    const std::string shard = detail::pg_int4(key.shard);
    const std::string fence_bytes = detail::pg_int8(fence);
    const std::string_view params[] = {key.capability, key.module, key.id, shard, fence_bytes,
                                       name};
    auto result = run("mesh_remove_reminder", params);
    if (!result) return std::unexpected(result.error());
    if (PQntuples(result->get()) != 1 || *PQgetvalue(result->get(), 0, 0) != 1) {
      return std::unexpected(fenced(key).error());
    }
    return detail::pg_read_int8(PQgetvalue(result->get(), 0, 1)) > 0;
  }

  Result<std::vector<ReminderRow>> reminders_of(const StateKey& key) override {
    const std::string_view params[] = {key.capability, key.module, key.id};
    auto result = run("mesh_reminders_of", params);
    if (!result) return std::unexpected(result.error());
    std::vector<ReminderRow> out;
    PGresult* rows = result->get();
    for (int i = 0; i < PQntuples(rows); ++i) {
      out.push_back(ReminderRow{
          StateKey{key.capability, key.module, key.id, read_int4(rows, i, 1)}, text(rows, i, 0),
          read_int8(rows, i, 2), read_int8(rows, i, 3), text(rows, i, 4),
          static_cast<std::uint64_t>(read_int8(rows, i, 5))});
    }
    return out;
  }

  Result<std::vector<ShardReminders>> reminder_shards(std::string_view capability,
                                                      std::int64_t now_ms) override {
    const std::string now = detail::pg_int8(static_cast<std::uint64_t>(now_ms));
    const std::string_view params[] = {capability, now};
    auto result = run("mesh_reminder_shards", params);
    if (!result) return std::unexpected(result.error());
    std::vector<ShardReminders> out;
    PGresult* rows = result->get();
    for (int i = 0; i < PQntuples(rows); ++i) {
      out.push_back(ShardReminders{read_int4(rows, i, 0), read_int8(rows, i, 1),
                                   static_cast<std::uint64_t>(read_int8(rows, i, 2)),
                                   static_cast<std::uint64_t>(read_int8(rows, i, 3))});
    }
    return out;
  }

  Result<std::optional<std::int64_t>> next_due(std::string_view capability,
                                               std::uint32_t shard) override {
    const std::string shard_bytes = detail::pg_int4(shard);
    const std::string_view params[] = {capability, shard_bytes};
    auto result = run("mesh_next_due", params);
    if (!result) return std::unexpected(result.error());
    PGresult* rows = result->get();
    if (PQntuples(rows) != 1 || PQgetisnull(rows, 0, 0)) return std::optional<std::int64_t>{};
    return std::optional<std::int64_t>{read_int8(rows, 0, 0)};
  }

  Result<TakenReminders> take_due(std::string_view capability, std::span<const ShardFence> shards,
                                  std::int64_t now_ms, std::int64_t lease_until_ms,
                                  std::size_t limit) override {
    TakenReminders taken;
    if (shards.empty()) return taken;
    detail::PgArray shard_array(detail::kPgInt4, shards.size());
    detail::PgArray fence_array(detail::kPgInt8, shards.size());
    for (const ShardFence& asked : shards) {
      shard_array.add(detail::pg_int4(asked.shard));
      fence_array.add(detail::pg_int8(asked.fence));
    }
    const std::string now = detail::pg_int8(static_cast<std::uint64_t>(now_ms));
    const std::string lease = detail::pg_int8(static_cast<std::uint64_t>(lease_until_ms));
    const std::string count = detail::pg_int8(limit);
    const std::string_view params[] = {capability, shard_array.bytes(), fence_array.bytes(),
                                       now,        lease,               count};
    auto result = run("mesh_take_due", params);
    if (!result) return std::unexpected(result.error());
    PGresult* rows = result->get();
    for (int i = 0; i < PQntuples(rows); ++i) {
      const std::uint32_t kind = read_int4(rows, i, 0);
      const std::uint32_t shard = read_int4(rows, i, 1);
      if (kind == 0) {
        taken.fenced.push_back(shard);
      } else if (kind == 2) {
        taken.leased.emplace_back(shard, read_int8(rows, i, 2));
      } else {
        taken.rows.push_back(ReminderRow{
            StateKey{std::string(capability), text(rows, i, 3), text(rows, i, 4), shard},
            text(rows, i, 5), read_int8(rows, i, 6), read_int8(rows, i, 7), text(rows, i, 8),
            static_cast<std::uint64_t>(read_int8(rows, i, 9))});
      }
    }
    return taken;
  }

  Result<void> fired(std::string_view capability, std::span<const FiredReminder> reminders,
                     std::span<const ShardFence> release) override {
    if (reminders.empty() && release.empty()) return {};
    detail::PgArray capabilities(detail::kPgText, reminders.size());
    detail::PgArray modules(detail::kPgText, reminders.size());
    detail::PgArray ids(detail::kPgText, reminders.size());
    detail::PgArray names(detail::kPgText, reminders.size());
    detail::PgArray generations(detail::kPgInt8, reminders.size());
    detail::PgArray next(detail::kPgInt8, reminders.size());
    for (const FiredReminder& f : reminders) {
      capabilities.add(f.key.capability);
      modules.add(f.key.module);
      ids.add(f.key.id);
      names.add(f.name);
      generations.add(detail::pg_int8(f.generation));
      next.add(detail::pg_int8(static_cast<std::uint64_t>(f.next_due_ms.value_or(-1))));
    }
    detail::PgArray release_shards(detail::kPgInt4, release.size());
    detail::PgArray release_fences(detail::kPgInt8, release.size());
    for (const ShardFence& lease : release) {
      release_shards.add(detail::pg_int4(lease.shard));
      release_fences.add(detail::pg_int8(lease.fence));
    }
    const std::string_view params[] = {capabilities.bytes(),   modules.bytes(),
                                       ids.bytes(),            names.bytes(),
                                       generations.bytes(),    next.bytes(),
                                       capability,             release_shards.bytes(),
                                       release_fences.bytes()};
    auto result = run("mesh_fired", params);
    if (!result) return std::unexpected(result.error());
    return {};
  }

 private:
  static std::unexpected<Error> fenced(const StateKey& key) {
    return std::unexpected(Error{Errc::fenced, "shard " + std::to_string(key.shard) + " of " +
                                                   key.capability + " was claimed since"});
  }
  static std::string text(PGresult* rows, int row, int column) {
    return std::string(PQgetvalue(rows, row, column),
                       static_cast<std::size_t>(PQgetlength(rows, row, column)));
  }
  static std::int64_t read_int8(PGresult* rows, int row, int column) {
    return static_cast<std::int64_t>(detail::pg_read_int8(PQgetvalue(rows, row, column)));
  }
  static std::uint32_t read_int4(PGresult* rows, int row, int column) {
    const auto* b = reinterpret_cast<const unsigned char*>(PQgetvalue(rows, row, column));
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
           std::uint32_t{b[3]};
  }

  Result<detail::PgResult> run(const char* statement, std::span<const std::string_view> params) {
    const auto deadline = PgClock::now() + kOperationTimeout;
    auto lease = pool_.acquire(deadline);
    if (!lease) return std::unexpected(lease.error());
    return (*lease)->run(statement, params, deadline);
  }

  // Opens a connection and makes it ready: session limits, the schema (created if missing),
  // the prepared statements.
  std::expected<PgConnection, ConnectFailure> connect(PgClock::time_point deadline) {
    auto connection = PgConnection::open(params_, deadline);
    if (!connection) {
      return std::unexpected(ConnectFailure{"postgres unreachable: " + connection.error().message});
    }
    auto version = schema_version(*connection, deadline);
    if (!version) return std::unexpected(ConnectFailure{version.error().message});
    if (*version > kSchemaVersion) {
      return std::unexpected(ConnectFailure{
          "state store at " + shown_ + " has schema version " + std::to_string(*version) +
              "; this build of mesh knows up to " + std::to_string(kSchemaVersion),
          true});
    }
    if (auto prepared = connection->exec(kPrepareSql, deadline); !prepared) {
      return std::unexpected(ConnectFailure{prepared.error().message});
    }
    return std::move(*connection);
  }

  // The schema's version, after creating the schema when the database has none.
  static Result<int> schema_version(PgConnection& connection, PgClock::time_point deadline) {
    auto session = connection.exec(kSessionSql, deadline);
    if (!session) return std::unexpected(session.error());
    if (first_value(*session) == "t") {
      auto found = connection.exec("SELECT coalesce(max(version), 0) FROM mesh_schema", deadline);
      if (!found) return std::unexpected(found.error());
      const int version = std::atoi(first_value(*found).c_str());
      if (version != 0) return version;
    }
    auto locked = connection.exec(kLockSchemaSql, deadline);
    if (!locked) return std::unexpected(locked.error());
    const int version = std::atoi(first_value(*locked).c_str());
    auto done = connection.exec(version > kSchemaVersion ? "ROLLBACK" : kCreateSchemaSql, deadline);
    if (!done) return std::unexpected(done.error());
    return std::max(version, kSchemaVersion);
  }

  const std::string shown_;
  const detail::PgParams params_;
  ConnectionPool pool_;
};

}  // namespace

std::shared_ptr<StateStore> postgres_store(std::string conninfo) {
  return std::make_shared<PostgresStore>(conninfo);
}

}  // namespace mesh

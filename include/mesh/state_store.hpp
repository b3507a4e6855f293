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

// The interface a node uses to persist actors; implement it to keep state in another database.
// Implementations must be thread-safe: a node calls claim and load from its worker threads and
// save/erase from its two writer threads (each with its own keys), concurrently. Every failure
// to reach or use the database is an Error with Errc::store_unavailable and a message naming
// the cause; nothing may block without bound (give up after a few seconds at most: callers'
// timeouts are shorter).
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
  // The actor's stored state, or nullopt when it has none.
  virtual Result<std::optional<std::string>> load(const StateKey& key) = 0;
  // Applies `writes` in one transaction, in order (a later write of a key replaces an earlier
  // one). A write whose fence is no longer its shard's latest is skipped; returns the indices
  // of the skipped writes (empty when all applied). An error means none was applied.
  virtual Result<std::vector<std::size_t>> save(std::span<const StateWrite> writes) = 0;
  // Removes the actor's row if `fence` is still its shard's latest; Errc::fenced otherwise.
  // Removing a row that does not exist succeeds.
  virtual Result<void> erase(const StateKey& key, std::uint64_t fence) = 0;
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

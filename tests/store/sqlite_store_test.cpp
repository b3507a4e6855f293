// sqlite_store(): the contract suite on a fresh file per test, and what only a file store has:
// its schema, the files it refuses, readers beside a writer, a failing transaction.
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/store_contract.hpp"
#include "support/expect.hpp"

namespace mesh::testing {
namespace {

namespace fs = std::filesystem;

// A directory of its own under the system's temporary directory, removed with its files.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "mesh-sqlite-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::shared_ptr<StateStore> open_sqlite(bool reopen) {
  // One directory per test; the previous test's goes when the next one starts (or at exit).
  static std::unique_ptr<TempDir> dir;
  if (!reopen || !dir) dir = std::make_unique<TempDir>();
  return sqlite_store(dir->file("store.db"));
}

// SqliteSync::normal keeps every rule of the contract; only when the disk is synced differs.
std::shared_ptr<StateStore> open_sqlite_normal(bool reopen) {
  static std::unique_ptr<TempDir> dir;
  if (!reopen || !dir) dir = std::make_unique<TempDir>();
  return sqlite_store(dir->file("store.db"), SqliteSync::normal);
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContract,
                         ::testing::Values(StoreFactory{"sqlite", open_sqlite},
                                           StoreFactory{"sqlite_normal", open_sqlite_normal}),
                         [](const auto& info) { return info.param.name; });

TEST(SqliteSyncTest, ASyncLevelThatIsNotASqliteSyncIsRefused) {
  TempDir dir;
  EXPECT_THROW(sqlite_store(dir.file("x.db"), static_cast<SqliteSync>(7)), std::invalid_argument);
  EXPECT_NO_THROW(sqlite_store(dir.file("y.db"), SqliteSync::normal));
}

// A connection of the test's own, beside the store's: what another process would see.
class Raw {
 public:
  explicit Raw(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
      ADD_FAILURE() << "cannot open " << path << ": " << sqlite3_errmsg(db_);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~Raw() { sqlite3_close(db_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;

  void exec(const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << (error ? error : "?");
    }
    sqlite3_free(error);
  }
  // Every row's first column as text.
  std::vector<std::string> column(const std::string& sql) {
    std::vector<std::string> values;
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return values;
    }
    while (sqlite3_step(statement) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
      values.emplace_back(text ? text : "NULL");
    }
    sqlite3_finalize(statement);
    return values;
  }

 private:
  sqlite3* db_ = nullptr;
};

StateKey key(std::string id, std::uint32_t shard = 3) {
  return StateKey{"game", "Counter", std::move(id), shard};
}

// The message of the std::runtime_error that opening `path` throws ("" when it opens).
std::string refusal(const std::string& path) {
  try {
    sqlite_store(path);
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "";
}

class SqliteStore : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string path_ = dir_.file("game.db");
};

TEST_F(SqliteStore, FirstUseCreatesSchemaVersionTwoInWalMode) {
  auto store = sqlite_store(path_);
  Raw raw(path_);
  EXPECT_EQ(raw.column("SELECT version FROM mesh_schema"), std::vector<std::string>{"2"});
  EXPECT_EQ(raw.column("PRAGMA journal_mode"), std::vector<std::string>{"wal"});
  EXPECT_EQ(raw.column("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"),
            (std::vector<std::string>{"mesh_reminder_leases", "mesh_reminders", "mesh_schema",
                                      "mesh_shards", "mesh_state", "mesh_state_log"}));
  // Opening it again neither adds a second version row nor fails.
  store.reset();
  store = sqlite_store(path_);
  EXPECT_EQ(raw.column("SELECT version FROM mesh_schema"), std::vector<std::string>{"2"});
}

TEST_F(SqliteStore, ClaimsAndSavesAreRowsOfTheDocumentedTables) {
  auto store = sqlite_store(path_);
  const std::uint64_t fence = store->claim("game", 3, "node-a").value();
  ASSERT_TRUE(test::HasValue(store->save(std::vector<StateWrite>{{key("p"), fence, "xyz"}})));
  Raw raw(path_);
  EXPECT_EQ(raw.column("SELECT capability || '/' || shard || '/' || fence || '/' || owner "
                       "FROM mesh_shards"),
            std::vector<std::string>{"game/3/" + std::to_string(fence) + "/node-a"});
  const std::string row = "Counter/p/3/" + std::to_string(fence) + "/blob/xyz";
  const std::string columns =
      "module || '/' || id || '/' || shard || '/' || fence || '/' || typeof(state) || '/' || "
      "CAST(state AS TEXT)";
  // A save is appended to the log; closing the store folds the log into mesh_state, and
  // leaves the log's last row as its end marker: shard -1, which no key has.
  EXPECT_EQ(raw.column("SELECT " + columns + " FROM mesh_state_log"),
            std::vector<std::string>{row});
  EXPECT_TRUE(raw.column("SELECT " + columns + " FROM mesh_state").empty());
  const std::vector<std::string> seq = raw.column("SELECT seq FROM mesh_state_log");
  store.reset();
  EXPECT_EQ(raw.column("SELECT " + columns + " FROM mesh_state"), std::vector<std::string>{row});
  EXPECT_EQ(raw.column("SELECT seq || '/' || shard || '/' || capability || module || id || '/' || "
                       "length(state) FROM mesh_state_log"),
            std::vector<std::string>{seq.at(0) + "/-1//0"});
}

TEST_F(SqliteStore, AnEmptyStateIsAnEmptyRowNotNoRow) {
  auto store = sqlite_store(path_);
  const std::uint64_t fence = store->claim("game", 3, "a").value();
  ASSERT_TRUE(test::HasValue(store->save(std::vector<StateWrite>{{key("empty"), fence, ""}})));
  auto loaded = store->load(key("empty"));
  ASSERT_TRUE(test::HasValue(loaded));
  EXPECT_EQ(*loaded, std::optional<std::string>(""));
}

// A file has one writer at a time: a node commits on one lane (docs/persistence.md), and the
// memory store keeps the default two.
TEST_F(SqliteStore, TakesOneWriterLaneWhereTheMemoryStoreTakesTwo) {
  EXPECT_EQ(sqlite_store(path_)->concurrent_writes(), 1u);
  EXPECT_EQ(memory_store()->concurrent_writes(), 2u);
}

TEST_F(SqliteStore, AFileWithANewerSchemaIsRefused) {
  {
    Raw raw(path_);
    raw.exec("CREATE TABLE mesh_schema (version INTEGER NOT NULL)");
    raw.exec("INSERT INTO mesh_schema VALUES (3)");
  }
  const std::string message = refusal(path_);
  EXPECT_NE(message.find("schema version 3"), std::string::npos) << message;
  EXPECT_NE(message.find(path_), std::string::npos) << message;
  EXPECT_NE(message.find("knows up to 2"), std::string::npos) << message;
  Raw raw(path_);
  EXPECT_EQ(raw.column("SELECT name FROM sqlite_schema WHERE type = 'table'"),
            std::vector<std::string>{"mesh_schema"})
      << "nothing was created in the newer file";
}

TEST_F(SqliteStore, APathThatCannotBeOpenedIsRefusedByName) {
  const std::string path = dir_.file("no-such-directory/game.db");
  const std::string message = refusal(path);
  ASSERT_FALSE(message.empty()) << "opened a file in a directory that does not exist";
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("unable to open database file"), std::string::npos) << message;
  EXPECT_FALSE(refusal(":memory:").empty()) << "read connections would each see another database";
}

TEST_F(SqliteStore, AFileThatIsNotADatabaseIsRefused) {
  std::ofstream(path_) << "this is a text file, not a database, and it is long enough that SQLite "
                          "reads a header from it and finds no magic string there.\n";
  const std::string message = refusal(path_);
  EXPECT_NE(message.find(path_), std::string::npos) << message;
  EXPECT_NE(message.find("not a database"), std::string::npos) << message;
}

TEST_F(SqliteStore, TwoStoresOnOneFileShareItsFences) {
  // Two objects on one file stand for two processes on one machine: separate connections.
  auto first = sqlite_store(path_);
  auto second = sqlite_store(path_);
  const std::uint64_t old_fence = first->claim("game", 3, "a").value();
  const std::uint64_t new_fence = second->claim("game", 3, "b").value();
  EXPECT_GT(new_fence, old_fence);
  auto stale = first->save(std::vector<StateWrite>{{key("p"), old_fence, "zombie"}});
  ASSERT_TRUE(test::HasValue(stale));
  EXPECT_EQ(*stale, (std::vector<std::size_t>{0}));
  ASSERT_TRUE(test::HasValue(second->save(std::vector<StateWrite>{{key("p"), new_fence, "b"}})));
  EXPECT_EQ(first->load(key("p")).value(), std::optional<std::string>("b"));
  EXPECT_TRUE(test::IsError(first->erase(key("p"), old_fence), Errc::fenced));
}

TEST_F(SqliteStore, ConcurrentLoadsSeeWholeCommitsInOrder) {
  // Each save writes round r to every key in one transaction. A reader that loads the keys in
  // order must see non-decreasing rounds across them (the commit that gave key i round r is
  // visible when key i+1 is read) and never an older round of a key than it saw before.
  auto store = sqlite_store(path_);
  constexpr int kKeys = 16;
  constexpr int kRounds = 150;
  const std::uint64_t fence = store->claim("game", 3, "writer").value();
  auto value = [](int round, int k) {
    return "round " + std::to_string(round) + " of key " + std::to_string(k) + std::string(40, '.');
  };
  auto round_of = [](const std::string& value) { return std::stoi(value.substr(6)); };
  std::vector<StateWrite> batch;
  for (int k = 0; k < kKeys; ++k) batch.push_back({key("k" + std::to_string(k)), fence, ""});
  auto save_round = [&](int round) {
    for (int k = 0; k < kKeys; ++k) batch[static_cast<std::size_t>(k)].state = value(round, k);
    return store->save(batch);
  };
  ASSERT_TRUE(test::HasValue(save_round(0)));

  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<long> loads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      std::vector<int> seen(kKeys, 0);
      auto check = [&](bool ok, const std::string& what) {
        if (!ok && failures.fetch_add(1) < 5) ADD_FAILURE() << what;
      };
      while (!done.load()) {
        int previous = 0;
        for (int k = 0; k < kKeys; ++k) {
          auto loaded = store->load(key("k" + std::to_string(k)));
          loads.fetch_add(1);
          if (!loaded || !loaded->has_value()) {
            check(false, "key " + std::to_string(k) + " did not load");
            continue;
          }
          const int round = round_of(**loaded);
          check(**loaded == value(round, k), "torn or misplaced value: " + **loaded);
          check(round >= previous, "key " + std::to_string(k) + " has round " +
                                       std::to_string(round) + " after a key with round " +
                                       std::to_string(previous));
          check(round >= seen[static_cast<std::size_t>(k)],
                "key " + std::to_string(k) + " went back to round " + std::to_string(round));
          previous = round;
          seen[static_cast<std::size_t>(k)] = round;
        }
      }
    });
  }
  for (int round = 1; round <= kRounds; ++round) {
    auto saved = save_round(round);
    ASSERT_TRUE(test::HasValue(saved));
    EXPECT_TRUE(saved->empty());
  }
  done = true;
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(loads.load(), 0);
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(store->load(key("k" + std::to_string(k))).value(), value(kRounds, k));
  }
}

TEST_F(SqliteStore, ASaveThatFailsMidwayAppliesNothingAndTheStoreGoesOn) {
  auto store = sqlite_store(path_);
  const std::uint64_t fence = store->claim("game", 3, "a").value();
  ASSERT_TRUE(test::HasValue(store->save(std::vector<StateWrite>{{key("a"), fence, "a0"}})));
  // A trigger makes SQLite fail the third write of the batch, after two were written inside
  // the transaction: the store must roll those back.
  Raw raw(path_);
  raw.exec(
      "CREATE TRIGGER poison BEFORE INSERT ON mesh_state_log WHEN NEW.id = 'poison' "
      "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  std::vector<StateWrite> batch{{key("a"), fence, "a1"},
                                {key("b"), fence, "b1"},
                                {key("poison"), fence, "x"},
                                {key("c"), fence, "c1"}};
  auto failed = store->save(batch);
  ASSERT_TRUE(test::IsError(failed, Errc::store_unavailable));
  EXPECT_NE(failed.error().message.find("injected failure"), std::string::npos)
      << failed.error().message;
  EXPECT_NE(failed.error().message.find(path_), std::string::npos) << failed.error().message;
  EXPECT_EQ(store->load(key("a")).value(), std::optional<std::string>("a0"));
  EXPECT_FALSE(store->load(key("b")).value().has_value());
  EXPECT_FALSE(store->load(key("c")).value().has_value());
  EXPECT_EQ(raw.column("SELECT count(*) FROM mesh_state_log"), std::vector<std::string>{"1"});

  // No transaction was left open on the store's connection: the next save commits alone.
  raw.exec("DROP TRIGGER poison");
  batch.erase(batch.begin() + 2);
  auto saved = store->save(batch);
  ASSERT_TRUE(test::HasValue(saved));
  EXPECT_TRUE(saved->empty());
  EXPECT_EQ(store->load(key("b")).value(), std::optional<std::string>("b1"));
  store.reset();  // folds the log
  EXPECT_EQ(raw.column("SELECT id || '=' || CAST(state AS TEXT) FROM mesh_state ORDER BY id"),
            (std::vector<std::string>{"a=a1", "b=b1", "c=c1"}));
}

// The log of saves (docs/persistence.md, "Schema"): folded into mesh_state, newest row of each
// key, once 8,192 rows were appended; loads find a key's newest state before and after.
TEST_F(SqliteStore, TheLogIsFoldedIntoTheTableWithTheNewestRowOfEachKey) {
  auto store = sqlite_store(path_);
  const std::uint64_t fence = store->claim("game", 3, "a").value();
  Raw raw(path_);
  // Rounds of 100 keys, one batch each: the log holds 100 rows per round until it is folded.
  std::vector<StateWrite> batch;
  for (int k = 0; k < 100; ++k) batch.push_back({key("k" + std::to_string(k)), fence, ""});
  int folded_at = -1;
  for (int round = 1; round <= 90 && folded_at < 0; ++round) {
    for (int k = 0; k < 100; ++k) {
      batch[static_cast<std::size_t>(k)].state = std::to_string(round) + "/" + std::to_string(k);
    }
    ASSERT_TRUE(test::HasValue(store->save(batch)));
    EXPECT_EQ(store->load(key("k7")).value(),
              std::optional<std::string>(std::to_string(round) + "/7"));
    if (raw.column("SELECT count(*) FROM mesh_state_log WHERE shard >= 0") ==
        std::vector<std::string>{"0"}) {
      folded_at = round;
    }
  }
  // 8,192 rows: the 82nd round of 100 folds.
  EXPECT_EQ(folded_at, 82);
  EXPECT_EQ(raw.column("SELECT count(*) FROM mesh_state"), std::vector<std::string>{"100"});
  EXPECT_EQ(raw.column("SELECT CAST(state AS TEXT) FROM mesh_state WHERE id = 'k42'"),
            std::vector<std::string>{"82/42"});
  // Two writes of one key in one batch: the later one wins, in the log and after a fold.
  ASSERT_TRUE(test::HasValue(store->save(
      std::vector<StateWrite>{{key("twice"), fence, "first"}, {key("twice"), fence, "second"}})));
  EXPECT_EQ(store->load(key("twice")).value(), std::optional<std::string>("second"));
  store.reset();
  EXPECT_EQ(raw.column("SELECT CAST(state AS TEXT) FROM mesh_state WHERE id = 'twice'"),
            std::vector<std::string>{"second"});
}

// A batch of 256 saves or more goes straight to mesh_state, after the log was folded: an older
// row of one of its keys in the log must not override it at a later fold.
TEST_F(SqliteStore, ABigBatchIsWrittenToTheTableAfterTheLogIsFolded) {
  auto store = sqlite_store(path_);
  const std::uint64_t fence = store->claim("game", 3, "a").value();
  ASSERT_TRUE(test::HasValue(store->save(std::vector<StateWrite>{{key("k0"), fence, "old"}})));
  std::vector<StateWrite> batch;
  for (int k = 0; k < 300; ++k) batch.push_back({key("k" + std::to_string(k)), fence, "new"});
  ASSERT_TRUE(test::HasValue(store->save(batch)));
  Raw raw(path_);
  EXPECT_EQ(raw.column("SELECT count(*) FROM mesh_state_log WHERE shard >= 0"),
            std::vector<std::string>{"0"});
  EXPECT_EQ(raw.column("SELECT count(*) FROM mesh_state WHERE CAST(state AS TEXT) = 'new'"),
            std::vector<std::string>{"300"});
  EXPECT_EQ(store->load(key("k0")).value(), std::optional<std::string>("new"));
  // A small batch after it goes to the log again.
  ASSERT_TRUE(test::HasValue(store->save(std::vector<StateWrite>{{key("k1"), fence, "newer"}})));
  EXPECT_EQ(raw.column("SELECT count(*) FROM mesh_state_log WHERE shard >= 0"),
            std::vector<std::string>{"1"});
  store.reset();
  EXPECT_EQ(raw.column("SELECT id || '=' || CAST(state AS TEXT) FROM mesh_state "
                       "WHERE id IN ('k0', 'k1') ORDER BY id"),
            (std::vector<std::string>{"k0=new", "k1=newer"}));
}

// The log's end marker is told apart by its shard, not its key: a key of empty strings (the
// store takes any) is saved, found, folded and loaded like any other.
TEST_F(SqliteStore, AnEmptyKeyIsNotTakenForTheEndOfTheLog) {
  auto store = sqlite_store(path_);
  const StateKey empty{"", "", "", 5};
  const std::uint64_t fence = store->claim("", 5, "a").value();
  ASSERT_TRUE(test::HasValue(store->save(std::vector<StateWrite>{{empty, fence, "first"}})));
  store.reset();  // folds: the row of the empty key becomes the log's end marker
  store = sqlite_store(path_);
  EXPECT_EQ(store->load(empty).value(), std::optional<std::string>("first"));
  ASSERT_TRUE(test::HasValue(store->save(std::vector<StateWrite>{{empty, fence, "second"}})));
  EXPECT_EQ(store->load(empty).value(), std::optional<std::string>("second"));
  auto other = sqlite_store(path_);  // another process: its open folds the log
  EXPECT_EQ(other->load(empty).value(), std::optional<std::string>("second"));
  other.reset();
  store.reset();
  Raw raw(path_);
  EXPECT_EQ(raw.column("SELECT CAST(state AS TEXT) FROM mesh_state WHERE capability = ''"),
            std::vector<std::string>{"second"});
}

// A process killed with rows in the log: the next store on the file folds them when it opens.
TEST_F(SqliteStore, RowsLeftInTheLogAreFoldedWhenTheFileIsOpened) {
  sqlite_store(path_).reset();  // creates the schema
  {
    Raw raw(path_);
    raw.exec(
        "INSERT INTO mesh_state_log (capability, module, id, shard, fence, state) VALUES "
        "('game', 'Counter', 'left', 3, 1, CAST('old' AS BLOB)), "
        "('game', 'Counter', 'left', 3, 1, CAST('new' AS BLOB))");
  }
  auto store = sqlite_store(path_);
  Raw raw(path_);
  EXPECT_EQ(raw.column("SELECT count(*) FROM mesh_state_log WHERE shard >= 0"),
            std::vector<std::string>{"0"});
  EXPECT_EQ(raw.column("SELECT CAST(state AS TEXT) FROM mesh_state WHERE id = 'left'"),
            std::vector<std::string>{"new"});
  EXPECT_EQ(store->load(key("left")).value(), std::optional<std::string>("new"));
}

// Two store objects on one file stand for two processes: each reads what the other appended,
// also after the other folded this one's rows away.
TEST_F(SqliteStore, EachProcessLoadsWhatAnotherAppendedOrFolded) {
  auto first = sqlite_store(path_);
  auto second = sqlite_store(path_);
  const std::uint64_t fence = first->claim("game", 3, "a").value();
  ASSERT_TRUE(test::HasValue(first->save(std::vector<StateWrite>{{key("p"), fence, "a1"}})));
  EXPECT_EQ(second->load(key("p")).value(), std::optional<std::string>("a1"));
  // The second claims the shard: the claim folds the first's row into mesh_state and makes it
  // the log's end marker, which the first's index still names for p.
  const std::uint64_t taken = second->claim("game", 3, "b").value();
  Raw raw(path_);
  EXPECT_EQ(raw.column("SELECT CAST(state AS TEXT) FROM mesh_state WHERE id = 'p'"),
            std::vector<std::string>{"a1"});
  EXPECT_EQ(raw.column("SELECT count(*) || '/' || max(id) FROM mesh_state_log"),
            std::vector<std::string>{"1/"});
  EXPECT_EQ(first->load(key("p")).value(), std::optional<std::string>("a1"));
  ASSERT_TRUE(test::HasValue(second->save(std::vector<StateWrite>{{key("p"), taken, "b1"}})));
  EXPECT_EQ(first->load(key("p")).value(), std::optional<std::string>("b1"));
  EXPECT_EQ(second->load(key("p")).value(), std::optional<std::string>("b1"));
  // The first appends after the second did: the log's newest row is the first's, and still
  // the log has a row the first did not write.
  ASSERT_TRUE(test::HasValue(second->save(std::vector<StateWrite>{{key("q"), taken, "b2"}})));
  const std::uint64_t other = first->claim("game", 4, "a").value();
  ASSERT_TRUE(test::HasValue(
      first->save(std::vector<StateWrite>{{StateKey{"game", "Counter", "r", 4}, other, "a2"}})));
  ASSERT_TRUE(test::HasValue(second->save(std::vector<StateWrite>{{key("q"), taken, "b3"}})));
  ASSERT_TRUE(test::HasValue(
      first->save(std::vector<StateWrite>{{StateKey{"game", "Counter", "r", 4}, other, "a3"}})));
  EXPECT_EQ(first->load(key("q")).value(), std::optional<std::string>("b3"));
  // An erase by the second (it folds the log) leaves the first no row of q to read.
  ASSERT_TRUE(test::HasValue(second->erase(key("q"), taken)));
  EXPECT_FALSE(first->load(key("q")).value().has_value());
  EXPECT_EQ(first->load(StateKey{"game", "Counter", "r", 4}).value(),
            std::optional<std::string>("a3"));
}

// A file written by the previous schema (version 1, no log) is upgraded in place.
TEST_F(SqliteStore, AVersionOneFileIsUpgradedAndKeepsItsState) {
  {
    Raw raw(path_);
    raw.exec("PRAGMA journal_mode = WAL");
    raw.exec(
        "CREATE TABLE mesh_schema (version INTEGER NOT NULL); "
        "INSERT INTO mesh_schema VALUES (1); "
        "CREATE TABLE mesh_shards (capability TEXT NOT NULL, shard INTEGER NOT NULL, "
        "fence INTEGER NOT NULL, owner TEXT NOT NULL, PRIMARY KEY (capability, shard)) "
        "WITHOUT ROWID; "
        "CREATE TABLE mesh_state (capability TEXT NOT NULL, module TEXT NOT NULL, "
        "id TEXT NOT NULL, shard INTEGER NOT NULL, fence INTEGER NOT NULL, "
        "state BLOB NOT NULL, PRIMARY KEY (capability, module, id)) WITHOUT ROWID; "
        "INSERT INTO mesh_shards VALUES ('game', 3, 4, 'old-node'); "
        "INSERT INTO mesh_state VALUES ('game', 'Counter', 'kept', 3, 4, CAST('v1' AS BLOB))");
  }
  auto store = sqlite_store(path_);
  Raw raw(path_);
  EXPECT_EQ(raw.column("SELECT version FROM mesh_schema"), std::vector<std::string>{"2"});
  EXPECT_EQ(store->load(key("kept")).value(), std::optional<std::string>("v1"));
  const std::uint64_t fence = store->claim("game", 3, "new-node").value();
  EXPECT_EQ(fence, 5u);
  ASSERT_TRUE(test::HasValue(store->save(std::vector<StateWrite>{{key("kept"), fence, "v2"}})));
  EXPECT_EQ(store->load(key("kept")).value(), std::optional<std::string>("v2"));
}

TEST_F(SqliteStore, AFileLockedByAnotherWriterFailsWritesWithinTheBudgetButNotLoads) {
  auto store = sqlite_store(path_);
  const std::uint64_t fence = store->claim("game", 3, "a").value();
  ASSERT_TRUE(test::HasValue(store->save(std::vector<StateWrite>{{key("p"), fence, "v"}})));
  Raw other(path_);
  other.exec("BEGIN IMMEDIATE");  // another process holds the file's write lock
  auto saved = store->save(std::vector<StateWrite>{{key("p"), fence, "w"}});
  ASSERT_TRUE(test::IsError(saved, Errc::store_unavailable));
  EXPECT_NE(saved.error().message.find("locked"), std::string::npos) << saved.error().message;
  EXPECT_EQ(store->load(key("p")).value(), std::optional<std::string>("v"))
      << "WAL readers do not wait for the writer";
  other.exec("ROLLBACK");
  auto retried = store->save(std::vector<StateWrite>{{key("p"), fence, "w"}});
  ASSERT_TRUE(test::HasValue(retried));
  EXPECT_EQ(store->load(key("p")).value(), std::optional<std::string>("w"));
}

}  // namespace
}  // namespace mesh::testing

// The PostgreSQL store against a real server the test starts (support/postgres_server.hpp):
// the contract suite, then what only a server store can get wrong: the server going away,
// schema versions, several nodes at once.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "store/store_contract.hpp"
#include "support/expect.hpp"
#include "support/postgres_server.hpp"
#include "support/test_actors.hpp"

namespace mesh::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::HasValue;
using test::IsError;

// Each test a new database; `reopen` connects to the last one again.
std::shared_ptr<StateStore> open_postgres(bool reopen) {
  static std::string database;
  auto& server = test::shared_postgres_server();
  if (!reopen || database.empty()) database = server.create_database();
  return postgres_store(server.conninfo(database));
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreContract,
                         ::testing::Values(StoreFactory{"postgres", open_postgres}),
                         [](const auto& info) { return info.param.name; });

StateKey key(std::string id, std::uint32_t shard = 3) {
  return StateKey{"game", "Counter", std::move(id), shard};
}

std::string fresh_conninfo() {
  auto& server = test::shared_postgres_server();
  return server.conninfo(server.create_database());
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// Runs every operation once against a store that cannot reach its server: each must fail with
// store_unavailable, quickly, and say why without showing a password.
void expect_each_operation_fails_fast(StateStore& store, std::string_view cause) {
  const auto check = [&](const char* operation, auto&& call) {
    const auto started = Clock::now();
    const auto result = call();
    const auto took = Clock::now() - started;
    EXPECT_TRUE(IsError(result, Errc::store_unavailable)) << operation;
    EXPECT_LT(took, 500ms) << operation << " took "
                           << std::chrono::duration<double, std::milli>(took).count() << " ms";
    if (!result) {
      EXPECT_TRUE(contains(result.error().message, cause)) << result.error().message;
      EXPECT_FALSE(contains(result.error().message, "hunter2")) << result.error().message;
    }
  };
  check("claim", [&] { return store.claim("game", 3, "a"); });
  check("load", [&] { return store.load(key("p")); });
  check("save", [&] { return store.save(std::vector<StateWrite>{{key("p"), 1, "x"}}); });
  check("erase", [&] { return store.erase(key("p"), 1); });
}

TEST(PostgresStore, AConninfoLibpqCannotParseIsRefusedWithoutShowingIt) {
  try {
    postgres_store("host=/nonexistent password='hunter2");
    FAIL() << "an unterminated quote was accepted";
  } catch (const std::runtime_error& error) {
    EXPECT_TRUE(contains(error.what(), "conninfo")) << error.what();
    EXPECT_FALSE(contains(error.what(), "hunter2")) << error.what();
  }
}

// One writer lane, and its bigger commits: measured faster than two (docs/persistence.md).
TEST(PostgresStore, TakesOneWriterLane) {
  auto store = postgres_store("host=/nonexistent/mesh port=5 user=mesh");
  EXPECT_EQ(store->concurrent_writes(), 1u);
}

TEST(PostgresStore, AnUnreachableServerAtConstructionFailsOperationsAtOnce) {
  const auto started = Clock::now();
  auto store = postgres_store("host=/nonexistent/mesh port=5 user=mesh password=hunter2");
  EXPECT_LT(Clock::now() - started, 1s) << "a unix socket that is not there fails at once";
  for (int round = 0; round < 3; ++round) {
    expect_each_operation_fails_fast(*store, "postgres unreachable");
  }
  auto claimed = store->claim("game", 3, "a");
  ASSERT_FALSE(claimed.has_value());
  EXPECT_TRUE(contains(claimed.error().message, "retrying in")) << claimed.error().message;
}

// A TCP listener that never accepts: the kernel completes the handshake and then nothing
// answers, as with a server that hangs.
class SilentServer {
 public:
  SilentServer() {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    port_ = ntohs(address.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  std::string conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=mesh dbname=postgres";
  }

 private:
  int fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int port_ = 0;
};

TEST(PostgresStore, AServerThatNeverAnswersCostsABoundedWait) {
  SilentServer server;
  const auto started = Clock::now();
  auto store = postgres_store(server.conninfo());
  const auto took = Clock::now() - started;
  EXPECT_LT(took, 4s) << "connecting gives up on its own deadline";
  auto claimed = store->claim("game", 3, "a");
  ASSERT_TRUE(IsError(claimed, Errc::store_unavailable));
  EXPECT_TRUE(contains(claimed.error().message, "no answer from the server in time"))
      << claimed.error().message;
}

TEST(PostgresStore, AStatementTheServerNeverAnswersCostsABoundedWait) {
  auto& server = test::shared_postgres_server();
  const std::string database = server.create_database();
  auto store = postgres_store(server.conninfo(database));
  ASSERT_TRUE(HasValue(store->load(key("p"))));
  // Freeze the server process that serves the store's one connection (a process of the
  // test's own server), so the next statement gets no answer.
  const pid_t backend =
      std::atoi(server
                    .execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                             "AND application_name = 'mesh'",
                             database)
                    .c_str());
  ASSERT_GT(backend, 0) << "no backend found";
  ASSERT_EQ(::kill(backend, SIGSTOP), 0);
  const auto started = Clock::now();
  auto loaded = store->load(key("p"));
  const auto took = Clock::now() - started;
  ::kill(backend, SIGCONT);
  ASSERT_TRUE(IsError(loaded, Errc::store_unavailable));
  EXPECT_TRUE(contains(loaded.error().message, "did not answer in time")) << loaded.error().message;
  EXPECT_LT(took, 5s);
  EXPECT_TRUE(HasValue(store->load(key("p")))) << "a new connection replaces the abandoned one";
}

TEST(PostgresStore, FailsFastWhileTheServerIsDownAndRecoversWhenItIsBack) {
  test::PostgresServer server;  // its own: this test stops it
  auto store = postgres_store(server.conninfo() + " password=hunter2");
  const std::uint64_t fence = store->claim("game", 3, "a").value();
  ASSERT_TRUE(HasValue(store->save(std::vector<StateWrite>{{key("p"), fence, "before"}})));
  ASSERT_TRUE(HasValue(store->load(key("p"))));

  server.stop();
  // The first round finds the pooled connection closed, the next ones are refused or skipped
  // during the backoff: all fail at once.
  for (int round = 0; round < 5; ++round) expect_each_operation_fails_fast(*store, "postgres");

  server.start();
  std::uint64_t next = 0;
  ASSERT_TRUE(test::eventually(
      [&] {
        auto claimed = store->claim("game", 3, "b");
        if (claimed) next = *claimed;
        return claimed.has_value();
      },
      10s))
      << "the store did not reconnect within 10 s";
  EXPECT_GT(next, fence);
  EXPECT_EQ(store->load(key("p")).value(), std::optional<std::string>("before"));
  auto saved = store->save(std::vector<StateWrite>{{key("p"), next, "after"}});
  ASSERT_TRUE(HasValue(saved));
  EXPECT_TRUE(saved->empty());
  EXPECT_EQ(store->load(key("p")).value(), std::optional<std::string>("after"));
}

TEST(PostgresStore, ANewerSchemaMakesTheConstructorThrow) {
  auto& server = test::shared_postgres_server();
  const std::string database = server.create_database();
  server.execute(
      "CREATE TABLE mesh_schema (version integer NOT NULL); "
      "INSERT INTO mesh_schema VALUES (2)",
      database);
  try {
    postgres_store(server.conninfo(database) + " password=hunter2");
    FAIL() << "postgres_store accepted a database with schema version 2";
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    EXPECT_TRUE(contains(message, "schema version 2")) << message;
    EXPECT_TRUE(contains(message, "knows up to 1")) << message;
    EXPECT_TRUE(contains(message, "dbname=" + database)) << message;
    EXPECT_FALSE(contains(message, "hunter2")) << message;
  }
  const std::string uri = "postgresql://mesh:hunter2@/" + database + "?host=" + server.directory() +
                          "&port=" + std::to_string(server.port());
  try {
    postgres_store(uri);
    FAIL() << "postgres_store accepted a database with schema version 2";
  } catch (const std::runtime_error& error) {
    EXPECT_TRUE(contains(error.what(), "schema version 2")) << error.what();
    EXPECT_FALSE(contains(error.what(), "hunter2")) << error.what();
  }
  EXPECT_THROW(server.execute("SELECT FROM mesh_shards", database), std::runtime_error)
      << "a newer schema's database gets none of this version's tables";
}

TEST(PostgresStore, ANewerSchemaFoundOnReconnectFailsOperations) {
  auto& server = test::shared_postgres_server();
  const std::string database = server.create_database();
  auto store = postgres_store(server.conninfo(database));
  ASSERT_TRUE(HasValue(store->claim("game", 3, "a")));
  // A newer mesh migrated the database, and the server dropped this store's connections.
  server.execute(
      "UPDATE mesh_schema SET version = 2; "
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE datname = current_database() AND pid <> pg_backend_pid()",
      database);
  std::string message;
  ASSERT_TRUE(test::eventually(
      [&] {
        auto claimed = store->claim("game", 3, "a");
        if (!claimed) message = claimed.error().message;
        return !claimed && contains(message, "schema version 2");
      },
      5s))
      << message;
  auto loaded = store->load(key("p"));
  ASSERT_TRUE(IsError(loaded, Errc::store_unavailable));
  EXPECT_TRUE(contains(loaded.error().message, "schema version 2")) << loaded.error().message;
}

TEST(PostgresStore, NodesStartingTogetherCreateTheSchemaOnce) {
  const std::string conninfo = fresh_conninfo();
  std::vector<std::thread> nodes;
  std::atomic<int> ready{0};
  for (int i = 0; i < 6; ++i) {
    nodes.emplace_back([&, i] {
      auto store = postgres_store(conninfo);
      if (store->claim("game", 3, "n" + std::to_string(i))) ++ready;
    });
  }
  for (auto& node : nodes) node.join();
  EXPECT_EQ(ready.load(), 6);
}

TEST(PostgresStore, AFailedBatchAppliesNothing) {
  auto store = postgres_store(fresh_conninfo());
  const std::uint64_t fence = store->claim("game", 3, "a").value();
  // Text columns cannot hold a NUL byte: the server refuses the second write, hence the batch.
  auto saved = store->save(std::vector<StateWrite>{{key("good"), fence, "1"},
                                                   {key(std::string("b\0d", 3)), fence, "2"}});
  ASSERT_TRUE(IsError(saved, Errc::store_unavailable));
  EXPECT_TRUE(contains(saved.error().message, "postgres error")) << saved.error().message;
  EXPECT_EQ(store->load(key("good")).value(), std::nullopt);
  EXPECT_TRUE(HasValue(store->save(std::vector<StateWrite>{{key("good"), fence, "1"}})))
      << "the connection stays usable after a statement's error";
}

// Two nodes: a zombie keeps saving under the fence it loaded with while the owner claims the
// shard. Every save the zombie started after the claim returned must be refused, none may be
// applied after one was refused, and the rows show exactly the saves reported as applied.
TEST(PostgresStore, ASupersededNodeNeverCommitsWhileAnotherClaims) {
  const std::string conninfo = fresh_conninfo();
  auto zombie_store = postgres_store(conninfo);
  auto owner_store = postgres_store(conninfo);
  for (std::uint32_t shard = 100; shard < 110; ++shard) {
    const std::uint64_t old_fence = zombie_store->claim("game", shard, "zombie").value();
    std::atomic<bool> claimed{false}, stop{false};
    std::atomic<int> saves{0};
    struct Outcome {
      bool applied;
      bool started_after_claim;
    };
    std::vector<Outcome> outcomes;
    const auto zombie_key = [&](std::size_t i) {
      return key("z" + std::to_string(shard) + "-" + std::to_string(i), shard);
    };
    std::thread zombie([&] {
      for (int i = 0; !stop; ++i) {
        const bool after = claimed.load();
        const std::string n = std::to_string(i);
        auto saved = zombie_store->save(std::vector<StateWrite>{
            {key("shared", shard), old_fence, "zombie " + n}, {zombie_key(i), old_fence, n}});
        EXPECT_TRUE(HasValue(saved));
        if (!saved) break;
        EXPECT_TRUE(saved->empty() || *saved == (std::vector<std::size_t>{0, 1}));
        outcomes.push_back({saved->empty(), after});
        ++saves;
      }
    });
    ASSERT_TRUE(test::eventually([&] { return saves >= 5; }, 5s));
    const std::uint64_t new_fence = owner_store->claim("game", shard, "owner").value();
    claimed = true;
    ASSERT_TRUE(HasValue(
        owner_store->save(std::vector<StateWrite>{{key("shared", shard), new_fence, "owner"}})));
    const int seen = saves;
    EXPECT_TRUE(test::eventually([&] { return saves >= seen + 5; }, 5s));
    stop = true;
    zombie.join();

    bool refused_before = false;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      const Outcome& outcome = outcomes[i];
      EXPECT_FALSE(outcome.applied && outcome.started_after_claim) << "save " << i;
      EXPECT_FALSE(outcome.applied && refused_before) << "save " << i << " after a refusal";
      refused_before = refused_before || !outcome.applied;
      auto row = owner_store->load(zombie_key(i));
      ASSERT_TRUE(HasValue(row));
      EXPECT_EQ(row->has_value(), outcome.applied) << "save " << i;
    }
    EXPECT_TRUE(outcomes.front().applied);
    EXPECT_FALSE(outcomes.back().applied);
    EXPECT_EQ(owner_store->load(key("shared", shard)).value(), std::optional<std::string>("owner"));
  }
}

// A plain libpq session of the test's own, to hold a transaction open across steps.
class Session {
 public:
  explicit Session(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str()), &PQfinish) {
    if (PQstatus(conn_.get()) != CONNECTION_OK)
      throw std::runtime_error(PQerrorMessage(conn_.get()));
  }
  void execute(const std::string& sql) {
    const std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(conn_.get(), sql.c_str()),
                                                               &PQclear);
    const ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw std::runtime_error(sql + ": " + PQresultErrorMessage(result.get()));
    }
  }

 private:
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
};

// The interleaving that fencing exists for, made deterministic: a zombie's save has compared
// fences and is held up (here by a row lock the test holds) while the owner claims the shard
// and writes. The claim must wait for the save to commit; otherwise the zombie's save would
// land after the owner's write and overwrite it under a superseded fence.
TEST(PostgresStore, AClaimWaitsForASaveInProgressOnItsShard) {
  auto& server = test::shared_postgres_server();
  const std::string database = server.create_database();
  auto zombie_store = postgres_store(server.conninfo(database));
  auto owner_store = postgres_store(server.conninfo(database));
  const std::uint64_t old_fence = zombie_store->claim("game", 3, "zombie").value();
  ASSERT_TRUE(
      HasValue(zombie_store->save(std::vector<StateWrite>{{key("a-held"), old_fence, "0"}})));
  Session holder(server.conninfo(database));
  holder.execute("BEGIN; SELECT FROM mesh_state WHERE id = 'a-held' FOR UPDATE");

  // The batch's rows are written in key order: "a-held" blocks before "b-contested" is written.
  Result<std::vector<std::size_t>> zombie_saved = std::vector<std::size_t>{};
  std::thread zombie([&] {
    zombie_saved = zombie_store->save(std::vector<StateWrite>{
        {key("a-held"), old_fence, "zombie"}, {key("b-contested"), old_fence, "zombie"}});
  });
  ASSERT_TRUE(test::eventually(
      [&] {
        return server.execute(
                   "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                   "AND application_name = 'mesh'",
                   database) == "1";
      },
      5s))
      << "the zombie's save did not block on the held row";

  std::atomic<bool> owner_done{false};
  Result<std::uint64_t> new_fence = 0;
  Result<std::vector<std::size_t>> owner_saved = std::vector<std::size_t>{};
  std::thread owner([&] {
    new_fence = owner_store->claim("game", 3, "owner");
    if (new_fence) {
      owner_saved =
          owner_store->save(std::vector<StateWrite>{{key("b-contested"), *new_fence, "owner"}});
    }
    owner_done = true;
  });
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(owner_done.load()) << "the claim went through while a save held its shard";
  holder.execute("COMMIT");
  zombie.join();
  owner.join();

  ASSERT_TRUE(HasValue(zombie_saved));
  EXPECT_TRUE(zombie_saved->empty()) << "the zombie's save was current when it locked the shard";
  ASSERT_TRUE(HasValue(new_fence));
  EXPECT_GT(*new_fence, old_fence);
  ASSERT_TRUE(HasValue(owner_saved));
  EXPECT_TRUE(owner_saved->empty());
  EXPECT_EQ(owner_store->load(key("b-contested")).value(), std::optional<std::string>("owner"));
}

// Figures, not assertions: saves of 64 writes of ~50-byte states over 10,000 actors in 4096
// claimed shards, then single loads from 2 threads, on the shared server's unix socket.
TEST(PostgresStoreFigures, WritesInBatchesOf64AndLoadsFromTwoThreads) {
  auto store = postgres_store(fresh_conninfo());
  constexpr std::uint32_t kShards = 4096;
  constexpr std::size_t kActors = 10'000;
  constexpr std::size_t kBatch = 64;
  std::vector<std::uint64_t> fences(kShards);
  {
    std::vector<std::thread> claimers;
    for (std::uint32_t t = 0; t < 8; ++t) {
      claimers.emplace_back([&, t] {
        for (std::uint32_t shard = t; shard < kShards; shard += 8) {
          fences[shard] = store->claim("game", shard, "bench").value();
        }
      });
    }
    for (auto& claimer : claimers) claimer.join();
  }
  std::vector<StateWrite> writes;
  for (std::size_t i = 0; i < kActors; ++i) {
    const auto shard = static_cast<std::uint32_t>(i * 2654435761u % kShards);
    writes.push_back({key("actor-" + std::to_string(i), shard), fences[shard],
                      std::string(50, static_cast<char>('a' + i % 26))});
  }
  const auto started = Clock::now();
  std::size_t written = 0;
  for (int pass = 0; pass < 3; ++pass) {
    for (std::size_t at = 0; at < writes.size(); at += kBatch) {
      const std::size_t n = std::min(kBatch, writes.size() - at);
      auto saved = store->save(std::span<const StateWrite>(writes).subspan(at, n));
      ASSERT_TRUE(HasValue(saved));
      ASSERT_TRUE(saved->empty());
      written += n;
    }
  }
  const double write_seconds = std::chrono::duration<double>(Clock::now() - started).count();

  std::atomic<std::size_t> loads{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> loaders;
  for (int t = 0; t < 2; ++t) {
    loaders.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t));
      while (!stop) {
        const StateWrite& write = writes[random() % writes.size()];
        auto loaded = store->load(write.key);
        EXPECT_TRUE(HasValue(loaded));
        if (loaded) ++loads;
      }
    });
  }
  const auto load_started = Clock::now();
  std::this_thread::sleep_for(1s);
  stop = true;
  for (auto& loader : loaders) loader.join();
  const double load_seconds = std::chrono::duration<double>(Clock::now() - load_started).count();
  std::printf(
      "[ figures  ] postgres: %.0f writes/s (%zu writes in batches of %zu), "
      "%.0f loads/s (2 threads)\n",
      static_cast<double>(written) / write_seconds, written, kBatch,
      static_cast<double>(loads) / load_seconds);
}

}  // namespace
}  // namespace mesh::testing

// Durable state with real node processes (tools/mesh_node --store ...): kill -9, full restarts,
// a paused owner, a network partition and a stopped database, with the increments every caller
// was told about checked against what the store kept (support/ledger.hpp).
//
// The load runners (`load start p N`, docs/node-program.md) of several nodes call the same
// actors, so that an actor's increments come from callers on several nodes and a stale copy
// anywhere would show as a value acknowledged twice.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "node_process.hpp"
#include "support/ledger.hpp"
#include "support/netns_testbed.hpp"
#include "support/postgres_server.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

using tools::NodeProcess;
using Clock = std::chrono::steady_clock;

const std::string kBinary = MESH_NODE_BINARY;
// Every node of these tests declares a peer dead after this much silence.
constexpr auto kFailureTimeout = 500ms;

// --- Helpers ---------------------------------------------------------------------------------

// A node's flags: fast failure detection and this file's cookie; with a `store` (sqlite:PATH
// or postgres:CONNINFO) it serves capability game, without one it only calls (a client).
std::vector<std::string> node_args(const std::string& name, const std::string& listen,
                                   const std::string& store,
                                   const std::vector<std::string>& seeds) {
  std::vector<std::string> args{"--name",         name,
                                "--listen",       listen,
                                "--cookie",       "durable",
                                "--heartbeat-ms", "50",
                                "--failure-timeout-ms", std::to_string(kFailureTimeout.count())};
  if (!store.empty()) args.insert(args.end(), {"--capabilities", "game", "--store", store});
  for (const std::string& seed : seeds) args.insert(args.end(), {"--seed", seed});
  return args;
}

std::unique_ptr<NodeProcess> start(const std::string& name, const std::string& store,
                                   const std::vector<std::string>& seeds = {}) {
  return std::make_unique<NodeProcess>(kBinary, node_args(name, "127.0.0.1:0", store, seeds));
}

std::unique_ptr<NodeProcess> start_client(const std::string& name, const std::string& seed) {
  return start(name, "", {seed});
}

// The --store of a new, empty database on `server`: every test has its own.
std::string fresh_database(PostgresServer& server) {
  return "postgres:" + server.conninfo(server.create_database());
}

// Expects each of `nodes` to see `n` nodes with capability game within `ms`.
void expect_game_nodes(const std::vector<NodeProcess*>& nodes, int n, int ms = 5000) {
  for (NodeProcess* node : nodes) {
    EXPECT_EQ(node->command("wait-nodes game " + std::to_string(n) + " " + std::to_string(ms),
                            std::chrono::milliseconds(ms + 2000)),
              "ok")
        << node->name() << " does not see " << n << " game nodes";
  }
}

// Ends `node`'s load and returns its report; null, after a failure, when the answer is none.
Value stop_load(NodeProcess& node) {
  const std::string answer = node.command("load stop", 20s);
  if (answer.rfind("load ", 0) != 0) {
    ADD_FAILURE() << node.name() << " answered 'load stop' with '" << answer.substr(0, 300) << "'";
    return Value();
  }
  return Value::parse(answer.substr(5));
}

// How many of a load report's calls failed with `code` ("fenced", "timeout", ...).
long failures_with(const Value& report, std::string_view code) {
  if (report.is_null()) return 0;
  long n = 0;
  for (const Value& failure : report["failures"]) {
    const std::string text = failure.get<std::string>();
    n += text.substr(0, text.find(':')) == code;
  }
  return n;
}

// A load report in one line: "812 calls, 9 failed (fenced 3, node_unreachable 6)".
std::string summary(const Value& report) {
  if (report.is_null()) return "no report";
  std::map<std::string, long> by_code;
  for (const Value& failure : report["failures"]) {
    const std::string text = failure.get<std::string>();
    ++by_code[text.substr(0, text.find(':'))];
  }
  std::string text = std::to_string(report["calls"].get<long>()) + " calls, " +
                     std::to_string(report["failures"].size()) + " failed";
  std::string codes;
  for (const auto& [code, n] : by_code) codes += (codes.empty() ? "" : ", ") + code + " " + std::to_string(n);
  return codes.empty() ? text : text + " (" + codes + ")";
}

// What the callers of these reports were told, merged. `complete`: every caller that made
// increments is among them (none was killed with its record).
Ledger ledger_of(const std::vector<Value>& reports, bool complete) {
  Ledger ledger;
  ledger.complete = complete;
  for (const Value& report : reports) {
    if (!report.is_null()) ledger.add_load_report(report);
  }
  return ledger;
}

// The score of GameActor `id`, read through `node`. A read is a message like any other (it
// claims, loads and saves), so right after a view change it may meet a fencing or a store
// retry: it is tried again until `patience` runs out. nullopt then, with the last answer.
std::optional<long> read_score(NodeProcess& node, const std::string& id,
                               std::chrono::milliseconds patience, std::string& answer) {
  const auto until = Clock::now() + patience;
  for (;;) {
    answer = node.command("call GameActor " + id + " game {\"action\":\"get_stats\"}");
    if (answer.rfind("ok ", 0) == 0) {
      return Value::parse(answer.substr(answer.find(' ', 3) + 1))["score"].get<long>();
    }
    if (Clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

// The scores of PREFIX0..PREFIX(n-1), read through `node`. An actor that does not answer is a
// failure naming it, and is missing from the map.
std::map<std::string, long> read_scores(NodeProcess& node, const std::string& prefix, int n,
                                        std::chrono::milliseconds patience = 3s) {
  std::map<std::string, long> scores;
  for (int i = 0; i < n; ++i) {
    const std::string id = prefix + std::to_string(i);
    std::string answer;
    if (const auto score = read_score(node, id, patience, answer)) {
      scores[id] = *score;
    } else {
      ADD_FAILURE() << id << " did not answer through " << node.name() << ": " << answer;
    }
  }
  return scores;
}

// The GameActor ids that have an activation on `node`.
std::set<std::string> actors_on(NodeProcess& node) {
  std::set<std::string> ids;
  const std::string answer = node.command("activations");
  if (answer.rfind("activations ", 0) != 0) return ids;
  for (const Value& a : Value::parse(answer.substr(12))) {
    if (a["module"] == "GameActor") ids.insert(a["id"].get<std::string>());
  }
  return ids;
}

// Prints the nodes' logs (their tails) when the test has failed by the end of the scope, for
// the record: declare it after the nodes, so that it runs before they are destroyed.
class LogsOnFailure {
 public:
  explicit LogsOnFailure(std::vector<NodeProcess*> nodes) : nodes_(std::move(nodes)) {}
  void add(NodeProcess* node) { nodes_.push_back(node); }
  ~LogsOnFailure() {
    if (!::testing::Test::HasFailure()) return;
    for (NodeProcess* node : nodes_) {
      std::string log = node->log();
      if (log.size() > 6000) log = "...\n" + log.substr(log.size() - 6000);
      std::cout << "--- log of " << node->name() << " (pid " << node->pid() << ")\n" << log;
    }
  }

 private:
  std::vector<NodeProcess*> nodes_;
};

// A temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char path[] = "/tmp/mesh_durable_XXXXXX";
    if (!::mkdtemp(path)) throw std::runtime_error("mkdtemp failed");
    path_ = path;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

NodeOptions client_of(const std::string& seed) {
  return NodeOptions{.name = "client", .listen = "127.0.0.1:0", .seeds = {seed},
                     .cookie = "durable", .heartbeat_interval = 50ms,
                     .failure_timeout = kFailureTimeout, .log = [](LogLevel, std::string_view) {}};
}

// --- Tests -----------------------------------------------------------------------------------

// A node with SQLite under load from a client process is killed at a random moment and
// started again on the same file: every acknowledged increment is there, and at most the
// calls in flight when it died are extra.
TEST(DurableProcessTest, SqliteKeepsEveryAcknowledgedIncrementAcrossKill9) {
  TempDir dir;
  const std::string store = "sqlite:" + dir.path() + "/game.db";
  auto storage = start("storage", store);
  auto client = start_client("client", storage->listen());
  ASSERT_EQ(client->command("wait-nodes game 1 5000"), "ok") << client->log();
  ASSERT_EQ(client->command("load start p 40"), "ok");
  std::mt19937 random(std::random_device{}());
  std::this_thread::sleep_for(std::chrono::milliseconds(300 + random() % 700));
  storage->kill9();
  const Value report = stop_load(*client);
  ASSERT_FALSE(report.is_null());
  Ledger ledger = ledger_of({report}, true);
  ASSERT_GT(ledger.acknowledged(), 100u) << "too little load to show anything";

  auto restarted = start("storage-2", store, {client->listen()});
  ASSERT_EQ(client->command("wait-nodes game 1 5000"), "ok") << client->log();
  // The client process reads the scores back through the restarted node.
  const auto scores = read_scores(*client, "p", 40, 0ms);
  ledger.expect_agrees_with(scores);
  long extra = 0;
  for (const auto& [id, values] : ledger.acked) {
    if (scores.count(id)) extra += scores.at(id) - static_cast<long>(values.size());
  }
  EXPECT_LE(extra, 1) << "one caller has at most one call in flight";
  EXPECT_EQ(restarted->terminate(), 0);
}

// Three nodes on PostgreSQL under load from all three, on the same 60 actors; C is killed with
// SIGKILL. The survivors take C's shards over, claim them and load what C committed: every
// increment A's and B's callers were told about is there, none twice, and every actor (C's
// too) answers. C's own caller died with it, so the ledger is incomplete (no upper bound).
TEST(DurableProcessTest, PostgresClusterKill9) {
  const std::string store = fresh_database(shared_postgres_server());
  auto a = start("node-a", store);
  auto b = start("node-b", store, {a->listen()});
  auto c = start("node-c", store, {a->listen()});
  LogsOnFailure logs({a.get(), b.get(), c.get()});
  expect_game_nodes({a.get(), b.get(), c.get()}, 3);
  for (NodeProcess* node : {a.get(), b.get(), c.get()}) {
    ASSERT_EQ(node->command("load start p 60"), "ok") << node->name();
  }
  std::this_thread::sleep_for(700ms);
  const std::set<std::string> on_c = actors_on(*c);
  c->kill9();
  // The survivors' callers go on: calls to C's actors fail until A and B drop C (500 ms), then
  // its shards are theirs.
  std::this_thread::sleep_for(1500ms);
  const Value report_a = stop_load(*a);
  const Value report_b = stop_load(*b);
  std::cout << "A: " << summary(report_a) << "\nB: " << summary(report_b) << "\n";
  expect_game_nodes({a.get(), b.get()}, 2);

  EXPECT_FALSE(on_c.empty()) << "C hosted no actor, so its death showed nothing";
  const auto scores = read_scores(*a, "p", 60);
  EXPECT_EQ(scores.size(), 60u) << "not every actor answered through a survivor";
  std::set<std::string> on_survivors = actors_on(*a);
  on_survivors.merge(actors_on(*b));
  for (const std::string& id : on_c) EXPECT_TRUE(on_survivors.count(id)) << id << " of C";

  const Ledger ledger = ledger_of({report_a, report_b}, /*complete=*/false);
  ASSERT_GT(ledger.acknowledged(), 200u) << "too little load to show anything";
  ledger.expect_agrees_with(scores);
  EXPECT_EQ(a->terminate(), 0);
  EXPECT_EQ(b->terminate(), 0);
}

// After a run under load, every node is stopped (SIGTERM) and two new ones start on the same
// database: every actor's score is what it was.
TEST(DurableProcessTest, FullRestartKeepsEveryActorsState) {
  const std::string store = fresh_database(shared_postgres_server());
  auto a = start("node-a", store);
  auto b = start("node-b", store, {a->listen()});
  LogsOnFailure logs({a.get(), b.get()});
  expect_game_nodes({a.get(), b.get()}, 2);
  ASSERT_EQ(a->command("load start p 40"), "ok");
  ASSERT_EQ(b->command("load start p 40"), "ok");
  std::this_thread::sleep_for(700ms);
  const Value report_a = stop_load(*a);
  const Value report_b = stop_load(*b);
  const auto before = read_scores(*a, "p", 40);
  ASSERT_EQ(before.size(), 40u);
  const Ledger ledger = ledger_of({report_a, report_b}, /*complete=*/true);
  ASSERT_GT(ledger.acknowledged(), 200u) << "too little load to show anything";
  ledger.expect_agrees_with(before);
  EXPECT_EQ(a->terminate(), 0);
  EXPECT_EQ(b->terminate(), 0);

  // New names, so the shards are placed anew: most actors load on another node than before.
  auto c = start("node-c", store);
  auto d = start("node-d", store, {c->listen()});
  logs.add(c.get());
  logs.add(d.get());
  expect_game_nodes({c.get(), d.get()}, 2);
  EXPECT_EQ(read_scores(*c, "p", 40), before);
  EXPECT_EQ(read_scores(*d, "p", 40), before);
  EXPECT_EQ(c->terminate(), 0);
  EXPECT_EQ(d->terminate(), 0);
}

}  // namespace
}  // namespace mesh::test

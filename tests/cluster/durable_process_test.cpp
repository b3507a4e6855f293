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
  std::vector<std::string> args{"--name", name, "--listen", listen, "--cookie", "durable",
                                "--heartbeat-ms", "50", "--failure-timeout-ms",
                                std::to_string(kFailureTimeout.count())};
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

// How many of `node`'s load calls have been acknowledged so far (its load goes on).
long acked_so_far(NodeProcess& node) {
  const std::string answer = node.command("load");
  if (answer.rfind("load ", 0) != 0) return 0;
  const Value tally = Value::parse(answer.substr(5));
  return tally["calls"].get<long>() - tally["failures"].get<long>();
}

// Lets the load of `nodes` run for at least `at_least`, and on until their callers have
// `acked` acknowledged calls together or 20 s have passed: a machine busy with other tests
// must not leave a test with too little load to show anything.
void run_load(const std::vector<NodeProcess*>& nodes, long acked,
              std::chrono::milliseconds at_least) {
  const auto began = Clock::now();
  std::this_thread::sleep_for(at_least);
  const auto total = [&] {
    long n = 0;
    for (NodeProcess* node : nodes) n += acked_so_far(*node);
    return n;
  };
  while (total() < acked && Clock::now() - began < 20s) std::this_thread::sleep_for(50ms);
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
  for (const auto& [code, n] : by_code) {
    codes += (codes.empty() ? "" : ", ") + code + " " + std::to_string(n);
  }
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
      if (log.size() > 30000) log = "...\n" + log.substr(log.size() - 30000);
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
  run_load({client.get()}, 150, std::chrono::milliseconds(300 + random() % 700));
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
  std::mt19937 random(std::random_device{}());
  run_load({a.get(), b.get(), c.get()}, 300, std::chrono::milliseconds(500 + random() % 500));
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
  run_load({a.get(), b.get()}, 300, 700ms);
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


// The zombie owner. B is paused (SIGSTOP) with actors active and its own caller mid-call, long
// enough for A and C to drop it, take its shards over, claim them and go on writing its
// actors (for the client's and A's callers). Then B resumes (SIGCONT) still believing it owns
// its shards, with its stale activations in memory and its caller going on: none of its stale
// writes may commit. Each is fenced (B's caller is told `fenced`, and the next call claims
// again and reloads), or forwarded once B's view catches up. Over every caller, B's included,
// no value is acknowledged twice, none is missing, and no actor has more increments than calls.
TEST(DurableProcessTest, ZombieOwnerNeverCommitsAStaleWrite) {
  const std::string store = fresh_database(shared_postgres_server());
  auto a = start("node-a", store);
  auto b = start("node-b", store, {a->listen()});
  auto c = start("node-c", store, {a->listen()});
  auto client = start_client("client", a->listen());
  LogsOnFailure logs({a.get(), b.get(), c.get(), client.get()});
  expect_game_nodes({a.get(), b.get(), c.get(), client.get()}, 3);
  for (NodeProcess* node : {client.get(), a.get(), b.get()}) {
    ASSERT_EQ(node->command("load start p 60"), "ok") << node->name();
  }
  run_load({client.get(), a.get(), b.get()}, 300, 700ms);
  const std::set<std::string> on_b = actors_on(*b);
  ASSERT_FALSE(on_b.empty()) << "B hosts no actor: there is nothing stale to write";

  ASSERT_EQ(::kill(b->pid(), SIGSTOP), 0);
  const auto stopped = Clock::now();
  // A and C drop B after the failure timeout; their callers then write B's actors.
  expect_game_nodes({a.get(), c.get()}, 2, 3000);
  std::this_thread::sleep_until(stopped + kFailureTimeout + 1000ms);
  const std::set<std::string> taken_over = [&] {
    std::set<std::string> ids = actors_on(*a);
    ids.merge(actors_on(*c));
    return ids;
  }();
  // B's own caller must be the first to meet B's stale activations: the client's and A's
  // calls, forwarded to B as soon as it is back in their views (within ~100 ms), would often
  // reach them all first and be fenced instead (as correct, but it shows nothing of B's
  // caller). So the other callers pause while B resumes, and go on 300 ms later.
  std::vector<Value> reports{stop_load(*client), stop_load(*a)};
  ASSERT_EQ(::kill(b->pid(), SIGCONT), 0);
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(client->command("load start p 60"), "ok");
  ASSERT_EQ(a->command("load start p 60"), "ok");
  std::this_thread::sleep_for(1200ms);

  const Value report_b = stop_load(*b);
  reports.push_back(stop_load(*client));
  reports.push_back(stop_load(*a));
  reports.push_back(report_b);
  std::cout << "client: " << summary(reports[0]) << ", then " << summary(reports[2])
            << "\nA: " << summary(reports[1]) << ", then " << summary(reports[3])
            << "\nB: " << summary(report_b) << "\n";
  int overlap = 0;
  for (const std::string& id : on_b) overlap += taken_over.count(id);
  std::cout << "B had " << on_b.size() << " actors active when paused; A and C activated "
            << overlap << " of them while it was\n";
  EXPECT_GT(overlap, 0) << "A and C never took B's actors over: nothing was tested";
  expect_game_nodes({a.get(), b.get(), c.get(), client.get()}, 3);

  const auto scores = read_scores(*client, "p", 60);
  EXPECT_EQ(scores.size(), 60u);
  const Ledger ledger = ledger_of(reports, /*complete=*/true);
  ASSERT_GT(ledger.acknowledged(), 200u) << "too little load to show anything";
  ledger.expect_agrees_with(scores);
  const long fenced_on_b = failures_with(report_b, "fenced");
  std::cout << "B's caller: " << fenced_on_b << " calls fenced\n";
  EXPECT_GT(fenced_on_b, 0) << "B's caller met none of B's stale activations after it resumed";
  for (NodeProcess* node : {client.get(), a.get(), b.get(), c.get()}) {
    EXPECT_EQ(node->terminate(), 0) << node->name();
  }
}

// A real network partition (network namespaces, support/netns_testbed.hpp) in which both sides
// still reach the database: PostgreSQL listens on a unix socket in a temporary directory, and
// namespaces do not hide the file system. Node 3 is cut off while callers on both sides
// increment the same actors; each side owns every shard in its own view, so both activate
// every actor and claim its shard in turn. The claims fence each other: calls on both sides
// get `fenced`, none commits a stale state. After the heal, over every caller, no value is
// acknowledged twice, none is missing, and no actor has more increments than calls.
TEST(DurableProcessTest, PartitionWithTheDatabaseReachableFromBothSides) {
  Testbed bed;
  if (!bed.ok()) GTEST_SKIP() << "cannot create network namespaces here (needs root and iproute2)";
  const std::string store = fresh_database(shared_postgres_server());
  std::vector<std::unique_ptr<NodeProcess>> nodes;
  for (int i = 1; i <= 3; ++i) {
    std::vector<std::string> seeds;
    if (i > 1) seeds.push_back(bed.address(1) + ":4000");
    nodes.push_back(std::make_unique<NodeProcess>(
        kBinary, node_args("node-" + std::to_string(i), bed.address(i) + ":4000", store, seeds),
        10s, std::vector<std::string>{ip_binary(), "netns", "exec", bed.host(i)}));
  }
  NodeProcess& one = *nodes[0];
  NodeProcess& two = *nodes[1];
  NodeProcess& three = *nodes[2];
  LogsOnFailure logs({&one, &two, &three});
  expect_game_nodes({&one, &two, &three}, 3);
  ASSERT_EQ(one.command("load start p 30"), "ok");
  ASSERT_EQ(three.command("load start p 30"), "ok");
  run_load({&one, &three}, 150, 500ms);

  ASSERT_TRUE(bed.link(3, false));  // node-3 is cut off
  expect_game_nodes({&one, &two}, 2, 3000);
  expect_game_nodes({&three}, 1, 3000);
  // Both sides serve every actor. (Which side holds an activation at a given moment is no
  // evidence: each fenced write discards one. The fenced calls on both sides, below, are.)
  std::this_thread::sleep_for(1500ms);

  ASSERT_TRUE(bed.link(3, true));  // heal
  expect_game_nodes({&one, &two, &three}, 3);
  std::this_thread::sleep_for(500ms);  // the callers go on in the healed cluster

  const Value report_one = stop_load(one);
  const Value report_three = stop_load(three);
  std::cout << "node-1: " << summary(report_one) << "\nnode-3: " << summary(report_three) << "\n";
  EXPECT_GT(failures_with(report_one, "fenced"), 0) << "node-1's side was never fenced";
  EXPECT_GT(failures_with(report_three, "fenced"), 0) << "node-3's side was never fenced";
  const auto scores = read_scores(two, "p", 30);
  EXPECT_EQ(scores.size(), 30u);
  const Ledger ledger = ledger_of({report_one, report_three}, /*complete=*/true);
  ASSERT_GT(ledger.acknowledged(), 100u) << "too little load to show anything";
  ledger.expect_agrees_with(scores);
  for (NodeProcess* node : {&one, &two, &three}) EXPECT_EQ(node->terminate(), 0) << node->name();
}

// The database stops in the middle of a run (a fast shutdown: connections closed, new ones
// refused). Calls fail at once with store_unavailable (the store's connection pool fails
// operations at once while the server is unreachable), never hang; once the server is back,
// calls succeed again within the pool's reconnect backoff (at most 2 s), and the scores go on
// from the last acknowledged values: an actor that went back to an older state would
// acknowledge some value twice.
TEST(DurableProcessTest, DatabaseStoppedMidRun) {
  PostgresServer server;  // its own: this test stops it
  const std::string store = fresh_database(server);
  auto a = start("node-a", store);
  auto b = start("node-b", store, {a->listen()});
  LogsOnFailure logs({a.get(), b.get()});
  expect_game_nodes({a.get(), b.get()}, 2);
  Node client(client_of(a->listen()));
  ASSERT_TRUE(eventually([&] { return client.nodes_for("game").size() == 2; }, 5000ms));
  ASSERT_EQ(a->command("load start p 20"), "ok");
  ASSERT_EQ(b->command("load start p 20"), "ok");
  std::this_thread::sleep_for(500ms);
  const auto get_stats = [&](const std::string& id) {
    return client.call(Request{.module = "GameActor", .id = id,
                               .payload = {{"action", "get_stats"}}, .capability = "game",
                               .timeout = 3s});
  };

  server.stop();
  // A timeout (3 s) would be a hang: every failure must come well before it.
  Clock::duration slowest{};
  for (int i = 0; i < 20; ++i) {
    const std::string id = "p" + std::to_string(i);
    const auto began = Clock::now();
    const auto stats = get_stats(id);
    const auto took = Clock::now() - began;
    slowest = std::max(slowest, took);
    ASSERT_FALSE(stats) << id << " answered while the database was down";
    EXPECT_EQ(stats.error().code, Errc::store_unavailable) << id << ": " << stats.error();
    EXPECT_LT(took, 1s) << id << ": " << stats.error();
  }
  std::cout << "slowest failed call while the database was down: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count() << " ms\n";
  std::this_thread::sleep_for(500ms);  // the load runners keep calling meanwhile

  server.start();
  const auto restarted = Clock::now();
  std::set<std::string> answered;
  EXPECT_TRUE(eventually([&] {
    for (int i = 0; i < 20; ++i) {
      const std::string id = "p" + std::to_string(i);
      if (!answered.count(id) && get_stats(id)) answered.insert(id);
    }
    if (answered.size() == 20) return true;
    std::this_thread::sleep_for(10ms);  // failures come at once until the pool reconnects
    return false;
  }, 5000ms)) << answered.size() << " of 20 actors answered after the restart";
  const auto recovery =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - restarted);
  std::cout << "every actor answered " << recovery.count() << " ms after the database was back\n";
  const long acked_at_recovery = acked_so_far(*a) + acked_so_far(*b);
  // The load goes on against the restarted database.
  run_load({a.get(), b.get()}, acked_at_recovery + 100, 500ms);

  const Value report_a = stop_load(*a);
  const Value report_b = stop_load(*b);
  std::cout << "A: " << summary(report_a) << "\nB: " << summary(report_b) << "\n";
  for (const Value* report : {&report_a, &report_b}) {
    EXPECT_GT(failures_with(*report, "store_unavailable"), 0);
    EXPECT_EQ(failures_with(*report, "timeout"), 0) << "a load runner's call hung (5 s)";
  }
  const auto scores = read_scores(*a, "p", 20);
  EXPECT_EQ(scores.size(), 20u);
  const Ledger ledger = ledger_of({report_a, report_b}, /*complete=*/true);
  EXPECT_GT(static_cast<long>(ledger.acknowledged()), acked_at_recovery + 50)
      << "the load made little progress after the database was back";
  ledger.expect_agrees_with(scores);
  EXPECT_EQ(a->terminate(), 0);
  EXPECT_EQ(b->terminate(), 0);
}

}  // namespace
}  // namespace mesh::test

// Durable state with real node processes (tools/mesh_node --store ...): kill -9 and restart,
// with the increments every caller was told about checked against what the store kept.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "node_process.hpp"
#include "support/ledger.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

using tools::NodeProcess;

const std::string kBinary = MESH_NODE_BINARY;

std::unique_ptr<NodeProcess> start(const std::string& name, const std::string& store,
                                   std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--name", name, "--listen", "127.0.0.1:0", "--cookie", "durable",
                                "--capabilities", "game", "--heartbeat-ms", "50",
                                "--failure-timeout-ms", "500", "--store", store};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<NodeProcess>(kBinary, args);
}

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
                     .cookie = "durable", .heartbeat_interval = 50ms, .failure_timeout = 500ms,
                     .log = [](LogLevel, std::string_view) {}};
}

std::map<std::string, long> final_scores(Node& client, const Ledger& ledger) {
  std::map<std::string, long> scores;
  for (const auto& [id, values] : ledger.acked) {
    auto stats = client.call(Request{.module = "GameActor", .id = id,
                                     .payload = {{"action", "get_stats"}}, .capability = "game"});
    EXPECT_TRUE(stats) << id << ": " << (stats ? "" : to_string(stats.error()));
    if (stats) scores[id] = stats->value["score"].get<long>();
  }
  return scores;
}

// A node with SQLite under load from a client process is killed at a random moment and
// started again on the same file: every acknowledged increment is there, and at most the
// calls in flight when it died are extra.
TEST(DurableProcessTest, SqliteKeepsEveryAcknowledgedIncrementAcrossKill9) {
  TempDir dir;
  const std::string store = "sqlite:" + dir.path() + "/game.db";
  auto storage = start("storage", store);
  std::vector<std::string> client_args{"--name", "client", "--listen", "127.0.0.1:0", "--cookie",
                                       "durable", "--heartbeat-ms", "50", "--failure-timeout-ms",
                                       "500", "--seed", storage->listen()};
  NodeProcess client(kBinary, client_args);
  ASSERT_EQ(client.command("wait-nodes game 1 5000"), "ok") << client.log();
  ASSERT_EQ(client.command("load start p 40"), "ok");
  std::mt19937 random(std::random_device{}());
  std::this_thread::sleep_for(std::chrono::milliseconds(300 + random() % 700));
  storage->kill9();
  const std::string report = client.command("load stop");
  ASSERT_EQ(report.rfind("load ", 0), 0u) << report;
  Ledger ledger;
  ledger.add_load_report(Value::parse(report.substr(5)));
  ASSERT_GT(ledger.acknowledged(), 100u) << "too little load to show anything";

  auto restarted = start("storage-2", store, {"--seed", client.listen()});
  ASSERT_EQ(client.command("wait-nodes game 1 5000"), "ok") << client.log();
  // The client process reads the scores back through the restarted node.
  std::map<std::string, long> scores;
  for (const auto& [id, values] : ledger.acked) {
    const std::string answer =
        client.command("call GameActor " + id + " game {\"action\":\"get_stats\"}");
    ASSERT_EQ(answer.rfind("ok ", 0), 0u) << id << ": " << answer;
    const Value stats = Value::parse(answer.substr(answer.find(' ', 3) + 1));
    scores[id] = stats["score"].get<long>();
  }
  ledger.expect_agrees_with(scores);
  long extra = 0;
  for (const auto& [id, values] : ledger.acked) {
    extra += scores[id] - static_cast<long>(values.size());
  }
  EXPECT_LE(extra, 1) << "one caller has at most one call in flight";
  EXPECT_EQ(restarted->terminate(), 0);
}

}  // namespace
}  // namespace mesh::test

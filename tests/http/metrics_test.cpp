// GET /metrics: every figure counted where docs/operations.md says, in a format promtool accepts.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <mesh/mesh.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "actors/game_actor.hpp"
#include "http_member.hpp"
#include "http_test_client.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

// One sample of the text exposition: name, labels, value.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::vector<Sample> parse(const std::string& text) {
  std::vector<Sample> samples;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    const std::size_t brace = line.find('{');
    const std::size_t space = line.rfind(' ');
    if (brace != std::string::npos && brace < space) {
      s.name = line.substr(0, brace);
      const std::size_t close = line.rfind('}');
      std::string rest = line.substr(brace + 1, close - brace - 1);
      std::size_t at = 0;
      while (at < rest.size()) {
        const std::size_t eq = rest.find('=', at);
        const std::size_t end_quote = rest.find('"', eq + 2);
        s.labels[rest.substr(at, eq - at)] = rest.substr(eq + 2, end_quote - eq - 2);
        at = end_quote + 2;  // past the quote and the comma
      }
    } else {
      s.name = line.substr(0, space);
    }
    s.value = std::stod(line.substr(space + 1));
    samples.push_back(std::move(s));
  }
  return samples;
}

// The sum of the samples named `name` whose labels include `labels`; nullopt when none is.
std::optional<double> value(const std::string& text, const std::string& name,
                            const std::map<std::string, std::string>& labels = {}) {
  std::optional<double> sum;
  for (const Sample& s : parse(text)) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      const auto it = s.labels.find(k);
      match = match && it != s.labels.end() && it->second == v;
    }
    if (match) sum = sum.value_or(0) + s.value;
  }
  return sum;
}

std::string scrape(const Node& node, const std::string& token = "") {
  HttpClient client(node.http_address());
  const HttpResult result = client.request(
      "GET", "/metrics", "", token.empty() ? "" : "Authorization: Bearer " + token + "\r\n");
  EXPECT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(result.headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return result.body;
}

NodeOptions http_node(std::string name = "n1") {
  NodeOptions options = small_node();
  options.name = std::move(name);
  options.http_listen = "127.0.0.1:0";
  return options;
}

std::map<std::string, std::string> of(const std::string& module, const std::string& outcome) {
  return {{"capability", "test"}, {"module", module}, {"outcome", outcome}};
}

TEST(MetricsTest, CallsAndCastsAreCountedOnceEachByOutcome) {
  Node node(http_node());
  register_all(node);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(node.call(req("Counter", "a")));
  // Threads that end: their counts must outlive them.
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&node] {
      for (int i = 0; i < 5; ++i) ASSERT_TRUE(node.call(req("Counter", "a")));
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(node.cast(req("Counter", "a")));
  // A call behind the casts sees them done: 20 + 10 calls and 5 casts.
  auto got = node.call(req("Counter", "a", {{"op", "get"}}));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->value, 35);
  auto crash = node.call(req("Crasher", "c", {{"op", "crash"}}));
  ASSERT_FALSE(crash);
  // Relay "r" calling itself: the inner call is refused as a deadlock, the outer one is ok.
  auto cycle = node.call(req("Relay", "r", {{"to", "r"}}));
  ASSERT_TRUE(cycle);
  EXPECT_EQ(cycle->value.value("error", ""), "deadlock");

  const std::string text = scrape(node);
  EXPECT_EQ(value(text, "mesh_calls_total", of("Counter", "ok")), 31.0) << text;
  EXPECT_EQ(value(text, "mesh_casts_total", of("Counter", "ok")), 5.0) << text;
  EXPECT_EQ(value(text, "mesh_calls_total", of("Crasher", "actor_crashed")), 1.0) << text;
  EXPECT_EQ(value(text, "mesh_calls_total", of("Crasher", "ok")), 0.0) << text;
  EXPECT_EQ(value(text, "mesh_calls_total", of("Relay", "deadlock")), 1.0) << text;
  EXPECT_EQ(value(text, "mesh_calls_total", of("Relay", "ok")), 1.0) << text;
  // Only outcomes that happened get a series besides "ok".
  EXPECT_EQ(value(text, "mesh_calls_total", of("Counter", "timeout")), std::nullopt) << text;
  // Every call whose handler ran (31 + 1 + 1) has its time in the histogram.
  EXPECT_EQ(value(text, "mesh_call_duration_seconds_count", {{"capability", "test"}}), 33.0)
      << text;
  EXPECT_EQ(value(text, "mesh_call_duration_seconds_bucket", {{"capability", "test"}, {"le", "+Inf"}}),
            33.0)
      << text;
  EXPECT_GT(value(text, "mesh_call_duration_seconds_sum", {{"capability", "test"}}).value_or(0), 0)
      << text;
  // Live: Counter a and Relay r; Crasher c crashed.
  EXPECT_EQ(value(text, "mesh_activations", {{"module", "Counter"}}), 1.0) << text;
  EXPECT_EQ(value(text, "mesh_activations", {{"module", "Crasher"}}), 0.0) << text;
  EXPECT_EQ(value(text, "mesh_activations_started_total", {{"module", "Crasher"}}), 1.0) << text;
  EXPECT_EQ(value(text, "mesh_deactivations_total", {{"reason", "crashed"}}), 1.0) << text;
  EXPECT_EQ(value(text, "mesh_peers"), 0.0) << text;
  EXPECT_EQ(value(text, "mesh_owned_shards", {{"capability", "test"}}), 4096.0) << text;
}

TEST(MetricsTest, TheStatusCarriesTheTotalsOfTheMetrics) {
  Node node(http_node());
  register_all(node);
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(node.call(req("Counter", "k" + std::to_string(i % 3))));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(node.cast(req("Recorder", "r")));
  ASSERT_FALSE(node.call(req("Crasher", "c", {{"op", "crash"}})));
  ASSERT_TRUE(node.call(req("Recorder", "r", {{"op", "log"}})));  // after the casts
  HttpClient client(node.http_address());
  const Value status = client.request("GET", "/v1/status").json();
  EXPECT_EQ(status.value("calls_total", -1), 14) << status.dump();
  EXPECT_EQ(status.value("casts_total", -1), 4) << status.dump();
  const std::string text = scrape(node);
  EXPECT_EQ(value(text, "mesh_calls_total"), 14.0) << text;
  EXPECT_EQ(value(text, "mesh_casts_total"), 4.0) << text;
}

TEST(MetricsTest, DeactivationsAreCountedByReason) {
  NodeOptions options = http_node();
  Node node(options);
  register_all(node);
  ActorOptions brief;
  brief.idle_timeout = std::chrono::milliseconds(50);
  node.register_actor<Counter>("BriefCounter", brief);
  ASSERT_TRUE(node.call(req("Stopper", "s", {{"op", "stop"}})));
  ASSERT_TRUE(node.call(req("BriefCounter", "b")));
  ASSERT_TRUE(eventually([&] {
    return value(scrape(node), "mesh_deactivations_total", {{"reason", "idle"}}) == 1.0;
  }, 3000ms));
  const std::string text = scrape(node);
  EXPECT_EQ(value(text, "mesh_deactivations_total", {{"reason", "stopped"}}), 1.0) << text;
  EXPECT_EQ(value(text, "mesh_deactivations_total", {{"reason", "crashed"}}), 0.0) << text;
  EXPECT_EQ(value(text, "mesh_activations", {{"module", "BriefCounter"}}), 0.0) << text;
  EXPECT_EQ(value(text, "mesh_activations", {{"module", "Stopper"}}), 0.0) << text;
}

TEST(MetricsTest, PromtoolAcceptsTheExposition) {
  Node node(http_node());
  register_all(node);
  ASSERT_TRUE(node.call(req("Counter", "a")));
  ASSERT_FALSE(node.call(req("Crasher", "c", {{"op", "crash"}})));
  const std::string text = scrape(node);
  char path[] = "/tmp/mesh_metrics_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
  const std::string command = "promtool check metrics < " + std::string(path) + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  const int status = ::pclose(pipe);
  ::unlink(path);
  EXPECT_EQ(status, 0) << "promtool (scripts/install-deps.sh installs it) said:\n" << output
                       << "\nabout:\n" << text;
}

TEST(MetricsTest, TheTokenIsRequiredAsForEveryRoute) {
  NodeOptions options = http_node();
  options.http_token = "s3cret";
  Node node(options);
  register_all(node);
  HttpClient client(node.http_address());
  EXPECT_EQ(client.request("GET", "/metrics").status, 401);
  const std::string text = scrape(node, "s3cret");
  EXPECT_TRUE(value(text, "mesh_view_epoch").has_value()) << text;
}

TEST(MetricsTest, StoreWritesAreCounted) {
  NodeOptions options = http_node();
  options.state_store = memory_store();
  Node node(options);
  node.register_actor<examples::GameActor>(
      "GameActor", {.persistence = Persistence::after_each_message});
  node.register_capabilities({"test"});
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(node.call(req("GameActor", "g", {{"action", "increment_score"}})));
  }
  const std::string text = scrape(node);
  EXPECT_EQ(value(text, "mesh_store_writes_total", {{"outcome", "ok"}}), 7.0) << text;
  EXPECT_EQ(value(text, "mesh_store_writes_total", {{"outcome", "fenced"}}), 0.0) << text;
  EXPECT_GE(value(text, "mesh_store_commits_total").value_or(0), 1.0) << text;
  EXPECT_LE(value(text, "mesh_store_commits_total").value_or(99), 7.0) << text;
  EXPECT_EQ(value(text, "mesh_calls_total", of("GameActor", "ok")), 7.0) << text;
}

TEST(MetricsTest, RemoteCallsAreCountedByTheNodeThatHandlesThem) {
  Node a(http_member("a"));
  Node b(http_member("b", {a.listen_address()}));
  register_all(a);
  register_all(b);
  ASSERT_TRUE(eventually([&] {
    return a.nodes_for("test").size() == 2 && b.nodes_for("test").size() == 2;
  }, 3000ms));
  std::map<std::string, int> owned_calls;
  for (int i = 0; i < 40; ++i) {
    const std::string id = "x" + std::to_string(i);
    auto reply = a.call(req("Counter", id));
    ASSERT_TRUE(reply) << reply.error();
    ++owned_calls[reply->pid.node];
  }
  ASSERT_GT(owned_calls["b"], 0) << "every id landed on a: pick others";
  const std::string on_a = scrape(a);
  const std::string on_b = scrape(b);
  EXPECT_EQ(value(on_a, "mesh_calls_total", of("Counter", "ok")).value_or(0), owned_calls["a"])
      << on_a;
  EXPECT_EQ(value(on_b, "mesh_calls_total", of("Counter", "ok")).value_or(0), owned_calls["b"])
      << on_b;
  EXPECT_EQ(value(on_a, "mesh_peers"), 1.0);
  EXPECT_EQ(value(on_a, "mesh_owned_shards").value_or(0) + value(on_b, "mesh_owned_shards").value_or(0),
            4096.0);
  EXPECT_EQ(value(on_a, "mesh_view_epoch"), static_cast<double>(a.status().view_epoch));
  EXPECT_GE(value(on_a, "mesh_rebalances_total").value_or(0), 1.0) << on_a;
  // The calls a sent b went over the link: bytes both ways, named by peer.
  EXPECT_GT(value(on_a, "mesh_bytes_sent_total", {{"peer", "b"}}).value_or(0), 40 * 10.0) << on_a;
  EXPECT_GT(value(on_a, "mesh_bytes_received_total", {{"peer", "b"}}).value_or(0), 0.0) << on_a;
  EXPECT_GT(value(on_b, "mesh_bytes_received_total", {{"peer", "a"}}).value_or(0), 40 * 10.0)
      << on_b;
}

TEST(MetricsTest, ActorsThatMoveAreCountedAsMoved) {
  Node a(http_member("a"));
  register_all(a);
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(a.call(req("Counter", "m" + std::to_string(i))));
  Node b(http_member("b", {a.listen_address()}));
  register_all(b);
  // About half of them move to b; a's gauge follows its activations.
  ASSERT_TRUE(eventually([&] {
    const std::string text = scrape(a);
    return value(text, "mesh_deactivations_total", {{"reason", "moved"}}).value_or(0) > 0 &&
           value(text, "mesh_activations", {{"module", "Counter"}}) ==
               static_cast<double>(a.status().activations);
  }, 5000ms)) << scrape(a);
  const std::string text = scrape(a);
  const double moved = value(text, "mesh_deactivations_total", {{"reason", "moved"}}).value_or(0);
  EXPECT_EQ(moved + value(text, "mesh_activations", {{"module", "Counter"}}).value_or(0), 60.0)
      << text;
  // Each moved actor starts again on b as it arrives (on b's pool, a moment later).
  EXPECT_TRUE(eventually([&] {
    return value(scrape(b), "mesh_activations_started_total", {{"module", "Counter"}}) == moved;
  }, 5000ms)) << scrape(b);
}

TEST(MetricsTest, RefusedPeersAreCountedByReason) {
  Node a(http_member("a"));
  register_all(a);
  NodeOptions stranger = http_member("stranger", {a.listen_address()});
  stranger.cookie = "another secret";
  Node s(stranger);
  ASSERT_TRUE(eventually([&] {
    return value(scrape(a), "mesh_frames_refused_total", {{"reason", "auth"}}).value_or(0) >= 1;
  }, 3000ms)) << scrape(a);
  EXPECT_EQ(value(scrape(a), "mesh_peers"), 0.0);
}

}  // namespace
}  // namespace mesh::test

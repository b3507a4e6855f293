// The operator's routes (docs/operations.md, "Status and shard map"): their shapes and errors on
// one node, and across a 3-node cluster (every member's status, the shard map against
// Node::owner_node).
#include <gtest/gtest.h>

#include <memory>
#include <mesh/mesh.hpp>
#include <set>
#include <string>
#include <vector>

#include "actors/game_actor.hpp"
#include "http_member.hpp"
#include "http_test_client.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

NodeOptions http_node(std::string token = "") {
  NodeOptions options = small_node();
  options.http_listen = "127.0.0.1:0";
  options.http_token = std::move(token);
  return options;
}

std::unique_ptr<Node> start(NodeOptions options) {
  auto node = std::make_unique<Node>(std::move(options));
  register_all(*node);
  node->register_actor<examples::GameActor>("GameActor");
  node->register_capabilities({"test", "game"});
  return node;
}

std::set<std::string> keys(const Value& object) {
  std::set<std::string> out;
  for (const auto& [key, value] : object.items()) out.insert(key);
  return out;
}

const std::set<std::string> kStatusKeys{"name",
                                        "listen",
                                        "http",
                                        "view_epoch",
                                        "members",
                                        "capabilities",
                                        "owned_shards",
                                        "activations",
                                        "handoffs_in_progress",
                                        "reconciler_runs",
                                        "reconciler_stopped",
                                        "handshakes_refused",
                                        "discovery_dropped",
                                        "timers",
                                        "reminders_held",
                                        "reminders_due",
                                        "reminders_fired",
                                        "calls_total",
                                        "casts_total"};

class OpsRoutesTest : public ::testing::Test {
 protected:
  std::unique_ptr<Node> node = start(http_node());
  HttpClient client{node->http_address()};

  void activate(const std::string& id) {
    ASSERT_TRUE(node->call({.module = "Counter", .id = id, .payload = {}, .capability = "test"}));
  }
  void expect_error(const HttpResult& result, int status, const std::string& name) {
    EXPECT_EQ(result.status, status) << result.body;
    EXPECT_EQ(result.json().value("error", ""), name) << result.body;
    EXPECT_TRUE(result.json().contains("message")) << result.body;
  }
};

TEST_F(OpsRoutesTest, StatusDescribesThisNode) {
  activate("a");
  activate("b");
  const HttpResult result = client.request("GET", "/v1/status");
  ASSERT_EQ(result.status, 200) << result.body;
  const Value status = result.json();
  EXPECT_EQ(keys(status), kStatusKeys) << result.body;
  EXPECT_EQ(status["name"], "n1");
  EXPECT_EQ(status["listen"], "");  // standalone
  EXPECT_EQ(status["http"], node->http_address());
  EXPECT_EQ(status["view_epoch"], node->status().view_epoch);
  EXPECT_EQ(status["members"], Value({"n1"}));
  EXPECT_EQ(status["capabilities"], Value({"game", "test"}));
  EXPECT_EQ(status["owned_shards"], (Value{{"game", 4096}, {"test", 4096}}));
  EXPECT_EQ(status["activations"], 2);
  EXPECT_EQ(status["handoffs_in_progress"], 0);
  EXPECT_EQ(status["timers"], 0);
  EXPECT_EQ(status["reminders_held"], 0);
}

TEST_F(OpsRoutesTest, ActivationsIsABoundedPage) {
  for (int i = 0; i < 5; ++i) activate("c" + std::to_string(i));
  const Value all = client.request("GET", "/v1/activations").json();
  EXPECT_EQ(all["total"], 5);
  ASSERT_EQ(all["activations"].size(), 5u);
  std::set<std::string> pids;
  for (const ActivationInfo& info : node->activations()) {
    pids.insert("n1." + std::to_string(info.pid.serial));
  }
  for (const Value& a : all["activations"]) {
    EXPECT_EQ(keys(a), (std::set<std::string>{"capability", "module", "id", "shard", "pid"}));
    EXPECT_EQ(a["capability"], "test");
    EXPECT_EQ(a["module"], "Counter");
    EXPECT_EQ(a["shard"], node->shard_for(a["id"].get<std::string>()));
    EXPECT_TRUE(pids.contains(a["pid"].get<std::string>())) << a;
  }
  const Value two = client.request("GET", "/v1/activations?limit=2").json();
  EXPECT_EQ(two["total"], 5);
  EXPECT_EQ(two["activations"].size(), 2u);
  EXPECT_EQ(client.request("GET", "/v1/activations?x=1&limit=10000").json()["activations"].size(),
            5u);
}

TEST_F(OpsRoutesTest, ActivationsRefusesABadLimit) {
  for (const char* query : {"limit=0", "limit=10001", "limit=-1", "limit=abc", "limit=", "limit",
                            "limit=5x", "limit=99999999999999999999999"}) {
    expect_error(client.request("GET", std::string("/v1/activations?") + query), 400,
                 "invalid_request");
  }
}

TEST_F(OpsRoutesTest, ShardsGivesTheOwnerOfEveryShard) {
  const HttpResult result = client.request("GET", "/v1/shards/game");
  ASSERT_EQ(result.status, 200) << result.body;
  const Value map = result.json();
  EXPECT_EQ(keys(map), (std::set<std::string>{"capability", "view_epoch", "shard_count", "nodes",
                                              "owners", "counts"}));
  EXPECT_EQ(map["capability"], "game");
  EXPECT_EQ(map["view_epoch"], node->status().view_epoch);
  EXPECT_EQ(map["shard_count"], 4096);
  EXPECT_EQ(map["nodes"], Value({"n1"}));
  ASSERT_EQ(map["owners"].size(), 4096u);
  for (const Value& owner : map["owners"]) ASSERT_EQ(owner, 0);
  EXPECT_EQ(map["counts"], (Value{{"n1", 4096}}));
}

TEST_F(OpsRoutesTest, ShardsOfAnUnknownCapabilityIsNoNodes) {
  const HttpResult result = client.request("GET", "/v1/shards/chat");
  expect_error(result, 503, "no_nodes");
  EXPECT_EQ(result.json()["message"], "no node has capability 'chat'");
}

TEST_F(OpsRoutesTest, ReconcileRunsTheReconcilerOnce) {
  const std::uint64_t before = node->status().reconciler_runs;
  const HttpResult result = client.request("POST", "/v1/reconcile");
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(result.json(), (Value{{"stopped", 0}}));
  EXPECT_EQ(node->status().reconciler_runs, before + 1);
  EXPECT_EQ(client.request("GET", "/v1/reconcile").status, 405);
  EXPECT_EQ(client.request("POST", "/v1/status").status, 405);
}

TEST_F(OpsRoutesTest, ClusterOfAStandaloneNodeIsItself) {
  activate("a");
  const HttpResult result = client.request("GET", "/v1/cluster");
  ASSERT_EQ(result.status, 200) << result.body;
  const Value cluster = result.json();
  EXPECT_EQ(cluster["node"], "n1");
  EXPECT_EQ(cluster["view_epoch"], node->status().view_epoch);
  ASSERT_EQ(cluster["nodes"].size(), 1u);
  const Value& self = cluster["nodes"][0];
  EXPECT_EQ(self["name"], "n1");
  EXPECT_EQ(self["capabilities"], Value({"game", "test"}));
  EXPECT_EQ(keys(self["status"]), kStatusKeys);
  EXPECT_EQ(self["status"]["activations"], 1);
}

TEST_F(OpsRoutesTest, StatusQueryModuleIsInternal) {
  const HttpResult result =
      client.request("POST", "/v1/actors/game/$status/x/call", R"({"payload": null})");
  expect_error(result, 404, "unknown_module");
}

TEST(OpsAuthTest, EveryOpsRouteNeedsTheToken) {
  auto node = start(http_node("s3cret"));
  HttpClient client(node->http_address());
  const std::string header = "Authorization: Bearer s3cret\r\n";
  const std::vector<std::pair<std::string, std::string>> routes{{"GET", "/v1/status"},
                                                                {"GET", "/v1/cluster"},
                                                                {"GET", "/v1/shards/game"},
                                                                {"GET", "/v1/activations?limit=1"},
                                                                {"POST", "/v1/reconcile"}};
  const std::uint64_t runs = node->status().reconciler_runs;
  for (const auto& [method, path] : routes) {
    const HttpResult refused = client.request(method, path);
    EXPECT_EQ(refused.status, 401) << path;
    EXPECT_EQ(refused.json()["error"], "unauthorized") << path;
    EXPECT_EQ(client.request(method, path, "", "Authorization: Bearer wrong\r\n").status, 401)
        << path;
  }
  EXPECT_EQ(node->status().reconciler_runs, runs);  // refused before it ran
  for (const auto& [method, path] : routes) {
    EXPECT_EQ(client.request(method, path, "", header).status, 200) << path;
  }
}


class OpsClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nodes.push_back(std::make_unique<Node>(http_member("a")));
    nodes.push_back(std::make_unique<Node>(http_member("b", {nodes[0]->listen_address()})));
    nodes.push_back(std::make_unique<Node>(http_member("c", {nodes[0]->listen_address()})));
    for (auto& node : nodes) {
      node->register_actor<examples::GameActor>("GameActor");
      node->register_capabilities({"game"});
    }
    nodes[1]->register_capabilities({"game", "chat"});
    ASSERT_TRUE(eventually(
        [&] {
          for (auto& node : nodes) {
            if (node->nodes_for("game").size() != 3 || node->nodes_for("chat").size() != 1) {
              return false;
            }
          }
          return true;
        },
        5000ms));
  }
  std::vector<std::unique_ptr<Node>> nodes;
};

TEST_F(OpsClusterTest, ClusterListsEveryMemberWithItsOwnStatus) {
  // An activation on each node, so that every status has a figure of its own.
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(nodes[0]->call({.module = "GameActor",
                                .id = "p" + std::to_string(i),
                                .payload = {{"action", "get_stats"}},
                                .capability = "game"}));
  }
  HttpClient client(nodes[0]->http_address());
  const HttpResult result = client.request("GET", "/v1/cluster");
  ASSERT_EQ(result.status, 200) << result.body;
  const Value cluster = result.json();
  EXPECT_EQ(cluster["node"], "a");
  ASSERT_EQ(cluster["nodes"].size(), 3u) << result.body;
  const std::vector<std::string> names{"a", "b", "c"};
  std::size_t activations = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    const Value& entry = cluster["nodes"][i];
    EXPECT_EQ(entry["name"], names[i]);
    EXPECT_FALSE(entry.contains("error")) << entry;
    EXPECT_EQ(entry["capabilities"], i == 1 ? Value({"chat", "game"}) : Value({"game"}));
    const Value& status = entry["status"];
    EXPECT_EQ(keys(status), kStatusKeys);
    EXPECT_EQ(status["name"], names[i]);
    EXPECT_EQ(status["listen"], nodes[i]->listen_address());
    EXPECT_EQ(status["http"], nodes[i]->http_address());
    EXPECT_EQ(status["members"], Value({"a", "b", "c"}));
    EXPECT_EQ(status["capabilities"], entry["capabilities"]);
    EXPECT_EQ(status["activations"], nodes[i]->activations().size());
    EXPECT_GT(status["activations"].get<std::size_t>(), 0u) << names[i];
    EXPECT_EQ(status["owned_shards"]["game"], nodes[i]->status().owned_shards.at("game").size());
    activations += status["activations"].get<std::size_t>();
  }
  EXPECT_EQ(activations, 60u);
  EXPECT_EQ(cluster["nodes"][1]["status"]["owned_shards"]["chat"], 4096);
  // A peer's entry is what the peer's own /v1/status says.
  HttpClient to_b(nodes[1]->http_address());
  Value own = to_b.request("GET", "/v1/status").json();
  Value seen = cluster["nodes"][1]["status"];
  for (Value* v : {&own, &seen}) v->erase("reconciler_runs");  // the periodic run may tick
  EXPECT_EQ(own, seen);
}

TEST_F(OpsClusterTest, ShardOwnersAgreeWithOwnerNodeOnEveryShard) {
  for (std::size_t asked = 0; asked < nodes.size(); ++asked) {
    HttpClient client(nodes[asked]->http_address());
    const HttpResult result = client.request("GET", "/v1/shards/game");
    ASSERT_EQ(result.status, 200) << result.body;
    const Value map = result.json();
    EXPECT_EQ(map["nodes"], Value({"a", "b", "c"}));
    ASSERT_EQ(map["owners"].size(), 4096u);
    std::map<std::string, std::size_t> counts;
    for (std::uint32_t shard = 0; shard < 4096; ++shard) {
      const std::string owner = map["nodes"][map["owners"][shard].get<std::size_t>()];
      ASSERT_EQ(owner, nodes[asked]->owner_node(shard, "game").value()) << "shard " << shard;
      ++counts[owner];
    }
    for (const auto& [name, count] : counts) {
      EXPECT_EQ(map["counts"][name], count);
      EXPECT_GT(count, 1000u) << name;  // rendezvous spreads 4096 shards over three nodes
    }
  }
}

TEST_F(OpsClusterTest, AMemberThatLeftIsNoLongerListed) {
  nodes.pop_back();  // c leaves (announced)
  ASSERT_TRUE(eventually(
      [&] {
        return nodes[0]->status().members.size() == 2 && nodes[1]->status().members.size() == 2;
      },
      5000ms));
  HttpClient client(nodes[0]->http_address());
  const Value cluster = client.request("GET", "/v1/cluster").json();
  ASSERT_EQ(cluster["nodes"].size(), 2u) << cluster;
  EXPECT_EQ(cluster["nodes"][1]["name"], "b");
  EXPECT_EQ(cluster["nodes"][1]["status"]["members"], Value({"a", "b"}));
  const Value map = client.request("GET", "/v1/shards/game").json();
  EXPECT_EQ(map["nodes"], Value({"a", "b"}));
  EXPECT_EQ(map["counts"]["a"].get<int>() + map["counts"]["b"].get<int>(), 4096);
}

}  // namespace
}  // namespace mesh::test

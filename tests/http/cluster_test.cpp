// The gateway in a cluster: any node serves any actor, and where an actor lives is reported
// by its owner even when the node asked is another.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mesh/mesh.hpp>
#include <string>
#include <thread>
#include <vector>

#include "actors/game_actor.hpp"
#include "http_member.hpp"
#include "http_test_client.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {


class HttpClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nodes.push_back(std::make_unique<Node>(http_member("a")));
    nodes.push_back(std::make_unique<Node>(http_member("b", {nodes[0]->listen_address()})));
    nodes.push_back(std::make_unique<Node>(http_member("c", {nodes[0]->listen_address()})));
    for (auto& node : nodes) {
      node->register_actor<examples::GameActor>("GameActor");
      node->register_capabilities({"game"});
    }
    ASSERT_TRUE(eventually(
        [&] {
          for (auto& node : nodes) {
            if (node->nodes_for("game").size() != 3) return false;
          }
          return true;
        },
        5000ms));
  }
  // An id whose shard `owner` owns.
  std::string id_owned_by(const std::string& owner) {
    for (int i = 0;; ++i) {
      const std::string id = "player " + std::to_string(i);
      if (nodes[0]->owner_node(nodes[0]->shard_for(id), "game") == owner) return id;
    }
  }
  static std::string encode(const std::string& id) {
    std::string out;
    for (char c : id) out += c == ' ' ? std::string("%20") : std::string(1, c);
    return out;
  }
  std::vector<std::unique_ptr<Node>> nodes;
};

TEST_F(HttpClusterTest, AnyNodeServesAnActorOwnedByAnother) {
  const std::string id = id_owned_by("b");
  HttpClient via_a(nodes[0]->http_address());
  const HttpResult result =
      via_a.request("POST", "/v1/actors/game/GameActor/" + encode(id) + "/call",
                    R"({"payload": {"action": "increment_score"}})");
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(result.json()["node"], "b");
  EXPECT_EQ(nodes[1]->activations().size(), 1u);
  EXPECT_TRUE(nodes[0]->activations().empty());
}

TEST_F(HttpClusterTest, WhereAsksTheOwnerWhetherTheActorIsActive) {
  const std::string id = id_owned_by("c");
  const std::string path = "/v1/actors/game/GameActor/" + encode(id);
  HttpClient via_a(nodes[0]->http_address());
  Value where = via_a.request("GET", path).json();
  EXPECT_EQ(where["owner"], "c");
  EXPECT_EQ(where["shard"], nodes[0]->shard_for(id));
  EXPECT_EQ(where["active"], false);
  EXPECT_TRUE(where["pid"].is_null());

  HttpClient via_b(nodes[1]->http_address());
  const Value reply =
      via_b.request("POST", path + "/call", R"({"payload": {"action": "level_up"}})").json();
  where = via_a.request("GET", path).json();
  EXPECT_EQ(where["active"], true);
  EXPECT_EQ(where["pid"], reply["pid"]);
  EXPECT_EQ(where["pid"], "c." + std::to_string(nodes[2]->activations().at(0).pid.serial));
  // A module the owner does not have is the owner's answer too.
  HttpClient via_b2(nodes[1]->http_address());
  EXPECT_EQ(via_b2.request("GET", "/v1/actors/game/Nope/" + encode(id)).status, 404);
}

TEST_F(HttpClusterTest, NodesListsEveryMemberWithItsCapabilities) {
  HttpClient client(nodes[2]->http_address());
  const Value body = client.request("GET", "/v1/nodes").json();
  ASSERT_EQ(body["nodes"].size(), 3u);
  for (const Value& node : body["nodes"]) EXPECT_EQ(node["capabilities"], Value({"game"}));
  EXPECT_EQ(client.request("GET", "/v1/capabilities").json()["capabilities"]["game"],
            Value({"a", "b", "c"}));
}

TEST_F(HttpClusterTest, ConcurrentClientsOnEveryNodeLoseNoIncrement) {
  constexpr int kThreads = 6, kCalls = 100, kPlayers = 10;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpClient client(nodes[static_cast<std::size_t>(t) % nodes.size()]->http_address());
      for (int i = 0; i < kCalls; ++i) {
        const HttpResult result = client.request(
            "POST", "/v1/actors/game/GameActor/p" + std::to_string((t + i) % kPlayers) + "/call",
            R"({"payload": {"action": "increment_score"}})");
        if (result.status != 200) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  HttpClient client(nodes[0]->http_address());
  int total = 0;
  for (int p = 0; p < kPlayers; ++p) {
    total += client
                 .request("POST", "/v1/actors/game/GameActor/p" + std::to_string(p) + "/call",
                          R"({"payload": {"action": "get_stats"}})")
                 .json()["value"]["score"]
                 .get<int>();
  }
  EXPECT_EQ(total, kThreads * kCalls);
}

}  // namespace
}  // namespace mesh::test

// A real network partition: three node processes in network namespaces that this test creates
// (joined by a bridge in a fourth), one of them cut off by taking its link down, then healed.
// Needs root (CAP_NET_ADMIN) and iproute2; skipped, with the reason, where it cannot create
// namespaces. Every address used lives inside these namespaces.
#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "node_process.hpp"
#include "support/netns_testbed.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

std::map<std::string, std::vector<std::string>> where(std::vector<tools::NodeProcess*> nodes) {
  std::map<std::string, std::vector<std::string>> hosts_of;
  for (tools::NodeProcess* node : nodes) {
    const std::string answer = node->command("activations");
    if (answer.rfind("activations ", 0) != 0) continue;
    for (const Value& a : Value::parse(answer.substr(12))) hosts_of[a["id"]].push_back(node->name());
  }
  return hosts_of;
}

TEST(PartitionTest, DuplicatesFromAPartitionAreGoneWithinAReconcilerIntervalAfterItHeals) {
  Testbed bed;
  if (!bed.ok()) GTEST_SKIP() << "cannot create network namespaces here (needs root and iproute2)";
  std::vector<std::unique_ptr<tools::NodeProcess>> nodes;
  const std::vector<std::string> names{"node-1", "node-2", "node-3"};
  for (int i = 1; i <= 3; ++i) {
    std::vector<std::string> args{"--name", names[i - 1], "--listen", bed.address(i) + ":4000",
                                  "--cookie", "partition", "--capabilities", "game",
                                  "--heartbeat-ms", "50", "--failure-timeout-ms", "400",
                                  "--reconcile-ms", "500"};
    if (i > 1) args.insert(args.end(), {"--seed", bed.address(1) + ":4000"});
    nodes.push_back(std::make_unique<tools::NodeProcess>(
        MESH_NODE_BINARY, args, std::chrono::seconds(10),
        std::vector<std::string>{ip_binary(), "netns", "exec", bed.host(i)}));
  }
  std::vector<tools::NodeProcess*> all{nodes[0].get(), nodes[1].get(), nodes[2].get()};
  for (auto* n : all) ASSERT_EQ(n->command("wait-nodes game 3 5000"), "ok") << n->log();

  ASSERT_TRUE(bed.link(3, false));  // node-3 is cut off
  // Both of the majority must have dropped node-3: one that has not would forward there.
  EXPECT_EQ(nodes[0]->command("wait-nodes game 2 3000"), "ok");
  EXPECT_EQ(nodes[1]->command("wait-nodes game 2 3000"), "ok");
  EXPECT_EQ(nodes[2]->command("wait-nodes game 1 3000"), "ok");
  // Both sides serve every id they are asked for: the split brain.
  for (int i = 0; i < 30; ++i) {
    const std::string call = "call GameActor p" + std::to_string(i) + " game {\"action\":\"increment_score\"}";
    for (auto* side : {nodes[0].get(), nodes[2].get()}) {
      const std::string answer = side->command(call);
      EXPECT_EQ(answer.rfind("ok ", 0), 0u) << side->name() << ": " << answer;
    }
  }
  int duplicated = 0;
  for (auto& [id, hosts] : where(all)) duplicated += hosts.size() > 1;
  EXPECT_EQ(duplicated, 30) << "the partition made no duplicates to heal";

  ASSERT_TRUE(bed.link(3, true));  // heal
  for (auto* n : all) EXPECT_EQ(n->command("wait-nodes game 3 5000"), "ok") << n->name();
  const auto healed = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually([&] {
    for (auto& [id, hosts] : where(all)) {
      if (hosts.size() > 1) return false;
    }
    return true;
  }, 1500ms)) << "duplicates outlived a reconciler interval (500 ms) after the heal";
  EXPECT_LT(std::chrono::steady_clock::now() - healed, 1000ms);
  for (auto* n : all) n->terminate();
}

}  // namespace
}  // namespace mesh::test

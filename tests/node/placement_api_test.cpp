// The placement queries of Node: nodes_for, all_capabilities, owner_node and custom strategies.
#include <gtest/gtest.h>

#include "support/expect.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

TEST(PlacementApiTest, CapabilitiesAreSortedUniqueAndReplaced) {
  Node node(NodeOptions{.name = "solo"});
  EXPECT_TRUE(node.all_capabilities().empty());
  node.register_capabilities({"game", "chat", "game"});
  EXPECT_EQ(node.all_capabilities(), (std::vector<std::string>{"chat", "game"}));
  EXPECT_EQ(node.nodes_for("game"), std::vector<std::string>{"solo"});
  EXPECT_TRUE(node.nodes_for("payment").empty());
  node.register_capabilities({"payment"});
  EXPECT_EQ(node.all_capabilities(), std::vector<std::string>{"payment"});
  EXPECT_TRUE(node.nodes_for("game").empty());
}

TEST(PlacementApiTest, OwnerNode) {
  Node node(NodeOptions{.name = "solo", .shard_count = 16});
  EXPECT_TRUE(IsError(node.owner_node(3, "game"), Errc::no_nodes));
  node.register_capabilities({"game"});
  auto owner = node.owner_node(3, "game");
  ASSERT_TRUE(HasValue(owner));
  EXPECT_EQ(*owner, "solo");
  EXPECT_TRUE(IsError(node.owner_node(16, "game"), Errc::invalid_request));
  EXPECT_TRUE(IsError(node.owner_node(0, ""), Errc::invalid_request));
}

TEST(PlacementApiTest, RemovingACapabilityStopsRoutingToIt) {
  Node node(small_node());
  register_all(node);
  ASSERT_TRUE(node.call(req("Counter", "c")));
  node.register_capabilities({"other"});
  EXPECT_TRUE(IsError(node.call(req("Counter", "c")), Errc::no_nodes));
}

TEST(PlacementApiTest, LosingACapabilityStopsItsActivationsEvenBusyOnes) {
  Node node(small_node());
  register_all(node);
  auto idle = node.call(req("Counter", "idle-one"));
  ASSERT_TRUE(idle);
  ASSERT_TRUE(node.cast(req("Sleeper", "busy-one", {{"ms", 100}})));
  ASSERT_TRUE(node.cast(req("Sleeper", "busy-one", {{"ms", 0}})));  // queued behind
  node.register_capabilities({});         // every shard of "test" is lost
  node.register_capabilities({"test"});   // and owned again
  auto fresh = node.call(req("Counter", "idle-one"));
  ASSERT_TRUE(fresh);
  EXPECT_NE(fresh->pid, idle->pid);
  EXPECT_EQ(fresh->value, 1);
  // The busy one finishes what it had queued, then stops; the next call meets a fresh actor.
  auto after = node.call(req("Sleeper", "busy-one", {{"ms", 0}}));
  ASSERT_TRUE(after) << after.error();
  EXPECT_TRUE(eventually([&] {
    auto r = node.call(req("Sleeper", "busy-one", {{"ms", 0}}));
    return r && r->value == 1;
  })) << "the evicted actor's state survived";
}

TEST(PlacementApiTest, CustomStrategyPlugsIn) {
  struct Counting : PlacementStrategy {
    std::size_t owner(std::uint32_t shard, std::string_view, std::span<const std::string> nodes) const override {
      ++asked;
      return shard % nodes.size();
    }
    mutable std::atomic<int> asked{0};
  };
  auto strategy = std::make_shared<Counting>();
  Node node(NodeOptions{.name = "solo", .shard_count = 32, .strategy = strategy});
  node.register_capabilities({"a", "b"});
  EXPECT_EQ(strategy->asked.load(), 64) << "asked once per shard and capability";
  auto owner = node.owner_node(5, "a");
  ASSERT_TRUE(HasValue(owner));
  EXPECT_EQ(*owner, "solo");
}

}  // namespace
}  // namespace mesh::test

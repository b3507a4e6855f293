#include "placement/routing_table.hpp"

#include <gtest/gtest.h>

#include <mesh/mesh.hpp>

namespace mesh::detail {
namespace {

std::uint32_t intern(std::string_view c) { return c == "game" ? 1 : c == "chat" ? 2 : 3; }

TEST(RoutingTableTest, RoutesEachCapabilityAmongItsNodesOnly) {
  const std::vector<MemberInfo> members{
      {"game-node", {"game"}}, {"chat-node", {"chat"}}, {"universal", {"chat", "game", "payment"}}};
  RoutingTable table(7, members, *rendezvous_strategy(), 64, "universal", intern);
  EXPECT_EQ(table.epoch(), 7u);
  EXPECT_EQ(table.capabilities(), (std::vector<std::string>{"chat", "game", "payment"}));
  const CapabilityRoute* game = table.find("game");
  ASSERT_NE(game, nullptr);
  EXPECT_EQ(game->id, 1u);
  EXPECT_EQ(game->nodes, (std::vector<std::string>{"game-node", "universal"}));
  const CapabilityRoute* payment = table.find("payment");
  ASSERT_NE(payment, nullptr);
  for (std::uint32_t s = 0; s < 64; ++s) {
    EXPECT_EQ(payment->owner_of(s), "universal");
    EXPECT_TRUE(payment->owned_here(s));
    EXPECT_NE(table.find("chat")->owner_of(s), "game-node");
  }
  EXPECT_EQ(table.find("nope"), nullptr);
}

TEST(RoutingTableTest, NonMemberOwnsNothing) {
  const std::vector<MemberInfo> members{{"a", {"x"}}};
  RoutingTable table(1, members, *modulo_strategy(), 8, "outsider", intern);
  for (std::uint32_t s = 0; s < 8; ++s) EXPECT_FALSE(table.find("x")->owned_here(s));
}

TEST(RoutingTableTest, CustomStrategyIsConsulted) {
  struct LastNode : PlacementStrategy {
    std::size_t owner(std::uint32_t, std::string_view, std::span<const std::string> nodes) const override {
      return nodes.size() - 1;
    }
  };
  const std::vector<MemberInfo> members{{"b", {"x"}}, {"a", {"x"}}, {"c", {"x"}}};
  RoutingTable table(1, members, LastNode{}, 16, "a", intern);
  for (std::uint32_t s = 0; s < 16; ++s) EXPECT_EQ(table.find("x")->owner_of(s), "c");
}

}  // namespace
}  // namespace mesh::detail

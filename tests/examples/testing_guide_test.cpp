// The four tests of the Elixir Mesh guide's "Testing" section, ported to GoogleTest.
#include <gtest/gtest.h>

#include <mesh/mesh.hpp>

#include "actors/game_actor.hpp"

namespace {

class GameActorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node.register_actor<examples::GameActor>("GameActor");
    node.register_capabilities({"game"});
  }
  static mesh::Request game(std::string id, mesh::Value payload) {
    return mesh::Request{.module = "GameActor", .id = std::move(id), .payload = std::move(payload),
                         .capability = "game"};
  }
  mesh::Node node{mesh::NodeOptions{.name = "test"}};
};

TEST_F(GameActorTest, IncrementsScore) {
  auto reply = node.call(game("test_game_1", {{"action", "increment_score"}}));
  ASSERT_TRUE(reply) << reply.error();
  EXPECT_EQ(reply->value, 1);
}

TEST_F(GameActorTest, MaintainsStateAcrossCalls) {
  auto first = node.call(game("test_game_2", {{"action", "increment_score"}}));
  auto second = node.call(game("test_game_2", {{"action", "increment_score"}}));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->pid, second->pid);  // same process
  EXPECT_EQ(second->value, 2);         // state maintained
}

TEST_F(GameActorTest, CustomInitialization) {
  mesh::Request request = game("test_game_3", {{"action", "get_state"}});
  request.init_arg = mesh::Value{{"starting_level", 10}};
  auto reply = node.call(std::move(request));
  ASSERT_TRUE(reply) << reply.error();
  EXPECT_EQ(reply->value["level"], 10);
}

TEST_F(GameActorTest, AsyncCast) {
  auto created = node.call(game("test_game_4", {{"action", "get_state"}}));
  ASSERT_TRUE(created);
  EXPECT_TRUE(node.cast(game("test_game_4", {{"action", "log"}})));
  // The cast ran before this call and did not disturb the actor.
  auto after = node.call(game("test_game_4", {{"action", "get_state"}}));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->pid, created->pid);
}

}  // namespace

// The Elixir Mesh Quickstart, in C++: one node, a GameActor, five players.
#include <iostream>

#include <mesh/mesh.hpp>

#include "actors/game_actor.hpp"

int main() {
  mesh::Node node(mesh::NodeOptions{.name = "quickstart"});
  std::cout << "✓ Mesh started as " << node.name() << "\n";
  node.register_actor<examples::GameActor>("GameActor");
  node.register_capabilities({"game"});
  std::cout << "✓ Capabilities registered: [game]\n";

  auto game = [](std::string id, std::string action) {
    return mesh::Request{.module = "GameActor", .id = std::move(id),
                         .payload = {{"action", std::move(action)}}, .capability = "game"};
  };

  auto first = node.call(game("player_123", "increment_score"));
  if (!first) {
    std::cerr << "call failed: " << first.error() << "\n";
    return 1;
  }
  std::cout << "Score: " << first->value << ", PID: " << first->pid << "\n";
  auto second = node.call(game("player_123", "increment_score"));
  std::cout << "Score: " << second->value << ", PID: " << second->pid
            << (second->pid == first->pid ? " (same PID!)" : " (new PID?)") << "\n";
  std::cout << "Level: " << node.call(game("player_123", "level_up"))->value << "\n";
  std::cout << "Stats: " << node.call(game("player_123", "get_stats"))->value << "\n";

  for (int player = 1; player <= 5; ++player) {
    auto reply = node.call(game("player_" + std::to_string(player), "increment_score"));
    std::cout << "Player " << player << ": " << reply->value << "\n";
  }

  const std::uint32_t shard = node.shard_for("player_123");
  std::cout << "player_123 is on shard " << shard << "\n";
  std::cout << "Shard " << shard << " is owned by: " << node.owner_node(shard, "game").value()
            << "\n";
  return second->pid == first->pid ? 0 : 1;
}

// The custom-initialization GameActor: init_arg is used only when the actor is first activated.
#include <iostream>

#include <mesh/mesh.hpp>

#include "actors/game_actor.hpp"

int main() {
  mesh::Node node(mesh::NodeOptions{.name = "init-demo"});
  node.register_actor<examples::GameActor>("GameActor");
  node.register_capabilities({"game"});
  auto get_state = [](int starting_level) {
    return mesh::Request{.module = "GameActor", .id = "player_123",
                         .payload = {{"action", "get_state"}}, .capability = "game",
                         .init_arg = mesh::Value{{"starting_level", starting_level}}};
  };
  auto first = node.call(get_state(10));
  std::cout << "first activation, starting_level 10: " << first->value << "\n";
  auto again = node.call(get_state(99));
  std::cout << "same actor, init_arg ignored:        " << again->value << "\n";
  return first->value["level"] == 10 && again->value["level"] == 10 ? 0 : 1;
}

// GameActor from the Elixir Mesh Quickstart and Implementing Processes guides.
#pragma once

#include <iostream>
#include <string>

#include <mesh/mesh.hpp>

namespace examples {

// State: score and level. Calls take {"action": ...}:
//   "increment_score" -> new score      "level_up" -> new level
//   "get_stats" -> {"score", "level"}   "get_state" -> {"id", "score", "level"}
// Cast {"action": "log"} prints the state. An init_arg {"starting_level": n} sets the level
// of a new activation (the guide's custom initialization). snapshot/restore keep the state
// across planned moves.
class GameActor {
 public:
  explicit GameActor(std::string id) : id_(std::move(id)) {}
  GameActor(std::string id, const mesh::Value& init)
      : id_(std::move(id)), level_(init.value("starting_level", 1)) {}

  mesh::Value handle_call(const mesh::Value& payload) {
    const std::string action = payload.value("action", "");
    if (action == "increment_score") return ++score_;
    if (action == "level_up") return ++level_;
    if (action == "get_stats") return {{"score", score_}, {"level", level_}};
    if (action == "get_state") return {{"id", id_}, {"score", score_}, {"level", level_}};
    return {{"error", "unknown_action"}, {"action", action}};
  }

  // Optional hooks: with them a player's score and level move with it when its shard moves to
  // another node (a node joins or leaves, a capability changes).
  mesh::Value snapshot() const { return {{"score", score_}, {"level", level_}}; }
  void restore(const mesh::Value& state) {
    score_ = state.value("score", 0);
    level_ = state.value("level", 1);
  }

  void handle_cast(const mesh::Value& payload) {
    if (payload.value("action", "") == "log") {
      std::cout << "GameActor " << id_ << ": score=" << score_ << ", level=" << level_ << "\n";
    }
  }

 private:
  std::string id_;
  int score_ = 0;
  int level_ = 1;
};

}  // namespace examples

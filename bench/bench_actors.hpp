// Actors used by the benchmarks.
#pragma once

#include <memory>
#include <string>

#include <mesh/mesh.hpp>

namespace bench {

// The Quickstart's hot path: reads the action and bumps a score.
struct ScoreActor {
  explicit ScoreActor(std::string) {}
  mesh::Value handle_call(const mesh::Value& payload) {
    const auto it = payload.find("action");
    if (it != payload.end() && *it == "increment_score") ++score;
    return score;
  }
  int score = 0;
};

// The smallest useful actor: no state at all.
struct IdleActor {
  explicit IdleActor(std::string) {}
  mesh::Value handle_call(const mesh::Value&) { return nullptr; }
};

inline mesh::Request score_request(std::string id) {
  return mesh::Request{.module = "Score", .id = std::move(id),
                       .payload = {{"action", "increment_score"}}, .capability = "game"};
}

inline std::string actor_id(std::size_t n) { return "p" + std::to_string(n); }

// A standalone node serving "game" with the Score and Idle actors, and warm_actors ScoreActors
// already activated (ids actor_id(0..warm_actors-1)).
inline std::unique_ptr<mesh::Node> make_node(std::size_t warm_actors) {
  auto node = std::make_unique<mesh::Node>(mesh::NodeOptions{.name = "bench"});
  node->register_actor<ScoreActor>("Score");
  node->register_actor<IdleActor>("Idle");
  node->register_capabilities({"game"});
  for (std::size_t i = 0; i < warm_actors; ++i) (void)node->call(score_request(actor_id(i)));
  return node;
}

}  // namespace bench

// Crasher from the Implementing Processes guide: a crash discards the actor, the next call gets
// a fresh one with a new Pid, and nothing else is affected.
#include <iostream>

#include <mesh/mesh.hpp>

#include "actors/crasher.hpp"

int main() {
  mesh::Node node(mesh::NodeOptions{.name = "crasher-demo"});
  node.register_actor<examples::Crasher>("Crasher");
  node.register_capabilities({"crasher"});
  auto request = [](mesh::Value payload) {
    return mesh::Request{.module = "Crasher", .id = "crasher_1", .payload = std::move(payload),
                         .capability = "crasher"};
  };
  auto before = node.call(request(mesh::Value::object()));
  std::cout << "before: " << before->pid << "\n";
  auto crash = node.call(request({{"action", "crash"}}));
  std::cout << "crash:  " << crash.error() << "\n";
  auto after = node.call(request(mesh::Value::object()));
  std::cout << "after:  " << after->pid << (after->pid != before->pid ? " (new PID)" : "") << "\n";
  return after->pid != before->pid && crash.error().code == mesh::Errc::actor_crashed ? 0 : 1;
}

// Counter from the Implementing Processes guide: a stateful actor reached by id.
#include <iostream>

#include <mesh/mesh.hpp>

#include "actors/counter.hpp"

int main() {
  mesh::Node node(mesh::NodeOptions{.name = "counter-demo"});
  node.register_actor<examples::Counter>("Counter");
  node.register_capabilities({"counter"});
  const mesh::Request request{.module = "Counter", .id = "counter_1", .payload = mesh::Value::object(),
                              .capability = "counter"};
  mesh::Pid first;
  for (int i = 0; i < 3; ++i) {
    auto reply = node.call(request);
    if (!reply) {
      std::cerr << reply.error() << "\n";
      return 1;
    }
    if (i == 0) first = reply->pid;
    std::cout << "counter_1 = " << reply->value << " on " << reply->pid
              << (reply->pid == first ? "" : " (new PID!)") << "\n";
  }
  mesh::Request reset = request;
  reset.payload = {{"action", "reset"}};
  (void)node.cast(reset);
  std::cout << "after reset: " << node.call(request)->value << "\n";
  return 0;
}

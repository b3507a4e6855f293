// Echo: answers with its payload, like the Elixir Mesh VirtualTestActor.
#pragma once

#include <string>

#include <mesh/mesh.hpp>

namespace examples {

class EchoActor {
 public:
  explicit EchoActor(std::string) {}
  mesh::Value handle_call(mesh::Value payload) { return payload; }
  void handle_cast(const mesh::Value&) {}
};

// Calls another actor from inside a handler: {"module","id","capability","payload"} describe
// the target; the reply is the target's reply (or {"error", "message"}). It lets a test or demo
// start a call on any node of a cluster.
class RelayActor {
 public:
  explicit RelayActor(std::string) {}
  mesh::Value handle_call(const mesh::Value& payload, mesh::ActorContext& context) {
    auto reply = context.call(mesh::Request{.module = payload.value("module", ""),
                                            .id = payload.value("id", ""),
                                            .payload = payload.value("payload", mesh::Value::object()),
                                            .capability = payload.value("capability", "")});
    if (!reply) {
      return {{"error", std::string(mesh::to_string(reply.error().code))},
              {"message", reply.error().message}};
    }
    return {{"pid", reply->pid.to_string()}, {"node", reply->pid.node}, {"value", reply->value}};
  }
};

}  // namespace examples

// Actor classes and helpers shared by the node tests.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <mesh/mesh.hpp>

namespace mesh::test {

using namespace std::chrono_literals;

// Counts calls; {"op":"get"} reads, anything else increments. Counts casts separately.
struct Counter {
  explicit Counter(std::string id) : id(std::move(id)) {}
  Counter(std::string id, Value init) : id(std::move(id)), count(init.value("start", 0)) {}
  Value handle_call(Value payload) {
    if (payload.is_object() && payload.value("op", "") == "get") return count;
    return ++count;
  }
  void handle_cast(Value) { ++count; }
  std::string id;
  int count = 0;
};

// Records every payload it sees, in order; {"op":"log"} returns the record.
struct Recorder {
  explicit Recorder(std::string) {}
  Value handle_call(Value payload) {
    if (payload.is_object() && payload.value("op", "") == "log") return seen;
    seen.push_back(std::move(payload));
    return seen.size();
  }
  void handle_cast(Value payload) { seen.push_back(std::move(payload)); }
  Value seen = Value::array();
};

// {"op":"crash","why":...} throws; {"op":"cast_crash"} as a cast throws; else returns calls.
struct Crasher {
  explicit Crasher(std::string) {}
  Value handle_call(Value payload) {
    if (payload.value("op", "") == "crash") throw std::runtime_error(payload.value("why", "boom!"));
    return ++calls;
  }
  void handle_cast(Value payload) {
    if (payload.value("op", "") == "crash") throw std::runtime_error("cast boom");
    ++calls;
  }
  int calls = 0;
};

// Its constructor throws for ids starting with "bad".
struct FailingInit {
  explicit FailingInit(std::string id) {
    if (id.rfind("bad", 0) == 0) throw std::runtime_error("cannot start " + id);
  }
  Value handle_call(Value) { return "ok"; }
};

// Sleeps payload["ms"] milliseconds, then answers.
struct Sleeper {
  explicit Sleeper(std::string) {}
  Value handle_call(Value payload) {
    std::this_thread::sleep_for(std::chrono::milliseconds(payload.value("ms", 0)));
    return ++calls;
  }
  void handle_cast(Value payload) { handle_call(std::move(payload)); }
  int calls = 0;
};

// Forwards to another actor: {"to": id, "via": "context"|"node", "then": payload-for-target}.
// "module" defaults to Relay, so Relay->Relay chains (and cycles) can be built.
struct Relay {
  explicit Relay(std::string) {}
  Value handle_call(Value payload, ActorContext& context) {
    if (!payload.contains("to")) return Value{{"at", context.id()}, {"pid", context.self().to_string()}};
    Request next{.module = payload.value("module", "Relay"),
                 .id = payload["to"].get<std::string>(),
                 .payload = payload.value("then", Value::object()),
                 .capability = context.capability(),
                 .timeout = std::chrono::milliseconds(payload.value("timeout_ms", 5000))};
    Result<Reply> reply = payload.value("via", "context") == "node"
                              ? context.node().call(std::move(next))
                              : context.call(std::move(next));
    if (!reply) {
      return Value{{"error", std::string(to_string(reply.error().code))},
                   {"message", reply.error().message}};
    }
    return Value{{"from", context.id()}, {"reply", reply->value}};
  }
};

// Stops itself when asked; counts calls otherwise.
struct Stopper {
  explicit Stopper(std::string) {}
  Value handle_call(Value payload, ActorContext& context) {
    if (payload.value("op", "") == "stop") context.stop();
    return ++calls;
  }
  int calls = 0;
};

inline Request req(std::string module, std::string id, Value payload = Value::object(),
                   std::string capability = "test") {
  return Request{.module = std::move(module),
                 .id = std::move(id),
                 .payload = std::move(payload),
                 .capability = std::move(capability)};
}

// A standalone node with capability "test" and every test actor registered.
inline NodeOptions small_node(std::uint32_t workers = 2) {
  return NodeOptions{.name = "n1", .worker_threads = workers};
}

inline void register_all(Node& node) {
  node.register_actor<Counter>("Counter");
  node.register_actor<Recorder>("Recorder");
  node.register_actor<Crasher>("Crasher");
  node.register_actor<FailingInit>("FailingInit");
  node.register_actor<Sleeper>("Sleeper");
  node.register_actor<Relay>("Relay");
  node.register_actor<Stopper>("Stopper");
  node.register_capabilities({"test"});
}

// Polls `done` every millisecond until it holds or `limit` passes; returns whether it held.
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = 2000ms) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace mesh::test

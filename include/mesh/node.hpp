// Node: one member of a mesh (one per process in production; several may share a process).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/actor.hpp"
#include "mesh/error.hpp"
#include "mesh/node_options.hpp"
#include "mesh/reminder.hpp"
#include "mesh/request.hpp"
#include "mesh/status.hpp"

namespace mesh {

namespace detail {
class NodeCore;
}

// Hosts activations for the shards it owns and routes calls to the owner of any actor. Every
// member function is thread-safe, including from inside a handler. Destroying a Node stops its
// actors; calls waiting on it end with Errc::shutting_down. The Node must outlive every call
// made on it (as for any C++ object, a call may not start while the destructor runs).
class Node {
 public:
  // Starts the node. Throws std::invalid_argument for unusable options (shard_count 0, ...).
  explicit Node(NodeOptions options = {});
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Makes `module` an actor type of this node. Throws std::invalid_argument for an empty module
  // name or unusable options (a persistent module without snapshot()/restore(), or on a node
  // without NodeOptions::state_store) and std::logic_error when the name is taken. The class
  // is checked at compile time.
  template <class Actor>
  void register_actor(std::string module, ActorOptions options = {}) {
    detail::check_actor_class<Actor>();
    register_actor_type(std::move(module), detail::actor_vtable<Actor>, options);
  }

  // Sets (replaces) the capabilities this node serves; shards are placed among the nodes that
  // have a request's capability. Empty names are rejected with std::invalid_argument.
  void register_capabilities(std::vector<std::string> capabilities);

  // Sends request.payload to the actor's handle_call and waits for the reply, an error or
  // request.timeout. Activates the actor (with request.init_arg) if it has no activation.
  [[nodiscard]] Result<Reply> call(Request request);
  // Routes request.payload to the actor's handle_cast and returns without waiting for it to run.
  // Messages from one thread reach an actor in the order they were sent, calls and casts alike.
  [[nodiscard]] Result<void> cast(Request request);
  // Like call() but returns at once; `done` runs exactly once with the outcome: on this thread
  // before async_call returns when the actor was idle, otherwise on a node thread. `done` must
  // not throw and should not block for long. request.timeout bounds the wait.
  void async_call(Request request, std::function<void(Result<Reply>)> done);

  // Reminders (docs/timers-and-reminders.md): durable, kept in NodeOptions::state_store with
  // the actor's shard and delivered to its handle_reminder(name, payload) by the shard's owner,
  // at least once, across moves, crashes and restarts. Any node may set them: the request goes
  // to the owner like a call (bounded by 5 s). set_reminder replaces a reminder of the same
  // name; it fires `due` from now (by the owner's clock), then every `period` if one is given
  // (periods missed while no node was up fire once). Errors: invalid_request (empty name or
  // address, negative due, a period that is not positive, a payload over
  // kMaxReminderPayloadBytes, a module without handle_reminder, a node without a store),
  // unknown_module, no_nodes, fenced / store_unavailable (the store), timeout.
  [[nodiscard]] Result<void> set_reminder(const ActorAddress& actor, std::string name,
                                          std::chrono::milliseconds due,
                                          std::optional<std::chrono::milliseconds> period = {},
                                          Value payload = {});
  // Removes a reminder; removing one that does not exist succeeds.
  [[nodiscard]] Result<void> remove_reminder(const ActorAddress& actor, std::string_view name);
  // The actor's reminders, by name.
  [[nodiscard]] Result<std::vector<ReminderInfo>> reminders(const ActorAddress& actor);

  std::vector<std::string> nodes_for(std::string_view capability) const;  // sorted
  std::vector<std::string> all_capabilities() const;                      // sorted, unique
  // shard_of(actor_id, shard_count): the same on every node.
  std::uint32_t shard_for(std::string_view actor_id) const;
  // The node that owns `shard` for `capability` in this node's view. Errors: invalid_request
  // (shard out of range or empty capability), no_nodes.
  Result<std::string> owner_node(std::uint32_t shard, std::string_view capability) const;
  const std::string& name() const;
  // Introspection, for operators and tests: view epoch, members, owned shards, activations.
  NodeStatus status() const;
  // Every activation this node hosts now (cost: one pass over all of them).
  std::vector<ActivationInfo> activations() const;
  // Stops the activations that sit on shards this node does not own by its current view (after
  // a partition, say) and returns how many. Also runs every NodeOptions::reconcile_interval.
  std::size_t reconcile();

  // The "host:port" this node accepts peers on (with the real port when listen used port 0);
  // empty for a standalone node.
  const std::string& listen_address() const;
  // The "host:port" the HTTP gateway serves on (with the real port when http_listen used port
  // 0); empty when NodeOptions::http_listen is empty.
  const std::string& http_address() const;

 private:
  friend class detail::NodeCore;  // its own actors reach it through ActorContext::node()
  void register_actor_type(std::string module, const detail::ActorVTable& vtable,
                           ActorOptions options);
  std::unique_ptr<detail::NodeCore> core_;
};

}  // namespace mesh

// ActorContext's outgoing messages: a handler's call, cast and async_call are the node's
// (src/runtime/handler_frame.cpp has the rest). Node::call picks up the current handler's call
// chain (HandlerFrame::current()), so a cycle through the context is caught as through Node.
#include "mesh/actor.hpp"
#include "mesh/node.hpp"

namespace mesh {

Result<Reply> ActorContext::call(Request request) { return node().call(std::move(request)); }

Result<void> ActorContext::cast(Request request) { return node().cast(std::move(request)); }

void ActorContext::async_call(Request request, std::function<void(Result<Reply>)> done) {
  node().async_call(std::move(request), std::move(done));
}

Result<void> ActorContext::set_reminder(std::string name, std::chrono::milliseconds due,
                                       std::optional<std::chrono::milliseconds> period,
                                       Value payload) {
  return node().set_reminder(ActorAddress{capability(), module(), id()}, std::move(name), due,
                             period, std::move(payload));
}

Result<void> ActorContext::remove_reminder(std::string_view name) {
  return node().remove_reminder(ActorAddress{capability(), module(), id()}, name);
}

}  // namespace mesh

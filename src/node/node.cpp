#include "mesh/node.hpp"

#include "node/node_core.hpp"
#include "runtime/handler_frame.hpp"

namespace mesh {
namespace {

// A plain Node::call made inside a handler carries that handler's call chain, exactly as
// ActorContext::call does, so cycles are caught either way.
detail::ChainPtr current_chain() {
  detail::HandlerFrame* frame = detail::HandlerFrame::current();
  return frame ? frame->chain_for_nested_call() : nullptr;
}

}  // namespace

Node::Node(NodeOptions options)
    : core_(std::make_unique<detail::NodeCore>(*this, std::move(options))) {}

Node::~Node() = default;

void Node::register_actor_type(std::string module, const detail::ActorVTable& vtable,
                               ActorOptions options) {
  core_->register_actor_type(std::move(module), vtable, options);
}

void Node::register_capabilities(std::vector<std::string> capabilities) {
  core_->register_capabilities(std::move(capabilities));
}

Result<Reply> Node::call(Request request) {
  return core_->route_call(std::move(request), current_chain());
}

Result<void> Node::cast(Request request) { return core_->route_cast(std::move(request)); }

void Node::async_call(Request request, std::function<void(Result<Reply>)> done) {
  core_->route_async_call(std::move(request), std::move(done));
}

std::vector<std::string> Node::nodes_for(std::string_view capability) const {
  return core_->nodes_for(capability);
}

std::vector<std::string> Node::all_capabilities() const { return core_->all_capabilities(); }

std::uint32_t Node::shard_for(std::string_view actor_id) const {
  return core_->shard_for(actor_id);
}

Result<std::string> Node::owner_node(std::uint32_t shard, std::string_view capability) const {
  return core_->owner_node(shard, capability);
}

const std::string& Node::name() const { return core_->name(); }

const std::string& Node::listen_address() const { return core_->listen_address(); }

const std::string& Node::http_address() const { return core_->http_address(); }

NodeStatus Node::status() const { return core_->status(); }

std::vector<ActivationInfo> Node::activations() const { return core_->activations(); }

std::size_t Node::reconcile() { return core_->reconcile(); }

}  // namespace mesh

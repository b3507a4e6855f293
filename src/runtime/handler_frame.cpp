#include "runtime/handler_frame.hpp"

#include <memory>

#include "runtime/actor_host.hpp"

namespace mesh::detail {
namespace {
thread_local HandlerFrame* current_frame = nullptr;
}  // namespace

HandlerFrame::HandlerFrame(const std::string& name, Node* n, const CapabilityIds& caps,
                           Activation& a, const ChainPtr& c, ActorHost* h) noexcept
    : node_name(name),
      node(n),
      capabilities(caps),
      activation(a),
      chain(c),
      host(h),
      outer_(current_frame),
      depth_(current_frame ? current_frame->depth_ + 1 : 1),
      context_(*this) {
  current_frame = this;
}

HandlerFrame::~HandlerFrame() { current_frame = outer_; }

HandlerFrame* HandlerFrame::current() noexcept { return current_frame; }

std::uint32_t HandlerFrame::depth() noexcept { return current_frame ? current_frame->depth_ : 0; }

const ChainPtr& HandlerFrame::chain_for_nested_call() {
  if (!nested_chain_) {
    nested_chain_ = std::make_shared<const CallChain>(
        CallChain{node_name, activation.serial, chain, chain_depth(chain) + 1});
  }
  return nested_chain_;
}

const Pid& HandlerFrame::self() {
  if (!self_) self_.emplace(Pid{node_name, activation.serial});
  return *self_;
}

const std::string& HandlerFrame::id() {
  if (!id_) id_.emplace(activation.id());
  return *id_;
}

}  // namespace mesh::detail

// The parts of ActorContext that send messages (call, cast, async_call) belong to the node
// layer: src/node/actor_context.cpp.
namespace mesh {

using detail::HandlerFrame;

const std::string& ActorContext::id() const noexcept { return frame_.id(); }
const std::string& ActorContext::module() const noexcept {
  return frame_.activation.type->module;
}
const std::string& ActorContext::capability() const noexcept {
  return frame_.capabilities.name(frame_.activation.capability);
}
const Pid& ActorContext::self() const noexcept { return frame_.self(); }
Node& ActorContext::node() const noexcept { return *frame_.node; }
void ActorContext::stop() noexcept { frame_.activation.stop_requested = true; }

Result<TimerId> ActorContext::start_timer(std::chrono::milliseconds due,
                                          std::optional<std::chrono::milliseconds> period,
                                          Value payload) {
  if (frame_.host == nullptr) {
    return std::unexpected(Error{Errc::invalid_request, "this handler cannot start timers"});
  }
  return frame_.host->start_timer(frame_.activation, due, period, std::move(payload));
}

bool ActorContext::cancel_timer(TimerId timer) noexcept {
  return frame_.host != nullptr && frame_.host->cancel_timer(frame_.activation, timer);
}

}  // namespace mesh

// HandlerFrame: what the runtime knows about the handler running on this thread.
#pragma once

#include <optional>

#include "core/call_chain.hpp"
#include "mesh/actor.hpp"
#include "placement/capability_ids.hpp"
#include "runtime/activation.hpp"

namespace mesh::detail {

class ActorHost;

// Lives on the stack of the thread running one message, and is that thread's "current handler"
// (frames nest when a handler's call runs another actor inline). Not thread-safe: one thread.
struct HandlerFrame {
  // `node` is what ActorContext::node() returns (the runtime never calls it); `capabilities`
  // names the activation's capability id.
  HandlerFrame(const std::string& node_name, Node* node, const CapabilityIds& capabilities,
               Activation& activation, const ChainPtr& chain, ActorHost* host = nullptr) noexcept;
  ~HandlerFrame();
  HandlerFrame(const HandlerFrame&) = delete;
  HandlerFrame& operator=(const HandlerFrame&) = delete;

  // The innermost handler running on this thread, or null outside handlers.
  static HandlerFrame* current() noexcept;
  // How many handlers are nested on this thread (0 outside handlers).
  static std::uint32_t depth() noexcept;

  // The chain a blocking call made by this handler carries: this activation, then the chain
  // of the message being handled. Built on first use, shared by later calls of the same run.
  const ChainPtr& chain_for_nested_call();
  const Pid& self();
  // The activation's id as a std::string (ActorContext::id() returns one); made on first use,
  // since the activation keeps its id as bytes after the actor, not as a std::string.
  const std::string& id();
  ActorContext& context() noexcept { return context_; }

  const std::string& node_name;
  Node* const node;
  const CapabilityIds& capabilities;
  Activation& activation;
  const ChainPtr& chain;
  ActorHost* const host;  // runs the activation's timers (ActorContext::start_timer)

 private:
  HandlerFrame* outer_;
  std::uint32_t depth_;
  ChainPtr nested_chain_;
  std::optional<Pid> self_;
  std::optional<std::string> id_;
  ActorContext context_;
};

}  // namespace mesh::detail

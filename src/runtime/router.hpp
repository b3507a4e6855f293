// Router: what a handler's context needs from its node (routing calls, naming things).
#pragma once

#include <cstdint>
#include <string>

#include "mesh/error.hpp"
#include "mesh/request.hpp"
#include "runtime/call_chain.hpp"
#include "runtime/call_state.hpp"

namespace mesh {
class Node;
}

namespace mesh::detail {

// Implemented by the node; the runtime calls it, so the runtime does not depend on the node.
class Router {
 public:
  virtual ~Router() = default;
  virtual Result<Reply> route_call(Request&& request, const ChainPtr& chain) = 0;
  virtual Result<void> route_cast(Request&& request) = 0;
  // may_run_here: whether a local actor may run the call on this thread (not on an IO thread).
  virtual void route_async_call(Request&& request, const ChainPtr& chain, CallState::Callback done,
                                bool may_run_here) = 0;
  virtual Node& facade() = 0;
  virtual const std::string& capability_name(std::uint32_t capability) const = 0;
};

}  // namespace mesh::detail

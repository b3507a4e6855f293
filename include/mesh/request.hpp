// Request and Reply: what a caller sends to an actor and what comes back.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "mesh/pid.hpp"
#include "mesh/value.hpp"

namespace mesh {

// One message to the actor (capability, module, id). Built with designated initializers, so the
// field order is part of the API: new fields go at the end.
struct Request {
  std::string module;                // actor type name given to register_actor
  std::string id;                    // actor id
  Value payload;                     // handed to handle_call / handle_cast
  std::string capability;            // routing capability
  std::optional<Value> init_arg;     // used only by the activation this request creates
  std::chrono::milliseconds timeout{5000};  // call and async_call: how long to wait for a reply
};

// A successful call: the activation that answered and its reply.
struct Reply {
  Pid pid;
  Value value;
};

}  // namespace mesh

// Errors at mesh's public edge: a fixed set of codes that keep their meaning across nodes.
#pragma once

#include <cstdint>
#include <expected>
#include <iosfwd>
#include <string>
#include <string_view>

namespace mesh {

// Why a request failed. The numeric values are part of the wire format: append, never reorder.
enum class Errc : std::uint8_t {
  invalid_request = 1,    // empty module, id or capability, or another malformed field
  no_nodes = 2,           // no node in the view has the request's capability
  unknown_module = 3,     // the owner node has no actor type registered under that module name
  activation_failed = 4,  // the actor's constructor threw
  actor_crashed = 5,      // the handler threw; the activation was discarded
  timeout = 6,            // no reply within Request::timeout; a late reply is dropped
  node_unreachable = 7,   // the owner node cannot be reached
  deadlock = 8,           // the call would wait on an actor already waiting in this call chain
  overloaded = 9,         // a bounded queue or limit refused the request
  shutting_down = 10,     // the node is stopping; nothing more is accepted
  // This node's claim on the actor's shard in the state store was superseded by another
  // node's: the write was refused and the activation discarded. Retrying may succeed.
  fenced = 11,
  // The state store could not be reached or failed; the activation was discarded so that no
  // state ahead of the store stays in memory. Retrying may succeed once the store is back.
  store_unavailable = 12,
};

// The stable lower-case name of a code, e.g. "actor_crashed". Unknown values give "unknown".
std::string_view to_string(Errc code) noexcept;
std::ostream& operator<<(std::ostream& out, Errc code);

// A failure: its code and a human-readable message (for actor_crashed, the exception's what()).
struct Error {
  Errc code;
  std::string message;

  friend bool operator==(const Error&, const Error&) = default;
};

// "actor_crashed: boom" (or just the code's name when the message is empty).
std::string to_string(const Error& error);
std::ostream& operator<<(std::ostream& out, const Error& error);

// The result of every fallible public operation.
template <class T>
using Result = std::expected<T, Error>;

}  // namespace mesh

// How a request keeps its caller's deadline while the node routes it more than once.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "mesh/error.hpp"
#include "mesh/request.hpp"

namespace mesh::detail {

// How many times one request may be refused by the host (its view changed after routing) and
// routed again before the node gives up on a view that will not settle.
inline constexpr std::uint32_t kMaxReroutes = 8;

// Sets request.timeout to what is left until `deadline` (rounded up to a millisecond), so the
// next hop (the host's queue or a peer) gives up when the caller does. False once it passed.
inline bool with_time_left(Request& request, std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left <= std::chrono::milliseconds::zero()) return false;
  request.timeout = left;
  return true;
}

inline Error timed_out(const std::string& where) {
  return Error{Errc::timeout, "no reply within the request's timeout (" + where + ")"};
}

inline Error unsettled() {
  return Error{Errc::node_unreachable,
               "the actor's shard changed owner " + std::to_string(kMaxReroutes) +
                   " times while the request was being routed"};
}

}  // namespace mesh::detail

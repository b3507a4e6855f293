// Message: one queued request in an activation's mailbox.
#pragma once

#include <optional>

#include "mesh/value.hpp"
#include "runtime/call_chain.hpp"
#include "runtime/call_state.hpp"

namespace mesh::detail {

enum class MessageKind : std::uint8_t { call, cast };

// Owned by the mailbox it sits in, then by the thread that runs it.
struct Message {
  Message* next = nullptr;
  MessageKind kind;
  Value payload;
  std::optional<Value> init_arg;
  ChainPtr chain;          // blocking calls from inside a handler only
  RefPtr<CallState> reply; // null for casts
};

}  // namespace mesh::detail

// Message: one queued request in an activation's mailbox.
#pragma once

#include <optional>

#include "mesh/value.hpp"
#include "core/call_chain.hpp"
#include "core/call_state.hpp"

namespace mesh::detail {

// restore: an actor arriving with its shard is constructed and handed its state (init_arg, when
// it has one) by the pool, like any message, never on the thread that received it.
// timer and reminder carry what identifies them in init_arg (which they do not otherwise use,
// so that every message does not pay for a field only they need): the TimerId as a number, the
// reminder's name as a string.
enum class MessageKind : std::uint8_t { call, cast, restore, timer, reminder };

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

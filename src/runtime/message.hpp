// Message: one queued request in an activation's mailbox.
#pragma once

#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <string_view>

#include "mesh/value.hpp"
#include "core/call_chain.hpp"
#include "core/call_state.hpp"
#include "core/msgpack_codec.hpp"

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
  // Non-zero for a peer's call or cast made by with_encoded_payload: the payload is that many
  // bytes of MessagePack right after the Message, and `payload` is null until take_payload().
  std::uint32_t encoded_size = 0;

  // A message whose payload stays the MessagePack it arrived in (checked by
  // msgpack::Reader::encoded_value()), copied into the Message's own allocation: the IO thread
  // that receives it makes one allocation, and the worker that runs it decodes the payload, so
  // the Value is allocated and freed on one thread.
  static Message* with_encoded_payload(MessageKind kind, std::string_view encoded, ChainPtr chain,
                                       RefPtr<CallState> reply) {
    void* memory = ::operator new(sizeof(Message) + encoded.size());
    auto* message =
        new (memory) Message{nullptr, kind, Value(), std::nullopt, std::move(chain),
                             std::move(reply), static_cast<std::uint32_t>(encoded.size())};
    std::memcpy(static_cast<char*>(memory) + sizeof(Message), encoded.data(), encoded.size());
    return message;
  }
  // A call or cast of `request`: its payload and init_arg moved in, or with `encoded` (a peer's
  // payload, request.payload unused) the payload as with_encoded_payload keeps it.
  static Message* for_request(MessageKind kind, Request& request, std::string_view encoded,
                              ChainPtr chain, RefPtr<CallState> reply) {
    Message* message;
    if (encoded.empty()) {
      message = new Message{nullptr, kind, std::move(request.payload), std::nullopt,
                            std::move(chain), std::move(reply)};
    } else {
      message = with_encoded_payload(kind, encoded, std::move(chain), std::move(reply));
    }
    message->init_arg = std::move(request.init_arg);
    return message;
  }
  // The payload, decoded here when it came encoded. Throws std::invalid_argument only for bytes
  // encoded_value() would have refused.
  Value take_payload() {
    if (encoded_size == 0) return std::move(payload);
    const char* bytes = reinterpret_cast<const char*>(this) + sizeof(Message);
    return msgpack::Reader(std::string_view(bytes, encoded_size)).value();
  }
  // Every Message, with trailing bytes or without, is freed as with_encoded_payload allocates:
  // by the global operator new, without a size (sizeof(Message) is not the block's size).
  static void operator delete(void* memory) { ::operator delete(memory); }
};

}  // namespace mesh::detail

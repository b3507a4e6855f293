// libFuzzer target: arbitrary bytes through the frame parser, the CALL/CAST/REPLY decoders and
// the control-frame decoders (MEMBERS, CAPABILITIES, HANDOFF, RELEASE, ASK_RELEASE), and the
// check of a payload left encoded (PayloadDecoding::deferred) against decoding it at once.
// A decoder may reject input (an Error or std::invalid_argument), never crash, hang or leak.
// Build and run with scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cluster/call_codec.hpp"
#include "cluster/control_codec.hpp"
#include "cluster/wire.hpp"
#include "core/msgpack_codec.hpp"
#include "mesh/value.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mesh::detail;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  // As a stream of frames, fed in two pieces to exercise reassembly.
  wire::FrameParser parser(1 << 16);
  parser.feed(bytes.data(), size / 2);
  for (int piece = 0; piece < 2; ++piece) {
    for (;;) {
      auto next = parser.next();
      if (!next || !next->has_value()) break;
      wire::Frame& frame = **next;
      try {
        if (frame.type == wire::Type::reply) {
          (void)decode_reply(frame.raw);
        } else if (wire::raw_body(frame.type)) {
          (void)decode_request(frame.raw);
        } else if (frame.type == wire::Type::members) {
          (void)decode_members(frame.body);
        } else if (frame.type == wire::Type::capabilities) {
          (void)decode_capabilities(frame.body);
        } else if (is_control(frame.type)) {
          (void)decode_control(frame.type, std::move(frame.body));
        }
      } catch (const std::invalid_argument&) {
      }
    }
    if (piece == 0) parser.feed(bytes.data() + size / 2, size - size / 2);
  }

  // As bare bodies. A request whose payload the IO thread checks and leaves encoded is accepted
  // exactly when the eager decoding accepts it, and its payload decodes later to the same value.
  std::optional<IncomingRequest> eager, deferred;
  try {
    eager = decode_request(bytes);
  } catch (const std::invalid_argument&) {
  }
  try {
    deferred = decode_request(bytes, PayloadDecoding::deferred);
  } catch (const std::invalid_argument&) {
  }
  if (eager.has_value() != deferred.has_value()) __builtin_trap();
  if (deferred) {
    // Compared as bytes: a NaN is not equal to itself as a Value.
    std::string now, later;
    msgpack::Writer(now).value(eager->request.payload);
    msgpack::Writer(later).value(msgpack::Reader(deferred->encoded_payload).value());
    if (now != later) __builtin_trap();
  }
  try {
    (void)decode_reply(bytes);
  } catch (const std::invalid_argument&) {
  }
  // As a MessagePack body of every control type.
  mesh::Value body = mesh::Value::from_msgpack(bytes.begin(), bytes.end(), true, false);
  if (body.is_object()) {
    for (const wire::Type type : {wire::Type::handoff, wire::Type::release, wire::Type::ask_release}) {
      try {
        (void)decode_control(type, mesh::Value(body));
      } catch (const std::invalid_argument&) {
      }
    }
    try {
      (void)decode_members(body);
    } catch (const std::invalid_argument&) {
    }
    try {
      (void)decode_capabilities(body);
    } catch (const std::invalid_argument&) {
    }
  }
  return 0;
}

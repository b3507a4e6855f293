// Encoding and decoding of the hot frames: CALL, CAST and REPLY (docs/wire-protocol.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "cluster/wire.hpp"
#include "mesh/request.hpp"
#include "core/call_chain.hpp"

namespace mesh::detail {

// A CALL or CAST as received.
struct IncomingRequest {
  Request request;
  std::uint64_t id = 0;  // CALL only
  std::uint32_t hops = 0;
  ChainPtr chain;
  // With PayloadDecoding::deferred, the payload's MessagePack (a view into the frame's body;
  // request.payload stays null), checked to be a value msgpack::Reader::value() decodes.
  std::string_view encoded_payload;
};

// Whether decode_request decodes the payload into request.payload, or leaves it encoded for the
// thread that runs the handler (decoding allocates there, where the Value is also freed).
enum class PayloadDecoding : std::uint8_t { now, deferred };

// Appends a whole frame (header included) of type call or cast to `out`.
void append_request(std::string& out, wire::Type type, std::uint64_t id, const Request& request,
                    const ChainPtr& chain, std::uint32_t hops);
// The same frame as a string of its own.
std::string encode_request(wire::Type type, std::uint64_t id, const Request& request,
                           const ChainPtr& chain, std::uint32_t hops);
// The body of a CALL or CAST. Throws std::invalid_argument when malformed.
IncomingRequest decode_request(std::string_view body,
                               PayloadDecoding payload = PayloadDecoding::now);

void append_reply(std::string& out, std::uint64_t id, const Result<Reply>& result);
std::string encode_reply(std::uint64_t id, const Result<Reply>& result);
// The body of a REPLY: its request id and outcome. Throws std::invalid_argument when malformed.
std::pair<std::uint64_t, Result<Reply>> decode_reply(std::string_view body);

}  // namespace mesh::detail

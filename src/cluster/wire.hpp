// Wire format: frames and the messages they carry (docs/wire-protocol.md is the spec).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/error.hpp"
#include "mesh/value.hpp"

namespace mesh::detail::wire {

inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderBytes = 6;  // u32 length, u8 version, u8 type

enum class Type : std::uint8_t {
  hello = 1,
  auth = 2,
  refuse = 3,
  members = 4,
  capabilities = 5,
  heartbeat = 6,
  leave = 7,
  call = 8,
  cast = 9,
  reply = 10,
  handoff = 11,  // one actor (and its snapshot) moving with its shard to the receiver
  release = 12,  // the sender no longer holds these shards: the receiver may serve them
  retire = 13,   // the sender replaced this link by another: only replies follow on it
  ask_release = 14,  // the sender still waits for these shards: release them if you can
};
inline constexpr std::uint8_t kMaxType = 14;

std::string_view type_name(Type type) noexcept;

// Whether frames of this type are decoded field by field from their raw body (the hot path:
// CALL, CAST, REPLY) rather than into a Value.
constexpr bool raw_body(Type type) {
  return type == Type::call || type == Type::cast || type == Type::reply;
}

// A frame: its type and its MessagePack body, as a Value (a map) or, for raw_body() types, as
// bytes that stay valid until the parser's next call to next().
struct Frame {
  std::uint8_t version;
  Type type;
  Value body;
  std::string_view raw;
};

// Writes the 6-byte header in front of a body appended after it: start_frame() returns the
// header's offset, finish_frame() fills it in once the body is complete.
std::size_t start_frame(std::string& out);
void finish_frame(std::string& out, std::size_t start, Type type);

// Appends one encoded frame to `out`.
void append_frame(std::string& out, Type type, const Value& body);
std::string encode_frame(Type type, const Value& body);

// Splits a byte stream into frames. Feed it what the socket read; next() yields complete frames.
// Any malformed input (oversize length, unknown type, undecodable body, a body that is not a
// map) makes next() return an Error and the parser unusable: the connection must be closed.
// Frames of another protocol version are returned as they are, for the handshake to refuse.
class FrameParser {
 public:
  explicit FrameParser(std::size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}
  void feed(const char* data, std::size_t size) { buffer_.append(data, size); }
  // Frames longer than this from now on are malformed (a handshake allows only small ones).
  void set_max_frame_bytes(std::size_t max_frame_bytes) { max_frame_bytes_ = max_frame_bytes; }
  // A frame, nothing yet (nullopt), or an error.
  Result<std::optional<Frame>> next();
  std::size_t buffered() const { return buffer_.size() - offset_; }

 private:
  std::size_t max_frame_bytes_;
  std::string buffer_;
  std::size_t offset_ = 0;
};

// Field access for decoded bodies: throws std::invalid_argument naming the field when it is
// missing or of the wrong type, so that one catch turns any bad message into a clear error.
const std::string& get_string(const Value& body, std::string_view field);
std::uint64_t get_u64(const Value& body, std::string_view field);
const Value& get_field(const Value& body, std::string_view field);
std::vector<std::uint8_t> get_binary(const Value& body, std::string_view field);

}  // namespace mesh::detail::wire

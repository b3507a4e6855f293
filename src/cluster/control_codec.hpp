// Encoding and decoding of the control frames: MEMBERS and CAPABILITIES (membership), HANDOFF,
// RELEASE and ASK_RELEASE (rebalancing). docs/wire-protocol.md is the spec; its example bytes
// are pinned by tests/cluster/control_codec_test.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cluster/wire.hpp"
#include "mesh/value.hpp"

namespace mesh::detail {

// A member as MEMBERS lists it.
struct MemberAddress {
  std::string name;
  std::string listen;
  std::uint64_t incarnation = 0;
  friend bool operator==(const MemberAddress&, const MemberAddress&) = default;
};

// MEMBERS: the sender's capabilities and the members it knows (itself first).
struct MembersMessage {
  std::vector<std::string> capabilities;  // sorted, unique, no empty name
  std::vector<MemberAddress> members;
  friend bool operator==(const MembersMessage&, const MembersMessage&) = default;
};

// CAPABILITIES: the sender's new set.
struct CapabilitiesMessage {
  std::vector<std::string> capabilities;  // sorted, unique, no empty name
  friend bool operator==(const CapabilitiesMessage&, const CapabilitiesMessage&) = default;
};

// The control messages the cluster carries for the node without acting on them: what they mean
// is the rebalancer's business (src/node/rebalancer.hpp).
struct HandoffMessage {  // one actor (and its snapshot) moving with its shard to the receiver
  std::string capability;
  std::uint32_t shard = 0;
  std::string module;
  std::string id;
  std::optional<Value> state;
  friend bool operator==(const HandoffMessage&, const HandoffMessage&) = default;
};
struct ReleaseMessage {  // the sender holds nothing more of these shards
  std::string capability;
  std::vector<std::uint32_t> shards;
  bool answer = false;  // sent in answer to ASK_RELEASE
  friend bool operator==(const ReleaseMessage&, const ReleaseMessage&) = default;
};
struct AskReleaseMessage {  // the sender still waits for the receiver to release these shards
  std::string capability;
  std::vector<std::uint32_t> shards;
  friend bool operator==(const AskReleaseMessage&, const AskReleaseMessage&) = default;
};
using ControlMessage = std::variant<HandoffMessage, ReleaseMessage, AskReleaseMessage>;

// Whole frames (header included).
std::string encode_members(const MembersMessage& message);
std::string encode_capabilities(const CapabilitiesMessage& message);
std::string encode_control(const ControlMessage& message);

// Bodies as the frame parser decoded them. Each throws std::invalid_argument naming the field
// when a field is missing or of the wrong type, or a shard number exceeds 32 bits.
MembersMessage decode_members(const Value& body);
CapabilitiesMessage decode_capabilities(const Value& body);
// `type` must be HANDOFF, RELEASE or ASK_RELEASE (is_control).
ControlMessage decode_control(wire::Type type, Value&& body);
constexpr bool is_control(wire::Type type) {
  return type == wire::Type::handoff || type == wire::Type::release ||
         type == wire::Type::ask_release;
}

}  // namespace mesh::detail

#include "cluster/control_codec.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace mesh::detail {
namespace {

// A shard number from the wire; larger than any shard count could be, it is malformed.
std::uint32_t shard_number(std::uint64_t value) {
  if (value > std::numeric_limits<std::uint32_t>::max()) {
    throw std::invalid_argument("shard " + std::to_string(value) + " is out of range");
  }
  return static_cast<std::uint32_t>(value);
}

std::vector<std::uint32_t> shard_list(const Value& body) {
  const Value& list = wire::get_field(body, "shards");
  if (!list.is_array()) throw std::invalid_argument("field 'shards' is not a list");
  std::vector<std::uint32_t> shards;
  shards.reserve(list.size());
  for (const Value& shard : list) {
    if (!shard.is_number_unsigned()) throw std::invalid_argument("field 'shards' holds a non-shard");
    shards.push_back(shard_number(shard.get<std::uint64_t>()));
  }
  return shards;
}

// Names arrive sorted and unique from a well-behaved sender; the receiver makes sure.
std::vector<std::string> name_list(const Value& body, std::string_view field) {
  const Value& list = wire::get_field(body, field);
  if (!list.is_array()) {
    throw std::invalid_argument("field '" + std::string(field) + "' is not a list");
  }
  std::vector<std::string> out;
  for (const Value& item : list) {
    if (!item.is_string() || item.get_ref<const std::string&>().empty()) {
      throw std::invalid_argument("field '" + std::string(field) + "' holds a non-name");
    }
    out.push_back(item.get<std::string>());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

struct Encoder {
  std::string operator()(const HandoffMessage& m) const {
    Value body{{"capability", m.capability}, {"shard", m.shard}, {"module", m.module},
               {"id", m.id}};
    if (m.state) body["state"] = *m.state;
    return wire::encode_frame(wire::Type::handoff, body);
  }
  std::string operator()(const ReleaseMessage& m) const {
    Value body{{"capability", m.capability}, {"shards", m.shards}};
    if (m.answer) body["answer"] = true;
    return wire::encode_frame(wire::Type::release, body);
  }
  std::string operator()(const AskReleaseMessage& m) const {
    return wire::encode_frame(wire::Type::ask_release,
                              Value{{"capability", m.capability}, {"shards", m.shards}});
  }
};

}  // namespace

std::string encode_members(const MembersMessage& message) {
  Value members = Value::array();
  for (const MemberAddress& m : message.members) {
    members.push_back(Value{{"name", m.name}, {"listen", m.listen}, {"incarnation", m.incarnation}});
  }
  return wire::encode_frame(wire::Type::members,
                            Value{{"capabilities", message.capabilities}, {"members", members}});
}

std::string encode_capabilities(const CapabilitiesMessage& message) {
  return wire::encode_frame(wire::Type::capabilities, Value{{"capabilities", message.capabilities}});
}

std::string encode_control(const ControlMessage& message) { return std::visit(Encoder{}, message); }

MembersMessage decode_members(const Value& body) {
  MembersMessage out{name_list(body, "capabilities"), {}};
  const Value& members = wire::get_field(body, "members");
  if (!members.is_array()) throw std::invalid_argument("field 'members' is not a list");
  for (const Value& member : members) {
    out.members.push_back(MemberAddress{wire::get_string(member, "name"),
                                        wire::get_string(member, "listen"),
                                        wire::get_u64(member, "incarnation")});
  }
  return out;
}

CapabilitiesMessage decode_capabilities(const Value& body) {
  return CapabilitiesMessage{name_list(body, "capabilities")};
}

ControlMessage decode_control(wire::Type type, Value&& body) {
  switch (type) {
    case wire::Type::handoff: {
      HandoffMessage m{wire::get_string(body, "capability"),
                       shard_number(wire::get_u64(body, "shard")), wire::get_string(body, "module"),
                       wire::get_string(body, "id"), std::nullopt};
      if (const auto it = body.find("state"); it != body.end()) m.state = std::move(*it);
      return m;
    }
    case wire::Type::release: {
      const auto answer = body.find("answer");
      if (answer != body.end() && !answer->is_boolean()) {
        throw std::invalid_argument("field 'answer' is not a boolean");
      }
      return ReleaseMessage{wire::get_string(body, "capability"), shard_list(body),
                            answer != body.end() && answer->get<bool>()};
    }
    case wire::Type::ask_release:
      return AskReleaseMessage{wire::get_string(body, "capability"), shard_list(body)};
    default:
      throw std::invalid_argument(std::string(wire::type_name(type)) + " is not a control frame");
  }
}

}  // namespace mesh::detail

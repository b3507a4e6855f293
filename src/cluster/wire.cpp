#include "cluster/wire.hpp"

#include <stdexcept>

namespace mesh::detail::wire {
namespace {

void put_u32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

std::uint32_t get_u32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) |
         std::uint32_t{u[3]};
}

std::invalid_argument bad_field(std::string_view field, const char* what) {
  return std::invalid_argument("field '" + std::string(field) + "' " + what);
}

}  // namespace

std::string_view type_name(Type type) noexcept {
  switch (type) {
    case Type::hello: return "HELLO";
    case Type::auth: return "AUTH";
    case Type::refuse: return "REFUSE";
    case Type::members: return "MEMBERS";
    case Type::capabilities: return "CAPABILITIES";
    case Type::heartbeat: return "HEARTBEAT";
    case Type::leave: return "LEAVE";
    case Type::call: return "CALL";
    case Type::cast: return "CAST";
    case Type::reply: return "REPLY";
    case Type::handoff: return "HANDOFF";
    case Type::release: return "RELEASE";
    case Type::retire: return "RETIRE";
    case Type::ask_release: return "ASK_RELEASE";
  }
  return "UNKNOWN";
}

std::size_t start_frame(std::string& out) {
  const std::size_t start = out.size();
  out.append(kHeaderBytes, '\0');
  return start;
}

void finish_frame(std::string& out, std::size_t start, Type type) {
  std::string header;
  put_u32(header, static_cast<std::uint32_t>(out.size() - start - 4));
  header.push_back(static_cast<char>(kVersion));
  header.push_back(static_cast<char>(type));
  out.replace(start, kHeaderBytes, header);
}

void append_frame(std::string& out, Type type, const Value& body) {
  const std::size_t start = start_frame(out);
  Value::to_msgpack(body, nlohmann::detail::output_adapter<char>(out));
  finish_frame(out, start, type);
}

std::string encode_frame(Type type, const Value& body) {
  std::string out;
  append_frame(out, type, body);
  return out;
}

Result<std::optional<Frame>> FrameParser::next() {
  auto fail = [](std::string message) -> Result<std::optional<Frame>> {
    return std::unexpected(Error{Errc::invalid_request, std::move(message)});
  };
  // Compact only here, so that the raw body of the frame returned last time stays valid until now.
  if (offset_ > 65536 && offset_ * 2 > buffer_.size()) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  if (buffered() < kHeaderBytes) return std::optional<Frame>{};
  const char* p = buffer_.data() + offset_;
  const std::uint32_t length = get_u32(p);
  if (length < 2) return fail("frame length " + std::to_string(length) + " is too small");
  if (length > max_frame_bytes_) {
    return fail("frame of " + std::to_string(length) + " bytes exceeds the limit of " +
                std::to_string(max_frame_bytes_));
  }
  if (buffered() < 4 + std::size_t{length}) return std::optional<Frame>{};
  const auto version = static_cast<std::uint8_t>(p[4]);
  const auto type = static_cast<std::uint8_t>(p[5]);
  const auto* body_begin = reinterpret_cast<const std::uint8_t*>(p + kHeaderBytes);
  const auto* body_end = reinterpret_cast<const std::uint8_t*>(p + 4 + length);
  offset_ += 4 + std::size_t{length};
  if (version != kVersion) return std::optional<Frame>{Frame{version, Type::hello, Value{}, {}}};
  if (type == 0 || type > kMaxType) return fail("unknown frame type " + std::to_string(type));
  if (raw_body(static_cast<Type>(type))) {
    const std::string_view raw(p + kHeaderBytes, length - 2);
    return std::optional<Frame>{Frame{version, static_cast<Type>(type), Value{}, raw}};
  }
  Value body = Value::from_msgpack(body_begin, body_end, /*strict=*/true, /*allow_exceptions=*/false);
  if (body.is_discarded()) return fail("frame body is not valid MessagePack");
  if (!body.is_object()) return fail("frame body is not a map");
  return std::optional<Frame>{Frame{version, static_cast<Type>(type), std::move(body), {}}};
}

const Value& get_field(const Value& body, std::string_view field) {
  const auto it = body.find(field);
  if (it == body.end()) throw bad_field(field, "is missing");
  return *it;
}

const std::string& get_string(const Value& body, std::string_view field) {
  const Value& v = get_field(body, field);
  if (!v.is_string()) throw bad_field(field, "is not a string");
  return v.get_ref<const std::string&>();
}

std::uint64_t get_u64(const Value& body, std::string_view field) {
  const Value& v = get_field(body, field);
  if (!v.is_number_unsigned()) throw bad_field(field, "is not an unsigned integer");
  return v.get<std::uint64_t>();
}

std::vector<std::uint8_t> get_binary(const Value& body, std::string_view field) {
  const Value& v = get_field(body, field);
  if (!v.is_binary()) throw bad_field(field, "is not binary");
  return v.get_binary();
}

}  // namespace mesh::detail::wire

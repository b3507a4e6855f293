#include "core/msgpack_codec.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

namespace mesh::detail::msgpack {
namespace {

constexpr int kMaxDepth = 64;

std::invalid_argument malformed(const char* what) {
  return std::invalid_argument(std::string("malformed MessagePack: ") + what);
}

// fixstr, str8, str16 or str32: the only map keys a Value can hold.
bool is_str(std::uint8_t b) { return (b & 0xe0) == 0xa0 || (b >= 0xd9 && b <= 0xdb); }

}  // namespace

void Writer::be(std::uint64_t value, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out_.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

void Writer::map(std::uint32_t size) {
  if (size < 16) {
    out_.push_back(static_cast<char>(0x80 | size));
  } else {
    out_.push_back('\xdf');
    be(size, 4);
  }
}

void Writer::array(std::uint32_t size) {
  if (size < 16) {
    out_.push_back(static_cast<char>(0x90 | size));
  } else {
    out_.push_back('\xdd');
    be(size, 4);
  }
}

// The header of a str or bin of n bytes: the 8-, 16- or 32-bit length form.
void Writer::length(std::size_t n, char form8, char form16, char form32) {
  if (n < 256) {
    out_.push_back(form8);
    be(n, 1);
  } else if (n < 65536) {
    out_.push_back(form16);
    be(n, 2);
  } else {
    out_.push_back(form32);
    be(n, 4);
  }
}

void Writer::str(std::string_view text) {
  if (text.size() < 32) {
    out_.push_back(static_cast<char>(0xa0 | text.size()));
  } else {
    length(text.size(), '\xd9', '\xda', '\xdb');
  }
  out_.append(text);
}

void Writer::uint(std::uint64_t value) {
  if (value < 128) {
    out_.push_back(static_cast<char>(value));
  } else if (value < 256) {
    out_.push_back('\xcc');
    be(value, 1);
  } else if (value < 65536) {
    out_.push_back('\xcd');
    be(value, 2);
  } else if (value <= 0xffffffffull) {
    out_.push_back('\xce');
    be(value, 4);
  } else {
    out_.push_back('\xcf');
    be(value, 8);
  }
}

void Writer::integer(std::int64_t value) {
  if (value >= 0) {
    uint(static_cast<std::uint64_t>(value));
  } else if (value >= -32) {
    out_.push_back(static_cast<char>(value));  // negative fixint
  } else if (value >= INT8_MIN) {
    out_.push_back('\xd0');
    be(static_cast<std::uint64_t>(value), 1);
  } else if (value >= INT16_MIN) {
    out_.push_back('\xd1');
    be(static_cast<std::uint64_t>(value), 2);
  } else if (value >= INT32_MIN) {
    out_.push_back('\xd2');
    be(static_cast<std::uint64_t>(value), 4);
  } else {
    out_.push_back('\xd3');
    be(static_cast<std::uint64_t>(value), 8);
  }
}

// Written here rather than through nlohmann's to_msgpack, which allocates an output adapter per
// call; the encoding is the same MessagePack (floats always as float64).
void Writer::value(const Value& value) {
  switch (value.type()) {
    case Value::value_t::null:
    case Value::value_t::discarded:
      out_.push_back('\xc0');
      return;
    case Value::value_t::boolean:
      boolean(value.get<bool>());
      return;
    case Value::value_t::number_integer:
      integer(value.get<std::int64_t>());
      return;
    case Value::value_t::number_unsigned:
      uint(value.get<std::uint64_t>());
      return;
    case Value::value_t::number_float: {
      out_.push_back('\xcb');
      be(std::bit_cast<std::uint64_t>(value.get<double>()), 8);
      return;
    }
    case Value::value_t::string:
      str(value.get_ref<const std::string&>());
      return;
    case Value::value_t::array:
      array(static_cast<std::uint32_t>(value.size()));
      for (const Value& item : value) this->value(item);
      return;
    case Value::value_t::object:
      map(static_cast<std::uint32_t>(value.size()));
      for (auto it = value.begin(); it != value.end(); ++it) {
        str(it.key());
        this->value(it.value());
      }
      return;
    case Value::value_t::binary: {
      const auto& bytes = value.get_binary();
      if (bytes.has_subtype()) break;  // an ext type: nlohmann knows its many forms
      length(bytes.size(), '\xc4', '\xc5', '\xc6');
      out_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      return;
    }
  }
  Value::to_msgpack(value, nlohmann::detail::output_adapter<char>(out_));
}

std::uint8_t Reader::byte() {
  if (at_ >= data_.size()) throw malformed("truncated");
  return static_cast<std::uint8_t>(data_[at_++]);
}

std::uint8_t Reader::peek() const {
  if (at_ >= data_.size()) throw malformed("truncated");
  return static_cast<std::uint8_t>(data_[at_]);
}

std::uint64_t Reader::be(int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | byte();
  return value;
}

std::string_view Reader::take(std::size_t size) {
  if (size > data_.size() - at_) throw malformed("truncated");
  const std::string_view part = data_.substr(at_, size);
  at_ += size;
  return part;
}

std::uint32_t Reader::map() {
  const std::uint8_t b = byte();
  if ((b & 0xf0) == 0x80) return b & 0x0f;
  if (b == 0xde) return static_cast<std::uint32_t>(be(2));
  if (b == 0xdf) return static_cast<std::uint32_t>(be(4));
  throw malformed("expected a map");
}

std::uint32_t Reader::array() {
  const std::uint8_t b = byte();
  if ((b & 0xf0) == 0x90) return b & 0x0f;
  if (b == 0xdc) return static_cast<std::uint32_t>(be(2));
  if (b == 0xdd) return static_cast<std::uint32_t>(be(4));
  throw malformed("expected an array");
}

std::string_view Reader::str() {
  const std::uint8_t b = byte();
  if ((b & 0xe0) == 0xa0) return take(b & 0x1f);
  if (b == 0xd9) return take(be(1));
  if (b == 0xda) return take(be(2));
  if (b == 0xdb) return take(be(4));
  throw malformed("expected a string");
}

std::uint64_t Reader::uint() {
  const std::uint8_t b = byte();
  if (b < 0x80) return b;
  if (b == 0xcc) return be(1);
  if (b == 0xcd) return be(2);
  if (b == 0xce) return be(4);
  if (b == 0xcf) return be(8);
  throw malformed("expected an unsigned integer");
}

bool Reader::boolean() {
  const std::uint8_t b = byte();
  if (b == 0xc2 || b == 0xc3) return b == 0xc3;
  throw malformed("expected a boolean");
}

// Built directly rather than through nlohmann's from_msgpack, whose parser allocates a stack
// and an input adapter per value: a small payload such as {"action": "add"} cost 8 allocations
// that way and costs 3 (the map, its node, the string) this way. The result is what nlohmann
// makes of the same bytes (pinned by MsgpackTest); ext types, which nlohmann reads in many
// forms, still go through it.
Value Reader::value() {
  if (++depth_ > kMaxDepth) throw malformed("nested too deeply");
  const std::size_t start = at_;
  if (is_str(peek())) {
    --depth_;
    return std::string(str());
  }
  const std::uint8_t b = byte();
  Value decoded;
  std::uint64_t items = 0;
  bool is_map = false;
  if (b < 0x80) {
    decoded = static_cast<std::uint64_t>(b);
  } else if (b >= 0xe0) {
    decoded = static_cast<std::int64_t>(static_cast<std::int8_t>(b));
  } else if ((b & 0xf0) == 0x80) {
    items = b & 0x0f;
    is_map = true;
  } else if ((b & 0xf0) == 0x90) {
    items = b & 0x0f;
    decoded = Value::array();
  } else {
    switch (b) {
      case 0xc0: decoded = nullptr; break;
      case 0xc2: decoded = false; break;
      case 0xc3: decoded = true; break;
      case 0xcc: decoded = be(1); break;
      case 0xcd: decoded = be(2); break;
      case 0xce: decoded = be(4); break;
      case 0xcf: decoded = be(8); break;
      case 0xd0: decoded = static_cast<std::int64_t>(static_cast<std::int8_t>(be(1))); break;
      case 0xd1: decoded = static_cast<std::int64_t>(static_cast<std::int16_t>(be(2))); break;
      case 0xd2: decoded = static_cast<std::int64_t>(static_cast<std::int32_t>(be(4))); break;
      case 0xd3: decoded = static_cast<std::int64_t>(be(8)); break;
      case 0xca:
        decoded = static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(be(4))));
        break;
      case 0xcb: decoded = std::bit_cast<double>(be(8)); break;
      case 0xc4: case 0xc5: case 0xc6: {
        const std::string_view bytes = take(be(b == 0xc4 ? 1 : b == 0xc5 ? 2 : 4));
        decoded = Value::binary(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
        break;
      }
      case 0xdc: items = be(2); decoded = Value::array(); break;
      case 0xdd: items = be(4); decoded = Value::array(); break;
      case 0xde: items = be(2); is_map = true; break;
      case 0xdf: items = be(4); is_map = true; break;
      default: {  // ext types and bytes MessagePack does not define
        --depth_;
        at_ = start;
        skip();
        const auto* begin = reinterpret_cast<const std::uint8_t*>(data_.data() + start);
        decoded = Value::from_msgpack(begin, begin + (at_ - start), true, false);
        if (decoded.is_discarded()) throw malformed("undecodable value");
        return decoded;
      }
    }
  }
  if (items > data_.size() - at_) throw malformed("truncated");  // each item is >= 1 byte
  if (is_map) {
    decoded = Value::object();
    auto& members = decoded.get_ref<Value::object_t&>();
    for (std::uint64_t i = 0; i < items; ++i) {
      if (!is_str(peek())) throw malformed("undecodable value");
      std::string key(str());
      members.insert_or_assign(std::move(key), value());  // the last of equal keys wins
    }
  } else if (items > 0) {
    auto& elements = decoded.get_ref<Value::array_t&>();
    // Bounded: a hostile count must not reserve far more than the frame's bytes can fill.
    elements.reserve(std::min<std::uint64_t>(items, 1024));
    for (std::uint64_t i = 0; i < items; ++i) elements.push_back(value());
  }
  --depth_;
  return decoded;
}

std::string_view Reader::encoded_value() {
  const std::size_t start = at_;
  step_over(/*string_keys=*/true);
  return data_.substr(start, at_ - start);
}

void Reader::skip() { step_over(/*string_keys=*/false); }

void Reader::step_over(bool string_keys) {
  if (++depth_ > kMaxDepth) throw malformed("nested too deeply");
  const std::uint8_t b = byte();
  std::uint64_t items = 0;  // map entries count twice
  bool map = false;
  if (b < 0x80 || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
  } else if ((b & 0xf0) == 0x80) {
    items = 2u * (b & 0x0f);
    map = true;
  } else if ((b & 0xf0) == 0x90) {
    items = b & 0x0f;
  } else if ((b & 0xe0) == 0xa0) {
    take(b & 0x1f);
  } else {
    switch (b) {
      case 0xcc: case 0xd0: take(1); break;
      case 0xcd: case 0xd1: take(2); break;
      case 0xca: case 0xce: case 0xd2: take(4); break;
      case 0xcb: case 0xcf: case 0xd3: take(8); break;
      case 0xd9: case 0xc4: take(be(1)); break;
      case 0xda: case 0xc5: take(be(2)); break;
      case 0xdb: case 0xc6: take(be(4)); break;
      case 0xd4: take(2); break;
      case 0xd5: take(3); break;
      case 0xd6: take(5); break;
      case 0xd7: take(9); break;
      case 0xd8: take(17); break;
      case 0xc7: take(be(1) + 1); break;
      case 0xc8: take(be(2) + 1); break;
      case 0xc9: take(be(4) + 1); break;
      case 0xdc: items = be(2); break;
      case 0xdd: items = be(4); break;
      case 0xde: items = 2 * be(2); map = true; break;
      case 0xdf: items = 2 * be(4); map = true; break;
      default: throw malformed("unknown type byte");
    }
  }
  if (items > data_.size() - at_) throw malformed("truncated");  // each item is >= 1 byte
  for (std::uint64_t i = 0; i < items; ++i) {
    if (string_keys && map && i % 2 == 0 && !is_str(peek())) {
      throw malformed("undecodable value");
    }
    step_over(string_keys);
  }
  --depth_;
}

}  // namespace mesh::detail::msgpack

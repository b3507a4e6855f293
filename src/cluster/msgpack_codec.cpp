#include "cluster/msgpack_codec.hpp"

#include <bit>
#include <cstdint>

namespace mesh::detail::msgpack {
namespace {

constexpr int kMaxDepth = 64;

std::invalid_argument malformed(const char* what) {
  return std::invalid_argument(std::string("malformed MessagePack: ") + what);
}

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

Value Reader::value() {
  const std::size_t start = at_;
  skip();
  const auto* begin = reinterpret_cast<const std::uint8_t*>(data_.data() + start);
  Value decoded = Value::from_msgpack(begin, begin + (at_ - start), true, false);
  if (decoded.is_discarded()) throw malformed("undecodable value");
  return decoded;
}

void Reader::skip() {
  if (++depth_ > kMaxDepth) throw malformed("nested too deeply");
  const std::uint8_t b = byte();
  std::uint64_t items = 0;  // map entries count twice
  if (b < 0x80 || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
  } else if ((b & 0xf0) == 0x80) {
    items = 2u * (b & 0x0f);
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
      case 0xde: items = 2 * be(2); break;
      case 0xdf: items = 2 * be(4); break;
      default: throw malformed("unknown type byte");
    }
  }
  if (items > data_.size() - at_) throw malformed("truncated");  // each item is >= 1 byte
  for (std::uint64_t i = 0; i < items; ++i) skip();
  --depth_;
}

}  // namespace mesh::detail::msgpack

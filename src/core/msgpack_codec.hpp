// A small MessagePack writer and reader: the hot frames' envelopes (CALL, CAST, REPLY) are
// written and read field by field, and Values (payloads) straight into and out of the bytes,
// without nlohmann's codec and the allocations it makes per value.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "mesh/value.hpp"

namespace mesh::detail::msgpack {

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void map(std::uint32_t size);
  void array(std::uint32_t size);
  void str(std::string_view text);
  void uint(std::uint64_t value);
  void integer(std::int64_t value);
  void boolean(bool value) { out_.push_back(value ? '\xc3' : '\xc2'); }
  void value(const Value& value);  // any Value, through nlohmann

 private:
  void be(std::uint64_t value, int bytes);
  void length(std::size_t n, char form8, char form16, char form32);
  std::string& out_;
};

// Reads from a byte range; every method throws std::invalid_argument on malformed or truncated
// input, so the caller can reject the frame with one catch.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : data_(bytes) {}
  std::uint32_t map();
  std::uint32_t array();
  std::string_view str();
  std::uint64_t uint();
  bool boolean();
  Value value();  // the next value, decoded into a Value
  // The bytes of the next value, checked to be one value() would decode (so that decoding
  // them later, on another thread, cannot fail), without building it.
  std::string_view encoded_value();
  void skip();  // steps over the next value
  bool at_end() const { return at_ == data_.size(); }

 private:
  std::uint8_t byte();
  std::uint8_t peek() const;  // the next byte, not consumed
  std::uint64_t be(int bytes);
  std::string_view take(std::size_t size);
  // skip(); with string_keys it also refuses, as value() does, a map key that is no string
  void step_over(bool string_keys);
  std::string_view data_;
  std::size_t at_ = 0;
  int depth_ = 0;
};

}  // namespace mesh::detail::msgpack

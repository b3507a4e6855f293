// The MessagePack writer and reader: every kind of Value, and the reader's values against
// nlohmann's reading of the same bytes.
#include "core/msgpack_codec.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace mesh::detail {
namespace {

TEST(MsgpackTest, EveryKindOfValueRoundTrips) {
  Value many = Value::array();
  for (int i = 0; i < 40; ++i) many.push_back(i);  // longer than a fixarray
  Value wide = Value::object();
  for (int i = 0; i < 20; ++i) wide["k" + std::to_string(i)] = i;  // wider than a fixmap
  const Value original{
      {"null", nullptr},
      {"true", true},
      {"false", false},
      {"ints",
       {0,      1,      127,           128,           255,
        256,    65535,  65536,         4294967295LL,  4294967296LL,
        -1,     -32,    -33,           -128,          -129,
        -32768, -32769, -2147483648LL, -2147483649LL, std::numeric_limits<std::int64_t>::min()}},
      {"big", std::numeric_limits<std::uint64_t>::max()},
      {"floats", {0.5, -1.25, 1e300, 3.0}},
      {"strings",
       {"", "short", std::string(31, 'a'), std::string(32, 'b'), std::string(300, 'c'),
        std::string(70000, 'd'), "caf\xc3\xa9"}},
      {"binary", Value::binary({1, 2, 3, 255})},
      {"big binary", Value::binary(std::vector<std::uint8_t>(300, 7))},
      {"nested", {{"a", {{"b", {1, {{"c", nullptr}}}}}}}},
      {"many", many},
      {"wide", wide}};
  std::string bytes;
  msgpack::Writer(bytes).value(original);
  msgpack::Reader reader(bytes);
  const Value decoded = reader.value();
  EXPECT_TRUE(reader.at_end());
  EXPECT_EQ(decoded, original);
  // And nlohmann's own decoder reads the same bytes the same way.
  EXPECT_EQ(Value::from_msgpack(bytes), original);
}

// The reader's own decoder against nlohmann's reading of the same bytes: equal values, or both
// refusing. nlohmann reads one value and ignores what follows (strict = false), as the reader
// does; its nesting has no limit, so the inputs here stay below the reader's 64 levels.
// Equal, type for type (a signed 5 is not an unsigned 5 here), and floats bit for bit so that
// NaNs compare.
bool same(const Value& a, const Value& b) {
  if (a.type() != b.type() || a.size() != b.size()) return false;
  switch (a.type()) {
    case Value::value_t::number_float:
      return std::bit_cast<std::uint64_t>(a.get<double>()) ==
             std::bit_cast<std::uint64_t>(b.get<double>());
    case Value::value_t::array:
      return std::equal(a.begin(), a.end(), b.begin(), same);
    case Value::value_t::object:
      for (auto it = a.begin(), other = b.begin(); it != a.end(); ++it, ++other) {
        if (it.key() != other.key() || !same(it.value(), other.value())) return false;
      }
      return true;
    default:
      return a == b;
  }
}

void expect_decodes_as_nlohmann(const std::string& bytes) {
  const Value expected = Value::from_msgpack(bytes, /*strict=*/false, /*allow_exceptions=*/false);
  msgpack::Reader reader(bytes);
  msgpack::Reader checker(bytes);
  if (expected.is_discarded()) {
    EXPECT_THROW(reader.value(), std::invalid_argument) << testing::PrintToString(bytes);
    // What a peer's payload is checked with before its decoding is left to a worker.
    EXPECT_THROW(checker.encoded_value(), std::invalid_argument) << testing::PrintToString(bytes);
    return;
  }
  try {
    const std::string_view encoded = checker.encoded_value();
    EXPECT_TRUE(same(msgpack::Reader(encoded).value(), expected)) << testing::PrintToString(bytes);
    const Value decoded = reader.value();
    EXPECT_TRUE(same(decoded, expected)) << testing::PrintToString(bytes) << ": " << decoded.dump()
                                         << " against " << expected.dump();
  } catch (const std::invalid_argument& e) {
    ADD_FAILURE() << e.what() << " for " << testing::PrintToString(bytes) << ", nlohmann read "
                  << expected.dump();
  }
}

TEST(MsgpackTest, EveryTypeByteDecodesAsNlohmannDecodesIt) {
  const std::string tail(40, '\x07');  // enough bytes after the type byte for any fixed length
  for (int b = 0; b < 256; ++b) {
    // The type byte alone (truncated for most), then followed by bytes that complete it.
    expect_decodes_as_nlohmann(std::string(1, static_cast<char>(b)));
    expect_decodes_as_nlohmann(std::string(1, static_cast<char>(b)) + tail);
  }
  // Signed forms holding non-negative numbers stay signed; float32 widens.
  expect_decodes_as_nlohmann(std::string("\xd0\x05", 2));
  expect_decodes_as_nlohmann(std::string("\xd1\x00\x05", 3));
  expect_decodes_as_nlohmann(std::string("\xd3\x00\x00\x00\x00\x00\x00\x00\x05", 9));
  expect_decodes_as_nlohmann(std::string("\xd0\xfb", 2));
  expect_decodes_as_nlohmann(std::string("\xca\x3f\xc0\x00\x00", 5));
  expect_decodes_as_nlohmann(std::string(9, '\xff').replace(0, 1, "\xcf"));
  // Maps: a repeated key (the last wins), a key that is no string (refused), str8 keys.
  expect_decodes_as_nlohmann(std::string("\x82\xa1k\x01\xa1k\x02", 7));
  expect_decodes_as_nlohmann(std::string("\x81\x01\x02", 3));
  expect_decodes_as_nlohmann(std::string("\x81\xd9\x01k\xc3", 5));
  expect_decodes_as_nlohmann(std::string("\x81\xc4\x01k\xc3", 5));
  expect_decodes_as_nlohmann(std::string("\xde\x00\x01\xa1k\x90", 6));
  // Binary, with and without a subtype (ext), and bin16.
  expect_decodes_as_nlohmann(std::string("\xc4\x02\x01\x02", 4));
  expect_decodes_as_nlohmann(std::string("\xc5\x00\x01\x09", 4));
  expect_decodes_as_nlohmann(std::string("\xd4\x05\x09", 3));
  expect_decodes_as_nlohmann(std::string("\xc7\x01\x05\x09", 4));
  // A map whose count exceeds its bytes: refused. The bytes end a heap block of their own, so
  // that AddressSanitizer reports a reader that looks even one byte past them.
  const std::string whole("\x83\xa1k\x01\xa1l\x02", 7);
  const auto exact = std::make_unique<char[]>(whole.size());
  std::copy(whole.begin(), whole.end(), exact.get());
  EXPECT_THROW(msgpack::Reader(std::string_view(exact.get(), whole.size())).value(),
               std::invalid_argument);
  EXPECT_THROW(msgpack::Reader(std::string_view(exact.get(), whole.size())).encoded_value(),
               std::invalid_argument);
  // Counts larger than the bytes left.
  expect_decodes_as_nlohmann(std::string("\xdd\xff\xff\xff\xff\x01", 6));
  expect_decodes_as_nlohmann(std::string("\xdf\xff\xff\xff\xff\xa1k", 7));
}

TEST(MsgpackTest, RandomBytesDecodeAsNlohmannDecodesThem) {
  // Bytes drawn mostly from the type bytes of small values and containers, so that many inputs
  // are valid nested values; a fixed seed keeps the run the same each time.
  std::mt19937 random(20261202);
  const std::string alphabet(
      "\x00\x01\x7f\x80\x81\x82\x90\x91\x92\xa0\xa1\xa2\xc0\xc2\xc3\xc4"
      "\xca\xcb\xcc\xd0\xd3\xd4\xd9\xdc\xde\xe0\xff\x6b",
      28);
  int valid = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string bytes;
    const std::size_t size = 1 + random() % 24;
    for (std::size_t i = 0; i < size; ++i) {
      bytes.push_back(random() % 4 == 0 ? static_cast<char>(random() % 256)
                                        : alphabet[random() % alphabet.size()]);
    }
    if (!Value::from_msgpack(bytes, false, false).is_discarded()) ++valid;
    expect_decodes_as_nlohmann(bytes);
    if (testing::Test::HasFailure()) break;  // one input is enough to show
  }
  EXPECT_GT(valid, 2000);  // the comparison covered many values, not only refusals
}

}  // namespace
}  // namespace mesh::detail

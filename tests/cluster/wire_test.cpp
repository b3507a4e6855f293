// Framing, the hot-frame codec and the cookie proof.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/auth.hpp"
#include "cluster/call_codec.hpp"
#include "cluster/wire.hpp"

namespace mesh::detail {
namespace {

using namespace std::chrono_literals;

std::vector<wire::Frame> parse_all(wire::FrameParser& parser, std::vector<std::string>& raws) {
  std::vector<wire::Frame> frames;
  for (;;) {
    auto next = parser.next();
    EXPECT_TRUE(next) << next.error().message;
    if (!next || !next->has_value()) return frames;
    raws.emplace_back((*next)->raw);  // copy: the view lasts only until the next call
    frames.push_back(std::move(**next));
  }
}

TEST(WireTest, FramesSurviveAnySplitOfTheStream) {
  std::string stream;
  wire::append_frame(stream, wire::Type::heartbeat, Value::object());
  stream += encode_request(wire::Type::call, 7,
                           Request{.module = "M", .id = "i", .payload = {{"x", 1}}, .capability = "c"},
                           nullptr, 0);
  wire::append_frame(stream, wire::Type::leave, Value::object());
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    wire::FrameParser parser(1 << 20);
    std::vector<std::string> raws;
    parser.feed(stream.data(), split);
    auto frames = parse_all(parser, raws);
    parser.feed(stream.data() + split, stream.size() - split);
    auto rest = parse_all(parser, raws);
    frames.insert(frames.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
    ASSERT_EQ(frames.size(), 3u) << "split at " << split;
    EXPECT_EQ(frames[0].type, wire::Type::heartbeat);
    EXPECT_EQ(frames[1].type, wire::Type::call);
    EXPECT_EQ(frames[2].type, wire::Type::leave);
    EXPECT_EQ(decode_request(raws[1]).request.payload, (Value{{"x", 1}}));
  }
}

TEST(WireTest, BadFramesAreErrorsNotCrashes) {
  auto error_of = [](std::string bytes, std::size_t limit = 1024) {
    wire::FrameParser parser(limit);
    parser.feed(bytes.data(), bytes.size());
    auto next = parser.next();
    return next ? std::string() : next.error().message;
  };
  EXPECT_NE(error_of(std::string("\x00\x10\x00\x00\x01\x06", 6)).find("exceeds the limit"), std::string::npos);
  EXPECT_NE(error_of(std::string("\x00\x00\x00\x01\x01", 5) + '\0').find("too small"), std::string::npos);
  EXPECT_NE(error_of(std::string("\x00\x00\x00\x03\x01\x63\x80", 7)).find("unknown frame type"), std::string::npos);
  EXPECT_NE(error_of(std::string("\x00\x00\x00\x03\x01\x06\xc1", 7)).find("MessagePack"), std::string::npos);
  EXPECT_NE(error_of(std::string("\x00\x00\x00\x03\x01\x06\x01", 7)).find("not a map"), std::string::npos);
}

TEST(WireTest, OtherVersionsAreSurfacedForTheHandshakeToRefuse) {
  wire::FrameParser parser(1024);
  const std::string bytes("\x00\x00\x00\x03\x02\x01\x80", 7);
  parser.feed(bytes.data(), bytes.size());
  auto next = parser.next();
  ASSERT_TRUE(next && next->has_value());
  EXPECT_EQ((*next)->version, 2);
}

TEST(CallCodecTest, RequestRoundTrip) {
  auto chain = std::make_shared<const CallChain>(CallChain{"a", 1, nullptr, 1});
  chain = std::make_shared<const CallChain>(CallChain{"b", 2, chain, 2});
  const Request sent{.module = "GameActor", .id = "player_123", .payload = {{"action", "x"}},
                     .capability = "game", .init_arg = Value{{"starting_level", 3}},
                     .timeout = 1234ms};
  const std::string frame = encode_request(wire::Type::call, 99, sent, chain, 2);
  const IncomingRequest got = decode_request(std::string_view(frame).substr(wire::kHeaderBytes));
  EXPECT_EQ(got.id, 99u);
  EXPECT_EQ(got.hops, 2u);
  EXPECT_EQ(got.request.module, sent.module);
  EXPECT_EQ(got.request.id, sent.id);
  EXPECT_EQ(got.request.capability, sent.capability);
  EXPECT_EQ(got.request.payload, sent.payload);
  EXPECT_EQ(got.request.init_arg, sent.init_arg);
  EXPECT_EQ(got.request.timeout, 1234ms);
  ASSERT_TRUE(got.chain);
  EXPECT_TRUE(got.chain->contains("a", 1));
  EXPECT_TRUE(got.chain->contains("b", 2));
  EXPECT_EQ(got.chain->depth, 2u);
  EXPECT_EQ(got.chain->node, "b");
}

TEST(CallCodecTest, ReplyRoundTripKeepsErrors) {
  const std::string ok = encode_reply(5, Reply{Pid{"n1", 42}, Value{{"score", 3}}});
  auto [id, reply] = decode_reply(std::string_view(ok).substr(wire::kHeaderBytes));
  EXPECT_EQ(id, 5u);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->pid, (Pid{"n1", 42}));
  EXPECT_EQ(reply->value, (Value{{"score", 3}}));
  const std::string failed = encode_reply(6, std::unexpected(Error{Errc::actor_crashed, "boom!"}));
  auto [id2, error] = decode_reply(std::string_view(failed).substr(wire::kHeaderBytes));
  EXPECT_EQ(id2, 6u);
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error(), (Error{Errc::actor_crashed, "boom!"}));
}

TEST(CallCodecTest, MalformedBodiesThrowInvalidArgument) {
  EXPECT_THROW(decode_request(""), std::invalid_argument);
  EXPECT_THROW(decode_request("\x81\xa6module\x01"), std::invalid_argument);      // not a string
  EXPECT_THROW(decode_request("\x81\xa6module\xa1M"), std::invalid_argument);     // fields missing
  EXPECT_THROW(decode_reply("\x82\xa3rid\x01\xa2ok\xc2"), std::invalid_argument); // no code
  EXPECT_THROW(decode_reply("\x84\xa3rid\x01\xa2ok\xc2\xa4" "code\x63\xa7message\xa0"),
               std::invalid_argument);  // a complete reply whose code (99) is no Errc
  EXPECT_NO_THROW(decode_reply("\x84\xa3rid\x01\xa2ok\xc2\xa4" "code\x01\xa7message\xa0"));
  std::string deep(200, '\x91');  // arrays nested 200 deep
  deep += '\x01';
  EXPECT_THROW(decode_request("\x81\xa7payload" + deep), std::invalid_argument);
}

TEST(AuthTest, ProofDependsOnCookieNoncesAndNames) {
  const auth::Bytes n1 = auth::random_nonce(), n2 = auth::random_nonce();
  ASSERT_EQ(n1.size(), 32u);
  EXPECT_NE(n1, n2);
  const auth::Bytes p = auth::proof("cookie", n1, n2, "a", "b");
  EXPECT_EQ(p.size(), 32u);
  EXPECT_TRUE(auth::equal(p, auth::proof("cookie", n1, n2, "a", "b")));
  EXPECT_FALSE(auth::equal(p, auth::proof("other", n1, n2, "a", "b")));
  EXPECT_FALSE(auth::equal(p, auth::proof("cookie", n2, n1, "a", "b")));
  EXPECT_FALSE(auth::equal(p, auth::proof("cookie", n1, n2, "b", "a")));
  EXPECT_FALSE(auth::equal(p, auth::proof("cookie", n1, n2, "ab", "")));
}

}  // namespace
}  // namespace mesh::detail

// The example frames of docs/wire-protocol.md, read from the spec itself: the encoders must
// produce exactly those bytes and the decoders must read them back, so the spec and the code
// cannot drift apart. Malformed control bodies are refused with the field named.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

#include "cluster/call_codec.hpp"
#include "cluster/control_codec.hpp"
#include "cluster/wire.hpp"

namespace mesh::detail {
namespace {

// "<!-- example: NAME -->" followed by a ```text block of hex bytes.
std::map<std::string, std::string> spec_examples() {
  std::ifstream file(MESH_WIRE_SPEC);
  if (!file) throw std::runtime_error("cannot read " MESH_WIRE_SPEC);
  std::map<std::string, std::string> examples;
  std::string line, name;
  bool in_block = false;
  while (std::getline(file, line)) {
    const std::string marker = "<!-- example: ";
    if (line.rfind(marker, 0) == 0) {
      name = line.substr(marker.size(), line.find(" -->") - marker.size());
    } else if (!name.empty() && line == "```text") {
      in_block = true;
    } else if (in_block && line == "```") {
      in_block = false;
      name.clear();
    } else if (in_block) {
      std::istringstream hex(line);
      std::string byte;
      while (hex >> byte) examples[name].push_back(static_cast<char>(std::stoul(byte, nullptr, 16)));
    }
  }
  return examples;
}

// An example frame as the parser reads it: its raw body (CALL, CAST, REPLY) is copied out of
// the parser's buffer, which dies with the parser.
struct Parsed {
  wire::Type type;
  Value body;
  std::string raw;
};

// A body as it arrives: through MessagePack, so that numbers are typed as a peer sends them
// (a non-negative integer decodes as unsigned).
Value wire_body(const Value& body) { return Value::from_msgpack(Value::to_msgpack(body)); }

class WireExamplesTest : public ::testing::Test {
 protected:
  static Parsed parse(const std::string& bytes) {
    wire::FrameParser parser(1 << 20);
    parser.feed(bytes.data(), bytes.size());
    auto frame = parser.next();
    if (!frame || !frame->has_value()) throw std::runtime_error("not one whole frame");
    if (parser.buffered() != 0) throw std::runtime_error("bytes after the frame");
    wire::Frame& f = **frame;
    return Parsed{f.type, std::move(f.body), std::string(f.raw)};
  }
  const std::string& example(const std::string& name) {
    const auto it = examples.find(name);
    if (it == examples.end()) throw std::runtime_error("docs/wire-protocol.md has no example " + name);
    return it->second;
  }
  std::map<std::string, std::string> examples = spec_examples();
};

TEST_F(WireExamplesTest, TheSpecHasEveryExample) {
  for (const char* name : {"call", "reply_ok", "reply_error", "members", "capabilities", "handoff",
                           "release", "ask_release"}) {
    EXPECT_TRUE(examples.contains(name)) << name;
  }
}

TEST_F(WireExamplesTest, CallAndReplies) {
  const Request request{.module = "GameActor", .id = "p1",
                        .payload = Value{{"action", "level_up"}}, .capability = "game"};
  EXPECT_EQ(encode_request(wire::Type::call, 1, request, nullptr, 0), example("call"));
  const IncomingRequest in = decode_request(parse(example("call")).raw);
  EXPECT_EQ(in.id, 1u);
  EXPECT_EQ(in.hops, 0u);
  EXPECT_EQ(in.request.module, "GameActor");
  EXPECT_EQ(in.request.id, "p1");
  EXPECT_EQ(in.request.capability, "game");
  EXPECT_EQ(in.request.payload, request.payload);
  EXPECT_EQ(in.request.timeout, std::chrono::milliseconds(5000));
  EXPECT_FALSE(in.chain);

  EXPECT_EQ(encode_reply(1, Reply{Pid{"b", 42}, Value(2)}), example("reply_ok"));
  auto [ok_id, ok] = decode_reply(parse(example("reply_ok")).raw);
  EXPECT_EQ(ok_id, 1u);
  ASSERT_TRUE(ok.has_value()) << ok.error();
  EXPECT_EQ(ok->pid, (Pid{"b", 42}));
  EXPECT_EQ(ok->value, 2);

  const Result<Reply> late = std::unexpected(Error{Errc::timeout, "late"});
  EXPECT_EQ(encode_reply(2, late), example("reply_error"));
  auto [error_id, error] = decode_reply(parse(example("reply_error")).raw);
  EXPECT_EQ(error_id, 2u);
  ASSERT_FALSE(error.has_value());
  EXPECT_EQ(error.error().code, Errc::timeout);
  EXPECT_EQ(error.error().message, "late");
}

TEST_F(WireExamplesTest, MembershipFrames) {
  const MembersMessage members{{"game"}, {{"a", "127.0.0.1:4000", 7}}};
  EXPECT_EQ(encode_members(members), example("members"));
  Parsed frame = parse(example("members"));
  EXPECT_EQ(frame.type, wire::Type::members);
  EXPECT_EQ(decode_members(frame.body), members);

  const CapabilitiesMessage capabilities{{"chat", "game"}};
  EXPECT_EQ(encode_capabilities(capabilities), example("capabilities"));
  frame = parse(example("capabilities"));
  EXPECT_EQ(frame.type, wire::Type::capabilities);
  EXPECT_EQ(decode_capabilities(frame.body), capabilities);
}

TEST_F(WireExamplesTest, RebalancingFrames) {
  const ControlMessage handoff = HandoffMessage{"game", 42, "GameActor", "p1", Value{{"score", 3}}};
  const ControlMessage release = ReleaseMessage{"game", {1, 300}, true};
  const ControlMessage ask = AskReleaseMessage{"game", {7}};
  for (const auto& [name, message] : {std::pair{"handoff", handoff}, std::pair{"release", release},
                                      std::pair{"ask_release", ask}}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(encode_control(message), example(name));
    Parsed frame = parse(example(name));
    ASSERT_TRUE(is_control(frame.type));
    EXPECT_EQ(decode_control(frame.type, std::move(frame.body)), message);
  }
}

// Each malformed body is refused with a message naming what is wrong.
TEST_F(WireExamplesTest, MalformedControlBodiesAreRefusedWithTheFieldNamed) {
  const auto refusal = [](wire::Type type, const Value& body) -> std::string {
    try {
      (void)decode_control(type, wire_body(body));
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "accepted";
  };
  const Value shards{{"capability", "game"}, {"shards", {1, 2}}};
  EXPECT_NE(refusal(wire::Type::release, Value{{"shards", {1}}}).find("capability"),
            std::string::npos);
  EXPECT_NE(refusal(wire::Type::release, Value{{"capability", "game"}, {"shards", "1"}})
                .find("shards"),
            std::string::npos);
  EXPECT_NE(refusal(wire::Type::ask_release, Value{{"capability", "game"}, {"shards", {-1}}})
                .find("shards"),
            std::string::npos);
  EXPECT_NE(refusal(wire::Type::release,
                    Value{{"capability", "game"}, {"shards", {std::uint64_t{1} << 32}}})
                .find("out of range"),
            std::string::npos);
  Value bad_answer = shards;
  bad_answer["answer"] = 1;
  EXPECT_NE(refusal(wire::Type::release, bad_answer).find("answer"), std::string::npos);
  EXPECT_NE(refusal(wire::Type::handoff, Value{{"capability", "game"}, {"shard", 1}, {"id", "x"}})
                .find("module"),
            std::string::npos);
  EXPECT_NE(refusal(wire::Type::heartbeat, shards).find("not a control frame"), std::string::npos);
  EXPECT_EQ(refusal(wire::Type::release, shards), "accepted");

  try {
    (void)decode_members(wire_body(Value{{"capabilities", {"game", ""}}, {"members", Value::array()}}));
    ADD_FAILURE() << "an empty capability name was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("capabilities"), std::string::npos);
  }
}

}  // namespace
}  // namespace mesh::detail

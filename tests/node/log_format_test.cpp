// NodeOptions::log_format: the text form is the message alone; the JSON form is one object per
// line with the event's parts, for log collectors.
#include <gtest/gtest.h>

#include <mesh/mesh.hpp>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

std::string level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warning: return "warning";
    case LogLevel::error: return "error";
  }
  return "?";
}

struct Captured {
  std::mutex mutex;
  std::vector<std::pair<LogLevel, std::string>> lines;
  LogSink sink() {
    return [this](LogLevel level, std::string_view line) {
      std::lock_guard lock(mutex);
      lines.emplace_back(level, std::string(line));
    };
  }
  // The first line that contains `text`, or empty.
  std::string find(const std::string& text) {
    std::lock_guard lock(mutex);
    for (const auto& [level, line] : lines) {
      if (line.find(text) != std::string::npos) return line;
    }
    return "";
  }
};

NodeOptions member(std::string name, Captured& log, LogFormat format,
                   std::vector<std::string> seeds = {}) {
  NodeOptions options{.name = std::move(name), .listen = "127.0.0.1:0", .seeds = std::move(seeds),
                      .cookie = "secret", .worker_threads = 2};
  options.heartbeat_interval = 50ms;
  options.failure_timeout = 400ms;
  options.log = log.sink();
  options.log_format = format;
  return options;
}

TEST(LogFormatTest, JsonLinesCarryTimeLevelNodeEventAndFields) {
  Captured log;
  Node a(member("a", log, LogFormat::json));
  Node b(member("b", log, LogFormat::json, {a.listen_address()}));
  ASSERT_TRUE(eventually([&] { return !log.find("\"peer_connected\"").empty(); }, 3000ms));
  ASSERT_TRUE(eventually([&] { return !log.find("\"node\":\"a\"").empty(); }, 3000ms));
  std::lock_guard lock(log.mutex);
  bool saw_a_meeting_b = false;
  for (const auto& [level, line] : log.lines) {
    const Value record = Value::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(record.is_object()) << "not one JSON object: " << line;
    EXPECT_TRUE(std::regex_match(record.value("time", ""),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
        << line;
    ASSERT_TRUE(record["level"].is_string()) << line;
    ASSERT_TRUE(record["node"].is_string()) << line;
    ASSERT_TRUE(record["event"].is_string()) << line;
    ASSERT_TRUE(record["message"].is_string()) << line;
    ASSERT_TRUE(record["fields"].is_object()) << line;
    EXPECT_EQ(record["level"], level_name(level)) << line;
    if (record["event"] == "peer_connected" && record["node"] == "a") {
      saw_a_meeting_b = true;
      EXPECT_EQ(record["fields"].value("peer", ""), "b") << line;
      EXPECT_EQ(record["fields"].value("address", ""), b.listen_address()) << line;
      EXPECT_EQ(record["message"], "connected to b (" + b.listen_address() + ")") << line;
      EXPECT_EQ(record["level"], "info") << line;
    }
  }
  EXPECT_TRUE(saw_a_meeting_b);
}

TEST(LogFormatTest, TextIsTheMessageAlone) {
  Captured log;
  Node a(member("a", log, LogFormat::text));
  Node b(member("b", log, LogFormat::text, {a.listen_address()}));
  ASSERT_TRUE(eventually([&] { return !log.find("connected to b").empty(); }, 3000ms));
  EXPECT_EQ(log.find("connected to b"), "connected to b (" + b.listen_address() + ")");
}

TEST(LogFormatTest, AValueThatIsNoLogFormatIsRefused) {
  NodeOptions options = small_node();
  options.log_format = static_cast<LogFormat>(7);
  EXPECT_THROW(Node{options}, std::invalid_argument);
}

}  // namespace
}  // namespace mesh::test

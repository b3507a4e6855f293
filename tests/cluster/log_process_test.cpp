// The node program's --log-format json: every line it writes to stderr is one JSON object.
#include <gtest/gtest.h>

#include <mesh/mesh.hpp>
#include <sstream>
#include <string>

#include "node_process.hpp"

namespace mesh::test {
namespace {

using tools::NodeProcess;

TEST(LogProcessTest, JsonLogFormatWritesOneObjectPerLine) {
  const std::vector<std::string> common{"--listen", "127.0.0.1:0", "--cookie", "c",
                                        "--heartbeat-ms", "50", "--failure-timeout-ms", "500",
                                        "--log-format", "json"};
  auto args = [&](const std::string& name, std::vector<std::string> more) {
    std::vector<std::string> all{"--name", name};
    all.insert(all.end(), common.begin(), common.end());
    all.insert(all.end(), more.begin(), more.end());
    return all;
  };
  NodeProcess a(MESH_NODE_BINARY, args("a", {}));
  {
    NodeProcess b(MESH_NODE_BINARY, args("b", {"--seed", a.listen()}));
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (a.log().find("peer_connected") == std::string::npos &&
           std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(b.terminate(), 0);
  }
  EXPECT_EQ(a.terminate(), 0);
  std::istringstream lines(a.log());
  std::string line;
  std::set<std::string> events;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    const Value record = Value::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(record.is_object()) << "not a JSON object: " << line;
    EXPECT_EQ(record.value("node", ""), "a") << line;
    ASSERT_TRUE(record["fields"].is_object()) << line;
    events.insert(record.value("event", ""));
  }
  EXPECT_GT(count, 2);
  EXPECT_TRUE(events.contains("peer_connected")) << a.log();
  EXPECT_TRUE(events.contains("peer_lost")) << a.log();
  EXPECT_TRUE(events.contains("stopping")) << a.log();
}

}  // namespace
}  // namespace mesh::test

#include <gtest/gtest.h>

#include <sstream>

#include <mesh/mesh.hpp>

namespace mesh {
namespace {

TEST(ErrorTest, EveryCodeHasAStableName) {
  EXPECT_EQ(to_string(Errc::invalid_request), "invalid_request");
  EXPECT_EQ(to_string(Errc::no_nodes), "no_nodes");
  EXPECT_EQ(to_string(Errc::unknown_module), "unknown_module");
  EXPECT_EQ(to_string(Errc::activation_failed), "activation_failed");
  EXPECT_EQ(to_string(Errc::actor_crashed), "actor_crashed");
  EXPECT_EQ(to_string(Errc::timeout), "timeout");
  EXPECT_EQ(to_string(Errc::node_unreachable), "node_unreachable");
  EXPECT_EQ(to_string(Errc::deadlock), "deadlock");
  EXPECT_EQ(to_string(Errc::overloaded), "overloaded");
  EXPECT_EQ(to_string(Errc::shutting_down), "shutting_down");
  EXPECT_EQ(to_string(Errc::fenced), "fenced");
  EXPECT_EQ(to_string(Errc::store_unavailable), "store_unavailable");
  EXPECT_EQ(to_string(static_cast<Errc>(200)), "unknown");
}

TEST(ErrorTest, CodesKeepTheirWireValues) {
  EXPECT_EQ(static_cast<int>(Errc::invalid_request), 1);
  EXPECT_EQ(static_cast<int>(Errc::shutting_down), 10);
  EXPECT_EQ(static_cast<int>(Errc::fenced), 11);
  EXPECT_EQ(static_cast<int>(Errc::store_unavailable), 12);
}

TEST(ErrorTest, Streams) {
  std::ostringstream out;
  out << Error{Errc::actor_crashed, "boom"} << " " << Errc::timeout << " " << Error{Errc::no_nodes, ""};
  EXPECT_EQ(out.str(), "actor_crashed: boom timeout no_nodes");
}

TEST(PidTest, FormatsAndCompares) {
  const Pid a{"node1", 42};
  EXPECT_EQ(a.to_string(), "<node1.42>");
  std::ostringstream out;
  out << a;
  EXPECT_EQ(out.str(), "<node1.42>");
  EXPECT_EQ(a, (Pid{"node1", 42}));
  EXPECT_NE(a, (Pid{"node2", 42}));
  EXPECT_NE(a, (Pid{"node1", 43}));
  EXPECT_EQ(std::hash<Pid>{}(a), std::hash<Pid>{}(Pid{"node1", 42}));
}

}  // namespace
}  // namespace mesh

// A peer that stops reading (a node process frozen with SIGSTOP: its sockets stay open, nothing
// is read) cannot make the sending node buffer without limit: past max_send_queue_bytes its
// calls and casts fail at once with overloaded, and the sender's memory stays bounded.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "node_process.hpp"
#include "support/expect.hpp"
#include "support/rss.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

using Clock = std::chrono::steady_clock;

TEST(BackpressureTest, APeerThatStopsReadingGetsOverloadedNotUnboundedBuffers) {
  tools::NodeProcess b(MESH_NODE_BINARY,
                       {"--name", "reader", "--listen", "127.0.0.1:0", "--cookie", "bp-cookie",
                        "--capabilities", "game", "--heartbeat-ms", "50",
                        "--failure-timeout-ms", "30000", "--quiet"});
  Node a(NodeOptions{.name = "sender", .listen = "127.0.0.1:0", .seeds = {b.listen()},
                     .cookie = "bp-cookie", .heartbeat_interval = 50ms,
                     .failure_timeout = 30s, .max_frame_bytes = 1 << 20,
                     .log = [](LogLevel, std::string_view) {},
                     .max_send_queue_bytes = 4 << 20});
  ASSERT_TRUE(eventually([&] { return a.nodes_for("game").size() == 1; }, 5000ms));
  const Request cast{.module = "GameActor", .id = "p1",
                     .payload = Value{{"action", "increment_score"}, {"pad", std::string(64 << 10, 'x')}},
                     .capability = "game"};
  ASSERT_TRUE(HasValue(a.call({.module = "GameActor", .id = "p1",
                               .payload = Value{{"action", "increment_score"}},
                               .capability = "game"})));

  ::kill(b.pid(), SIGSTOP);
  const std::size_t rss_before = rss_kib();
  std::size_t accepted = 0, overloaded = 0, other = 0;
  // 4,000 casts of 64 KiB: 256 MiB if nothing held them back.
  for (int i = 0; i < 4000; ++i) {
    auto r = a.cast(cast);
    if (r) {
      ++accepted;
    } else if (r.error().code == Errc::overloaded) {
      ++overloaded;
    } else {
      ++other;
    }
  }
  const auto start = Clock::now();
  auto call = a.call({.module = "GameActor", .id = "p1", .payload = Value::object(),
                      .capability = "game", .timeout = 2000ms});
  const auto took = Clock::now() - start;
  const std::size_t rss_after = rss_kib();
  std::printf("[ figures  ] frozen peer: %zu casts queued, %zu overloaded; sender RSS %+.1f MiB\n",
              accepted, overloaded, (static_cast<double>(rss_after) - rss_before) / 1024.0);
  EXPECT_EQ(other, 0u);
  EXPECT_GT(overloaded, 3000u);
  EXPECT_LT(accepted * (64 << 10), std::size_t{64} << 20) << "far more was queued than allowed";
  EXPECT_TRUE(IsError(call, Errc::overloaded));
  EXPECT_LT(took, 500ms) << "a call to a peer that does not read fails at once";
  if (kRssBoundsHold) {
    EXPECT_LT(rss_after, rss_before + 48 * 1024) << "the sender buffered without bound";
  }

  ::kill(b.pid(), SIGCONT);
  EXPECT_TRUE(eventually([&] {
    return a.call({.module = "GameActor", .id = "p1", .payload = Value::object(),
                   .capability = "game", .timeout = 1000ms}).has_value();
  }, 10000ms)) << "calls succeed again once the peer reads";
}

}  // namespace
}  // namespace mesh::test

// A link under many senders (src/cluster/connection.cpp): one thread writes at a time, outside
// the link's lock, while the others append; requests queued while the IO thread delivers a
// read's replies leave after it. Nothing may be lost, duplicated or reordered per sender, in
// plaintext and in TLS (where frames are encrypted as they are queued).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "support/test_actors.hpp"
#include "support/test_certs.hpp"

namespace mesh::test {
namespace {

class ManySendersTest : public ::testing::TestWithParam<bool> {
 protected:
  static void SetUpTestSuite() {
    certs_ = new TestCerts();
    certs_->make_ca("ca");
    for (const char* name : {"a", "b"}) certs_->make_node(name, "ca");
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }
  static NodeOptions member(std::string name, std::vector<std::string> seeds = {}) {
    NodeOptions options{.name = name,
                        .listen = "127.0.0.1:0",
                        .seeds = std::move(seeds),
                        .cookie = "secret",
                        .worker_threads = 2,
                        .heartbeat_interval = 50ms,
                        .failure_timeout = 2000ms,
                        .log = [](LogLevel, std::string_view) {}};
    if (GetParam()) options.tls = certs_->options(name, "ca");
    return options;
  }
  static TestCerts* certs_;
};
TestCerts* ManySendersTest::certs_ = nullptr;

TEST_P(ManySendersTest, BlockingAndPipelinedCallersOnOneLinkLoseNothingAndKeepTheirOrder) {
  // Only b serves "test": every call from a crosses the one a-b link.
  Node b(member("b"));
  b.register_actor<Counter>("Counter");
  b.register_capabilities({"test"});
  Node a(member("a", {b.listen_address()}));
  a.register_actor<Counter>("Counter");
  a.register_capabilities({});
  ASSERT_TRUE(eventually([&] { return a.nodes_for("test").size() == 1; }, 5000ms));

  constexpr int kBlocking = 24, kCalls = 300;
  constexpr int kPipelined = 4, kAsync = 500;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kBlocking; ++t) {
    threads.emplace_back([&, t] {
      // Each blocking caller owns a counter: its replies must be 1, 2, 3, ... in order.
      const std::string id = "blocking-" + std::to_string(t);
      for (int i = 1; i <= kCalls; ++i) {
        auto r = a.call(req("Counter", id));
        if (!r || r->value != i || r->pid.node != "b") {
          failures.fetch_add(1);
          ADD_FAILURE() << id << " call " << i << ": "
                        << (r ? r->value.dump() : to_string(r.error()));
          return;
        }
      }
    });
  }
  std::mutex seen_mutex;
  std::vector<std::multiset<int>> seen(kPipelined);
  std::atomic<int> answered{0};
  for (int t = 0; t < kPipelined; ++t) {
    threads.emplace_back([&, t] {
      // Pipelined callers: every async_call answered once, the counter's values exactly 1..n.
      const std::string id = "pipelined-" + std::to_string(t);
      for (int i = 0; i < kAsync; ++i) {
        a.async_call(req("Counter", id), [&, t](Result<Reply> r) {
          if (!r) {
            failures.fetch_add(1);
          } else {
            std::lock_guard lock(seen_mutex);
            seen[t].insert(r->value.get<int>());
          }
          answered.fetch_add(1);
        });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(eventually([&] { return answered.load() == kPipelined * kAsync; }, 20000ms))
      << answered.load() << " of " << kPipelined * kAsync << " async calls answered";
  EXPECT_EQ(failures.load(), 0);
  std::lock_guard lock(seen_mutex);
  for (int t = 0; t < kPipelined; ++t) {
    std::multiset<int> expected;
    for (int i = 1; i <= kAsync; ++i) expected.insert(i);
    EXPECT_EQ(seen[t], expected) << "pipelined-" << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Link, ManySendersTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Tls" : "Plaintext"; });

}  // namespace
}  // namespace mesh::test

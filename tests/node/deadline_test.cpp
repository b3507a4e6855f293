// A caller's timeout holds: where handlers run (HandlerMode, NoInlineHandlers) and what that
// means for deadlines. Timing bounds are generous: they tell "returned at its deadline" from
// "waited for the 600 ms handler", not fast from slow.
#include <gtest/gtest.h>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "support/expect.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

using Clock = std::chrono::steady_clock;

// Records the thread each handler ran on; sleeps for payload "ms".
struct Where {
  static inline std::mutex mutex;
  static inline std::vector<std::thread::id> threads;
  static inline std::set<std::string> thread_names;
  explicit Where(std::string) {}
  Value handle_call(const Value& payload) {
    record();
    std::this_thread::sleep_for(std::chrono::milliseconds(payload.value("ms", 0)));
    return ++calls;
  }
  void handle_cast(const Value& payload) { handle_call(payload); }
  static void record() {
    char name[32] = "";
    pthread_getname_np(pthread_self(), name, sizeof name);
    std::lock_guard lock(mutex);
    threads.push_back(std::this_thread::get_id());
    thread_names.insert(name);
  }
  static std::thread::id last() {
    std::lock_guard lock(mutex);
    return threads.empty() ? std::thread::id() : threads.back();
  }
  static void reset() {
    std::lock_guard lock(mutex);
    threads.clear();
    thread_names.clear();
  }
  int calls = 0;
};

Request where(std::string id, int ms = 0, std::chrono::milliseconds timeout = 5000ms) {
  return Request{.module = "Where", .id = std::move(id), .payload = Value{{"ms", ms}},
                 .capability = "test", .timeout = timeout};
}

Node standalone() { return Node(NodeOptions{.worker_threads = 2}); }

TEST(DeadlineTest, TheFirstCallEverToASlowHandlerReturnsTimeoutAtItsDeadline) {
  Node node = standalone();
  node.register_actor<Where>("Where");
  node.register_capabilities({"test"});
  const auto start = Clock::now();
  auto reply = node.call(where("slow", 600, 50ms));
  const auto took = Clock::now() - start;
  EXPECT_TRUE(IsError(reply, Errc::timeout));
  EXPECT_LT(took, 300ms) << "the caller waited for the handler instead of its deadline";
}

TEST(DeadlineTest, AnAdaptiveModuleRunsOnCallersThreadsOnlyOnceItHasShownItIsFast) {
  Where::reset();
  Node node = standalone();
  node.register_actor<Where>("Where");
  node.register_capabilities({"test"});
  ASSERT_TRUE(HasValue(node.call(where("a"))));
  EXPECT_NE(Where::last(), std::this_thread::get_id()) << "an unproven module ran inline";
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(HasValue(node.call(where("a"))));
  EXPECT_EQ(Where::last(), std::this_thread::get_id()) << "a fast module should run inline";

  // The one call that finds it slow overruns (it runs inline, and cannot be interrupted)...
  // A run counts as slow only if its thread was not preempted meanwhile, so on a loaded
  // machine it may take another try.
  bool off_callers_thread = false;
  for (int i = 0; i < 10 && !off_callers_thread; ++i) {
    ASSERT_TRUE(HasValue(node.call(where("a", 30))));
    ASSERT_TRUE(HasValue(node.call(where("a"))));
    off_callers_thread = Where::last() != std::this_thread::get_id();
  }
  ASSERT_TRUE(off_callers_thread) << "a slow run did not take the module off callers' threads";
  // ...and after it the module is back on the pool: deadlines hold again.
  const auto start = Clock::now();
  EXPECT_TRUE(IsError(node.call(where("b", 600, 50ms)), Errc::timeout));
  EXPECT_LT(Clock::now() - start, 300ms);
}

TEST(DeadlineTest, DeclaredModesAreHonouredFromTheFirstCall) {
  Where::reset();
  Node node = standalone();
  node.register_actor<Where>("Where", {.handlers = HandlerMode::non_blocking});
  node.register_actor<Sleeper>("Blocking", {.handlers = HandlerMode::blocking});
  node.register_capabilities({"test"});
  ASSERT_TRUE(HasValue(node.call(where("n"))));
  EXPECT_EQ(Where::last(), std::this_thread::get_id()) << "non_blocking runs inline at once";
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(HasValue(node.call({.module = "Blocking", .id = "b", .payload = Value::object(),
                                    .capability = "test"})));
  }
  const auto start = Clock::now();
  EXPECT_TRUE(IsError(node.call({.module = "Blocking", .id = "b", .payload = Value{{"ms", 600}},
                                 .capability = "test", .timeout = 50ms}),
                      Errc::timeout))
      << "a blocking module never runs inline, however fast it was";
  EXPECT_LT(Clock::now() - start, 300ms);
}

TEST(DeadlineTest, AThreadWithNoInlineHandlersNeverRunsOne) {
  Where::reset();
  Node node = standalone();
  node.register_actor<Where>("Where", {.handlers = HandlerMode::non_blocking});
  node.register_capabilities({"test"});
  ASSERT_TRUE(HasValue(node.call(where("x"))));
  ASSERT_EQ(Where::last(), std::this_thread::get_id());
  {
    const NoInlineHandlers event_loop;
    EXPECT_TRUE(NoInlineHandlers::active());
    ASSERT_TRUE(HasValue(node.call(where("x"))));
    EXPECT_NE(Where::last(), std::this_thread::get_id());
    std::promise<Result<Reply>> done;
    const auto start = Clock::now();
    node.async_call(where("x", 300), [&](Result<Reply> r) { done.set_value(std::move(r)); });
    EXPECT_LT(Clock::now() - start, 100ms) << "async_call ran the handler before returning";
    auto future = done.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(HasValue(future.get()));
    EXPECT_NE(Where::last(), std::this_thread::get_id());
  }
  EXPECT_FALSE(NoInlineHandlers::active());
}

// Requests from peers arrive on the IO thread; none of their handlers may run there, however
// fast the module claims to be.
TEST(DeadlineTest, ANodesIoThreadNeverRunsAHandler) {
  Where::reset();
  const auto options = [](std::string name, std::vector<std::string> seeds) {
    return NodeOptions{.name = std::move(name), .listen = "127.0.0.1:0", .seeds = std::move(seeds),
                       .cookie = "deadline-test", .worker_threads = 2,
                       .log = [](LogLevel, std::string_view) {}};
  };
  Node a(options("a", {}));
  Node b(options("b", {a.listen_address()}));
  b.register_actor<Where>("Where", {.handlers = HandlerMode::non_blocking});
  b.register_capabilities({"test"});
  ASSERT_TRUE(eventually([&] { return a.nodes_for("test").size() == 1; }, 3000ms));
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(HasValue(a.call(where("r" + std::to_string(i % 5)))));
    ASSERT_TRUE(HasValue(a.cast(where("c" + std::to_string(i % 5)))));
  }
  std::promise<void> async_done;
  a.async_call(where("r0"), [&](Result<Reply>) { async_done.set_value(); });
  ASSERT_EQ(async_done.get_future().wait_for(5s), std::future_status::ready);
  ASSERT_TRUE(eventually([] {
    std::lock_guard lock(Where::mutex);
    return Where::threads.size() >= 101;
  }, 3000ms));
  std::lock_guard lock(Where::mutex);
  EXPECT_FALSE(Where::thread_names.empty());
  EXPECT_FALSE(Where::thread_names.contains("mesh-io")) << "a handler ran on an IO thread";
}

}  // namespace
}  // namespace mesh::test

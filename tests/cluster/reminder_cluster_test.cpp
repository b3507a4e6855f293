// Reminders in a cluster of nodes in one process sharing one store: a node joining or leaving
// moves shards, and their reminders fire at their new owner exactly as often as before.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "support/expect.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

using Clock = std::chrono::steady_clock;

struct Beat {
  std::string node;
  Clock::time_point at;
};

struct BeatLog {
  std::mutex mutex;
  std::map<std::string, std::vector<Beat>> by_actor;
};
BeatLog& beats() {
  static BeatLog instance;
  return instance;
}

struct Heart {
  explicit Heart(std::string id) : id_(std::move(id)) {}
  Value handle_call(Value) { return true; }
  void handle_reminder(std::string_view, Value, ActorContext& context) {
    std::lock_guard lock(beats().mutex);
    beats().by_actor[id_].push_back(Beat{context.node().name(), Clock::now()});
  }
  std::string id_;
};

NodeOptions member(std::string name, std::shared_ptr<StateStore> store,
                   std::vector<std::string> seeds = {}) {
  NodeOptions options{.name = std::move(name), .listen = "127.0.0.1:0", .seeds = std::move(seeds),
                      .cookie = "reminders", .worker_threads = 2, .heartbeat_interval = 50ms,
                      .failure_timeout = 500ms, .log = [](LogLevel, std::string_view) {}};
  options.state_store = std::move(store);
  return options;
}

std::unique_ptr<Node> start(std::string name, std::shared_ptr<StateStore> store,
                            std::vector<std::string> seeds = {}) {
  auto node = std::make_unique<Node>(member(std::move(name), std::move(store), std::move(seeds)));
  node->register_actor<Heart>("Heart");
  node->register_capabilities({"game"});
  return node;
}

constexpr int kActors = 120;
constexpr auto kPeriod = 300ms;

// Every actor's beats between `from` and `to`: none closer than half a period (a double
// firing), none missing for longer than a period plus a lease and some slack.
void expect_steady_beats(Clock::time_point from, Clock::time_point to, std::set<std::string>* nodes) {
  std::lock_guard lock(beats().mutex);
  ASSERT_EQ(beats().by_actor.size(), static_cast<std::size_t>(kActors));
  for (const auto& [id, list] : beats().by_actor) {
    std::vector<Clock::time_point> in_window;
    for (const Beat& beat : list) {
      if (beat.at >= from && beat.at <= to) {
        in_window.push_back(beat.at);
        if (nodes) nodes->insert(beat.node);
      }
    }
    ASSERT_GE(in_window.size(), 2u) << id << " stopped firing";
    for (std::size_t i = 1; i < in_window.size(); ++i) {
      const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(in_window[i] -
                                                                              in_window[i - 1]);
      EXPECT_GE(gap.count(), kPeriod.count() / 2) << id << " fired twice in a row";
      EXPECT_LE(gap.count(), kPeriod.count() + 1000 + 700) << id << " missed beats";
    }
  }
}

TEST(ReminderClusterTest, AJoinAndAGracefulLeaveMoveRemindersWithoutLosingOrDoublingThem) {
  auto store = memory_store();
  auto a = start("a", store);
  auto b = start("b", store, {a->listen_address()});
  auto c = start("c", store, {a->listen_address()});
  for (Node* n : {a.get(), b.get(), c.get()}) {
    ASSERT_TRUE(eventually([&] { return n->nodes_for("game").size() == 3; }, 5000ms));
  }
  for (int i = 0; i < kActors; ++i) {
    ASSERT_TRUE(HasValue(a->set_reminder(ActorAddress{"game", "Heart", "h" + std::to_string(i)},
                                         "beat", std::chrono::milliseconds(i % 300), kPeriod)));
  }
  std::this_thread::sleep_for(1000ms);
  const auto joined_at = Clock::now();
  auto d = start("d", store, {a->listen_address()});
  for (Node* n : {a.get(), b.get(), c.get(), d.get()}) {
    ASSERT_TRUE(eventually([&] { return n->nodes_for("game").size() == 4; }, 5000ms));
  }
  std::this_thread::sleep_for(2000ms);
  const auto leaving_at = Clock::now();
  d.reset();  // graceful leave
  for (Node* n : {a.get(), b.get(), c.get()}) {
    ASSERT_TRUE(eventually([&] { return n->nodes_for("game").size() == 3; }, 5000ms));
  }
  std::this_thread::sleep_for(2000ms);
  const auto end = Clock::now();

  std::set<std::string> after_join;
  expect_steady_beats(joined_at - 1000ms, leaving_at, &after_join);
  EXPECT_TRUE(after_join.count("d")) << "the joining node took over some reminders";
  std::set<std::string> after_leave;
  expect_steady_beats(leaving_at, end, &after_leave);
  EXPECT_EQ(after_leave, (std::set<std::string>{"a", "b", "c"}));
  // Every node's view of what it holds adds up to every reminder, once.
  std::uint64_t held = 0;
  for (Node* n : {a.get(), b.get(), c.get()}) held += n->status().reminders_held;
  EXPECT_EQ(held, static_cast<std::uint64_t>(kActors));
}

}  // namespace
}  // namespace mesh::test

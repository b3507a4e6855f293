// Reminders in a cluster of nodes in one process sharing one store: a node joining or leaving
// moves shards, and their reminders fire at their new owner exactly as often as before.
#include <gtest/gtest.h>

#include <cmath>
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

// Wall clock: reminders are scheduled by it (their due times are Unix times).
using Clock = std::chrono::system_clock;

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
constexpr auto kPeriod = 600ms;
constexpr auto kLease = 1000ms;  // Reminders::kLease

// When each actor's reminder was first due: its beats fall on first_due + k * kPeriod (a
// reminder keeps its rhythm), a little late under load.
std::map<std::string, Clock::time_point> first_due;

// Every actor's beats between `from` and `to`, each mapped to its slot k (late by less than
// half a period): no slot fired twice (a double firing), and no run of slots missing longer
// than a lease (a shard in transit waits at most for the lease of what its old owner took).
void expect_steady_beats(Clock::time_point from, Clock::time_point to, std::set<std::string>* nodes) {
  std::lock_guard lock(beats().mutex);
  ASSERT_EQ(beats().by_actor.size(), static_cast<std::size_t>(kActors));
  const long max_step = 1 + static_cast<long>(kLease / kPeriod) + 1;
  for (const auto& [id, list] : beats().by_actor) {
    std::vector<long> slots;
    for (const Beat& beat : list) {
      if (beat.at < from || beat.at > to) continue;
      const double since = std::chrono::duration<double, std::milli>(beat.at - first_due[id]).count();
      slots.push_back(std::lround(since / static_cast<double>(kPeriod.count())));
      if (nodes) nodes->insert(beat.node);
    }
    ASSERT_GE(slots.size(), 2u) << id << " stopped firing";
    for (std::size_t i = 1; i < slots.size(); ++i) {
      EXPECT_NE(slots[i], slots[i - 1]) << id << " fired twice for one period";
      EXPECT_LE(slots[i] - slots[i - 1], max_step) << id << " missed beats";
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
  first_due.clear();
  for (int i = 0; i < kActors; ++i) {
    const std::string id = "h" + std::to_string(i);
    const auto offset = std::chrono::milliseconds(i * 5 % kPeriod.count());
    first_due[id] = Clock::now() + offset;
    ASSERT_TRUE(HasValue(a->set_reminder(ActorAddress{"game", "Heart", id}, "beat", offset, kPeriod)));
  }
  std::this_thread::sleep_for(1500ms);
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
  expect_steady_beats(joined_at - 1500ms, leaving_at, &after_join);
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

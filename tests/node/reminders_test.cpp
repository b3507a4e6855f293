// Reminders on one node: set from outside or from the actor, delivered to handle_reminder when
// due (activating the actor), replaced, removed, listed, kept across a restart of the node, and
// bad input refused (docs/timers-and-reminders.md).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "support/expect.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

using Clock = std::chrono::steady_clock;

struct Fired {
  std::string id;
  std::string name;
  Value payload;
  Clock::time_point at;
};

struct FireLog {
  std::mutex mutex;
  std::vector<Fired> fired;
  std::atomic<int> constructed{0};
  void reset() {
    std::lock_guard lock(mutex);
    fired.clear();
    constructed = 0;
  }
  std::size_t count(const std::string& name = "") {
    std::lock_guard lock(mutex);
    if (name.empty()) return fired.size();
    return static_cast<std::size_t>(std::count_if(fired.begin(), fired.end(),
                                                  [&](const Fired& f) { return f.name == name; }));
  }
  std::vector<Fired> all() {
    std::lock_guard lock(mutex);
    return fired;
  }
};
FireLog& fires() {
  static FireLog instance;
  return instance;
}

// Calls: {"remind": name, "due": ms, "period": ms (optional)} sets a reminder from inside;
// {"forget": name} removes it. Reminders are recorded in fires().
struct Alarm {
  explicit Alarm(std::string id) : id_(std::move(id)) { ++fires().constructed; }
  Value handle_call(Value request, ActorContext& context) {
    if (request.contains("remind")) {
      std::optional<std::chrono::milliseconds> period;
      if (request.contains("period")) period = std::chrono::milliseconds(request["period"].get<int>());
      auto set = context.set_reminder(request["remind"].get<std::string>(),
                                      std::chrono::milliseconds(request["due"].get<int>()), period,
                                      Value{{"from", "inside"}});
      return set ? Value("ok") : Value(to_string(set.error().code));
    }
    if (request.contains("forget")) {
      auto removed = context.remove_reminder(request["forget"].get<std::string>());
      return removed ? Value("ok") : Value(to_string(removed.error().code));
    }
    return "idle";
  }
  void handle_reminder(std::string_view name, Value payload, ActorContext& context) {
    EXPECT_EQ(context.id(), id_);
    std::lock_guard lock(fires().mutex);
    fires().fired.push_back(Fired{id_, std::string(name), std::move(payload), Clock::now()});
  }
  std::string id_;
};

struct NoReminders {
  explicit NoReminders(std::string) {}
  Value handle_call(Value) { return true; }
};

ActorAddress alarm(std::string id, std::string module = "Alarm") {
  return ActorAddress{"test", std::move(module), std::move(id)};
}

NodeOptions with_store(std::shared_ptr<StateStore> store) {
  NodeOptions options = small_node();
  options.state_store = std::move(store);
  return options;
}

void serve(Node& node) {
  node.register_actor<Alarm>("Alarm");
  node.register_actor<NoReminders>("NoReminders");
  node.register_capabilities({"test"});
}

class RemindersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fires().reset();
    serve(node_);
  }
  Node node_{with_store(memory_store())};
};

TEST_F(RemindersTest, AOneShotReminderActivatesItsActorFiresOnceAndIsGone) {
  ASSERT_TRUE(HasValue(node_.set_reminder(alarm("a1"), "wake", 50ms, std::nullopt,
                                          Value{{"round", 3}})));
  EXPECT_EQ(fires().constructed.load(), 0) << "setting a reminder activates nothing";
  auto listed = node_.reminders(alarm("a1"));
  ASSERT_TRUE(HasValue(listed));
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "wake");
  EXPECT_FALSE((*listed)[0].period.has_value());
  EXPECT_EQ((*listed)[0].payload, (Value{{"round", 3}}));
  EXPECT_EQ(node_.status().reminders_held, 1u);

  ASSERT_TRUE(eventually([] { return fires().count() == 1; }, 3000ms));
  EXPECT_EQ(fires().constructed.load(), 1) << "the actor was activated to take it";
  EXPECT_EQ(fires().all()[0].payload, (Value{{"round", 3}}));
  ASSERT_TRUE(eventually([&] {
    auto left = node_.reminders(alarm("a1"));
    return left && left->empty();
  }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(fires().count(), 1u);
  const NodeStatus status = node_.status();
  EXPECT_EQ(status.reminders_held, 0u);
  EXPECT_EQ(status.reminders_fired, 1u);
}

TEST_F(RemindersTest, APeriodicReminderFiresEachPeriodUntilRemoved) {
  ASSERT_TRUE(HasValue(node_.set_reminder(alarm("p"), "tick", 0ms, 100ms)));
  ASSERT_TRUE(eventually([] { return fires().count() >= 4; }, 3000ms));
  const auto fired = fires().all();
  for (std::size_t i = 1; i < fired.size(); ++i) {
    const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(fired[i].at - fired[i - 1].at);
    EXPECT_GT(gap.count(), 60) << "fires once per period, not more";
  }
  ASSERT_TRUE(HasValue(node_.remove_reminder(alarm("p"), "tick")));
  ASSERT_TRUE(HasValue(node_.remove_reminder(alarm("p"), "tick"))) << "removing is idempotent";
  std::this_thread::sleep_for(50ms);  // a delivery under way when it was removed may still land
  const std::size_t at_removal = fires().count();
  std::this_thread::sleep_for(350ms);
  EXPECT_EQ(fires().count(), at_removal);
}

TEST_F(RemindersTest, SettingANameAgainReplacesTheReminder) {
  ASSERT_TRUE(HasValue(node_.set_reminder(alarm("r"), "job", 60'000ms, std::nullopt, "first")));
  ASSERT_TRUE(HasValue(node_.set_reminder(alarm("r"), "job", 30ms, std::nullopt, "second")));
  auto listed = node_.reminders(alarm("r"));
  ASSERT_TRUE(HasValue(listed));
  ASSERT_EQ(listed->size(), 1u);
  ASSERT_TRUE(eventually([] { return fires().count() == 1; }, 3000ms));
  EXPECT_EQ(fires().all()[0].payload, "second");
}

TEST_F(RemindersTest, AnActorSetsAndRemovesItsOwnReminders) {
  auto set = node_.call(req("Alarm", "self", {{"remind", "soon"}, {"due", 30}}));
  ASSERT_TRUE(HasValue(set));
  EXPECT_EQ(set->value, "ok");
  auto set_later = node_.call(req("Alarm", "self", {{"remind", "later"}, {"due", 60'000}}));
  ASSERT_TRUE(HasValue(set_later));
  ASSERT_TRUE(eventually([] { return fires().count("soon") == 1; }, 3000ms));
  EXPECT_EQ(fires().all()[0].payload, (Value{{"from", "inside"}}));
  auto forgot = node_.call(req("Alarm", "self", {{"forget", "later"}}));
  ASSERT_TRUE(HasValue(forgot));
  EXPECT_EQ(forgot->value, "ok");
  // "later" is gone as soon as the forget call returns. The fired one-shot "soon" is removed
  // when its delivery is recorded, which follows its handler, so it may still be listed briefly.
  auto listed = node_.reminders(alarm("self"));
  ASSERT_TRUE(HasValue(listed));
  for (const auto& reminder : *listed) EXPECT_NE(reminder.name, "later");
  EXPECT_TRUE(eventually([&] { return node_.reminders(alarm("self")).value().empty(); }, 3000ms));
}

TEST_F(RemindersTest, BadRemindersAreRefusedWithClearErrors) {
  EXPECT_TRUE(IsError(node_.set_reminder(alarm("b"), "", 10ms), Errc::invalid_request));
  EXPECT_TRUE(IsError(node_.set_reminder(alarm("b"), "n", -1ms), Errc::invalid_request));
  EXPECT_TRUE(IsError(node_.set_reminder(alarm("b"), "n", 10ms, 0ms), Errc::invalid_request));
  EXPECT_TRUE(IsError(node_.set_reminder(alarm("b"), "n", 10ms, -10ms), Errc::invalid_request));
  EXPECT_TRUE(IsError(node_.set_reminder(alarm("b"), "n", 10ms, std::nullopt,
                                         std::string(kMaxReminderPayloadBytes + 1, 'x')),
                      Errc::invalid_request));
  EXPECT_TRUE(IsError(node_.set_reminder(ActorAddress{"test", "Alarm", ""}, "n", 10ms),
                      Errc::invalid_request));
  auto no_handler = node_.set_reminder(alarm("b", "NoReminders"), "n", 10ms);
  EXPECT_TRUE(IsError(no_handler, Errc::invalid_request));
  if (!no_handler) EXPECT_NE(no_handler.error().message.find("handle_reminder"), std::string::npos);
  EXPECT_TRUE(IsError(node_.set_reminder(alarm("b", "Nobody"), "n", 10ms), Errc::unknown_module));
  EXPECT_TRUE(IsError(node_.set_reminder(ActorAddress{"elsewhere", "Alarm", "b"}, "n", 10ms),
                      Errc::no_nodes));
  EXPECT_TRUE(IsError(node_.remove_reminder(alarm("b"), ""), Errc::invalid_request));
  EXPECT_TRUE(node_.reminders(alarm("b")).value().empty());

  Node storeless(small_node());
  serve(storeless);
  auto refused = storeless.set_reminder(alarm("b"), "n", 10ms);
  EXPECT_TRUE(IsError(refused, Errc::invalid_request));
  if (!refused) EXPECT_NE(refused.error().message.find("state_store"), std::string::npos);
}

// SQLite: a reminder outlives the node; missed periods fire once when a node is back.
TEST(RemindersRestartTest, DueRemindersFireAfterARestartAndMissedPeriodsFireOnce) {
  fires().reset();
  const auto dir = std::filesystem::temp_directory_path() /
                   ("mesh-reminders-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "reminders.db").string();
  {
    Node node(with_store(sqlite_store(path)));
    serve(node);
    // Due late enough that the node is surely gone first, even under a sanitizer on a busy
    // machine (at 100 ms, a slow shutdown once let "expire" fire before it).
    ASSERT_TRUE(HasValue(node.set_reminder(alarm("once"), "expire", 500ms)));
    ASSERT_TRUE(HasValue(node.set_reminder(alarm("every"), "beat", 500ms, 200ms)));
  }  // gone before either was due
  std::this_thread::sleep_for(1500ms);  // ~5 periods of "beat" missed
  ASSERT_EQ(fires().count(), 0u) << "the first node delivered before it was gone";
  Node node(with_store(sqlite_store(path)));
  serve(node);
  const auto back = Clock::now();
  ASSERT_TRUE(eventually([] { return fires().count("expire") == 1 && fires().count("beat") >= 1; },
                         3000ms));
  std::this_thread::sleep_for(150ms - std::min<Clock::duration>(Clock::now() - back, 150ms));
  EXPECT_EQ(fires().count("expire"), 1u);
  EXPECT_LE(fires().count("beat"), 2u) << "missed periods fire once, not once each";
  ASSERT_TRUE(eventually([] { return fires().count("beat") >= 3; }, 3000ms))
      << "and it goes on with its period";
  std::filesystem::remove_all(dir);
}

// A reminder this node cannot deliver (its module is not registered here) stays due: status()
// counts it as held and due, and it is never counted as fired.
TEST(RemindersStatusTest, ADueReminderNotYetDeliveredIsCountedAsDue) {
  auto store = memory_store();
  {
    Node node(with_store(store));
    serve(node);
    ASSERT_TRUE(HasValue(node.set_reminder(alarm("late"), "wake", 400ms)));
    ASSERT_TRUE(HasValue(node.set_reminder(alarm("later"), "wake", 60'000ms)));
  }  // gone before "late" was due
  std::this_thread::sleep_for(500ms);
  NodeOptions options = with_store(store);
  options.log = [](LogLevel, std::string_view) {};
  Node without_alarm(options);
  without_alarm.register_actor<NoReminders>("NoReminders");
  without_alarm.register_capabilities({"test"});
  std::this_thread::sleep_for(200ms);
  const NodeStatus status = without_alarm.status();
  EXPECT_EQ(status.reminders_held, 2u);
  EXPECT_EQ(status.reminders_due, 1u);
  EXPECT_EQ(status.reminders_fired, 0u);
}

}  // namespace
}  // namespace mesh::test

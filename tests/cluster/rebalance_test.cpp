// Shards moving between nodes under load: no failed calls, no duplicates, state kept when the
// actor has snapshot/restore hooks.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>
#include <set>
#include <thread>

#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

// Every node of these tests lives in this process, so "one actor id active on two nodes at the
// same moment" is two live MovingCounter objects with the same id at once. An actor is destroyed
// on its old node before its handoff is sent, so any overlap is a real duplicate.
struct Liveness {
  std::mutex mutex;
  std::map<std::string, int> live;
  std::vector<std::string> overlaps;
};
Liveness& liveness() {
  static Liveness instance;
  return instance;
}

// A counter whose count moves with it.
struct MovingCounter {
  explicit MovingCounter(std::string id) : id_(std::move(id)) {
    std::lock_guard lock(liveness().mutex);
    if (++liveness().live[id_] > 1) liveness().overlaps.push_back(id_);
  }
  ~MovingCounter() {
    std::lock_guard lock(liveness().mutex);
    --liveness().live[id_];
  }
  MovingCounter(const MovingCounter&) = delete;
  MovingCounter& operator=(const MovingCounter&) = delete;
  Value handle_call(Value payload) {
    if (payload == "get") return count;
    return ++count;
  }
  Value snapshot() { return count; }
  void restore(Value state) { count = state.get<int>(); }
  std::string id_;
  int count = 0;
};

NodeOptions member(std::string name, std::vector<std::string> seeds = {},
                   std::shared_ptr<StateStore> store = nullptr) {
  NodeOptions options{.name = std::move(name), .listen = "127.0.0.1:0", .seeds = std::move(seeds),
                      .cookie = "rebalance", .worker_threads = 2, .heartbeat_interval = 50ms,
                      .failure_timeout = 500ms, .log = [](LogLevel, std::string_view) {}};
  options.state_store = std::move(store);
  return options;
}

void serve(Node& node, bool with_capability = true,
           Persistence persistence = Persistence::none) {
  node.register_actor<MovingCounter>("MovingCounter", {.persistence = persistence});
  if (with_capability) node.register_capabilities({"game"});
}

Request count_req(const std::string& id, Value payload = "inc") {
  return Request{.module = "MovingCounter", .id = id, .payload = std::move(payload),
                 .capability = "game", .timeout = 5000ms};
}

// Calls increments on `actors` ids from one thread until stopped; records acknowledged
// increments per id and every failure.
class Load {
 public:
  Load(Node& caller, int actors) : caller_(caller), acked_(actors, 0) {
    thread_ = std::thread([this] {
      for (long i = 0; !stop_; ++i) {
        const int actor = static_cast<int>(i % acked_.size());
        auto reply = caller_.call(count_req("c" + std::to_string(actor)));
        std::lock_guard lock(mutex_);
        if (reply) {
          ++acked_[actor];
          ++calls_;
        } else {
          failures_.push_back(to_string(reply.error()));
        }
      }
    });
  }
  ~Load() { finish(); }
  void finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  long calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  std::vector<std::string> failures() {
    std::lock_guard lock(mutex_);
    return failures_;
  }
  int acked(int actor) { return acked_[actor]; }
  int actors() const { return static_cast<int>(acked_.size()); }

 private:
  Node& caller_;
  std::vector<int> acked_;
  std::vector<std::string> failures_;
  long calls_ = 0;
  std::mutex mutex_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void expect_exact_counts(Node& caller, Load& load) {
  for (int actor = 0; actor < load.actors(); ++actor) {
    auto reply = caller.call(count_req("c" + std::to_string(actor), "get"));
    ASSERT_TRUE(reply) << reply.error();
    EXPECT_EQ(reply->value.get<int>(), load.acked(actor)) << "actor c" << actor << " lost state";
  }
}

void expect_no_duplicates(const std::vector<Node*>& nodes) {
  std::set<std::string> seen;
  for (Node* node : nodes) {
    for (const ActivationInfo& info : node->activations()) {
      EXPECT_TRUE(seen.insert(info.id).second) << info.id << " is active on two nodes";
    }
  }
}

void wait_for_calls(Load& load, long more) {
  const long target = load.calls() + more;
  ASSERT_TRUE(eventually([&] { return load.calls() >= target; }, 5000ms));
}

// Run with each persistence policy: a persistent actor's state moves through the store (saved
// by the old owner before it releases the shard, loaded by the new one under its own claim).
class RebalanceTest : public ::testing::TestWithParam<Persistence> {};

TEST_P(RebalanceTest, JoinCapabilityChangesAndLeaveUnderLoadFailNothingAndKeepState) {
  {
    std::lock_guard lock(liveness().mutex);
    liveness().overlaps.clear();
  }
  const Persistence persistence = GetParam();
  auto store = persistence == Persistence::none ? nullptr : memory_store();
  Node a(member("a", {}, store));
  serve(a, true, persistence);
  Node client(member("client", {a.listen_address()}));
  ASSERT_TRUE(eventually([&] { return client.nodes_for("game").size() == 1; }, 3000ms));
  Load load(client, 64);
  wait_for_calls(load, 500);

  auto b = std::make_unique<Node>(member("b", {a.listen_address()}, store));
  serve(*b, true, persistence);  // join: about half of the shards move to b
  ASSERT_TRUE(eventually([&] { return client.nodes_for("game").size() == 2; }, 3000ms));
  wait_for_calls(load, 500);
  expect_no_duplicates({&a, b.get()});

  b->register_capabilities({});  // capability removed: everything moves back to a
  ASSERT_TRUE(eventually([&] { return client.nodes_for("game").size() == 1; }, 3000ms));
  wait_for_calls(load, 500);
  b->register_capabilities({"game"});  // and registered again
  ASSERT_TRUE(eventually([&] { return client.nodes_for("game").size() == 2; }, 3000ms));
  wait_for_calls(load, 500);

  b.reset();  // graceful leave
  ASSERT_TRUE(eventually([&] { return client.nodes_for("game").size() == 1; }, 3000ms));
  wait_for_calls(load, 500);
  load.finish();

  EXPECT_TRUE(load.failures().empty()) << load.failures().size() << " failed, first: "
                                        << load.failures().front();
  expect_exact_counts(client, load);
  expect_no_duplicates({&a});
  EXPECT_TRUE(eventually([&] { return a.status().handoffs_in_progress == 0; }, 2000ms))
      << a.status().handoffs_in_progress << " handoffs still in progress";
  std::lock_guard lock(liveness().mutex);
  EXPECT_TRUE(liveness().overlaps.empty())
      << liveness().overlaps.size() << " moments with two live copies, first of "
      << liveness().overlaps.front();
}

INSTANTIATE_TEST_SUITE_P(Policies, RebalanceTest,
                         ::testing::Values(Persistence::none, Persistence::on_deactivate,
                                           Persistence::after_each_message),
                         [](const auto& info) {
                           switch (info.param) {
                             case Persistence::none: return std::string("in_memory");
                             case Persistence::on_deactivate: return std::string("on_deactivate");
                             default: return std::string("after_each_message");
                           }
                         });

TEST(RebalanceMoveTest, ActorsWithoutHooksStartFreshAfterAMove) {
  Node a(member("a"));
  register_all(a);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(a.call(req("Counter", "f" + std::to_string(i))));
  Node b(member("b", {a.listen_address()}));
  register_all(b);
  ASSERT_TRUE(eventually([&] { return a.nodes_for("test").size() == 2; }, 3000ms));
  int fresh = 0;
  for (int i = 0; i < 40; ++i) {
    auto r = a.call(req("Counter", "f" + std::to_string(i)));
    ASSERT_TRUE(r) << r.error();
    if (r->pid.node == "b") {
      EXPECT_EQ(r->value, 1) << "a moved actor without hooks keeps no state";
      ++fresh;
    } else {
      EXPECT_EQ(r->value, 2);
    }
  }
  EXPECT_GT(fresh, 0);
}

}  // namespace
}  // namespace mesh::test

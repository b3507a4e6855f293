// Several nodes in one process, joined over loopback TCP: routing, remote errors, membership.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <system_error>

#include "node/node_core.hpp"
#include "support/expect.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

// MESH_TEST_LOG=1 prints what the nodes log, to tell why a test failed.
void test_log(LogLevel, std::string_view line) {
  static const bool enabled = std::getenv("MESH_TEST_LOG") != nullptr;
  if (enabled) std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
}

NodeOptions member(std::string name, std::vector<std::string> seeds = {},
                   std::string cookie = "secret") {
  return NodeOptions{.name = std::move(name), .listen = "127.0.0.1:0", .seeds = std::move(seeds),
                     .cookie = std::move(cookie), .worker_threads = 2,
                     .heartbeat_interval = 50ms, .failure_timeout = 400ms,
                     .log = test_log};
}

bool sees(const std::vector<Node*>& nodes, const std::string& capability, std::size_t count) {
  for (Node* n : nodes) {
    if (n->nodes_for(capability).size() != count) return false;
  }
  return true;
}

TEST(InProcessClusterTest, EveryNodeReachesTheSameActivation) {
  Node a(member("a"));
  Node b(member("b", {a.listen_address()}));
  Node c(member("c", {b.listen_address()}));
  for (Node* n : {&a, &b, &c}) register_all(*n);
  ASSERT_TRUE(eventually([&] { return sees({&a, &b, &c}, "test", 3); }, 3000ms));
  for (int i = 0; i < 30; ++i) {
    const std::string id = "actor-" + std::to_string(i);
    auto ra = a.call(req("Counter", id));
    auto rb = b.call(req("Counter", id));
    auto rc = c.call(req("Counter", id));
    ASSERT_TRUE(ra && rb && rc) << id;
    EXPECT_EQ(ra->pid, rb->pid);
    EXPECT_EQ(rb->pid, rc->pid);
    EXPECT_EQ(rc->value, 3) << "state continues across callers on different nodes";
    const std::uint32_t shard = a.shard_for(id);
    EXPECT_EQ(ra->pid.node, a.owner_node(shard, "test").value());
  }
}

TEST(InProcessClusterTest, RemoteErrorsKeepTheirCodeAndMessage) {
  Node a(member("a"));
  Node b(member("b", {a.listen_address()}));
  register_all(a);
  b.register_actor<Counter>("Counter");  // b knows no Crasher: unknown_module from b
  ASSERT_TRUE(eventually([&] { return sees({&a, &b}, "test", 1); }, 3000ms));
  b.register_capabilities({"remote"});
  a.register_capabilities({});
  ASSERT_TRUE(eventually([&] { return sees({&a, &b}, "remote", 1) && sees({&a, &b}, "test", 0); }, 3000ms));
  auto unknown = a.call(req("Crasher", "x", Value::object(), "remote"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::unknown_module);
  EXPECT_NE(unknown.error().message.find("Crasher"), std::string::npos);

  b.register_actor<Crasher>("Crasher");
  b.register_actor<FailingInit>("FailingInit");
  auto crash = a.call(req("Crasher", "x", {{"op", "crash"}, {"why", "remote kaboom"}}, "remote"));
  ASSERT_FALSE(crash);
  EXPECT_EQ(crash.error().code, Errc::actor_crashed);
  EXPECT_EQ(crash.error().message, "remote kaboom");
  auto failed = a.call(req("FailingInit", "bad-remote", Value::object(), "remote"));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, Errc::activation_failed);
  auto ok = a.call(req("Crasher", "x", Value::object(), "remote"));
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->pid.node, "b");
}

TEST(InProcessClusterTest, CapabilitiesRouteToTheNodesThatHaveThem) {
  Node game(member("game-node"));
  Node chat(member("chat-node", {game.listen_address()}));
  Node universal(member("universal", {game.listen_address()}));
  for (Node* n : {&game, &chat, &universal}) {
    n->register_actor<Counter>("Counter");
  }
  game.register_capabilities({"game"});
  chat.register_capabilities({"chat"});
  universal.register_capabilities({"game", "chat", "payment"});
  ASSERT_TRUE(eventually([&] {
    return sees({&game, &chat, &universal}, "game", 2) && sees({&game, &chat, &universal}, "chat", 2) &&
           sees({&game, &chat, &universal}, "payment", 1);
  }, 3000ms));
  EXPECT_EQ(chat.all_capabilities(), (std::vector<std::string>{"chat", "game", "payment"}));
  for (int i = 0; i < 40; ++i) {
    const std::string id = "p" + std::to_string(i);
    auto g = chat.call(req("Counter", id, {}, "game"));
    auto c = game.call(req("Counter", id, {}, "chat"));
    auto p = game.call(req("Counter", id, {}, "payment"));
    ASSERT_TRUE(g && c && p);
    EXPECT_NE(g->pid.node, "chat-node");
    EXPECT_NE(c->pid.node, "game-node");
    EXPECT_EQ(p->pid.node, "universal");
  }
}

TEST(InProcessClusterTest, CapabilityChangesReachEveryNodeWithinASecond) {
  Node a(member("a"));
  Node b(member("b", {a.listen_address()}));
  Node c(member("c", {a.listen_address()}));
  b.register_capabilities({"game"});  // maybe before the joins complete: either way it must show
  ASSERT_TRUE(eventually([&] { return sees({&a, &b, &c}, "game", 1); }, 3000ms));
  const auto start = std::chrono::steady_clock::now();
  c.register_capabilities({"game", "chat"});
  ASSERT_TRUE(eventually([&] { return sees({&a, &b, &c}, "game", 2) && sees({&a, &b, &c}, "chat", 1); },
                         1000ms));
  b.register_capabilities({});
  ASSERT_TRUE(eventually([&] { return sees({&a, &b, &c}, "game", 1); }, 1000ms));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms);
  EXPECT_EQ(a.nodes_for("game"), std::vector<std::string>{"c"});
}

TEST(InProcessClusterTest, ActivationsOfLostShardsAreStoppedSoStaleStateNeverReturns) {
  Node a(member("a"));
  Node b(member("b", {a.listen_address()}));
  for (Node* n : {&a, &b}) register_all(*n);
  ASSERT_TRUE(eventually([&] { return sees({&a, &b}, "test", 2); }, 3000ms));
  std::string on_b;
  for (int i = 0; on_b.empty(); ++i) {
    const std::string id = "s" + std::to_string(i);
    if (a.owner_node(a.shard_for(id), "test").value() == "b") on_b = id;
  }
  ASSERT_TRUE(a.call(req("Counter", on_b)));
  auto before = a.call(req("Counter", on_b));
  ASSERT_TRUE(before);
  EXPECT_EQ(before->value, 2);
  EXPECT_EQ(before->pid.node, "b");
  b.register_capabilities({});  // the shard moves to a
  ASSERT_TRUE(eventually([&] { return sees({&a, &b}, "test", 1); }, 3000ms));
  auto moved = a.call(req("Counter", on_b));
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->pid.node, "a");
  b.register_capabilities({"test"});  // and back to b
  ASSERT_TRUE(eventually([&] { return sees({&a, &b}, "test", 2); }, 3000ms));
  auto back = a.call(req("Counter", on_b));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->pid.node, "b");
  EXPECT_NE(back->pid, before->pid);
  EXPECT_EQ(back->value, 1) << "the old activation on b came back with stale state";
}

TEST(InProcessClusterTest, StatusReportsTheViewAndWhatANodeHosts) {
  Node a(member("a"));
  Node b(member("b", {a.listen_address()}));
  for (Node* n : {&a, &b}) register_all(*n);
  ASSERT_TRUE(eventually([&] { return sees({&a, &b}, "test", 2); }, 3000ms));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(a.call(req("Counter", "st" + std::to_string(i))));
  const NodeStatus sa = a.status(), sb = b.status();
  EXPECT_EQ(sa.name, "a");
  EXPECT_EQ(sa.members, (std::vector<std::string>{"a", "b"}));
  EXPECT_GT(sa.view_epoch, 0u);
  EXPECT_EQ(sa.owned_shards.at("test").size() + sb.owned_shards.at("test").size(), 4096u);
  EXPECT_EQ(sa.activations + sb.activations, 50u);
  std::size_t per_shard = 0;
  for (auto& [shard, count] : sa.activations_per_shard) per_shard += count;
  EXPECT_EQ(per_shard, sa.activations);
  for (const ActivationInfo& info : a.activations()) {
    EXPECT_EQ(info.module, "Counter");
    EXPECT_EQ(info.capability, "test");
    EXPECT_EQ(info.shard, a.shard_for(info.id));
    EXPECT_EQ(info.pid.node, "a");
    EXPECT_EQ(a.owner_node(info.shard, "test").value(), "a");
  }
  EXPECT_EQ(a.reconcile(), 0u) << "nothing sits on a shard a does not own";
  EXPECT_EQ(a.status().reconciler_runs, sa.reconciler_runs + 1);
}

// Discovery that finds nothing until the test says the network has healed.
class SwitchableDiscovery : public Discovery {
 public:
  std::vector<std::string> addresses() override {
    std::lock_guard lock(mutex_);
    return addresses_;
  }
  void set(std::vector<std::string> addresses) {
    std::lock_guard lock(mutex_);
    addresses_ = std::move(addresses);
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> addresses_;
};

TEST(InProcessClusterTest, DuplicatesFromAPartitionAreGoneOnceItHeals) {
  // a and b start apart, so both own every shard and each activates the same actors: the split
  // brain of a partition. Once they meet, every actor must be left on exactly one node.
  auto link = std::make_shared<SwitchableDiscovery>();
  Node a(member("a"));
  NodeOptions b_options = member("b");
  b_options.discovery = link;
  b_options.discovery_interval = 20ms;
  b_options.join_timeout = 0ms;  // b finds nobody and serves alone: the split brain
  Node b(b_options);
  for (Node* n : {&a, &b}) register_all(*n);
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    ids.push_back("dup" + std::to_string(i));
    ASSERT_TRUE(a.call(req("Counter", ids.back())));
    ASSERT_TRUE(b.call(req("Counter", ids.back())));
  }
  ASSERT_EQ(a.activations().size() + b.activations().size(), 80u);
  link->set({a.listen_address()});  // heal
  ASSERT_TRUE(eventually([&] { return sees({&a, &b}, "test", 2); }, 3000ms));
  ASSERT_TRUE(eventually([&] { return a.activations().size() + b.activations().size() == 40; }, 1000ms))
      << a.activations().size() << " + " << b.activations().size();
  std::set<std::string> seen;
  for (Node* n : {&a, &b}) {
    for (const ActivationInfo& info : n->activations()) {
      EXPECT_TRUE(seen.insert(info.id).second) << info.id << " is active on two nodes";
      EXPECT_EQ(n->owner_node(info.shard, "test").value(), n->name());
    }
  }
}

TEST(InProcessClusterTest, WrongCookieIsRefused) {
  std::vector<std::string> logs;
  std::mutex mutex;
  NodeOptions a_options = member("a");
  a_options.log = [&](LogLevel level, std::string_view line) {
    std::lock_guard lock(mutex);
    if (level >= LogLevel::warning) logs.emplace_back(line);
  };
  Node a(a_options);
  a.register_capabilities({"test"});
  Node intruder(member("intruder", {a.listen_address()}, "wrong"));
  intruder.register_capabilities({"evil"});
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    for (const std::string& line : logs) {
      if (line.find("authentication failed") != std::string::npos) return true;
    }
    return false;
  }));
  EXPECT_TRUE(a.nodes_for("evil").empty());
  EXPECT_TRUE(intruder.nodes_for("test").empty());
}

TEST(InProcessClusterTest, GracefulLeaveIsSeenAtOnce) {
  Node a(member("a"));
  register_all(a);
  auto b = std::make_unique<Node>(member("b", {a.listen_address()}));
  register_all(*b);
  ASSERT_TRUE(eventually([&] { return sees({&a, b.get()}, "test", 2); }, 3000ms));
  const auto start = std::chrono::steady_clock::now();
  b.reset();
  ASSERT_TRUE(eventually([&] { return a.nodes_for("test").size() == 1; }, 1000ms));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 300ms) << "leave waited for the failure timeout";
  for (int i = 0; i < 20; ++i) {
    auto r = a.call(req("Counter", "after-" + std::to_string(i)));
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->pid.node, "a");
  }
}

// A port the kernel just handed out and released: free for the node about to bind it.
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), size), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size), 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

TEST(InProcessClusterTest, NodesDialingEachOtherAtOnceKeepOneLink) {
  // Each node is the other's seed, so both dial at start: two links cross, and both ends must
  // keep the same one. A wrong choice shows as a lost peer or a node missing from a view; a
  // link closed under calls in flight shows as a failed call (the other link is retired: it
  // closes only once nothing is in flight on it).
  int total_retired = 0;
  for (int round = 0; round < 10; ++round) {
    std::mutex mutex;
    std::vector<std::string> lost;
    int retiring = 0, retired = 0;
    auto options = [&](std::string name, std::string listen, std::string seed) {
      NodeOptions o = member(std::move(name), {std::move(seed)});
      o.listen = std::move(listen);
      o.log = [&](LogLevel, std::string_view line) {
        std::lock_guard lock(mutex);
        if (line.rfind("lost ", 0) == 0) lost.emplace_back(line);
        if (line.rfind("retiring ", 0) == 0) ++retiring;
        if (line.rfind("closed the retired link", 0) == 0) ++retired;
      };
      return o;
    };
    // Each node must listen on a fixed port its peer knows before it starts. A port probed free
    // may be taken by another test's socket before the node binds it (the constructor then
    // throws): such a round starts again on two new ports.
    std::unique_ptr<Node> node_a, node_b;
    for (int attempt = 0; !node_b; ++attempt) {
      const std::string pa = "127.0.0.1:" + std::to_string(free_port());
      const std::string pb = "127.0.0.1:" + std::to_string(free_port());
      try {
        node_a = std::make_unique<Node>(options("a", pa, pb));
        node_b = std::make_unique<Node>(options("b", pb, pa));
      } catch (const std::system_error& error) {
        ASSERT_LT(attempt, 4) << "round " << round << ": " << error.what();
        node_b.reset();
        node_a.reset();
        std::lock_guard lock(mutex);
        lost.clear();
        retiring = retired = 0;
      }
    }
    Node& a = *node_a;
    Node& b = *node_b;
    register_all(a);
    register_all(b);
    std::atomic<bool> stop{false};
    std::vector<std::string> failures;
    std::vector<std::thread> callers;
    for (Node* caller : {&a, &b}) {
      callers.emplace_back([&, caller] {
        for (int i = 0; !stop && i < 100'000; ++i) {
          auto r = caller->call(req("Counter", "x" + std::to_string(i % 64)));
          // no_nodes: neither node serves "test" before it has met the other (join sync).
          if (!r && r.error().code != Errc::no_nodes) {
            std::lock_guard lock(mutex);
            failures.push_back(to_string(r.error()));
          }
        }
      });
    }
    const bool met = eventually([&] { return sees({&a, &b}, "test", 2); }, 3000ms);
    std::this_thread::sleep_for(200ms);
    stop = true;
    for (auto& t : callers) t.join();
    ASSERT_TRUE(met) << "round " << round;
    EXPECT_TRUE(sees({&a, &b}, "test", 2)) << "round " << round;
    EXPECT_TRUE(failures.empty()) << "round " << round << ": " << failures.size()
                                  << " calls failed, first: " << failures.front();
    auto r = a.call(req("Counter", "crossed-" + std::to_string(round)));
    ASSERT_TRUE(r) << r.error();
    // A retired link closes once nothing is in flight on it (here: within its 100 ms grace).
    EXPECT_TRUE(eventually([&] {
      std::lock_guard lock(mutex);
      return retired == retiring;
    }, 2000ms)) << "round " << round << ": a retired link stayed open";
    std::lock_guard lock(mutex);
    total_retired += retired;
    EXPECT_TRUE(lost.empty()) << "round " << round << ": " << lost.front();
  }
  RecordProperty("retired_links", total_retired);  // how often the links crossed
}

TEST(InProcessClusterTest, ARequestSentByAStaleViewIsForwardedAndTheSenderHearsTheNewerView) {
  // The client's strategy puts every shard on "a" (a view that disagrees with everyone else's):
  // "a" forwards what b owns and sends the client its own view, at most every 100 ms.
  struct FirstNode : PlacementStrategy {
    std::size_t owner(std::uint32_t, std::string_view, std::span<const std::string>) const override {
      return 0;
    }
  };
  std::mutex mutex;
  int shared = 0;
  NodeOptions options_a = member("a");
  options_a.log = [&](LogLevel, std::string_view line) {
    std::lock_guard lock(mutex);
    shared += line.rfind("sent client this node's view", 0) == 0;
  };
  Node a(options_a);
  Node b(member("b", {a.listen_address()}));
  NodeOptions options_client = member("client", {a.listen_address()});
  options_client.strategy = std::make_shared<FirstNode>();
  Node client(options_client);
  register_all(a);
  register_all(b);
  client.register_capabilities({});
  ASSERT_TRUE(eventually([&] { return sees({&a, &b, &client}, "test", 2); }, 3000ms));
  int forwarded = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 40; ++i) {
    const std::string id = "stale-" + std::to_string(i);
    auto r = client.call(req("Counter", id));
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->pid.node, b.owner_node(b.shard_for(id), "test").value());
    forwarded += r->pid.node == "b";
  }
  ASSERT_GT(forwarded, 0);
  // /metrics counts them where they were passed on.
  const std::string metrics = detail::NodeCore::of(a).metrics_text();
  const std::size_t at = metrics.find("\nmesh_forwarded_total ");
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_EQ(std::stoi(metrics.substr(at + 22)), forwarded) << metrics;
  const auto took = std::chrono::steady_clock::now() - start;
  std::lock_guard lock(mutex);
  EXPECT_GE(shared, 1);
  EXPECT_LE(shared, 1 + took / 100ms) << "the view goes out at most every 100 ms";
  EXPECT_LT(shared, forwarded) << "not once per forwarded request";
}

TEST(InProcessClusterTest, ThreadsCarryNamesOperatorsCanTellApart) {
  Node a(member("a"));
  auto names = [] {
    std::multiset<std::string> out;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      out.insert(name);
    }
    return out;
  };
  // Each thread names itself as it starts.
  EXPECT_TRUE(eventually([&] {
    const auto now = names();
    return now.count("mesh-io") == 1 && now.count("mesh-timer") == 1 &&
           now.count("mesh-worker") == 2;  // worker_threads = 2
  }, 2000ms));
}

// Views that disagree on purpose: while "a" serves the capability everyone places every shard on
// "a"; once it stops, "a" believes its shards go to `heir` while the others believe they go to
// "b". So "a" sends its RELEASE to "c", and "b" waits for a RELEASE that "a" never sends it.
struct HeirStrategy : PlacementStrategy {
  explicit HeirStrategy(std::string heir) : heir(std::move(heir)) {}
  std::size_t owner(std::uint32_t, std::string_view, std::span<const std::string> nodes) const override {
    if (std::find(nodes.begin(), nodes.end(), "a") != nodes.end()) return 0;  // sorted: "a" first
    const auto it = std::find(nodes.begin(), nodes.end(), heir);
    return it == nodes.end() ? 0 : static_cast<std::size_t>(it - nodes.begin());
  }
  std::string heir;
};

TEST(InProcessClusterTest, AWaitForAReleaseThatWentElsewhereIsUnstuckByAskingAgain) {
  auto options = [](std::string name, std::vector<std::string> seeds, std::string heir) {
    NodeOptions o = member(std::move(name), std::move(seeds));
    o.strategy = std::make_shared<HeirStrategy>(std::move(heir));
    o.handoff_timeout = 10s;  // a wait that only the deadline ends would take this long
    return o;
  };
  Node a(options("a", {}, "c"));
  Node b(options("b", {a.listen_address()}, "b"));
  Node c(options("c", {a.listen_address()}, "b"));
  register_all(a);
  register_all(b);
  register_all(c);
  b.register_capabilities({});
  c.register_capabilities({});
  ASSERT_TRUE(eventually([&] { return sees({&a, &b, &c}, "test", 1); }, 3000ms));
  ASSERT_TRUE(b.call(req("Counter", "stuck?")));  // lives on "a"
  b.register_capabilities({"test"});
  c.register_capabilities({"test"});
  ASSERT_TRUE(eventually([&] { return sees({&a, &b, &c}, "test", 3); }, 3000ms));

  a.register_capabilities({});  // "a" hands its shards to "c"; "b" expects them from "a"
  ASSERT_TRUE(eventually([&] { return sees({&a, &b, &c}, "test", 2); }, 3000ms));
  const auto start = std::chrono::steady_clock::now();
  auto r = b.call(req("Counter", "stuck?"));
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->pid.node, "b");
  EXPECT_LT(waited, 2s) << "the wait ended only by its deadline";
  // The other shards b waited for from "a" are asked about in the same rounds: all of them end
  // long before their 10 s deadline.
  EXPECT_TRUE(eventually([&] { return b.status().handoffs_in_progress == 0; }, 3000ms))
      << b.status().handoffs_in_progress << " handoffs still in progress at b";
}

TEST(InProcessClusterTest, DuplicateNameIsRefused) {
  // What a logs, to see the twin reach it and be refused for its name. Outlives both nodes.
  struct Log {
    std::mutex mutex;
    std::vector<std::string> lines;
    bool has(std::string_view text) {
      std::lock_guard lock(mutex);
      return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
        return line.find(text) != std::string::npos;
      });
    }
  };
  auto log = std::make_shared<Log>();
  NodeOptions options = member("a");
  options.log = [log](LogLevel level, std::string_view line) {
    test_log(level, line);
    std::lock_guard lock(log->mutex);
    log->lines.emplace_back(line);
  };
  Node a(options);
  register_all(a);
  Node twin(member("a", {a.listen_address()}));
  twin.register_capabilities({"twin"});
  ASSERT_TRUE(eventually([&] { return log->has("duplicate node name a"); }, 3000ms))
      << "a never refused the twin for its name";
  EXPECT_TRUE(a.nodes_for("twin").empty());
  EXPECT_EQ(a.all_capabilities(), std::vector<std::string>{"test"});
  EXPECT_FALSE(log->has("connected to a")) << "a admitted the twin at some point";
  auto served = a.call(req("Counter", "after-twin"));
  ASSERT_TRUE(served) << served.error();
  EXPECT_EQ(served->pid.node, "a");
  EXPECT_EQ(served->value, 1);
}

TEST(InProcessClusterTest, NestedRemoteCallCycleIsDeadlock) {
  Node a(member("a"));
  Node b(member("b", {a.listen_address()}));
  for (Node* n : {&a, &b}) register_all(*n);
  ASSERT_TRUE(eventually([&] { return sees({&a, &b}, "test", 2); }, 3000ms));
  // Find two ids owned by different nodes, then make a cycle between them.
  std::string on_a, on_b;
  for (int i = 0; on_a.empty() || on_b.empty(); ++i) {
    const std::string id = "r" + std::to_string(i);
    (a.owner_node(a.shard_for(id), "test").value() == "a" ? on_a : on_b) = id;
  }
  Value cycle{{"to", on_b}, {"then", {{"to", on_a}, {"then", Value::object()}}}};
  auto r = b.call(req("Relay", on_a, cycle));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->value["reply"]["error"], "deadlock") << r->value;
  Value chain{{"to", on_b}, {"then", Value::object()}};
  auto ok = b.call(req("Relay", on_a, chain));
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->value["reply"]["at"], on_b);
}

TEST(InProcessClusterTest, RemoteTimeoutsAreBoundedAndLateRepliesDropped) {
  Node a(member("a"));
  Node b(member("b", {a.listen_address()}));
  register_all(b);
  ASSERT_TRUE(eventually([&] { return a.nodes_for("test").size() == 1; }, 3000ms));
  Request slow = req("Sleeper", "slow", {{"ms", 400}});
  slow.timeout = 100ms;
  const auto start = std::chrono::steady_clock::now();
  auto r = a.call(std::move(slow));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 350ms);
  Request slow_async = req("Sleeper", "slow", {{"ms", 0}});
  slow_async.timeout = 100ms;
  std::atomic<int> code{-1};
  a.async_call(std::move(slow_async), [&](Result<Reply> reply) {
    code = reply ? 0 : static_cast<int>(reply.error().code);
  });
  EXPECT_TRUE(eventually([&] { return code.load() != -1; }, 350ms));
  EXPECT_EQ(code.load(), static_cast<int>(Errc::timeout));
  // The late replies were dropped: the next call gets its own answer.
  auto next = a.call(req("Sleeper", "slow", {{"ms", 0}}));
  ASSERT_TRUE(next) << next.error();
  EXPECT_GE(next->value.get<int>(), 2);
}

TEST(InProcessClusterTest, AsyncAndCastAcrossNodes) {
  Node a(member("a"));
  Node b(member("b", {a.listen_address()}));
  register_all(b);
  a.register_capabilities({});
  ASSERT_TRUE(eventually([&] { return sees({&a, &b}, "test", 1); }, 3000ms));
  ASSERT_TRUE(a.cast(req("Recorder", "r", "one")));
  std::atomic<int> done{0};
  Value seen;
  a.async_call(req("Recorder", "r", {{"op", "log"}}), [&](Result<Reply> reply) {
    if (reply) seen = reply->value;
    ++done;
  });
  ASSERT_TRUE(eventually([&] { return done.load() == 1; }));
  EXPECT_EQ(seen, Value::array({"one"})) << "the cast from the same thread arrived first";
}

}  // namespace
}  // namespace mesh::test

namespace mesh::test {
namespace {

// A node that left gracefully is not redialed, but a new process under the same name is a new
// incarnation and must be: here only "a" (the smaller name) would dial the newcomer, which
// joined through "b" and learnt of "a" from b's member list.
TEST(InProcessClusterTest, ANodeThatLeftMayRejoinUnderItsName) {
  Node a(member("a"));
  Node b(member("b", {a.listen_address()}));
  for (Node* n : {&a, &b}) register_all(*n);
  {
    Node c(member("c", {b.listen_address()}));
    register_all(c);
    ASSERT_TRUE(eventually([&] { return sees({&a, &b, &c}, "test", 3); }, 3000ms));
  }  // c leaves gracefully (LEAVE): a and b forget it
  ASSERT_TRUE(eventually([&] { return sees({&a, &b}, "test", 2); }, 3000ms));
  Node c(member("c", {b.listen_address()}));
  register_all(c);
  EXPECT_TRUE(eventually([&] { return sees({&a, &b, &c}, "test", 3); }, 3000ms))
      << "a sees " << a.nodes_for("test").size() << " nodes, c sees " << c.nodes_for("test").size();
  auto r = a.call(req("Counter", "after-rejoin"));
  EXPECT_TRUE(HasValue(r));
}

}  // namespace
}  // namespace mesh::test

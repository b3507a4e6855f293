// Real node processes (tools/mesh_node) on 127.0.0.1 with ephemeral ports.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "node_process.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

using tools::NodeProcess;

const std::string kBinary = MESH_NODE_BINARY;

std::unique_ptr<NodeProcess> start(const std::string& name, const std::string& capabilities,
                                   std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--name", name, "--listen", "127.0.0.1:0", "--cookie", "test-cookie",
                                "--capabilities", capabilities, "--heartbeat-ms", "50",
                                "--failure-timeout-ms", "500", "--verbose"};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<NodeProcess>(kBinary, args);
}

std::vector<std::string> seed(const NodeProcess& p) { return {"--seed", p.listen()}; }

// The in-test node that joins the processes as a client (no capabilities of its own).
NodeOptions client_options(const NodeProcess& seed_node,
                           std::shared_ptr<PlacementStrategy> strategy = nullptr) {
  return NodeOptions{.name = "client", .listen = "127.0.0.1:0", .seeds = {seed_node.listen()},
                     .cookie = "test-cookie", .strategy = std::move(strategy),
                     .heartbeat_interval = 50ms, .failure_timeout = 500ms,
                     .log = [](LogLevel, std::string_view) {}};
}

std::string game_call(const std::string& id) {
  return "call GameActor " + id + " game {\"action\":\"increment_score\"}";
}

// "ok <pid> value" -> pid
std::string pid_of(const std::string& answer) {
  std::istringstream in(answer);
  std::string tag, pid;
  in >> tag >> pid;
  return tag == "ok" ? pid : "";
}

class ThreeNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    game = start("game-node", "game");
    chat = start("chat-node", "chat", seed(*game));
    universal = start("universal", "game,chat,payment", seed(*game));
    for (NodeProcess* p : all()) {
      ASSERT_EQ(p->command("wait-nodes game 2 5000"), "ok") << p->name() << p->log();
      ASSERT_EQ(p->command("wait-nodes chat 2 5000"), "ok") << p->name();
      ASSERT_EQ(p->command("wait-nodes payment 1 5000"), "ok") << p->name();
    }
  }
  std::vector<NodeProcess*> all() { return {game.get(), chat.get(), universal.get()}; }
  std::unique_ptr<NodeProcess> game, chat, universal;
};

TEST_F(ThreeNodes, EveryNodeReachesTheSamePidAndState) {
  for (int i = 0; i < 10; ++i) {
    const std::string id = "player_" + std::to_string(i);
    std::string first_pid;
    int expected = 0;
    for (NodeProcess* p : all()) {
      const std::string answer = p->command(game_call(id));
      ASSERT_EQ(answer.rfind("ok ", 0), 0u) << answer;
      const std::string pid = pid_of(answer);
      if (first_pid.empty()) first_pid = pid;
      EXPECT_EQ(pid, first_pid) << "node " << p->name() << " reached another activation of " << id;
      EXPECT_EQ(answer.substr(answer.rfind(' ') + 1), std::to_string(++expected))
          << "state continuity across callers on different nodes";
    }
  }
}

TEST_F(ThreeNodes, PlacementHonoursCapabilities) {
  for (int i = 0; i < 20; ++i) {
    const std::string id = "x" + std::to_string(i);
    const std::string g = pid_of(chat->command(game_call(id)));
    EXPECT_TRUE(g.rfind("<game-node.", 0) == 0 || g.rfind("<universal.", 0) == 0) << g;
    const std::string c = pid_of(game->command("call ChatActor " + id + " chat {\"action\":\"join\",\"user\":\"u\"}"));
    EXPECT_TRUE(c.rfind("<chat-node.", 0) == 0 || c.rfind("<universal.", 0) == 0) << c;
    const std::string p = pid_of(chat->command("call PaymentActor " + id + " payment {\"action\":\"balance\"}"));
    EXPECT_EQ(p.rfind("<universal.", 0), 0u) << p;
  }
  EXPECT_EQ(chat->command("capabilities"), "capabilities chat,game,payment");
}

TEST_F(ThreeNodes, RemoteErrorsComeBackAsTheyDoLocally) {
  // Find an id owned by another node than the caller, so that the error crosses the wire.
  for (int i = 0; i < 20; ++i) {
    const std::string id = "c" + std::to_string(i);
    const std::string answer = chat->command("call Crasher " + id + " game {\"action\":\"crash\"}");
    EXPECT_EQ(answer, "error actor_crashed boom!");
  }
  EXPECT_EQ(chat->command("call NoSuchModule a game {}").rfind("error unknown_module", 0), 0u);
  EXPECT_EQ(chat->command("call PaymentActor a payment {\"action\":\"deposit\",\"amount\":-5}"),
            "error actor_crashed negative amount");
}

TEST_F(ThreeNodes, GracefulLeaveIsSeenAtOnceAndOthersTakeOver) {
  EXPECT_EQ(game->terminate(), 0) << game->log();
  EXPECT_NE(game->log().find("stopping on SIGTERM"), std::string::npos);
  for (NodeProcess* p : {chat.get(), universal.get()}) {
    // Well under the 500 ms failure timeout: the leave was announced.
    EXPECT_EQ(p->command("wait-nodes game 1 300"), "ok") << p->name();
  }
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(pid_of(chat->command(game_call("after-" + std::to_string(i)))).rfind("<universal.", 0), 0u);
  }
}

TEST_F(ThreeNodes, WrongCookieIsRefused) {
  auto intruder = std::make_unique<NodeProcess>(
      kBinary, std::vector<std::string>{"--name", "intruder", "--listen", "127.0.0.1:0", "--cookie",
                                        "wrong", "--capabilities", "evil", "--seed", game->listen()});
  EXPECT_EQ(game->command("wait-nodes evil 1 500").rfind("error timeout", 0), 0u);
  EXPECT_EQ(intruder->command("wait-nodes game 1 200").rfind("error timeout", 0), 0u);
  EXPECT_NE(game->log().find("authentication failed"), std::string::npos) << game->log();
}

int connect_to(const std::string& address) {
  const auto colon = address.rfind(':');
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &to.sin_addr);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST_F(ThreeNodes, GarbageAndBadFramesDoNotDisturbTheNode) {
  const std::vector<std::string> attacks{
      std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
      std::string("\x7f\xff\xff\xff\x01\x01", 6),                       // 2 GiB frame
      std::string("\x00\x00\x00\x04\x01\x63\xc1\xc1", 8),               // unknown type 99
      std::string("\x00\x00\x00\x04\x01\x01\xc1\xc1", 8),               // HELLO, bad msgpack
      std::string("\x00\x00\x00\x03\x02\x01\x80", 7),                   // version 2 HELLO
      std::string("\x00\x00\x00\x03\x01\x08\x80", 7),                   // CALL before the handshake
  };
  for (const std::string& bytes : attacks) {
    const int fd = connect_to(game->listen());
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
    // The node answers (HELLO, maybe REFUSE) and closes the connection, within a bound.
    timeval limit{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {}
    EXPECT_EQ(n, 0) << "connection not closed for attack of " << bytes.size() << " bytes";
    ::close(fd);
  }
  // The node and its links are unharmed.
  EXPECT_TRUE(game->running());
  EXPECT_EQ(chat->command(game_call("still-fine")).rfind("ok ", 0), 0u);
  EXPECT_EQ(game->command("nodes chat"), "nodes chat-node,universal");
  const std::string log = game->log();
  EXPECT_NE(log.find("exceeds the limit"), std::string::npos) << log;
  EXPECT_NE(log.find("protocol version 2"), std::string::npos) << log;
}

void expect_no_duplicates(const std::vector<NodeProcess*>& nodes, const std::string& when) {
  std::map<std::string, std::string> where;
  for (NodeProcess* node : nodes) {
    const std::string answer = node->command("activations");
    ASSERT_EQ(answer.rfind("activations ", 0), 0u) << answer;
    for (const Value& a : Value::parse(answer.substr(12))) {
      const std::string id = a["id"];
      const auto [it, fresh] = where.emplace(id, node->name());
      EXPECT_TRUE(fresh) << when << ": " << id << " is active on " << it->second << " and "
                         << node->name();
    }
  }
}

TEST(MultiProcessTest, KillNineUnderLoad) {
  auto a = start("node-a", "game");
  auto b = start("node-b", "game", seed(*a));
  auto c = start("node-c", "game", seed(*a));
  Node client(client_options(*a));
  ASSERT_TRUE(eventually([&] { return client.nodes_for("game").size() == 3; }, 5000ms));

  std::atomic<bool> stop{false};
  std::atomic<long> ok{0}, failed{0};
  std::atomic<long> slowest_ms{0};
  std::mutex mutex;
  std::map<std::string, long> errors;
  std::set<std::string> failed_ids;
  std::atomic<std::int64_t> last_failure_ns{0};
  // The actors that live on b: the only ones whose calls may fail when it dies.
  std::set<std::string> on_b;
  for (int i = 0; i < 200; ++i) {
    const std::string id = "load-" + std::to_string(i);
    if (client.owner_node(client.shard_for(id), "game").value() == "node-b") on_b.insert(id);
  }
  ASSERT_FALSE(on_b.empty());
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (long i = 0; !stop && i < 1'000'000; ++i) {
        const std::string id = "load-" + std::to_string((t * 7919 + i) % 200);
        Request r{.module = "GameActor", .id = id, .payload = {{"action", "increment_score"}},
                  .capability = "game", .timeout = 1000ms};
        const auto t0 = std::chrono::steady_clock::now();
        auto reply = client.call(std::move(r));
        const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - t0).count();
        long seen = slowest_ms.load();
        while (took > seen && !slowest_ms.compare_exchange_weak(seen, took)) {}
        if (reply) {
          ++ok;
        } else {
          ++failed;
          last_failure_ns = std::chrono::steady_clock::now().time_since_epoch().count();
          std::lock_guard lock(mutex);
          ++errors[std::string(to_string(reply.error().code))];
          failed_ids.insert(id);
        }
      }
    });
  }
  std::this_thread::sleep_for(500ms);
  const auto killed_at = std::chrono::steady_clock::now();
  b->kill9();
  std::this_thread::sleep_for(2000ms);
  stop = true;
  for (auto& t : callers) t.join();

  EXPECT_GT(ok.load(), 100);
  EXPECT_LE(slowest_ms.load(), 1500) << "a call hung past its 1 s timeout";
  for (auto& [code, count] : errors) {
    EXPECT_TRUE(code == "node_unreachable" || code == "timeout") << code << " x" << count;
  }
  if (failed > 0) {
    const auto restored_after = std::chrono::steady_clock::time_point(
                                    std::chrono::nanoseconds(last_failure_ns.load())) - killed_at;
    EXPECT_LT(restored_after, 1500ms) << "failures went on past failure timeout + 1 s";
  }
  for (const std::string& id : failed_ids) {
    EXPECT_TRUE(on_b.contains(id)) << "a call to " << id << ", which did not live on b, failed";
  }
  expect_no_duplicates({a.get(), c.get()}, "after b was killed");
  EXPECT_EQ(client.nodes_for("game"), (std::vector<std::string>{"node-a", "node-c"}));
  auto after = client.call(Request{.module = "GameActor", .id = "load-1",
                                   .payload = {{"action", "get_stats"}}, .capability = "game"});
  ASSERT_TRUE(after) << after.error();
}

TEST(MultiProcessTest, CustomPlacementStrategyIsHonouredClusterWide) {
  struct FirstNode : PlacementStrategy {
    std::size_t owner(std::uint32_t, std::string_view, std::span<const std::string>) const override {
      return 0;
    }
  };
  auto b = start("beta", "game", {"--strategy", "first"});
  auto a = start("alpha", "game", {"--strategy", "first", "--seed", b->listen()});
  Node client(client_options(*b, std::make_shared<FirstNode>()));
  ASSERT_TRUE(eventually([&] { return client.nodes_for("game").size() == 2; }, 5000ms));
  ASSERT_EQ(b->command("wait-nodes game 2 5000"), "ok");
  for (int i = 0; i < 20; ++i) {
    const std::string id = "s" + std::to_string(i);
    EXPECT_EQ(pid_of(b->command(game_call(id))).rfind("<alpha.", 0), 0u);
    auto r = client.call(Request{.module = "GameActor", .id = id,
                                 .payload = {{"action", "get_stats"}}, .capability = "game"});
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->pid.node, "alpha");
  }
}

TEST(MultiProcessTest, FrozenPeerIsDroppedAfterTheFailureTimeoutAndRejoins) {
  auto a = start("node-a", "game");
  auto b = start("node-b", "game", seed(*a));
  ASSERT_EQ(a->command("wait-nodes game 2 5000"), "ok");
  // SIGSTOP keeps b's sockets open but silences it: only heartbeats can tell.
  ::kill(b->pid(), SIGSTOP);
  const auto stopped_at = std::chrono::steady_clock::now();
  EXPECT_EQ(a->command("wait-nodes game 1 3000"), "ok");
  const auto detected_after = std::chrono::steady_clock::now() - stopped_at;
  EXPECT_GE(detected_after, 400ms) << "dropped before the 500 ms failure timeout";
  EXPECT_LT(detected_after, 1500ms);
  EXPECT_EQ(pid_of(a->command(game_call("while-b-is-frozen"))).rfind("<node-a.", 0), 0u);
  ::kill(b->pid(), SIGCONT);
  EXPECT_EQ(a->command("wait-nodes game 2 5000"), "ok") << "b did not rejoin: " << b->log();
  EXPECT_EQ(b->command("wait-nodes game 2 5000"), "ok") << "b: " << b->log() << "\na: " << a->log();
}

TEST(MultiProcessTest, RestartedNodeWithTheSameNameReplacesItsOldIncarnation) {
  auto a = start("node-a", "game");
  auto b = start("node-b", "game", seed(*a));
  ASSERT_EQ(a->command("wait-nodes game 2 5000"), "ok");
  b->kill9();
  ASSERT_EQ(a->command("wait-nodes game 1 3000"), "ok");
  auto b2 = start("node-b", "game", seed(*a));
  EXPECT_EQ(a->command("wait-nodes game 2 5000"), "ok") << a->log();
  EXPECT_EQ(a->command("nodes game"), "nodes node-a,node-b");
  // Calls reach the new incarnation; its actors start fresh.
  int on_b = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string answer = a->command(game_call("r" + std::to_string(i)));
    ASSERT_EQ(answer.rfind("ok ", 0), 0u) << answer;
    on_b += pid_of(answer).rfind("<node-b.", 0) == 0;
  }
  EXPECT_GT(on_b, 0);
}

TEST(MultiProcessTest, RequestsReachingANonOwnerAreForwarded) {
  // The client places every shard on the first node by name; the cluster uses rendezvous. Each
  // request therefore reaches "node-a", which forwards it to the owner by its own view.
  struct FirstNode : PlacementStrategy {
    std::size_t owner(std::uint32_t, std::string_view, std::span<const std::string>) const override {
      return 0;
    }
  };
  auto a = start("node-a", "game");
  auto b = start("node-b", "game", seed(*a));
  auto c = start("node-c", "game", seed(*a));
  Node client(client_options(*a, std::make_shared<FirstNode>()));
  ASSERT_TRUE(eventually([&] { return client.nodes_for("game").size() == 3; }, 5000ms));
  ASSERT_EQ(a->command("wait-nodes game 3 5000"), "ok");
  std::map<std::string, int> hosts;
  for (int i = 0; i < 30; ++i) {
    const std::string id = "f" + std::to_string(i);
    auto reply = client.call(Request{.module = "GameActor", .id = id,
                                     .payload = {{"action", "increment_score"}}, .capability = "game"});
    ASSERT_TRUE(reply) << reply.error();
    // The activation lives where the cluster (not the client) places it.
    EXPECT_EQ("<" + reply->pid.node, pid_of(b->command(game_call(id))).substr(0, reply->pid.node.size() + 1));
    ++hosts[reply->pid.node];
  }
  EXPECT_GE(hosts.size(), 2u) << "nothing was forwarded";
}

// Every actor id active on at most one of the processes, by their own introspection.

TEST(MultiProcessTest, RebalancingUnderLoadFromEveryNodeFailsNothingAndKeepsState) {
  auto a = start("node-a", "game");
  auto b = start("node-b", "game", seed(*a));
  auto c = start("node-c", "game", seed(*a));
  for (NodeProcess* n : {a.get(), b.get(), c.get()}) {
    ASSERT_EQ(n->command("wait-nodes game 3 5000"), "ok");
  }
  Node client(client_options(*a));
  ASSERT_TRUE(eventually([&] { return client.nodes_for("game").size() == 3; }, 5000ms));

  // Load from every node: the three processes and this test's own client node.
  ASSERT_EQ(a->command("load start from-a- 40"), "ok");
  ASSERT_EQ(b->command("load start from-b- 40"), "ok");
  ASSERT_EQ(c->command("load start from-c- 40"), "ok");
  std::atomic<bool> stop{false};
  std::vector<long> acked(40, 0);
  std::vector<std::string> failures;
  std::thread load([&] {
    for (long i = 0; !stop; ++i) {
      auto reply = client.call(Request{.module = "GameActor", .id = "from-client-" + std::to_string(i % 40),
                                       .payload = {{"action", "increment_score"}}, .capability = "game"});
      if (reply) {
        ++acked[i % 40];
      } else {
        failures.push_back(to_string(reply.error()));
      }
    }
  });
  auto settle = [] { std::this_thread::sleep_for(300ms); };
  settle();

  auto d = start("node-d", "game", seed(*a));  // a 4th node joins
  const std::vector<NodeProcess*> all{a.get(), b.get(), c.get(), d.get()};
  for (NodeProcess* n : all) EXPECT_EQ(n->command("wait-nodes game 4 5000"), "ok");
  settle();
  expect_no_duplicates(all, "after the join");

  EXPECT_EQ(b->command("set-capabilities"), "ok");  // a capability removed
  for (NodeProcess* n : all) EXPECT_EQ(n->command("wait-nodes game 3 5000"), "ok");
  settle();
  expect_no_duplicates(all, "after removing b's capability");

  EXPECT_EQ(b->command("set-capabilities game"), "ok");  // and registered again
  for (NodeProcess* n : all) EXPECT_EQ(n->command("wait-nodes game 4 5000"), "ok");
  settle();
  expect_no_duplicates(all, "after registering it again");

  EXPECT_EQ(d->terminate(), 0);  // a graceful leave
  const std::vector<NodeProcess*> staying{a.get(), b.get(), c.get()};
  for (NodeProcess* n : staying) EXPECT_EQ(n->command("wait-nodes game 3 5000"), "ok");
  settle();
  expect_no_duplicates(staying, "after d left");

  stop = true;
  load.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " client calls failed, first: " << failures.front();
  std::map<std::string, long> expected;
  for (int i = 0; i < 40; ++i) expected["from-client-" + std::to_string(i)] = acked[i];
  for (NodeProcess* n : staying) {
    const std::string answer = n->command("load stop");
    ASSERT_EQ(answer.rfind("load ", 0), 0u) << answer;
    const Value tally = Value::parse(answer.substr(5));
    EXPECT_TRUE(tally["failures"].empty()) << n->name() << ": " << tally["failures"].dump();
    EXPECT_GT(tally["calls"].get<long>(), 100);
    for (auto& [id, count] : tally["acked"].items()) expected[id] = count.get<long>();
  }
  for (const auto& [id, count] : expected) {
    auto stats = client.call(Request{.module = "GameActor", .id = id, .payload = {{"action", "get_stats"}},
                                     .capability = "game"});
    ASSERT_TRUE(stats) << stats.error();
    EXPECT_EQ(stats->value["score"].get<long>(), count) << id << " lost or repeated increments";
  }
}

}  // namespace
}  // namespace mesh::test

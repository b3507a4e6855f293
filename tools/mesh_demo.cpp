// mesh_demo: the README's demo. Starts a local 3-node cluster (game / chat / game+chat+payment)
// whose GameActors keep their state in a SQLite file, runs the Quickstart workload from every
// node, shows where actors live, lets a node leave and the others take over, kills a node with
// kill -9 and starts it again (the players keep their scores), and shuts everything down.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "node_process.hpp"

namespace {

using tools::NodeProcess;

std::string field(const std::string& answer, int index) {
  std::istringstream in(answer);
  std::string word;
  for (int i = 0; i <= index && in >> word;) ++i;
  return word;
}

std::string value_of(const std::string& answer) {  // "ok <pid> VALUE"
  const auto space = answer.find(' ', 3);
  return space == std::string::npos ? answer : answer.substr(space + 1);
}

std::string node_of(const std::string& pid) {  // "<node.serial>" -> node
  return pid.size() > 2 ? pid.substr(1, pid.rfind('.') - 1) : pid;
}

// Every check that fails is reported on stderr and counted; main exits non-zero if any did.
int failures = 0;

void fail(const std::string& what, const std::string& why) {
  ++failures;
  std::cerr << "demo: FAILED: " << what << ": " << why << "\n";
}

// Thrown when going on makes no sense (a node stopped answering); main reports it and exits 1,
// after the NodeProcess destructors have stopped the nodes.
struct Abort : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A command's answer; an empty one means the node died or hung (NodeProcess waits 10 s).
std::string ask(NodeProcess& node, const std::string& command) {
  std::string answer = node.command(command);
  if (answer.empty()) throw Abort("no answer from " + node.name() + " to '" + command + "'");
  return answer;
}

bool expect_ok(const std::string& answer, const std::string& what) {
  if (answer.rfind("ok", 0) == 0) return true;
  fail(what, "answered '" + answer + "'");
  return false;
}

// Sends a "call ..." command; it must answer "ok <pid> VALUE". Returns the answer.
std::string call(NodeProcess& from, const std::string& command, const std::string& what) {
  std::string answer = ask(from, command);
  if (expect_ok(answer, what + " (called from " + from.name() + ")") &&
      field(answer, 1).size() <= 2) {
    fail(what + " (called from " + from.name() + ")", "no pid in '" + answer + "'");
  }
  return answer;
}

// A call whose value must be `expected` (compact JSON) and whose actor must live on one of
// `hosts`. Returns the answer.
std::string call_expecting(NodeProcess& from, const std::string& command, const std::string& what,
                           const std::string& expected, const std::set<std::string>& hosts) {
  std::string answer = call(from, command, what);
  if (answer.rfind("ok", 0) != 0) return answer;
  if (value_of(answer) != expected) {
    fail(what + " (called from " + from.name() + ")",
         "expected " + expected + ", got " + value_of(answer));
  }
  if (!hosts.contains(node_of(field(answer, 1)))) {
    fail(what + " (called from " + from.name() + ")",
         "the actor lives on " + node_of(field(answer, 1)) + ", a node without its capability");
  }
  return answer;
}

// Sends a query command that must answer "TAG REST"; returns REST ("" when it did not).
std::string query(NodeProcess& from, const std::string& command, const std::string& tag) {
  const std::string answer = ask(from, command);
  if (answer.rfind(tag + " ", 0) != 0 && answer != tag) {
    fail("'" + command + "' on " + from.name(), "answered '" + answer + "'");
    return "";
  }
  return answer.size() > tag.size() ? answer.substr(tag.size() + 1) : "";
}

// Asks for the stats of players 1..`players` (players 1..5 scored once, the others never;
// each must live on a node in `hosts`) and prints how many live on each node.
void print_placement(NodeProcess& from, int players, const std::set<std::string>& hosts) {
  std::map<std::string, int> per_node;
  for (int p = 1; p <= players; ++p) {
    const std::string player = "player_" + std::to_string(p);
    const std::string expected = p <= 5 ? "{\"level\":1,\"score\":1}" : "{\"level\":1,\"score\":0}";
    const std::string answer =
        call_expecting(from, "call GameActor " + player + " game {\"action\":\"get_stats\"}",
                       "get_stats of " + player, expected, hosts);
    if (answer.rfind("ok", 0) == 0) ++per_node[node_of(field(answer, 1))];
  }
  std::cout << "  " << players << " GameActors by node:";
  for (auto& [node, count] : per_node) std::cout << "  " << node << "=" << count;
  std::cout << "\n";
}

}  // namespace

// The demo's SQLite file lives in a temporary directory, removed at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char pattern[] = "/tmp/mesh_demo_XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

int run(const std::string& binary) {
  TempDir dir;
  const std::string store = "sqlite:" + dir.path + "/demo.db";
  auto start = [&](const std::string& name, const std::string& caps, const std::string& seed) {
    std::vector<std::string> args{"--name", name, "--listen", "127.0.0.1:0", "--cookie", "demo",
                                  "--capabilities", caps, "--quiet", "--store", store,
                                  "--failure-timeout-ms", "500", "--heartbeat-ms", "100"};
    if (!seed.empty()) args.insert(args.end(), {"--seed", seed});
    return std::make_unique<NodeProcess>(binary, args);
  };
  const std::string game_action = "call GameActor player_123 game ";

  std::cout << "== starting a local cluster (GameActor state in " << dir.path << "/demo.db)\n";
  auto game = start("game-node", "game", "");
  auto chat = start("chat-node", "chat", game->listen());
  auto universal = start("universal", "game,chat,payment", game->listen());
  std::vector<NodeProcess*> nodes{game.get(), chat.get(), universal.get()};
  for (NodeProcess* n : nodes) {
    std::cout << "  " << n->name() << " listening on " << n->listen() << "\n";
  }
  for (NodeProcess* n : nodes) {
    if (!expect_ok(ask(*n, "wait-nodes payment 1 5000"), n->name() + " joining")) return 1;
    if (!expect_ok(ask(*n, "wait-nodes game 2 5000"), n->name() + " joining")) return 1;
    if (!expect_ok(ask(*n, "wait-nodes chat 2 5000"), n->name() + " joining")) return 1;
  }
  const std::string capabilities = query(*game, "capabilities", "capabilities");
  const std::string game_nodes = query(*game, "nodes game", "nodes");
  const std::string chat_nodes = query(*game, "nodes chat", "nodes");
  const std::string payment_nodes = query(*game, "nodes payment", "nodes");
  if (capabilities != "chat,game,payment") {
    fail("the cluster's capabilities", "'" + capabilities + "'");
  }
  if (game_nodes != "game-node,universal") fail("the nodes with game", "'" + game_nodes + "'");
  if (chat_nodes != "chat-node,universal") fail("the nodes with chat", "'" + chat_nodes + "'");
  if (payment_nodes != "universal") fail("the nodes with payment", "'" + payment_nodes + "'");
  std::cout << "  every node sees: " << capabilities << "; game on " << game_nodes << ", chat on "
            << chat_nodes << ", payment on " << payment_nodes << "\n";
  const std::set<std::string> game_hosts{"game-node", "universal"};
  const std::set<std::string> chat_hosts{"chat-node", "universal"};

  std::cout << "\n== the Quickstart workload, from every node\n";
  int expected_score = 0;
  for (NodeProcess* n : nodes) {
    const std::string score = call_expecting(*n, game_action + "{\"action\":\"increment_score\"}",
                                             "increment_score of player_123",
                                             std::to_string(++expected_score), game_hosts);
    std::cout << "  from " << n->name() << ": player_123 score " << value_of(score) << " on "
              << field(score, 1) << "\n";
  }
  const std::string level = call_expecting(*chat, game_action + "{\"action\":\"level_up\"}",
                                           "level_up of player_123", "2", game_hosts);
  const std::string stats =
      call_expecting(*universal, game_action + "{\"action\":\"get_stats\"}",
                     "get_stats of player_123", "{\"level\":2,\"score\":3}", game_hosts);
  std::cout << "  level_up: " << value_of(level) << ", stats: " << value_of(stats) << "\n";
  for (int p = 1; p <= 5; ++p) {
    NodeProcess* n = nodes[p % 3];
    const std::string player = "player_" + std::to_string(p);
    const std::string answer =
        call_expecting(*n, "call GameActor " + player + " game {\"action\":\"increment_score\"}",
                       "increment_score of " + player, "1", game_hosts);
    std::cout << "  " << player << " (called from " << n->name() << "): " << value_of(answer)
              << " on " << node_of(field(answer, 1)) << "\n";
  }
  const std::string shard = query(*game, "shard player_123", "shard");
  const std::string owner = query(*game, "owner " + shard + " game", "owner");
  if (!game_hosts.contains(owner)) fail("owner of shard " + shard, "'" + owner + "'");
  if (!stats.empty() && stats.rfind("ok", 0) == 0 && node_of(field(stats, 1)) != owner) {
    fail("player_123's placement",
         "it lives on " + node_of(field(stats, 1)) + " but its shard's owner is " + owner);
  }
  std::cout << "  player_123 is on shard " << shard << ", owned by " << owner << "\n";
  call_expecting(
      *game, "call ChatActor room_1 chat {\"action\":\"join\",\"user\":\"ana\"}", "join room_1",
      "{\"participants\":[\"ana\"],\"room\":\"room_1\",\"status\":\"joined\"}", chat_hosts);
  call_expecting(*game,
                 "call ChatActor room_1 chat "
                 "{\"action\":\"send_message\",\"user\":\"ana\",\"message\":\"hi\"}",
                 "send_message to room_1",
                 "{\"message\":{\"message\":\"hi\",\"user\":\"ana\"},\"status\":\"sent\"}",
                 chat_hosts);
  const std::string messages =
      call_expecting(*universal, "call ChatActor room_1 chat {\"action\":\"get_messages\"}",
                     "get_messages of room_1",
                     "{\"messages\":[{\"message\":\"hi\",\"user\":\"ana\"}]}", chat_hosts);
  std::cout << "  chat room_1 lives on " << node_of(field(messages, 1)) << ": "
            << value_of(messages) << "\n";
  const std::string deposit = call_expecting(
      *chat, "call PaymentActor acct_1 payment {\"action\":\"deposit\",\"amount\":100}",
      "deposit to acct_1", "100", {"universal"});
  std::cout << "  payment acct_1 (only the universal node has 'payment'): balance "
            << value_of(deposit) << " on " << node_of(field(deposit, 1)) << "\n";

  std::cout << "\n== where actors live\n";
  print_placement(*chat, 30, game_hosts);

  std::cout << "\n== game-node leaves (SIGTERM)\n";
  const int status = game->terminate();
  std::cout << "  game-node exited with status " << status << "\n";
  if (status != 0) fail("game-node leaving", "exit status " + std::to_string(status));
  for (NodeProcess* n : {chat.get(), universal.get()}) {
    if (!expect_ok(ask(*n, "wait-nodes game 1 2000"), n->name() + " seeing the leave")) return 1;
  }
  const std::string game_now = query(*chat, "nodes game", "nodes");
  if (game_now != "universal") fail("game after the leave", "served by '" + game_now + "'");
  std::cout << "  game is now served by " << game_now << "\n";
  const std::string moved = call_expecting(*chat, game_action + "{\"action\":\"get_stats\"}",
                                           "get_stats of player_123 after the move",
                                           "{\"level\":2,\"score\":3}", {"universal"});
  std::cout << "  player_123 now lives on " << node_of(field(moved, 1))
            << " and kept its state: " << value_of(moved) << "\n";
  print_placement(*chat, 30, {"universal"});

  std::cout << "\n== universal is killed (kill -9) and started again\n";
  universal->kill9();
  if (!expect_ok(ask(*chat, "wait-nodes game 0 5000"), "chat-node seeing universal die")) return 1;
  universal = start("universal", "game,chat,payment", chat->listen());
  if (!expect_ok(ask(*chat, "wait-nodes game 1 5000"), "chat-node seeing universal again")) {
    return 1;
  }
  const std::string restored = call_expecting(*chat, game_action + "{\"action\":\"get_stats\"}",
                                              "get_stats of player_123 after the restart",
                                              "{\"level\":2,\"score\":3}", {"universal"});
  std::cout << "  player_123 is back on " << node_of(field(restored, 1))
            << " with the state it had before the kill: " << value_of(restored) << "\n";
  print_placement(*chat, 30, {"universal"});

  std::cout << "\n== shutting down\n";
  for (NodeProcess* n : {chat.get(), universal.get()}) {
    const int exit_status = n->terminate();
    std::cout << "  " << n->name() << " exited with status " << exit_status << "\n";
    if (exit_status != 0) {
      fail(n->name() + " shutting down", "exit status " + std::to_string(exit_status));
    }
  }
  if (failures > 0) {
    std::cerr << "demo: " << failures << " check(s) failed\n";
    return 1;
  }
  std::cout << "\ndemo: every check passed\n";
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc > 1 ? argv[1] : MESH_NODE_BINARY);
  } catch (const std::exception& e) {  // Abort, or a node that did not start
    std::cerr << "demo: FAILED: " << e.what() << "\n";
    return 1;
  }
}

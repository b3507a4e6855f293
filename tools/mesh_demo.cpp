// mesh_demo: the README's demo. Starts a local 3-node cluster (game / chat / game+chat+payment),
// runs the Quickstart workload from every node, shows where actors live, lets a node leave and
// the others take over, and shuts everything down.
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

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

bool expect_ok(const std::string& answer, const std::string& what) {
  if (answer.rfind("ok", 0) == 0) return true;
  std::cerr << "demo: " << what << " failed: " << answer << "\n";
  return false;
}

void print_placement(NodeProcess& from, int players) {
  std::map<std::string, int> per_node;
  for (int p = 1; p <= players; ++p) {
    const std::string answer = from.command("call GameActor player_" + std::to_string(p) +
                                            " game {\"action\":\"get_stats\"}");
    ++per_node[node_of(field(answer, 1))];
  }
  std::cout << "  " << players << " GameActors by node:";
  for (auto& [node, count] : per_node) std::cout << "  " << node << "=" << count;
  std::cout << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string binary = argc > 1 ? argv[1] : MESH_NODE_BINARY;
  auto start = [&](const std::string& name, const std::string& caps,
                   const std::string& seed) {
    std::vector<std::string> args{"--name", name, "--listen", "127.0.0.1:0", "--cookie", "demo",
                                  "--capabilities", caps, "--quiet"};
    if (!seed.empty()) args.insert(args.end(), {"--seed", seed});
    return std::make_unique<NodeProcess>(binary, args);
  };

  std::cout << "== starting a local cluster\n";
  auto game = start("game-node", "game", "");
  auto chat = start("chat-node", "chat", game->listen());
  auto universal = start("universal", "game,chat,payment", game->listen());
  std::vector<NodeProcess*> nodes{game.get(), chat.get(), universal.get()};
  for (NodeProcess* n : nodes) {
    std::cout << "  " << n->name() << " listening on " << n->listen() << "\n";
  }
  for (NodeProcess* n : nodes) {
    if (!expect_ok(n->command("wait-nodes payment 1 5000"), n->name() + " joining")) return 1;
    if (!expect_ok(n->command("wait-nodes game 2 5000"), n->name() + " joining")) return 1;
    if (!expect_ok(n->command("wait-nodes chat 2 5000"), n->name() + " joining")) return 1;
  }
  std::cout << "  every node sees: " << game->command("capabilities").substr(13)
            << "; game on " << game->command("nodes game").substr(6) << ", chat on "
            << game->command("nodes chat").substr(6) << ", payment on "
            << game->command("nodes payment").substr(6) << "\n";

  std::cout << "\n== the Quickstart workload, from every node\n";
  for (NodeProcess* n : nodes) {
    const std::string score = n->command(
        "call GameActor player_123 game {\"action\":\"increment_score\"}");
    if (!expect_ok(score, "increment_score")) return 1;
    std::cout << "  from " << n->name() << ": player_123 score " << value_of(score) << " on "
              << field(score, 1) << "\n";
  }
  std::cout << "  level_up: " << value_of(chat->command("call GameActor player_123 game {\"action\":\"level_up\"}"))
            << ", stats: " << value_of(universal->command("call GameActor player_123 game {\"action\":\"get_stats\"}")) << "\n";
  for (int p = 1; p <= 5; ++p) {
    NodeProcess* n = nodes[p % 3];
    const std::string answer = n->command("call GameActor player_" + std::to_string(p) +
                                          " game {\"action\":\"increment_score\"}");
    std::cout << "  player_" << p << " (called from " << n->name() << "): " << value_of(answer)
              << " on " << node_of(field(answer, 1)) << "\n";
  }
  const std::string shard = game->command("shard player_123").substr(6);
  std::cout << "  player_123 is on shard " << shard << ", owned by "
            << game->command("owner " + shard + " game").substr(6) << "\n";
  expect_ok(game->command("call ChatActor room_1 chat {\"action\":\"join\",\"user\":\"ana\"}"), "join");
  expect_ok(game->command("call ChatActor room_1 chat {\"action\":\"send_message\",\"user\":\"ana\",\"message\":\"hi\"}"), "send");
  const std::string messages = universal->command("call ChatActor room_1 chat {\"action\":\"get_messages\"}");
  std::cout << "  chat room_1 lives on " << node_of(field(messages, 1)) << ": " << value_of(messages) << "\n";
  const std::string deposit = chat->command("call PaymentActor acct_1 payment {\"action\":\"deposit\",\"amount\":100}");
  std::cout << "  payment acct_1 (only the universal node has 'payment'): balance "
            << value_of(deposit) << " on " << node_of(field(deposit, 1)) << "\n";

  std::cout << "\n== where actors live\n";
  print_placement(*chat, 30);

  std::cout << "\n== game-node leaves (SIGTERM)\n";
  const int status = game->terminate();
  std::cout << "  game-node exited with status " << status << "\n";
  for (NodeProcess* n : {chat.get(), universal.get()}) {
    if (!expect_ok(n->command("wait-nodes game 1 2000"), n->name() + " seeing the leave")) return 1;
  }
  std::cout << "  game is now served by " << chat->command("nodes game").substr(6) << "\n";
  const std::string moved = chat->command("call GameActor player_123 game {\"action\":\"get_stats\"}");
  std::cout << "  player_123 now lives on " << node_of(field(moved, 1)) << " and kept its state: "
            << value_of(moved) << "\n";
  print_placement(*chat, 30);

  std::cout << "\n== shutting down\n";
  for (NodeProcess* n : {chat.get(), universal.get()}) {
    std::cout << "  " << n->name() << " exited with status " << n->terminate() << "\n";
  }
  const bool kept = value_of(moved) == "{\"level\":2,\"score\":3}";
  if (!kept) std::cerr << "demo: player_123 lost its state in the move\n";
  return status == 0 && kept ? 0 : 1;
}

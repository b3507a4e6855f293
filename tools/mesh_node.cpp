// mesh_node: a node process hosting the example actors (GameActor, ChatActor, PaymentActor,
// Echo, Relay), for demos and cluster tests.
//
//   mesh_node --listen 127.0.0.1:4000 --capabilities game,chat [--seed HOST:PORT]... \
//             [--cookie SECRET | MESH_COOKIE=...] [--dns NAME --dns-port P [--dns-server IP:PORT]]
//             [--strategy rendezvous|modulo|first] [--commands]
//             [--store sqlite:PATH | --store postgres:CONNINFO] [--reminder-log FILE]
//             [--tls-cert CHAIN.pem --tls-key KEY.pem --tls-ca CA.pem] [--multicast [GROUP:PORT]]
//             [--http HOST:PORT [--http-token TOKEN | MESH_HTTP_TOKEN=...]]
//
// Prints "ready NAME LISTEN" on stdout once listening ("ready NAME LISTEN HTTP" with --http,
// HTTP being the gateway's real address). Logs membership changes on stderr. Exits
// cleanly (announcing its leave) on SIGTERM or SIGINT. With --commands it reads one command per
// line on stdin and answers one line on stdout (see docs/node-program.md).
#include <CLI/CLI.hpp>
#include <signal.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include <mesh/mesh.hpp>

#include "actors/chat_actor.hpp"
#include "actors/counter.hpp"
#include "actors/crasher.hpp"
#include "actors/echo_actor.hpp"
#include "actors/game_actor.hpp"
#include "actors/payment_actor.hpp"
#include "beacon_actor.hpp"
#include "node_commands.hpp"

namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Every node goes to nodes[0]: a deliberately lopsided strategy that tests can recognise.
class FirstNodeStrategy final : public mesh::PlacementStrategy {
 public:
  std::size_t owner(std::uint32_t, std::string_view, std::span<const std::string>) const override {
    return 0;
  }
};

std::mutex output_mutex;

// The program's own line in the node's JSON log form (NodeOptions::log_format).
std::string program_log_line(const std::string& node, std::string_view event,
                             const std::string& message) {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  ::gmtime_r(&now, &parts);
  char time[32];
  std::strftime(time, sizeof time, "%Y-%m-%dT%H:%M:%S.000Z", &parts);
  return mesh::Value{{"time", time},       {"level", "info"},       {"node", node},
                     {"event", event},     {"message", message},    {"fields", mesh::Value::object()}}
      .dump();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mesh node hosting the example actors"};
  mesh::NodeOptions options;
  std::string capabilities, strategy = "rendezvous", dns_name, dns_server, store,
      persistence = "after_each_message", reminder_log;
  std::vector<std::string> seeds;
  unsigned short dns_port = 0;
  unsigned heartbeat_ms = 200, failure_ms = 1500, reconcile_ms = 5000;
  bool commands = false, quiet = false, verbose = false;
  app.add_option("--name", options.name, "node name (default: the listen address)");
  app.add_option("--listen", options.listen, "host:port to accept peers on (port 0: any)")->required();
  app.add_option("--seed", seeds, "host:port of a node to join through (repeatable, or comma list)");
  app.add_option("--cookie", options.cookie, "cluster secret (default: $MESH_COOKIE)");
  app.add_option("--capabilities", capabilities, "comma-separated capabilities, e.g. game,chat");
  app.add_option("--strategy", strategy, "placement: rendezvous, modulo or first")
      ->check(CLI::IsMember({"rendezvous", "modulo", "first"}));
  app.add_option("--dns", dns_name, "discover peers by resolving this name (A records)");
  app.add_option("--dns-port", dns_port, "the port peers found through --dns listen on");
  app.add_option("--dns-server", dns_server, "ask this DNS server (ip:port) instead of the system's");
  app.add_option("--workers", options.worker_threads, "actor worker threads (0: one per core)");
  app.add_option("--heartbeat-ms", heartbeat_ms, "heartbeat interval");
  app.add_option("--failure-timeout-ms", failure_ms, "silence after which a peer is dead");
  app.add_option("--reconcile-ms", reconcile_ms, "reconciler interval (0: only on demand)");
  app.add_option("--store", store,
                 "keep GameActor state in sqlite:PATH or postgres:CONNINFO (libpq conninfo)");
  app.add_option("--persistence", persistence, "when GameActor state is saved")
      ->check(CLI::IsMember({"after_each_message", "on_deactivate"}));
  app.add_option("--reminder-log", reminder_log,
                 "append a line per reminder a Beacon actor receives to this file");
  app.add_option("--tls-cert", options.tls.certificate_chain,
                 "TLS: this node's certificate chain (PEM); with --tls-key and --tls-ca");
  app.add_option("--tls-key", options.tls.private_key, "TLS: this node's private key (PEM)");
  app.add_option("--tls-ca", options.tls.ca, "TLS: the CA peers' certificates must chain to (PEM)");
  std::string multicast;
  app.add_option("--multicast", multicast,
                 "find peers by UDP multicast gossip on GROUP:PORT (alone: 230.1.1.251:45892)")
      ->expected(0, 1)
      ->default_str("230.1.1.251:45892");
  unsigned discovery_ms = 1000;
  app.add_option("--discovery-ms", discovery_ms, "how often discovery is asked (and announces)");
  app.add_option("--max-handshakes", options.max_handshakes,
                 "accepted connections allowed in their handshake at once");
  app.add_option("--http", options.http_listen,
                 "host:port to serve the HTTP/JSON API on (port 0: any; docs/http-api.md)");
  app.add_option("--http-threads", options.http_threads, "HTTP IO threads (default 2)");
  app.add_option("--http-token", options.http_token,
                 "bearer token HTTP requests must carry (default: $MESH_HTTP_TOKEN)");
  app.add_flag("--commands", commands, "read commands on stdin, answer on stdout");
  std::string log_format = "text";
  app.add_option("--log-format", log_format,
                 "text, or json: one JSON object per line (docs/operations.md, \"Logs\")")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--quiet", quiet, "log only warnings and errors");
  app.add_flag("--verbose", verbose, "also log debug lines (e.g. refused duplicate links)");
  CLI11_PARSE(app, argc, argv);

  if (options.cookie.empty()) {
    if (const char* env = std::getenv("MESH_COOKIE")) options.cookie = env;
  }
  if (options.http_token.empty()) {
    if (const char* env = std::getenv("MESH_HTTP_TOKEN")) options.http_token = env;
  }
  for (const std::string& seed : seeds) {
    for (std::string& s : split_list(seed)) options.seeds.push_back(std::move(s));
  }
  if (strategy == "modulo") options.strategy = mesh::modulo_strategy();
  if (strategy == "first") options.strategy = std::make_shared<FirstNodeStrategy>();
  if (!dns_name.empty()) {
    if (dns_port == 0) {
      std::cerr << "--dns needs --dns-port\n";
      return 2;
    }
    options.discovery = mesh::dns_discovery(dns_name, dns_port, dns_server);
  }
  if (app.count("--multicast") > 0) {
    if (options.discovery) {
      std::cerr << "mesh_node: use --dns or --multicast, not both\n";
      return 2;
    }
    if (multicast.empty()) multicast = "230.1.1.251:45892";
    const auto colon = multicast.rfind(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument("not GROUP:PORT");
      const int port = std::stoi(multicast.substr(colon + 1));
      if (port <= 0 || port > 65535) throw std::invalid_argument("bad port");
      options.discovery = mesh::multicast_discovery(multicast.substr(0, colon),
                                                    static_cast<unsigned short>(port));
    } catch (const std::exception& e) {
      std::cerr << "mesh_node: --multicast takes GROUP:PORT, e.g. 230.1.1.251:45892 ("
                << e.what() << ")\n";
      return 2;
    }
  }
  options.discovery_interval = std::chrono::milliseconds(discovery_ms);
  options.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  options.failure_timeout = std::chrono::milliseconds(failure_ms);
  options.reconcile_interval = std::chrono::milliseconds(reconcile_ms);
  std::string label;
  const bool json_log = log_format == "json";
  if (json_log) options.log_format = mesh::LogFormat::json;
  options.log = [&label, quiet, verbose, json_log](mesh::LogLevel level, std::string_view line) {
    if (quiet && level < mesh::LogLevel::warning) return;
    if (level == mesh::LogLevel::debug && !verbose) return;
    std::lock_guard lock(output_mutex);
    // A JSON line already names its node; a collector wants nothing around it.
    if (json_log) {
      std::cerr << line << std::endl;
    } else {
      std::cerr << "[" << label << "] " << line << std::endl;
    }
  };

  // Signals are taken by sigwait on the main thread; every other thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  if (!reminder_log.empty()) {
    tools::beacon_log_fd() = ::open(reminder_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (tools::beacon_log_fd() < 0) {
      std::cerr << "mesh_node: cannot open --reminder-log " << reminder_log << "\n";
      return 2;
    }
  }

  std::unique_ptr<mesh::Node> node;
  try {
    label = options.name.empty() ? options.listen : options.name;
    if (store.rfind("sqlite:", 0) == 0) {
      options.state_store = mesh::sqlite_store(store.substr(7));
    } else if (store.rfind("postgres:", 0) == 0) {
      options.state_store = mesh::postgres_store(store.substr(9));
    } else if (!store.empty()) {
      std::cerr << "mesh_node: --store takes sqlite:PATH or postgres:CONNINFO, not '" << store
                << "'\n";
      return 2;
    }
    node = std::make_unique<mesh::Node>(options);
  } catch (const std::exception& e) {
    std::cerr << "mesh_node: " << e.what() << "\n";
    return 1;
  }
  {
    // The node's threads log from now on, reading the label under the same mutex.
    std::lock_guard lock(output_mutex);
    label = node->name();
  }
  // With a store, players keep their score across crashes and restarts (docs/persistence.md).
  mesh::ActorOptions game;
  if (options.state_store) {
    game.persistence = persistence == "on_deactivate" ? mesh::Persistence::on_deactivate
                                                      : mesh::Persistence::after_each_message;
  }
  node->register_actor<examples::GameActor>("GameActor", game);
  node->register_actor<examples::ChatActor>("ChatActor");
  node->register_actor<examples::PaymentActor>("PaymentActor");
  node->register_actor<examples::EchoActor>("Echo");
  node->register_actor<examples::RelayActor>("Relay");
  node->register_actor<examples::Counter>("Counter");
  node->register_actor<examples::Crasher>("Crasher");
  node->register_actor<tools::Beacon>("Beacon");
  node->register_capabilities(split_list(capabilities));
  {
    std::lock_guard lock(output_mutex);
    std::cout << "ready " << node->name() << " " << node->listen_address();
    if (!node->http_address().empty()) std::cout << " " << node->http_address();
    std::cout << std::endl;
  }

  // The command reader holds node_mutex while it uses the node, so that shutdown (which takes
  // it to destroy the node) never pulls the node from under a running command.
  std::mutex node_mutex;
  if (commands) {
    std::thread([&node, &node_mutex] {
      for (std::string line; std::getline(std::cin, line);) {
        std::lock_guard node_lock(node_mutex);
        if (!node) return;
        const std::string answer = tools::run_command(*node, line);
        std::lock_guard lock(output_mutex);
        std::cout << answer << std::endl;
      }
    }).detach();
  }

  int signal = 0;
  sigwait(&stop_signals, &signal);
  const std::string stopping =
      std::string("stopping on ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT");
  options.log(mesh::LogLevel::info,
              json_log ? program_log_line(label, "stopping", stopping) : stopping);
  {
    std::lock_guard node_lock(node_mutex);
    node.reset();  // announces the leave, stops the actors
  }
  std::cout.flush();
  std::_Exit(0);  // the stdin reader may still be blocked in read(); nothing else is left to do
}

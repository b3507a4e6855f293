// Rebalancing figures of docs/rebalancing.md: a 4th node joins a 3-node cluster (then leaves
// gracefully) while 4 callers increment 1,000 actors that keep their state across moves.
// All nodes run in this process, over loopback TCP.
//
//   rebalance_bench
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <mesh/mesh.hpp>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
constexpr int kActors = 1000;
constexpr int kCallers = 4;

struct Account {
  explicit Account(std::string) {}
  mesh::Value handle_call(const mesh::Value& payload) { return payload == "get" ? n : ++n; }
  mesh::Value snapshot() { return n; }
  void restore(const mesh::Value& state) { n = state.get<long>(); }
  long n = 0;
};

mesh::NodeOptions options(std::string name, std::vector<std::string> seeds) {
  return mesh::NodeOptions{.name = std::move(name), .listen = "127.0.0.1:0",
                           .seeds = std::move(seeds), .cookie = "bench",
                           .log = [](mesh::LogLevel level, std::string_view line) {
                             // MESH_BENCH_LOG=1 shows the nodes' warnings, to tell why a run failed.
                             static const bool shown = std::getenv("MESH_BENCH_LOG") != nullptr;
                             if (shown && level >= mesh::LogLevel::warning) {
                               std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()),
                                            line.data());
                             }
                           }};
}

std::unique_ptr<mesh::Node> server(std::string name, std::vector<std::string> seeds) {
  auto node = std::make_unique<mesh::Node>(options(std::move(name), std::move(seeds)));
  node->register_actor<Account>("Account");
  node->register_capabilities({"bank"});
  return node;
}

mesh::Request inc(int actor) {
  return mesh::Request{.module = "Account", .id = "acct-" + std::to_string(actor),
                       .payload = "inc", .capability = "bank"};
}

struct Sample {
  Clock::time_point at;
  std::uint32_t ns;
  int actor;
  bool ok;
};

// Callers record every call's latency; failures are counted.
struct Load {
  std::atomic<bool> stop{false};
  std::atomic<long> failures{0};
  std::vector<std::vector<Sample>> samples = std::vector<std::vector<Sample>>(kCallers);
  std::vector<std::thread> threads;
  void start(mesh::Node& caller) {
    for (int t = 0; t < kCallers; ++t) {
      threads.emplace_back([this, &caller, t] {
        for (int i = t; !stop; i += kCallers) {
          const auto t0 = Clock::now();
          auto reply = caller.call(inc(i % kActors));
          const auto t1 = Clock::now();
          if (!reply) ++failures;
          samples[t].push_back({t0, static_cast<std::uint32_t>((t1 - t0) / 1ns), i % kActors,
                                reply.has_value()});
        }
      });
    }
  }
  void finish() {
    stop = true;
    for (auto& t : threads) t.join();
  }
  // Latencies of calls that started within [from, to).
  std::vector<std::uint32_t> window(Clock::time_point from, Clock::time_point to) const {
    std::vector<std::uint32_t> ns;
    for (const auto& per : samples) {
      for (const Sample& s : per) {
        if (s.at >= from && s.at < to) ns.push_back(s.ns);
      }
    }
    std::sort(ns.begin(), ns.end());
    return ns;
  }
};

double pct(const std::vector<std::uint32_t>& ns, double p) {
  return ns.empty() ? 0.0 : ns[static_cast<std::size_t>(p * (ns.size() - 1))] / 1000.0;
}

std::vector<std::string> owners(mesh::Node& node) {
  std::vector<std::string> out;
  for (int i = 0; i < kActors; ++i) {
    out.push_back(node.owner_node(node.shard_for("acct-" + std::to_string(i)), "bank").value());
  }
  return out;
}

bool settled(const std::vector<mesh::Node*>& nodes, std::size_t members) {
  for (mesh::Node* n : nodes) {
    const mesh::NodeStatus s = n->status();
    if (n->nodes_for("bank").size() != members || s.handoffs_in_progress != 0) return false;
  }
  return true;
}

void report(const char* change, Load& load, Clock::time_point start, Clock::time_point converged,
            double moved, long failures_before) {
  const auto during = load.window(start, converged + 50ms);
  const auto before = load.window(start - 500ms, start);
  std::printf("%s: %.1f%% of actors moved; converged in %.1f ms; calls during the change: %zu, "
              "p50 %.1f us, p99 %.1f us, max %.1f us (before it: p50 %.1f us, p99 %.1f us); "
              "failed calls: %ld\n",
              change, moved * 100, (converged - start) / 1us / 1000.0, during.size(),
              pct(during, 0.5), pct(during, 0.99), pct(during, 1.0), pct(before, 0.5),
              pct(before, 0.99), load.failures.load() - failures_before);
}

}  // namespace

int main() {
  auto a = server("node-a", {});
  auto b = server("node-b", {a->listen_address()});
  auto c = server("node-c", {a->listen_address()});
  mesh::Node client(options("client", {a->listen_address()}));
  while (!settled({a.get(), b.get(), c.get(), &client}, 3)) std::this_thread::sleep_for(1ms);
  std::printf("mesh rebalancing benchmark (%u hardware threads): 3 nodes + a client node, %d "
              "callers, %d actors with snapshot/restore\n",
              std::thread::hardware_concurrency(), kCallers, kActors);

  Load load;
  load.start(client);
  std::this_thread::sleep_for(1s);

  const auto owners_before = owners(client);
  const long failures_before_join = load.failures.load();
  const auto join_start = Clock::now();
  auto d = server("node-d", {a->listen_address()});
  while (!settled({a.get(), b.get(), c.get(), d.get(), &client}, 4)) std::this_thread::sleep_for(100us);
  const auto join_converged = Clock::now();
  const auto owners_after = owners(client);
  int moved = 0;
  for (int i = 0; i < kActors; ++i) moved += owners_before[i] != owners_after[i];
  std::this_thread::sleep_for(1s);
  report("join 3 -> 4", load, join_start, join_converged, moved / double(kActors),
         failures_before_join);

  const long failures_before_leave = load.failures.load();
  const auto leave_start = Clock::now();
  d.reset();  // graceful leave: hands its shards back
  while (!settled({a.get(), b.get(), c.get(), &client}, 3)) std::this_thread::sleep_for(100us);
  const auto leave_converged = Clock::now();
  const auto owners_back = owners(client);
  moved = 0;
  for (int i = 0; i < kActors; ++i) moved += owners_after[i] != owners_back[i];
  std::this_thread::sleep_for(500ms);
  report("graceful leave 4 -> 3", load, leave_start, leave_converged, moved / double(kActors),
         failures_before_leave);
  load.finish();

  // Every acknowledged increment must be in the actor's count, after two moves.
  std::vector<long> expected(kActors, 0);
  std::size_t total = 0;
  for (const auto& per : load.samples) {
    for (const Sample& s : per) expected[s.actor] += s.ok;
    total += per.size();
  }
  int wrong = 0;
  for (int i = 0; i < kActors; ++i) {
    auto reply = client.call(mesh::Request{.module = "Account", .id = "acct-" + std::to_string(i),
                                           .payload = "get", .capability = "bank"});
    if (!reply || reply->value.get<long>() != expected[i]) {
      ++wrong;
      std::printf("acct-%d: expected %ld, got %s\n", i, expected[i],
                  reply ? reply->value.dump().c_str() : mesh::to_string(reply.error()).c_str());
    }
  }
  std::printf("total: %zu calls, %ld failed; %d of %d actors end with a count different from "
              "their acknowledged increments\n",
              total, load.failures.load(), wrong, kActors);
  return load.failures.load() == 0 && wrong == 0 ? 0 : 1;
}

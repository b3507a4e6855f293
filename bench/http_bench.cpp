// HTTP gateway figures (docs/benchmarks.md): wrk with bench/http/call.lua (keep-alive, 64
// connections, a hot GameActor call spread over 64 players) against one node's gateway, beside
// the same calls made directly with Node::call by 64 threads; and wrk with one connection, for
// the latency of one request at a time.
//
//   http_bench [seconds per run = 5] [rounds = 2] [http threads = 2]
//
// Needs `wrk` on the PATH. The node runs in this process; wrk is a separate process on the same
// cores, as a client on the same machine would be.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mesh/mesh.hpp>
#include <string>
#include <thread>
#include <vector>

#include "actors/game_actor.hpp"

namespace {

using Clock = std::chrono::steady_clock;

void direct_calls(mesh::Node& node, int seconds) {
  constexpr int kThreads = 64;
  std::atomic<bool> stop{false};
  std::vector<std::vector<float>> latencies(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string id = "player" + std::to_string(t);
      while (!stop.load(std::memory_order_relaxed)) {
        const auto start = Clock::now();
        auto reply = node.call({.module = "GameActor",
                                .id = id,
                                .payload = {{"action", "increment_score"}},
                                .capability = "game"});
        if (!reply) std::abort();
        latencies[t].push_back(
            std::chrono::duration<float, std::micro>(Clock::now() - start).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& thread : threads) thread.join();
  std::vector<float> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  std::printf("direct Node::call, 64 threads:  calls/s %.0f p50_ms %.4f p99_ms %.4f\n",
              static_cast<double>(all.size()) / seconds, all[all.size() / 2] / 1000.0,
              all[all.size() * 99 / 100] / 1000.0);
}

// CPU time this process (the node) has used, in microseconds: per call it is a figure the other
// load on the machine disturbs far less than calls/s.
double cpu_us() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 + usage.ru_utime.tv_usec +
         usage.ru_stime.tv_usec;
}

void wrk_calls(const std::string& address, int seconds, int connections) {
  const std::string command = "wrk -t" + std::to_string(std::min(connections, 2)) + " -c" +
                              std::to_string(connections) + " -d" + std::to_string(seconds) +
                              "s -s " +
                              MESH_HTTP_LUA + " http://" + address + " 2>&1";
  const double cpu_before = cpu_us();
  FILE* out = ::popen(command.c_str(), "r");
  if (!out) std::abort();
  char line[512];
  bool printed = false;
  while (std::fgets(line, sizeof line, out)) {
    if (std::string(line).rfind("calls/s", 0) == 0) {
      std::printf("HTTP via wrk, %2d connection(s): %s", connections, line);
      printed = true;
      const double calls = std::atof(line + 8) * seconds;
      if (calls > 0) {
        std::printf("  node CPU per HTTP call: %.1f us\n", (cpu_us() - cpu_before) / calls);
      }
    }
  }
  if (::pclose(out) != 0 || !printed) std::printf("wrk failed (is it installed?)\n");
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 5;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 2;
  mesh::NodeOptions options;
  options.http_listen = "127.0.0.1:0";
  options.http_threads = argc > 3 ? static_cast<std::uint32_t>(std::atoi(argv[3])) : 2;
  mesh::Node node(options);
  node.register_actor<examples::GameActor>("GameActor");
  node.register_capabilities({"game"});
  std::printf("mesh HTTP gateway benchmark: %u hardware threads, %u HTTP IO thread(s), %d s runs\n",
              std::thread::hardware_concurrency(), options.http_threads, seconds);
  for (int round = 0; round < rounds; ++round) {
    wrk_calls(node.http_address(), seconds, 64);
    wrk_calls(node.http_address(), seconds, 1);
    direct_calls(node, seconds);
  }
}

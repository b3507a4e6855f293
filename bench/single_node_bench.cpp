// The single-node figures of docs/benchmarks.md: activation rate, hot-call latency and
// throughput, async throughput and memory per idle actor. Prints one line per figure.
//
//   single_node_bench [all|activation|latency|threads|async|cast|memory|memory10m] [--quick]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_actors.hpp"

namespace {

using Clock = std::chrono::steady_clock;
bool quick = false;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void check(const mesh::Result<mesh::Reply>& reply) {
  if (!reply) {
    std::fprintf(stderr, "call failed: %s\n", mesh::to_string(reply.error()).c_str());
    std::exit(1);
  }
}

void activation() {
  constexpr int kThreads = 2;
  const std::size_t per_thread = quick ? 100'000 : 1'000'000;
  auto node = bench::make_node(0);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string prefix = "t" + std::to_string(t) + "-";
      for (std::size_t i = 0; i < per_thread; ++i) {
        check(node->call(mesh::Request{.module = "Idle", .id = prefix + std::to_string(i),
                                       .payload = nullptr, .capability = "game"}));
      }
    });
  }
  for (auto& t : threads) t.join();
  const double s = seconds_since(start);
  std::printf("activation: %d callers, %zu new actors in %.3f s = %.0f activations/s\n", kThreads,
              kThreads * per_thread, s, kThreads * per_thread / s);
}

void latency() {
  constexpr std::size_t kActors = 10'000;
  const std::size_t calls = quick ? 200'000 : 2'000'000;
  auto node = bench::make_node(kActors);
  std::vector<std::uint32_t> ns(calls);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < calls; ++i) {
    mesh::Request request = bench::score_request(bench::actor_id(i * 7919 % kActors));
    const auto t0 = Clock::now();
    auto reply = node->call(std::move(request));
    const auto t1 = Clock::now();
    check(reply);
    ns[i] = static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  }
  const double s = seconds_since(start);
  std::sort(ns.begin(), ns.end());
  auto pct = [&](double p) { return ns[static_cast<std::size_t>(p * (calls - 1))] / 1000.0; };
  std::printf("hot call, 1 blocking caller, %zu actors: p50 %.3f us, p99 %.3f us, p99.9 %.3f us, "
              "%.0f calls/s (request built in the loop)\n",
              kActors, pct(0.50), pct(0.99), pct(0.999), calls / s);
}

void threads() {
  constexpr std::size_t kActors = 10'000;
  constexpr int kThreads = 64;
  const std::size_t per_thread = quick ? 20'000 : 100'000;
  auto node = bench::make_node(kActors);
  std::vector<std::thread> pool;
  std::atomic<bool> go{false};
  for (int t = 0; t < kThreads; ++t) {
    pool.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (std::size_t i = 0; i < per_thread; ++i) {
        check(node->call(bench::score_request(bench::actor_id((t * 7919 + i * 31) % kActors))));
      }
    });
  }
  const auto start = Clock::now();
  go = true;
  for (auto& t : pool) t.join();
  const double s = seconds_since(start);
  std::printf("hot call, %d blocking callers, %zu actors: %.0f calls/s\n", kThreads, kActors,
              kThreads * per_thread / s);
}

void async() {
  constexpr std::size_t kActors = 10'000;
  constexpr std::size_t kWindow = 1000;
  const std::size_t calls = quick ? 500'000 : 5'000'000;
  auto node = bench::make_node(kActors);
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::size_t> done{0};
  std::atomic<std::size_t> failed{0};
  const auto start = Clock::now();
  for (std::size_t i = 0; i < calls; ++i) {
    while (in_flight.load(std::memory_order_acquire) >= kWindow) std::this_thread::yield();
    in_flight.fetch_add(1, std::memory_order_relaxed);
    node->async_call(bench::score_request(bench::actor_id(i * 7919 % kActors)),
                     [&](mesh::Result<mesh::Reply> r) {
                       if (!r) failed.fetch_add(1, std::memory_order_relaxed);
                       done.fetch_add(1, std::memory_order_relaxed);
                       in_flight.fetch_sub(1, std::memory_order_release);
                     });
  }
  while (done.load() < calls) std::this_thread::yield();
  const double s = seconds_since(start);
  std::printf("async_call, up to %zu in flight, %zu actors: %.0f calls/s (%zu failed)\n", kWindow,
              kActors, calls / s, failed.load());
}

// Casts always go through the mailbox and the pool: this is the hand-off path's throughput.
void casts() {
  constexpr std::size_t kActors = 10'000;
  const std::size_t casts = quick ? 200'000 : 2'000'000;
  static std::atomic<std::size_t> handled{0};
  struct Tally {
    explicit Tally(std::string) {}
    mesh::Value handle_call(const mesh::Value&) { return handled.load(); }
    void handle_cast(const mesh::Value&) { handled.fetch_add(1, std::memory_order_relaxed); }
  };
  auto node = bench::make_node(0);
  node->register_actor<Tally>("Tally");
  const auto start = Clock::now();
  for (std::size_t i = 0; i < casts; ++i) {
    auto r = node->cast(mesh::Request{.module = "Tally", .id = bench::actor_id(i % kActors),
                                      .payload = {{"action", "increment_score"}},
                                      .capability = "game"});
    if (!r) std::exit(1);
  }
  while (handled.load() < casts) std::this_thread::yield();
  const double s = seconds_since(start);
  std::printf("cast through the pool, 1 caller, %zu actors: %.0f casts/s handled\n", kActors,
              casts / s);
}

std::size_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

void memory() {
  const std::size_t actors = quick ? 100'000 : 1'000'000;
  auto node = bench::make_node(0);
  // Touch the code paths once so that the baseline includes code, pool threads and tables.
  (void)node->call(mesh::Request{.module = "Idle", .id = "warm", .payload = nullptr, .capability = "game"});
  const std::size_t before = rss_bytes();
  mesh::Request request{.module = "Idle", .payload = nullptr, .capability = "game"};
  for (std::size_t i = 0; i < actors; ++i) {
    request.id = "a" + std::to_string(i);
    request.payload = nullptr;
    check(node->call(request));
  }
  const std::size_t after = rss_bytes();
  std::printf("memory: %zu idle actors add %.1f MiB RSS = %.0f bytes per actor\n", actors,
              (after - before) / 1048576.0, static_cast<double>(after - before) / actors);
}

// Issue 14's memory figure: 10,000,000 idle actors activated by two callers (as the
// activation figure above), each tenth timed on its own, so the activation rate is shown while
// the tables grow (the slowest tenth is the sustained figure), then the RSS growth per actor.
void memory_10m() {
  constexpr int kThreads = 2;
  const std::size_t actors = quick ? 1'000'000 : 10'000'000;
  const std::size_t block = actors / 10;
  auto node = bench::make_node(0);
  (void)node->call(
      mesh::Request{.module = "Idle", .id = "warm", .payload = nullptr, .capability = "game"});
  const std::size_t before = rss_bytes();
  double slowest = 0, total_seconds = 0;
  for (std::size_t start = 0; start < actors; start += block) {
    const auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        mesh::Request request{.module = "Idle", .payload = nullptr, .capability = "game"};
        for (std::size_t i = start + t; i < start + block; i += kThreads) {
          request.id = "a" + std::to_string(i);
          request.payload = nullptr;
          check(node->call(request));
        }
      });
    }
    for (auto& thread : threads) thread.join();
    const double seconds = seconds_since(t0);
    std::printf("  actors %zu..%zu: %.0f activations/s\n", start, start + block, block / seconds);
    slowest = std::max(slowest, seconds);
    total_seconds += seconds;
  }
  const std::size_t after = rss_bytes();
  std::printf(
      "activation while growing to %zu actors, %d callers: %.0f/s overall, %.0f/s in the "
      "slowest tenth\n",
      actors, kThreads, actors / total_seconds, block / slowest);
  std::printf("memory: %zu idle actors add %.1f MiB RSS = %.0f bytes per actor\n", actors,
              (after - before) / 1048576.0, static_cast<double>(after - before) / actors);
}

}  // namespace

int main(int argc, char** argv) {
  std::string what = "all";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      what = argv[i];
    }
  }
  std::printf("mesh single-node benchmark (%u hardware threads)%s\n",
              std::thread::hardware_concurrency(), quick ? " [quick]" : "");
  if (what == "all" || what == "activation") activation();
  if (what == "all" || what == "latency") latency();
  if (what == "all" || what == "threads") threads();
  if (what == "all" || what == "async") async();
  if (what == "all" || what == "cast") casts();
  if (what == "all" || what == "memory") memory();
  if (what == "memory10m") memory_10m();  // not in "all": 10 M actors take a minute and 1 GB
  return 0;
}

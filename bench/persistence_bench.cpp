// The durable-state figures of docs/benchmarks.md and docs/persistence.md: durable calls/s
// with 64 blocking callers, one caller's latency, and how fast persistent actors activate
// (load) from the store. Prints one line per figure.
//
//   persistence_bench sqlite:PATH|sqlite-normal:PATH|postgres[:CONNINFO]|memory
//                     [all|throughput|latency|activation|commits]
//                     [--quick]
// sqlite-normal: SqliteSync::normal (synced at checkpoints, not at every commit). postgres
// without a conninfo starts a private PostgreSQL 15 in a temporary directory (as the tests do).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include <mesh/mesh.hpp>

#include "support/postgres_server.hpp"

namespace {

using Clock = std::chrono::steady_clock;
bool quick = false;
std::string store_spec;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU time of this process (the node, its writer and the callers; not a database server's).
double cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

// The Quickstart's player with its score saved.
struct DurableScore {
  explicit DurableScore(std::string) {}
  mesh::Value handle_call(const mesh::Value& payload) {
    if (payload.is_string() && payload == "get") return score;
    return ++score;
  }
  mesh::Value snapshot() const { return {{"score", score}}; }
  void restore(const mesh::Value& state) { score = state.value("score", 0); }
  int score = 0;
};

std::shared_ptr<mesh::StateStore> open_store() {
  if (store_spec == "memory") return mesh::memory_store();
  if (store_spec.rfind("sqlite:", 0) == 0) return mesh::sqlite_store(store_spec.substr(7));
  if (store_spec.rfind("sqlite-normal:", 0) == 0) {
    return mesh::sqlite_store(store_spec.substr(14), mesh::SqliteSync::normal);
  }
  if (store_spec.rfind("postgres:", 0) == 0) return mesh::postgres_store(store_spec.substr(9));
  if (store_spec == "postgres") {
    // A private server (tests/support/postgres_server.hpp), a fresh database per figure.
    static mesh::test::PostgresServer server;
    return mesh::postgres_store(server.conninfo(server.create_database()));
  }
  std::fprintf(stderr, "unknown store '%s'\n", store_spec.c_str());
  std::exit(2);
}

std::unique_ptr<mesh::Node> make_node(std::shared_ptr<mesh::StateStore> store,
                                      mesh::Persistence persistence) {
  mesh::NodeOptions options{.name = "bench"};
  options.state_store = std::move(store);
  auto node = std::make_unique<mesh::Node>(options);
  node->register_actor<DurableScore>("Score", {.persistence = persistence});
  node->register_capabilities({"game"});
  return node;
}

// Each figure uses its own ids, so that figures run one after the other on one store file do
// not see each other's rows.
std::string prefix = "p";

mesh::Request score(std::size_t n, mesh::Value payload = "inc") {
  return mesh::Request{.module = "Score", .id = prefix + std::to_string(n),
                       .payload = std::move(payload), .capability = "game"};
}

void check(const mesh::Result<mesh::Reply>& reply) {
  if (!reply) {
    std::fprintf(stderr, "call failed: %s\n", mesh::to_string(reply.error()).c_str());
    std::exit(1);
  }
}

void throughput() {
  constexpr std::size_t kActors = 10'000;
  constexpr int kThreads = 64;
  const auto run_for = quick ? std::chrono::seconds(2) : std::chrono::seconds(5);
  auto node = make_node(open_store(), mesh::Persistence::after_each_message);
  for (std::size_t i = 0; i < kActors; ++i) check(node->call(score(i)));  // activated, claimed
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> calls{0};
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  const double cpu_start = cpu_seconds();
  for (int t = 0; t < kThreads; ++t) {
    pool.emplace_back([&, t] {
      std::size_t mine = 0;
      for (std::size_t i = 0; !stop.load(std::memory_order_relaxed); ++i, ++mine) {
        check(node->call(score((static_cast<std::size_t>(t) * 7919 + i * 31) % kActors)));
      }
      calls.fetch_add(mine);
    });
  }
  std::this_thread::sleep_for(run_for);
  stop = true;
  for (auto& t : pool) t.join();
  const double s = seconds_since(start);
  const double cpu_us = (cpu_seconds() - cpu_start) * 1e6 / static_cast<double>(calls.load());
  std::printf(
      "durable calls (after_each_message), %d blocking callers, %zu actors: %.0f calls/s, "
      "%.1f us CPU per call in the node's process\n",
      kThreads, kActors, calls.load() / s, cpu_us);
}

void latency() {
  constexpr std::size_t kActors = 1'000;
  const std::size_t calls = quick ? 2'000 : 10'000;
  auto node = make_node(open_store(), mesh::Persistence::after_each_message);
  for (std::size_t i = 0; i < kActors; ++i) check(node->call(score(i)));
  std::vector<double> us(calls);
  for (std::size_t i = 0; i < calls; ++i) {
    const auto t0 = Clock::now();
    check(node->call(score(i * 7919 % kActors)));
    us[i] = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  }
  std::sort(us.begin(), us.end());
  std::printf("durable call, 1 blocking caller: p50 %.1f us, p99 %.1f us\n", us[calls / 2],
              us[calls * 99 / 100]);
}

// Persistent actors whose rows exist are activated by a read (on_deactivate, so the reads
// themselves write nothing). The first activation in each shard also claims the shard (a write
// transaction): those are timed apart, then the load-only activations of every other actor.
void activation() {
  const std::size_t actors = quick ? 100'000 : 400'000;
  auto store = open_store();
  {
    // Rows for every actor, written the way a node writes them (through a node's writer).
    auto node = make_node(store, mesh::Persistence::on_deactivate);
    for (std::size_t i = 0; i < actors; ++i) check(node->call(score(i)));
  }  // saved at shutdown
  auto node = make_node(store, mesh::Persistence::on_deactivate);
  std::vector<bool> claimed(4096, false);  // NodeOptions::shard_count, the default
  std::vector<std::size_t> first_in_shard, rest;
  for (std::size_t i = 0; i < actors; ++i) {
    const std::uint32_t shard = node->shard_for(prefix + std::to_string(i));
    (claimed[shard] ? rest : first_in_shard).push_back(i);
    claimed[shard] = true;
  }
  // Pipelined (up to 1,000 calls in flight), as a node activates what its peers send it.
  auto activate = [&](const std::vector<std::size_t>& ids) {
    constexpr std::size_t kWindow = 1000;
    std::atomic<std::size_t> in_flight{0};
    std::atomic<std::size_t> done{0};
    const auto start = Clock::now();
    for (std::size_t id : ids) {
      while (in_flight.load(std::memory_order_acquire) >= kWindow) std::this_thread::yield();
      in_flight.fetch_add(1, std::memory_order_relaxed);
      node->async_call(score(id, "get"), [&, id](mesh::Result<mesh::Reply> reply) {
        check(reply);
        if (reply->value != 1) {
          std::fprintf(stderr, "%s%zu loaded %s, not 1\n", prefix.c_str(), id,
                       reply->value.dump().c_str());
          std::exit(1);
        }
        done.fetch_add(1, std::memory_order_relaxed);
        in_flight.fetch_sub(1, std::memory_order_release);
      });
    }
    while (done.load() < ids.size()) std::this_thread::yield();
    return seconds_since(start);
  };
  const double claiming = activate(first_in_shard);
  const double loading = activate(rest);
  std::printf("persistent activation, 1,000 async calls in flight: first in each of %zu shards (claim + load) "
              "%.0f/s; %zu more (load) %.0f activations/s\n",
              first_in_shard.size(), first_in_shard.size() / claiming, rest.size(),
              rest.size() / loading);
}

// The store alone, without a node: batches of 30 saves (what 64 blocking callers give a commit)
// to 10,000 keys, one after the other. Prints the time per commit, where a SQLite commit that
// folds the log (docs/persistence.md, "Schema") shows as the maximum.
void commits() {
  constexpr std::uint32_t kShards = 4096;
  constexpr int kKeys = 10'000;
  constexpr int kBatch = 30;
  const int batches = quick ? 1'000 : 6'000;
  auto store = open_store();
  std::vector<std::uint32_t> shards(kShards);
  for (std::uint32_t i = 0; i < kShards; ++i) shards[i] = i;
  auto fences = store->claim_many("game", shards, "bench");
  if (!fences) {
    std::fprintf(stderr, "claim failed: %s\n", mesh::to_string(fences.error()).c_str());
    std::exit(1);
  }
  std::uint64_t seed = 1;
  std::vector<double> took;
  took.reserve(static_cast<std::size_t>(batches));
  std::vector<mesh::StateWrite> batch(kBatch);
  for (int b = 0; b < batches; ++b) {
    for (int i = 0; i < kBatch; ++i) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;  // any spread will do
      const auto k = static_cast<std::uint32_t>((seed >> 33) % kKeys);
      batch[static_cast<std::size_t>(i)] = {
          mesh::StateKey{"game", "Score", prefix + std::to_string(k), k % kShards},
          (*fences)[k % kShards], std::to_string(b) + "/" + std::to_string(i)};
    }
    const auto start = Clock::now();
    auto saved = store->save(batch);
    took.push_back(seconds_since(start) * 1e6);
    if (!saved || !saved->empty()) {
      std::fprintf(stderr, "save failed\n");
      std::exit(1);
    }
  }
  double total = 0;
  for (const double t : took) total += t;
  std::sort(took.begin(), took.end());
  std::printf(
      "store commits of %d saves to %d keys: mean %.0f us, p50 %.0f us, p99 %.0f us, "
      "max %.0f us\n",
      kBatch, kKeys, total / static_cast<double>(took.size()), took[took.size() / 2],
      took[took.size() * 99 / 100], took.back());
}

}  // namespace

int main(int argc, char** argv) {
  std::string which = "all";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (store_spec.empty()) {
      store_spec = argv[i];
    } else {
      which = argv[i];
    }
  }
  if (store_spec.empty()) {
    std::fprintf(
        stderr,
        "usage: persistence_bench sqlite:PATH|sqlite-normal:PATH|postgres[:CONNINFO]|memory "
        "[all|throughput|latency|activation|commits] [--quick]\n");
    return 2;
  }
  if (which == "all" || which == "throughput") {
    prefix = "t";
    throughput();
  }
  if (which == "all" || which == "latency") {
    prefix = "l";
    latency();
  }
  if (which == "all" || which == "activation") {
    prefix = "a";
    activation();
  }
  if (which == "all" || which == "commits") {
    prefix = "s";
    commits();
  }
}

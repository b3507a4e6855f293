// Micro benchmarks of the single-node call path (Google Benchmark).
#include <benchmark/benchmark.h>

#include <atomic>
#include <memory>

#include "bench_actors.hpp"

namespace {

constexpr std::size_t kActors = 10'000;

// One node shared by all benchmark threads, with kActors warm ScoreActors.
mesh::Node& shared_node() {
  static const auto node = bench::make_node(kActors);
  return *node;
}

void BM_ShardFor(benchmark::State& state) {
  const std::string id = "player_123456";
  for (auto _ : state) benchmark::DoNotOptimize(mesh::shard_of(id, 4096));
}
BENCHMARK(BM_ShardFor);

void BM_HotCall(benchmark::State& state) {
  mesh::Node& node = shared_node();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    auto reply = node.call(bench::score_request(bench::actor_id(i++ % kActors)));
    benchmark::DoNotOptimize(reply);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HotCall)->Threads(1)->Threads(2)->Threads(64)->UseRealTime();

void BM_HotCallPrebuiltRequest(benchmark::State& state) {
  // The same call without building the request's strings and payload inside the loop.
  mesh::Node& node = shared_node();
  const mesh::Request request = bench::score_request(bench::actor_id(42));
  for (auto _ : state) {
    auto reply = node.call(request);
    benchmark::DoNotOptimize(reply);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HotCallPrebuiltRequest);

void BM_Cast(benchmark::State& state) {
  mesh::Node& node = shared_node();
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = node.cast(bench::score_request(bench::actor_id(i++ % kActors)));
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Cast)->UseRealTime();

void BM_Activation(benchmark::State& state) {
  // Each thread activates its own new actors; the node is fresh per run.
  static std::unique_ptr<mesh::Node> node;
  if (state.thread_index() == 0) {
    node = bench::make_node(0);
  }
  std::size_t i = 0;
  const std::string prefix = "t" + std::to_string(state.thread_index()) + "-";
  for (auto _ : state) {
    auto reply = node->call(mesh::Request{.module = "Idle", .id = prefix + std::to_string(i++),
                                          .payload = nullptr, .capability = "game"});
    benchmark::DoNotOptimize(reply);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Activation)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

// A fixed number of hot calls on the caller's thread, for instruction counts that do not depend
// on what else the machine is doing (docs/benchmarks.md, "Metrics"):
//   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=main build/bench/hot_call_count N
// Two runs with different N give the instructions per call: (total(N2) - total(N1)) / (N2 - N1).
#include <cstdio>
#include <cstdlib>
#include <mesh/mesh.hpp>
#include <string>
#include <vector>

namespace {

// The handler of single_node_bench's hot call: reads the action and bumps a score.
struct Game {
  explicit Game(std::string) {}
  mesh::Value handle_call(const mesh::Value& payload) {
    if (payload.value("action", "") == "increment_score") ++score;
    return score;
  }
  int score = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const long calls = argc > 1 ? std::atol(argv[1]) : 100'000;
  mesh::Node node(mesh::NodeOptions{.name = "n", .worker_threads = 2});
  // Always on the caller's thread: under valgrind a handler looks slow, and the adaptive mode
  // would send calls through the pool, which is another path.
  mesh::ActorOptions inline_only;
  inline_only.handlers = mesh::HandlerMode::non_blocking;
  node.register_actor<Game>("Game", inline_only);
  node.register_capabilities({"game"});
  std::vector<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back("p" + std::to_string(i));
  long ok = 0;
  for (long i = 0; i < calls + 1000; ++i) {  // the first 1,000 activate the actors
    auto reply = node.call(mesh::Request{.module = "Game",
                                         .id = ids[i % 1000],
                                         .payload = {{"action", "increment_score"}},
                                         .capability = "game"});
    ok += reply.has_value();
  }
  std::printf("%ld calls answered\n", ok);
  return ok == calls + 1000 ? 0 : 1;
}

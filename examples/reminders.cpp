// Timers and reminders: a game round that counts down with a timer and ends with a durable
// reminder, and a login that expires by a reminder set from outside, surviving a node restart.
// Exits non-zero when something does not happen as described (the tests run it).
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include <mesh/mesh.hpp>

using namespace std::chrono_literals;

namespace {

std::atomic<int> rounds_ended{0};
std::atomic<int> logins_expired{0};

// A round starts on {"action": "start"}: a timer ticks the countdown every 100 ms (volatile: it
// dies with this activation) and a reminder ends the round after 350 ms even if the activation
// is gone by then (durable: kept in the node's store).
class GameRound {
 public:
  explicit GameRound(std::string id) : id_(std::move(id)) {}

  mesh::Value handle_call(const mesh::Value& request, mesh::ActorContext& context) {
    if (request.value("action", "") != "start") return {{"ticks", ticks_}};
    auto timer = context.start_timer(100ms, 100ms, {{"countdown", true}});
    if (!timer) return {{"error", mesh::to_string(timer.error())}};
    auto reminder = context.set_reminder("round_end", 350ms, std::nullopt, {{"round", 1}});
    if (!reminder) return {{"error", mesh::to_string(reminder.error())}};
    return "started";
  }

  void handle_timer(mesh::TimerId, const mesh::Value&) {
    ++ticks_;
    std::cout << "  " << id_ << ": tick " << ticks_ << "\n";
  }

  void handle_reminder(std::string_view name, const mesh::Value& payload,
                       mesh::ActorContext& context) {
    std::cout << "  " << id_ << ": reminder " << name << " " << payload.dump() << " after "
              << ticks_ << " ticks\n";
    ++rounds_ended;
    context.stop();  // the round is over: the activation ends, and its timer with it
  }

 private:
  std::string id_;
  int ticks_ = 0;
};

class Session {
 public:
  explicit Session(std::string id) : id_(std::move(id)) {}
  mesh::Value handle_call(const mesh::Value&) { return id_; }
  void handle_reminder(std::string_view name, const mesh::Value&) {
    std::cout << "  " << id_ << ": " << name << " (the node that set it is gone)\n";
    ++logins_expired;
  }

 private:
  std::string id_;
};

std::unique_ptr<mesh::Node> start(const std::string& db) {
  mesh::NodeOptions options{.name = "reminders-demo"};
  options.state_store = mesh::sqlite_store(db);
  auto node = std::make_unique<mesh::Node>(options);
  node->register_actor<GameRound>("GameRound");
  node->register_actor<Session>("Session");
  node->register_capabilities({"game"});
  return node;
}

bool wait_for(const std::atomic<int>& counter, int value, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (counter.load() < value && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  return counter.load() >= value;
}

}  // namespace

int main() {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("mesh-reminders-example-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string db = (dir / "game.db").string();
  int failures = 0;
  {
    auto node = start(db);
    std::cout << "== a round: a timer counts down, a reminder ends it\n";
    auto started = node->call(mesh::Request{.module = "GameRound", .id = "round_42",
                                            .payload = {{"action", "start"}}, .capability = "game"});
    if (!started || started->value != "started") {
      std::cerr << "could not start the round\n";
      return 1;
    }
    if (!wait_for(rounds_ended, 1, 3000ms)) {
      std::cerr << "the round never ended\n";
      ++failures;
    }

    std::cout << "== a login that expires in 500 ms, set from outside the actor\n";
    const mesh::ActorAddress login{"game", "Session", "login_7"};
    auto set = node->set_reminder(login, "expire", 500ms);
    auto listed = node->reminders(login);
    if (!set || !listed || listed->size() != 1) {
      std::cerr << "could not set the reminder\n";
      return 1;
    }
    std::cout << "  login_7 has reminder '" << (*listed)[0].name << "'; stopping the node\n";
  }  // the node stops before the login expires

  std::this_thread::sleep_for(700ms);
  std::cout << "== a new node on the same store, after the reminder was due\n";
  auto node = start(db);
  if (!wait_for(logins_expired, 1, 3000ms)) {
    std::cerr << "the login never expired\n";
    ++failures;
  }
  node.reset();
  std::filesystem::remove_all(dir);
  std::cout << (failures == 0 ? "ok\n" : "FAILED\n");
  return failures == 0 ? 0 : 1;
}

// BatchFlush: writes a pool worker postpones until it runs out of work, so that replies to many
// calls leave in one socket write instead of one write each.
#pragma once

#include <functional>
#include <utility>
#include <vector>

namespace mesh::detail {

// Per thread. Only pool workers enable it; elsewhere defer() is never called (active() is false).
class BatchFlush {
 public:
  using Flush = std::function<void()>;

  static bool active() noexcept { return state().enabled; }
  static void enable() noexcept { state().enabled = true; }
  // Runs `flush` when the worker's batch ends; at most once per key per batch.
  static void defer(const void* key, Flush flush) {
    auto& pending = state().pending;
    for (const auto& [k, f] : pending) {
      if (k == key) return;
    }
    pending.emplace_back(key, std::move(flush));
  }
  // Ends the batch: runs every deferred flush.
  static void run() {
    auto& pending = state().pending;
    if (pending.empty()) return;
    std::vector<std::pair<const void*, Flush>> now;
    now.swap(pending);
    for (auto& [key, flush] : now) flush();
  }

 private:
  struct State {
    bool enabled = false;
    std::vector<std::pair<const void*, Flush>> pending;
  };
  static State& state() noexcept {
    thread_local State s;
    return s;
  }
};

}  // namespace mesh::detail

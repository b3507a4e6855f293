// ShardHandoffs: shards moving between nodes, seen from both ends.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mesh/value.hpp"

namespace mesh::detail {

// A shard of one capability.
using ShardKey = std::pair<std::uint32_t, std::uint32_t>;  // (capability id, shard)

// An actor moving with its shard, as the new owner receives it.
struct ArrivingActor {
  std::string module;
  std::string id;
  std::optional<Value> state;
};

// New owner: a shard this node gained waits for its previous owner's RELEASE (or that owner's
// death, or a deadline) before anything runs on it; work for it meanwhile waits (blocking
// callers) or is parked (everything else) and runs, in arrival order, once it is released.
// Old owner: tracks the lost shards whose busy activations are still finishing their mailbox
// (their RELEASE goes out after the last of them). Thread-safe.
class ShardHandoffs {
 public:
  using Clock = std::chrono::steady_clock;
  using Resume = std::function<void()>;
  // Called with the released shard's arriving actors, before its parked work runs.
  using Adopt = std::function<void(const ShardKey&, std::vector<ArrivingActor>&&)>;

  explicit ShardHandoffs(Adopt adopt) : adopt_(std::move(adopt)) {}

  // --- new owner ---
  // Waits for `from` to release `key`, until `deadline`. A RELEASE that came early counts.
  void expect(const ShardKey& key, const std::string& from, Clock::time_point deadline);
  // The hot-path check: true only while some shard is waiting (one relaxed load otherwise).
  bool waiting(const ShardKey& key) const;
  // Parks `resume` behind the key's release; false (and nothing parked) if it is not waiting.
  bool park(const ShardKey& key, Resume resume);
  // Blocks until the key is released or `until`; returns at once if it is not waiting.
  void wait(const ShardKey& key, Clock::time_point until);
  // A moved actor or a RELEASE from `from` arrived.
  void arrived(const ShardKey& key, const std::string& from, ArrivingActor actor);
  // `answer`: a RELEASE sent in answer to ASK_RELEASE, which counts only while the key waits
  // for `from` (a late duplicate must not pass for an early release of a later move).
  void released(const ShardKey& key, const std::string& from, bool answer = false);
  // `node` is gone: everything it was to release is released (without state).
  void forget(const std::string& node);
  // Releases keys past their deadline and drops early releases nobody claimed; returns the
  // keys that timed out, for the log.
  std::vector<ShardKey> expire(Clock::time_point now);
  // The waits due for asking their previous owner again (ASK_RELEASE), by (owner, capability).
  // Each key is asked first after 50 ms, then after twice the previous delay (at most 1 s),
  // each delay stretched by jitter(), a factor around 1 that keeps nodes from asking in step.
  using Asks = std::map<std::pair<std::string, std::uint32_t>, std::vector<std::uint32_t>>;
  Asks due_asks(Clock::time_point now, const std::function<double()>& jitter);

  // --- old owner ---
  // A lost shard whose busy activations are still finishing (+1), or whose last one ended and
  // was released (-1). The two may arrive in either order.
  void outgoing_changed(const ShardKey& key, int delta);

  // Whether this node still finishes activations of the lost shard `key` before releasing it.
  bool outgoing(const ShardKey& key) const;

  std::size_t in_progress() const;
  std::size_t outgoing_count() const;

 private:
  struct Incoming {
    std::string from;
    Clock::time_point deadline;
    Clock::time_point next_ask;
    Clock::duration ask_delay{};
    std::vector<ArrivingActor> actors;
    std::vector<Resume> parked;
  };
  struct Early {
    std::string from;
    Clock::time_point at;
    std::vector<ArrivingActor> actors;
    bool released = false;
  };

  void release_locked(std::map<ShardKey, Incoming>::iterator it);

  const Adopt adopt_;
  mutable std::mutex mutex_;
  std::condition_variable released_cv_;
  std::atomic<std::size_t> waiting_count_{0};
  std::map<ShardKey, Incoming> incoming_;  // guarded by mutex_
  std::map<ShardKey, Early> early_;        // guarded by mutex_
  std::map<ShardKey, int> outgoing_;       // guarded by mutex_; entries are never 0
};

}  // namespace mesh::detail

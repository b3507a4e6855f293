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

#include "core/shard_ref.hpp"
#include "mesh/value.hpp"

namespace mesh::detail {

// An actor moving with its shard, as the new owner receives it.
struct ArrivingActor {
  std::string module;
  std::string id;
  std::optional<Value> state;
};

// New owner: a shard this node gained waits for its previous owner's RELEASE (or that owner's
// death, or a deadline) before anything runs on it; work for it meanwhile waits (blocking
// callers) or is parked (everything else). Once released, the shard's arriving actors are
// adopted and its parked work resumed, in arrival order, before new work may pass: the shard
// keeps counting as waiting until both are done. That release work never runs under this
// object's mutex nor on the thread that reported the release: it is handed to `post`.
// Old owner: tracks the lost shards whose busy activations are still finishing their mailbox
// (their RELEASE goes out after the last of them). Thread-safe.
class ShardHandoffs {
 public:
  using Clock = std::chrono::steady_clock;
  using Resume = std::function<void()>;
  // Called with the released shard's arriving actors, before its parked work resumes. It and
  // every Resume must only queue work (never run a handler): they run while the shard still
  // holds back new work.
  using Adopt = std::function<void(const ShardRef&, std::vector<ArrivingActor>&&)>;
  // Runs a task soon on some other thread (the node's timer thread).
  using Post = std::function<void(std::function<void()>)>;

  ShardHandoffs(Adopt adopt, Post post) : adopt_(std::move(adopt)), post_(std::move(post)) {}

  // --- new owner ---
  // Waits for `from` to release `key`, until `deadline`. A RELEASE that came early counts.
  void expect(const ShardRef& key, const std::string& from, Clock::time_point deadline);
  // The hot-path check: true only while some shard is waiting (one relaxed load otherwise).
  bool waiting(const ShardRef& key) const;
  // Parks `resume` behind the key's release; false (and nothing parked) if it is not waiting.
  bool park(const ShardRef& key, Resume resume);
  // Blocks until the key is released or `until`; returns at once if it is not waiting.
  void wait(const ShardRef& key, Clock::time_point until);
  // A moved actor or a RELEASE from `from` arrived.
  void arrived(const ShardRef& key, const std::string& from, ArrivingActor actor);
  // `answer`: a RELEASE sent in answer to ASK_RELEASE, which counts only while the key waits
  // for `from` (a late duplicate must not pass for an early release of a later move).
  void released(const ShardRef& key, const std::string& from, bool answer = false);
  // `node` is gone: everything it was to release is released (without state).
  void forget(const std::string& node);
  // Releases keys past their deadline and drops early releases nobody claimed; returns the
  // keys that timed out, for the log.
  std::vector<ShardRef> expire(Clock::time_point now);
  // Releases every waiting key now, on the calling thread (the node is stopping: parked work
  // then meets the stopping host and fails with shutting_down instead of being dropped).
  void release_all();
  // The waits due for asking their previous owner again (ASK_RELEASE), by owner and capability.
  // Each key is asked first after 50 ms, then after twice the previous delay (at most 1 s),
  // each delay stretched by jitter(), a factor around 1 that keeps nodes from asking in step.
  using Asks = std::map<PeerCapability, std::vector<std::uint32_t>>;
  Asks due_asks(Clock::time_point now, const std::function<double()>& jitter);

  // --- old owner ---
  // A lost shard whose busy activations are still finishing (+1), or whose last one ended and
  // was released (-1). The two may arrive in either order.
  void outgoing_changed(const ShardRef& key, int delta);

  // Whether this node still finishes activations of the lost shard `key` before releasing it.
  bool outgoing(const ShardRef& key) const;

  // Shards on their way here (waiting or being released) plus shards leaving (outgoing).
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
    bool releasing = false;  // released: adoption and parked work are being handed over
    bool finishing = false;  // a thread runs finish() for it (entries are not erased meanwhile)
    // A view change expected the key again while it was releasing: wait for this one next.
    std::optional<std::pair<std::string, Clock::time_point>> expected_next;
  };
  struct Early {
    std::string from;
    Clock::time_point at;
    std::vector<ArrivingActor> actors;
    bool released = false;
  };

  // Marks the entry releasing; the caller passes the key to post_ (or finish) once unlocked.
  bool start_release_locked(std::map<ShardRef, Incoming>::iterator it);
  void post_all(const std::vector<ShardRef>& keys);
  // Adopts, resumes the parked work in order (including work parked meanwhile), then lets new
  // work in. Runs without the mutex.
  void finish(const ShardRef& key);
  void arm_locked(Incoming& incoming, const std::string& from, Clock::time_point deadline);

  const Adopt adopt_;
  const Post post_;
  // Guards the maps below. Taken after the rebalancer's membership mutex, never before it; no
  // callback (adopt_, post_, a Resume) runs while it is held.
  mutable std::mutex mutex_;
  std::condition_variable released_cv_;
  std::atomic<std::size_t> waiting_count_{0};
  std::map<ShardRef, Incoming> incoming_;  // guarded by mutex_
  std::map<ShardRef, Early> early_;        // guarded by mutex_
  std::map<ShardRef, int> outgoing_;       // guarded by mutex_; entries are never 0
};

}  // namespace mesh::detail

// StateWriter: the one thread that commits a node's state writes, many actors per transaction.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "core/log_event.hpp"
#include "mesh/node_options.hpp"
#include "mesh/state_store.hpp"

namespace mesh::detail {

// Group commit: writes queue up while the store commits the previous batch, then all of them
// go in the next one, so a commit's cost (a sync to disk, a round trip) is shared by every actor
// that waited for it. The store's concurrent_writes() lanes (threads) commit side by side, each
// for the keys that hash to it, so a store that can sync several transactions at once is kept
// busy while one of them waits (one lane puts every queued write in one batch instead); writes
// of one key go to one lane and are committed in the order they were queued.
//
// Writes queued with `visible` are also answered by pending() until they are committed, so an
// actor that ended with an unsaved state and is activated again at once reads that state, not
// an older row. Thread-safe; `done` runs on the lane's completer thread (or on its writer, when
// nothing else waits), in commit order, and must be quick (it may not call into the writer).
class StateWriter {
 public:
  using Done = std::function<void(Result<void>)>;

  StateWriter(std::shared_ptr<StateStore> store,
              Logger log);
  ~StateWriter();  // stops: see stop()
  StateWriter(const StateWriter&) = delete;
  StateWriter& operator=(const StateWriter&) = delete;

  // Queues a save (state set) or an erase (state empty: the actor's snapshot was null). `done`
  // gets nothing, Errc::fenced when the fence was superseded, or the store's error.
  void write(StateKey key, std::uint64_t fence, std::optional<std::string> state, bool visible,
             Done done);
  // The newest queued, not yet committed write of `key` that was queued `visible`: outer
  // nullopt = none queued; inner nullopt = an erase.
  std::optional<std::optional<std::string>> pending(const StateKey& key) const;
  // Commits everything queued so far, waits for it and joins the thread. Writes queued later
  // fail with store_unavailable. Idempotent.
  void stop();

  StateStore& store() { return *store_; }
  // What the writer has done so far (metrics). Any thread.
  struct Figures {
    std::uint64_t commits = 0;  // store transactions (one per batch of saves, one per erase)
    std::uint64_t saved = 0;    // writes committed
    std::uint64_t fenced = 0;   // writes refused: a newer claim on their shard
    std::uint64_t failed = 0;   // writes that failed with the store (store_unavailable)
  };
  Figures figures() const;

 private:
  struct Item {
    StateWrite write;
    bool erase;
    bool visible;
    std::uint64_t sequence;
    Done done;
  };

  // What became of one commit's writes: each `done` with its outcome.
  using Finished = std::vector<std::pair<Done, Result<void>>>;

  struct Lane {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Item> queue;  // guarded by mutex
    bool stopping = false;   // guarded by mutex
    std::thread thread;
    // The lane's completer runs the `done`s of a commit (releasing replies wakes their callers,
    // a few µs each) while the writer goes on with the next commit. With nothing queued to
    // commit next, and the completer idle, the writer runs them itself.
    std::mutex finished_mutex;
    std::condition_variable finished_wake;
    std::deque<Finished> finished;  // guarded by finished_mutex
    bool completing = false;        // guarded by finished_mutex: the completer runs `done`s
    bool finishing = false;         // guarded by finished_mutex: the writer has ended
    std::thread completer;
  };
  static constexpr std::size_t kMaxLanes = 4;

  void run(Lane& lane);
  void complete(Lane& lane);
  Finished commit(std::deque<Item>& batch);
  static std::string pending_key(const StateKey& key);

  std::shared_ptr<StateStore> store_;
  Logger log_;
  mutable std::mutex mutex_;
  // Visible writes not yet committed: key -> (sequence of the newest, its state).
  std::unordered_map<std::string, std::pair<std::uint64_t, std::optional<std::string>>>
      pending_;                // guarded by mutex_
  std::uint64_t sequence_ = 0; // guarded by mutex_
  bool stopping_ = false;      // guarded by mutex_
  Lane lanes_[kMaxLanes];
  std::size_t lane_count_;  // the store's concurrent_writes(), clamped to 1..kMaxLanes
  // Written by the lanes' threads once per commit, not per write.
  std::atomic<std::uint64_t> commits_{0}, saved_{0}, fenced_{0}, failed_{0};
};

}  // namespace mesh::detail

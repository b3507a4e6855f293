// Blocking: how a thread that is about to wait for a reply tells the pool it belongs to.
#pragma once

namespace mesh::detail {

// Implemented by a thread pool (the runtime's scheduler) and installed on each of its threads.
// A waiting worker takes no work, so the pool may start another thread while it waits; both
// local and remote calls wait through CallState, which opens a BlockingScope, so the layers that
// wait (runtime, cluster) need not know the pool.
class BlockingListener {
 public:
  virtual ~BlockingListener() = default;
  virtual void blocking_begins() = 0;
  virtual void blocking_ends() noexcept = 0;
};

// The listener of the calling thread (null on threads of no pool). Set once per thread by the
// pool that runs it; not thread-safe across threads (it is per thread).
BlockingListener* blocking_listener() noexcept;
void set_blocking_listener(BlockingListener* listener) noexcept;

// Tells the calling thread's pool, if any, that the thread waits for the scope's lifetime.
class BlockingScope {
 public:
  BlockingScope() : listener_(blocking_listener()) {
    if (listener_) listener_->blocking_begins();
  }
  ~BlockingScope() {
    if (listener_) listener_->blocking_ends();
  }
  BlockingScope(const BlockingScope&) = delete;
  BlockingScope& operator=(const BlockingScope&) = delete;

 private:
  BlockingListener* listener_;
};

}  // namespace mesh::detail

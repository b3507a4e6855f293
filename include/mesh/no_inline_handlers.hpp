// NoInlineHandlers: a thread that must never run an actor's handler says so.
#pragma once

namespace mesh {

// While an instance lives, calls made from its thread never run a handler there: a call or
// async_call to an idle actor goes through the node's pool as if the actor were busy, so the
// thread never blocks in user code (an event loop, an IO thread; the node's own IO threads use
// it). A blocking call still blocks the thread until its reply or timeout. Nests; affects only
// the thread that created it, and must be destroyed on that thread.
class NoInlineHandlers {
 public:
  NoInlineHandlers() noexcept;
  ~NoInlineHandlers();
  NoInlineHandlers(const NoInlineHandlers&) = delete;
  NoInlineHandlers& operator=(const NoInlineHandlers&) = delete;

  // Whether the calling thread is inside such a scope.
  static bool active() noexcept;
};

}  // namespace mesh

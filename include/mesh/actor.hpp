// What an actor class must look like, and the context its handlers may ask for.
//
// An actor is any class with (no base class, no macro):
//   explicit A(std::string id);                      required
//   A(std::string id, mesh::Value init_arg);         optional: used when a request has init_arg
//   mesh::Value handle_call(mesh::Value payload);    required; a throw = crash
//   void handle_cast(mesh::Value payload);           optional; a throw = crash
// Each handler may take `mesh::ActorContext&` as a second parameter. Optional hooks:
//   mesh::Value snapshot();                           with restore(): the actor's state travels
//   void restore(mesh::Value state);                  with it when its shard moves (planned moves)
//   void on_deactivate(mesh::DeactivateReason why);   told why the activation is going away
//   void handle_timer(mesh::TimerId timer, mesh::Value payload);         a timer of its fired
//   void handle_reminder(std::string_view name, mesh::Value payload);    a reminder came due
// handle_timer and handle_reminder may also take `mesh::ActorContext&` as a third parameter; a
// throw from either is a crash, as from any handler (docs/timers-and-reminders.md).
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "mesh/error.hpp"
#include "mesh/pid.hpp"
#include "mesh/request.hpp"
#include "mesh/value.hpp"

namespace mesh {

class Node;

// Where a module's handlers may run. Running a call on the caller's own thread (when the actor
// is idle) saves the hand-off to the pool, but a handler cannot be interrupted: while it runs
// there, its caller's timeout cannot cut the wait short (docs/runtime.md).
enum class HandlerMode : std::uint8_t {
  // Through the pool until the module has shown it is fast (8 handler runs in a row within
  // NodeOptions::inline_limit), then on callers' threads; a slow run sends it back to the pool
  // for at least 10 s and until it has shown it is fast again.
  adaptive,
  // Declared fast: on callers' threads from the first call. A handler that is slow anyway
  // overruns its caller's timeout.
  non_blocking,
  // Declared slow or blocking: always through the pool, so every caller's timeout holds.
  blocking,
};

// Whether and when an actor's state (its snapshot()) is written to the node's StateStore
// (docs/persistence.md). A persistent activation loads its state before its first message;
// init_arg is used only when the store has nothing for the actor.
enum class Persistence : std::uint8_t {
  none,  // state lives in memory only (it still travels with planned moves)
  // Saved when the activation ends for any reason but a crash (stopped, idle, moved, evicted,
  // shutdown). A crash or kill -9 loses what changed since the activation began or last saved.
  on_deactivate,
  // Saved after every message: a call's reply (and a cast's completion) is released only once
  // the state after that message is durable. Writes of many actors share one commit.
  after_each_message,
};

// Per-type settings given to Node::register_actor.
struct ActorOptions {
  // An activation that has handled no message for this long is passivated (stopped; the next
  // call activates a fresh one). 0 = stay until a crash, a stop or a move.
  std::chrono::milliseconds idle_timeout{0};
  // Messages one activation may hold waiting (not counting the one it runs). A call or cast
  // beyond it fails at once with Errc::overloaded instead of growing the mailbox. 1 or more.
  std::uint32_t max_queue = 10000;
  HandlerMode handlers = HandlerMode::adaptive;
  // Needs snapshot()/restore() and NodeOptions::state_store; register_actor refuses otherwise.
  Persistence persistence = Persistence::none;
};

// Why an activation ends (on_deactivate). A crash calls no hook: the object threw.
enum class DeactivateReason : std::uint8_t {
  stopped,   // ActorContext::stop()
  idle,      // idle_timeout passed
  moved,     // its shard moved to another node (its snapshot, if any, went along)
  evicted,   // it sat on a shard this node does not own (reconciler, after a partition)
  shutdown,  // the node is stopping
};

// The handle of a timer (ActorContext::start_timer): unique on its node, never reused.
using TimerId = std::uint64_t;

namespace detail {
struct HandlerFrame;
}

// What a handler may do besides computing its reply. Handed to a handler that asks for it, valid
// only during that handler's run and only on the thread running it: do not keep or share it.
class ActorContext {
 public:
  ActorContext(const ActorContext&) = delete;
  ActorContext& operator=(const ActorContext&) = delete;

  const std::string& id() const noexcept;          // this actor's id
  const std::string& module() const noexcept;      // the module it was registered under
  const std::string& capability() const noexcept;  // the capability it was reached through
  const Pid& self() const noexcept;                // this activation
  Node& node() const noexcept;                     // the hosting node

  // Calls another actor. Same as node().call(), which also works inside a handler: the call
  // carries this call chain, so a cycle (A calls B calls A) returns Errc::deadlock at once.
  [[nodiscard]] Result<Reply> call(Request request);
  // Same as Node::cast and Node::async_call. Neither waits, so neither can deadlock.
  [[nodiscard]] Result<void> cast(Request request);
  void async_call(Request request, std::function<void(Result<Reply>)> done);

  // Ends this activation once the current message is handled. Messages already queued for the
  // actor, and later ones, go to a fresh activation.
  void stop() noexcept;

  // Timers: volatile, they live and die with this activation (a crash, a stop, an idle
  // passivation or a move ends them) and do not keep it from idling out. A tick is a message
  // to handle_timer(timer, payload), queued in the mailbox like any other, never run beside a
  // handler. It first fires `due` from now (0: as soon as possible), then every `period` if
  // one is given (a slow actor gets one tick queued at a time: ticks that find the previous
  // one still waiting are skipped). Errors: invalid_request for a negative due time, a
  // period that is not positive, or a module without handle_timer.
  [[nodiscard]] Result<TimerId> start_timer(std::chrono::milliseconds due,
                                            std::optional<std::chrono::milliseconds> period = {},
                                            Value payload = {});
  // Stops a timer of this activation: no tick of it runs after this returns. False when it is
  // not (or no longer) one of this activation's timers, e.g. a one-shot that already fired.
  bool cancel_timer(TimerId timer) noexcept;

  // Reminders: durable, kept in the node's StateStore with this actor's shard; delivered to
  // handle_reminder(name, payload) by whichever node owns the shard when it is due, activating
  // the actor if needed, at least once, across moves, crashes and restarts. Same as
  // Node::set_reminder / remove_reminder / reminders for this actor.
  [[nodiscard]] Result<void> set_reminder(std::string name, std::chrono::milliseconds due,
                                          std::optional<std::chrono::milliseconds> period = {},
                                          Value payload = {});
  [[nodiscard]] Result<void> remove_reminder(std::string_view name);

 private:
  friend struct detail::HandlerFrame;
  explicit ActorContext(detail::HandlerFrame& frame) noexcept : frame_(frame) {}
  detail::HandlerFrame& frame_;
};

namespace detail {

template <class A>
concept CallHandlerPlain = requires(A& a, Value&& v) {
  { a.handle_call(std::move(v)) } -> std::convertible_to<Value>;
};
template <class A>
concept CallHandlerWithContext = requires(A& a, Value&& v, ActorContext& c) {
  { a.handle_call(std::move(v), c) } -> std::convertible_to<Value>;
};
template <class A>
concept HasSnapshot = requires(A& a) {
  { a.snapshot() } -> std::convertible_to<Value>;
};
template <class A>
concept HasRestore = requires(A& a, Value&& v) { a.restore(std::move(v)); };
template <class A>
concept HasOnDeactivate = requires(A& a, DeactivateReason why) { a.on_deactivate(why); };

template <class A>
concept TimerHandlerPlain = requires(A& a, TimerId t, Value&& v) { a.handle_timer(t, std::move(v)); };
template <class A>
concept TimerHandlerWithContext = requires(A& a, TimerId t, Value&& v, ActorContext& c) {
  a.handle_timer(t, std::move(v), c);
};
template <class A>
concept ReminderHandlerPlain = requires(A& a, std::string_view n, Value&& v) {
  a.handle_reminder(n, std::move(v));
};
template <class A>
concept ReminderHandlerWithContext = requires(A& a, std::string_view n, Value&& v, ActorContext& c) {
  a.handle_reminder(n, std::move(v), c);
};

template <class A>
concept CastHandlerPlain = requires(A& a, Value&& v) { a.handle_cast(std::move(v)); };
template <class A>
concept CastHandlerWithContext = requires(A& a, Value&& v, ActorContext& c) {
  a.handle_cast(std::move(v), c);
};

// Type-erased operations on one actor class; one static instance per class. The runtime keeps
// the actor object inside its activation's own allocation (size/align), so an actor costs one
// allocation however it is written.
struct ActorVTable {
  std::size_t size;
  std::size_t align;
  // Constructs the actor at `where`. init_arg may be null. Throws what the constructor throws.
  void (*construct)(void* where, std::string id, Value* init_arg);
  void (*destroy)(void* self) noexcept;
  Value (*handle_call)(void* self, Value&& payload, ActorContext& context);
  // Null when the class has no handle_cast: a cast to it is then handled as a crash, as a
  // GenServer without handle_cast would.
  void (*handle_cast)(void* self, Value&& payload, ActorContext& context);
  // Null when the class has no snapshot()/restore() pair, or no on_deactivate().
  Value (*snapshot)(void* self);
  void (*restore)(void* self, Value&& state);
  void (*on_deactivate)(void* self, DeactivateReason why);
  // Null when the class has no handle_timer / handle_reminder: starting a timer or setting a
  // reminder for it is refused.
  void (*handle_timer)(void* self, TimerId timer, Value&& payload, ActorContext& context);
  void (*handle_reminder)(void* self, std::string_view name, Value&& payload,
                          ActorContext& context);
};

template <class A>
Value invoke_call(void* self, Value&& payload, ActorContext& context) {
  A& actor = *static_cast<A*>(self);
  if constexpr (CallHandlerWithContext<A>) {
    return actor.handle_call(std::move(payload), context);
  } else {
    return actor.handle_call(std::move(payload));
  }
}

template <class A>
void invoke_cast(void* self, Value&& payload, ActorContext& context) {
  A& actor = *static_cast<A*>(self);
  if constexpr (CastHandlerWithContext<A>) {
    actor.handle_cast(std::move(payload), context);
  } else {
    actor.handle_cast(std::move(payload));
  }
}

template <class A>
void construct_actor(void* where, std::string id, Value* init_arg) {
  if constexpr (std::is_constructible_v<A, std::string, Value>) {
    if (init_arg != nullptr) {
      ::new (where) A(std::move(id), std::move(*init_arg));
      return;
    }
  }
  ::new (where) A(std::move(id));
}

template <class A>
constexpr auto cast_entry() -> void (*)(void*, Value&&, ActorContext&) {
  if constexpr (CastHandlerPlain<A> || CastHandlerWithContext<A>) {
    return &invoke_cast<A>;
  } else {
    return nullptr;
  }
}

template <class A>
constexpr auto snapshot_entry() -> Value (*)(void*) {
  if constexpr (HasSnapshot<A> && HasRestore<A>) {
    return [](void* self) -> Value { return static_cast<A*>(self)->snapshot(); };
  } else {
    return nullptr;
  }
}

template <class A>
constexpr auto restore_entry() -> void (*)(void*, Value&&) {
  if constexpr (HasSnapshot<A> && HasRestore<A>) {
    return [](void* self, Value&& state) { static_cast<A*>(self)->restore(std::move(state)); };
  } else {
    return nullptr;
  }
}

template <class A>
constexpr auto on_deactivate_entry() -> void (*)(void*, DeactivateReason) {
  if constexpr (HasOnDeactivate<A>) {
    return [](void* self, DeactivateReason why) { static_cast<A*>(self)->on_deactivate(why); };
  } else {
    return nullptr;
  }
}

template <class A>
constexpr auto timer_entry() -> void (*)(void*, TimerId, Value&&, ActorContext&) {
  if constexpr (TimerHandlerWithContext<A>) {
    return [](void* self, TimerId t, Value&& v, ActorContext& c) {
      static_cast<A*>(self)->handle_timer(t, std::move(v), c);
    };
  } else if constexpr (TimerHandlerPlain<A>) {
    return [](void* self, TimerId t, Value&& v, ActorContext&) {
      static_cast<A*>(self)->handle_timer(t, std::move(v));
    };
  } else {
    return nullptr;
  }
}

template <class A>
constexpr auto reminder_entry() -> void (*)(void*, std::string_view, Value&&, ActorContext&) {
  if constexpr (ReminderHandlerWithContext<A>) {
    return [](void* self, std::string_view n, Value&& v, ActorContext& c) {
      static_cast<A*>(self)->handle_reminder(n, std::move(v), c);
    };
  } else if constexpr (ReminderHandlerPlain<A>) {
    return [](void* self, std::string_view n, Value&& v, ActorContext&) {
      static_cast<A*>(self)->handle_reminder(n, std::move(v));
    };
  } else {
    return nullptr;
  }
}

template <class A>
inline constexpr ActorVTable actor_vtable{
    sizeof(A),
    alignof(A),
    &construct_actor<A>,
    [](void* self) noexcept { static_cast<A*>(self)->~A(); },
    &invoke_call<A>,
    cast_entry<A>(),
    snapshot_entry<A>(),
    restore_entry<A>(),
    on_deactivate_entry<A>(),
    timer_entry<A>(),
    reminder_entry<A>(),
};

}  // namespace detail

// The requirements of an actor class, as a concept. Node::register_actor also checks them one by
// one with static_assert so that a class that does not fit gets a message naming what is missing.
template <class A>
concept ActorClass =
    std::is_class_v<A> && std::is_nothrow_destructible_v<A> && std::constructible_from<A, std::string> &&
    (detail::CallHandlerPlain<A> || detail::CallHandlerWithContext<A>);

namespace detail {
template <class A>
constexpr void check_actor_class() {
  static_assert(std::is_class_v<A>, "mesh: an actor must be a class type");
  static_assert(std::is_nothrow_destructible_v<A>, "mesh: an actor's destructor must not throw");
  static_assert(std::constructible_from<A, std::string>,
                "mesh: an actor needs a constructor A(std::string id)");
  static_assert(CallHandlerPlain<A> || CallHandlerWithContext<A>,
                "mesh: an actor needs `mesh::Value handle_call(mesh::Value payload)` "
                "(optionally with `mesh::ActorContext&` as a second parameter)");
  static_assert(HasSnapshot<A> == HasRestore<A>,
                "mesh: snapshot() and restore(mesh::Value) go together: define both or neither");
}
}  // namespace detail

}  // namespace mesh

// ActorHost: the activations this node hosts, their mailboxes and the threads that run them.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <set>
#include <span>
#include <map>
#include <string>
#include <vector>

#include "core/call_state.hpp"
#include "core/log_event.hpp"
#include "core/shard_ref.hpp"
#include "mesh/error.hpp"
#include "mesh/node_options.hpp"
#include "mesh/request.hpp"
#include "mesh/state_store.hpp"
#include "placement/capability_ids.hpp"
#include "runtime/activation_table.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/state_writer.hpp"
#include "runtime/timer_service.hpp"

namespace mesh {
class Node;
}

namespace mesh::detail {

// Where a request goes inside this node: resolved by the node before it reaches the host.
struct Target {
  const ActorType* type;
  std::uint32_t capability;  // interned capability id
  std::uint32_t shard;
  std::uint64_t id_hash;     // stable_hash(id)
  ShardRef shard_ref() const { return {capability, shard}; }
};

struct HostOptions {
  std::string node_name;
  std::uint32_t shard_count;
  std::uint32_t workers;
  std::uint32_t max_extra_workers;
  std::chrono::microseconds inline_limit;
  // Handed to handlers through ActorContext::node(); the host itself never calls it.
  Node* node = nullptr;
  // Names of interned capability ids, for ActorContext::capability(). Outlives the host.
  const CapabilityIds* capabilities = nullptr;
  Logger log;
  std::size_t max_activations = 0;  // NodeOptions::max_activations
  // NodeOptions::state_store: persistent types load from it and save through a StateWriter.
  std::shared_ptr<StateStore> store;
};

// Runs each actor's messages one at a time in arrival order. A call to an idle actor runs on the
// caller's thread (no hand-off); otherwise the message waits in the actor's mailbox and the pool
// drains it. Each shard has its own mutex guarding its table and its actors' mailboxes, held only
// for lookups and queue operations, never while a handler runs. Thread-safe.
//
// Before a request creates an activation, the host asks the owner check whether this node still
// owns the shard: when it does not (the view changed after the node routed the request), the
// host serves nothing and says so (nullopt / false, the request left as it was), and the node
// routes it again with the caller's deadline. The host never routes.
class ActorHost {
 public:
  explicit ActorHost(HostOptions options);
  ~ActorHost();  // stops: see stop()
  ActorHost(const ActorHost&) = delete;
  ActorHost& operator=(const ActorHost&) = delete;

  // The reply (blocking until it comes or request.timeout passes), or nullopt when the shard is
  // not owned here (see above).
  [[nodiscard]] std::optional<Result<Reply>> call(const Target& target, Request& request,
                                                  const ChainPtr& chain);
  // Queued (or failed), or nullopt when the shard is not owned here. `encoded_payload`: as for
  // async_call (a peer's cast).
  [[nodiscard]] std::optional<Result<void>> cast(const Target& target, Request& request,
                                                 std::string_view encoded_payload = {});
  // How an async call is served. A peer's request (from_peer) never runs on the calling thread,
  // the IO thread, and needs no timer here: its caller times it out, and a queued call past its
  // deadline is skipped anyway.
  // `queued`: a local call that must not run on this thread (it was parked by a handoff).
  enum class AsyncOrigin : std::uint8_t { local, queued, from_peer };
  // False when the shard is not owned here: then `request` and `done` are left as they were and
  // `done` is not called. Otherwise `done` runs once, on whichever thread completes the call.
  // `encoded_payload` (from_peer only): the payload as it arrived, checked by
  // msgpack::Reader::encoded_value(), with request.payload unused; the worker decodes it.
  [[nodiscard]] bool async_call(const Target& target, Request& request, const ChainPtr& chain,
                                CallState::Callback& done, AsyncOrigin origin = AsyncOrigin::local,
                                std::string_view encoded_payload = {});

  // A reminder coming due on this node, the shard's owner: queues it for the actor's
  // handle_reminder (activating the actor if needed), never running it on the calling thread.
  // False when the shard is not owned here (`request` and `done` left as they were). Otherwise
  // `done` runs once: a value when the handler ran (after its state was committed, for an
  // after_each_message type), actor_crashed when it threw, or why it was not delivered.
  [[nodiscard]] bool deliver_reminder(const Target& target, Request& request, std::string name,
                                      CallState::Callback& done);

  // Timers of one activation (ActorContext::start_timer / cancel_timer), called by its handler.
  Result<TimerId> start_timer(Activation& a, std::chrono::milliseconds due,
                              std::optional<std::chrono::milliseconds> period, Value payload);
  bool cancel_timer(const Activation& a, TimerId timer) noexcept;
  // Timers started and not yet ended (one-shots that fired, cancelled ones and those of ended
  // activations are gone; the last only once they were due).
  std::size_t timer_count() const;

  // This node's fence token for a shard in the state store (claimed on first use since the
  // node gained the shard) and, after a write under it was fenced, forgetting it. Reminders
  // share the claim with the shard's persistent actors. Needs a store.
  Result<std::uint64_t> shard_fence(std::uint32_t capability, std::uint32_t shard) {
    return claim_shard(capability, shard);
  }
  void forget_fence(std::uint32_t capability, std::uint32_t shard, std::uint64_t fence) {
    forget_claim(capability, shard, fence);
  }
  // shard_fence() for several shards of one capability (sorted, distinct), claiming those not
  // claimed yet in one store call (StateStore::claim_many): a node that gained many shards
  // pays one commit for them, not one each. Fences in the order of `shards`.
  Result<std::vector<std::uint64_t>> shard_fences(std::uint32_t capability,
                                                  std::span<const std::uint32_t> shards);

  // An actor arriving with its shard: creates its activation and queues, ahead of anything sent
  // to it later, the construction and `state` for its restore hook. The pool runs them like a
  // message, so no user code runs on the calling thread (an IO thread, or one holding locks).
  // Does nothing if the actor is already active here or the node is stopping. A constructor or
  // restore hook that throws is logged; the actor then starts fresh on its next message.
  void adopt(const Target& target, std::string id, std::optional<Value> state);
  // Starts passivating idle activations of a type with an idle timeout.
  void watch_idle(const ActorType& type);
  // An activation that ended because its shard moved, with its snapshot when it has the hooks.
  struct MovedActor {
    std::uint32_t capability;
    std::uint32_t shard;
    std::string module;
    std::string id;
    std::optional<Value> state;  // none without the hooks, or when it crashed on its way out
  };
  // Receives every MovedActor, on whichever thread ended it. Set once, before any view change.
  void set_moved_sink(std::function<void(MovedActor&&)> sink) { moved_sink_ = std::move(sink); }
  // Told once the last moving activation of a shard evict() listed in `busy` has ended, after
  // every one of them has reached the moved-actor sink. Set once, before any view change.
  void set_shard_moved_sink(std::function<void(ShardRef)> sink) {
    shard_moved_sink_ = std::move(sink);
  }
  // Asked, under the shard's mutex, before a request creates an activation: whether this node
  // owns (capability, shard) by its current view. A request resolved against a view that has
  // just changed is then refused (not owned) instead of creating an actor the new owner will
  // also create. Unset (one node alone): every shard is owned. Set once, before any request.
  using OwnerCheck = std::function<bool(std::uint32_t capability, std::uint32_t shard)>;
  void set_owner_check(OwnerCheck check) { owner_check_ = std::move(check); }

  // Ends the activations for which lost(capability, shard) gives a reason, each once it has
  // handled what its mailbox holds, on a pool thread (never on the calling thread: the hooks it
  // runs on its way out are user code). `ended` counts them; `busy` lists the shards that have
  // moving activations to finish: each shard reaches the shard-moved sink once they all ended.
  using LostPredicate =
      std::function<std::optional<DeactivateReason>(std::uint32_t capability, std::uint32_t shard)>;
  struct Eviction {
    std::size_t ended = 0;
    std::set<ShardRef> busy;
  };
  Eviction evict(const LostPredicate& lost);
  // Fails queued messages with shutting_down, lets running handlers finish, destroys every
  // activation and joins the pool. Idempotent.
  void stop();

  std::size_t activation_count() const;
  // The writer of persistent actors' state; null without a store.
  const StateWriter* writer() const { return writer_.get(); }
  // The serial of the actor's activation here if it has one now (it may end or start right
  // after: an answer for operators, never for routing). Any thread.
  std::optional<std::uint64_t> find(const Target& target, std::string_view id) const;
  // Calls visit(activation, shard) for every activation, shard by shard under its mutex:
  // visit must be quick and must not call into the host.
  void for_each(const std::function<void(const Activation&, std::uint32_t shard)>& visit) const;
  // Runs `task` on the host's timer thread every `period` until stop().
  void every(Clock::duration period, std::function<void()> task) { timers_.every(period, std::move(task)); }
  // Runs `task` on the host's timer thread after `delay` (never, once stopped).
  void after(Clock::duration delay, std::function<void()> task) {
    timers_.at(Clock::now() + delay, std::move(task));
  }
  const std::string& node_name() const { return options_.node_name; }

 private:
  // One running timer. The activation is named by its identity and serial, not a pointer: a
  // tick that finds another activation (or none) in its place ends the timer instead.
  struct TimerEntry {
    TimerId id;
    const ActorType* type;
    std::uint32_t capability;
    std::uint32_t shard;
    std::uint32_t key_hash;
    std::uint64_t serial;
    std::string actor_id;
    Clock::duration period;  // zero: one-shot
    Value payload;
    Clock::time_point next;  // when it is due next (timer thread)
    bool queued = false;     // guarded by timers_mutex_: a tick waits in the mailbox
  };
  void fire_timer(const std::shared_ptr<TimerEntry>& timer);
  // At the start of a tick's run: whether it still goes to the handler (not cancelled).
  bool take_tick(const Activation& a, TimerId timer);

  struct alignas(64) Shard {
    // Lock order (docs/architecture.md): taken after the node's membership and handoff mutexes
    // and room_mutex_, one shard at a time; released before the scheduler or the timers are
    // called and before any user code runs.
    mutable std::mutex mutex;
    ActivationTable table;         // guarded by mutex
    std::uint64_t next_serial = 0; // guarded by mutex
    std::uint32_t busy = 0;        // guarded by mutex: activations held by a runner
    bool closed = false;           // guarded by mutex
    // capability -> busy activations of this shard that are finishing before they move
    std::map<std::uint32_t, std::uint32_t> moving;  // guarded by mutex
    // capability -> this node's fence token for the shard in the state store, claimed by the
    // first persistent activation since the node gained the shard; forgotten when it loses it.
    std::map<std::uint32_t, std::uint64_t> claims;  // guarded by mutex
    std::uint32_t claims_epoch = 0;                   // guarded by mutex: bumped on forgetting
    // on_deactivate activations out of the table whose save is not queued yet (table_erase
    // adds, destroy removes): a new activation of one of them waits before it loads.
    std::vector<Activation*> leaving;  // guarded by mutex
    // capability -> how many of `table`'s activations have it (table_insert and table_erase
    // keep it), so that evict() asks once per capability whether the shard is lost and skips
    // the shards where nothing is, instead of visiting every activation of the node.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> census;  // guarded by mutex
  };
  struct Outcome;
  enum class Refusal : std::uint8_t { none, not_owned, at_limit };

  Shard& shard_of(const Activation& a) { return shards_[a.serial & kShardMask]; }
  // Null, and why, when the actor is not active here and may not be created: the owner check
  // says the shard is not ours, or the node is at max_activations. An arriving actor is created
  // regardless (it must not be lost, and its shard is this node's by the view that sent it).
  Activation* find_or_create(Shard& shard, const Target& target, std::string& id,
                             Refusal& refusal, bool arriving = false);
  Activation* activation_for(Shard& shard, const Target& target, std::string& id,
                             std::unique_lock<std::mutex>& lock, std::optional<Error>& error);
  // Every insertion into and removal from a shard's table, so that the shard's census and the
  // node's count (only when max_activations is set) are kept.
  void table_insert(Shard& shard, Activation* a);
  void table_erase(Shard& shard, Activation* a);
  void left(Activation* a);
  std::size_t make_room();
  Error no_room() const;
  static std::uint64_t new_serial(Shard& shard, std::uint32_t shard_index);
  static void claim(Shard& shard, Activation& a);
  static bool may_run_inline(const ActorType& type, bool blocking_caller);
  static bool may_run_here(const Activation& a);
  Result<Reply> run_inline(Shard& shard, Activation& a, std::unique_lock<std::mutex>& lock,
                           Request& request, const ChainPtr& chain);
  bool enqueue(Shard& shard, Activation& a, Message* message);
  Outcome run(Activation& a, MessageKind kind, Value&& payload, Value* init_arg,
              const ChainPtr& chain);
  void release(Activation& a, const Outcome& outcome);
  void discard(Shard& shard, Activation& a, std::unique_lock<std::mutex>& lock,
               std::optional<DeactivateReason> reason);
  void end(Activation* a, std::optional<DeactivateReason> reason, bool moving);
  // Destroys `a` (out of every table), first saving an on_deactivate actor's state when it ends
  // for a reason; `wait_saved` waits for the commit (a move: before the shard is released).
  void destroy(Activation* a, std::optional<DeactivateReason> reason, bool wait_saved);
  // Persistence (docs/persistence.md).
  StateKey state_key(const Activation& a) const;
  Result<std::uint64_t> claim_shard(std::uint32_t capability, std::uint32_t shard);
  void forget_claim(std::uint32_t capability, std::uint32_t shard, std::uint64_t fence);
  Result<std::optional<Value>> load_state(Activation& a);
  bool snapshot_and_save(Activation& a, std::unique_ptr<Message>& message, Outcome& outcome,
                         std::uint64_t serial);
  void begin_save(Activation& a, std::unique_ptr<Message> message, Outcome&& outcome,
                  std::uint64_t serial, std::optional<std::string> state);
  bool finish_save(Activation& a);
  void release_saved(Activation& a);
  void drain(Activation* a);
  void mark_slow(const ActorType& type, std::uint32_t now_ms);
  void note_fast(const ActorType& type, std::uint32_t now_ms);
  void sweep_idle(const ActorType& type, std::uint32_t idle_ms);
  std::uint32_t now_ms() const;
  Result<Reply> to_reply(Outcome&& outcome, std::uint64_t serial) const;

  static constexpr unsigned kShardBits = 20;
  static constexpr std::uint64_t kShardMask = (1u << kShardBits) - 1;

  const HostOptions options_;
  const Clock::time_point epoch_ = Clock::now();
  std::unique_ptr<Shard[]> shards_;
  TimerService timers_;
  Scheduler scheduler_;
  std::once_flag stopped_;
  std::function<void(MovedActor&&)> moved_sink_;
  std::function<void(ShardRef)> shard_moved_sink_;
  OwnerCheck owner_check_;
  // Activations in the shards' tables, kept only when max_activations is set (a shared counter
  // the default configuration does not pay for).
  std::atomic<std::size_t> activations_{0};
  // Serializes make_room; taken before a shard's mutex, never while holding one.
  std::mutex room_mutex_;
  // Null without a store. Declared after the scheduler: its completions submit to it.
  std::unique_ptr<StateWriter> writer_;
  // One claim at a time per shard (striped), so that two first activations in a shard do not
  // both claim it (the second claim would fence the first). Taken before a shard's mutex.
  std::array<std::mutex, 64> claim_mutexes_;
  // Signalled when an activation leaves Shard::leaving (waited on with the shard's mutex).
  std::condition_variable leaving_cv_;
  // Live timers by id. Timers are not the hot path: one mutex for all of them.
  mutable std::mutex timers_mutex_;
  std::map<TimerId, std::shared_ptr<TimerEntry>> live_timers_;  // guarded by timers_mutex_
  TimerId last_timer_id_ = 0;                                    // guarded by timers_mutex_
};

}  // namespace mesh::detail

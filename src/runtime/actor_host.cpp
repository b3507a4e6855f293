#include "runtime/actor_host.hpp"

#include <algorithm>
#include <functional>
#include <exception>
#include <future>
#include <thread>
#include <vector>

#include "core/blocking.hpp"
#include "mesh/no_inline_handlers.hpp"
#include "runtime/handler_frame.hpp"
#include "runtime/slow_run_check.hpp"

namespace mesh::detail {
namespace {

// Nested inline runs deeper than this go through the pool instead, bounding stack use.
constexpr std::uint32_t kMaxInlineDepth = 32;
// Messages one activation may handle before its worker moves on to other actors.
constexpr int kDrainBudget = 64;
// How long an adaptive module whose handler ran past inline_limit stays off callers' threads
// at least, and how many fast runs in a row it then needs to go back to them.
constexpr std::int64_t kSlowCooldownMs = 10'000;
constexpr std::uint32_t kFastRunsToInline = 8;
// How often the pool is checked for work stuck behind long handlers.
constexpr auto kStallCheckPeriod = std::chrono::milliseconds(20);

// Mixes the id hash with the capability and type so that ids of one shard (which share the low
// bits of their hash) still spread over the shard's table.
std::uint32_t key_hash(const Target& target) {
  std::uint64_t h = target.id_hash ^ (target.capability * 0x9E3779B97F4A7C15ull) ^
                    (reinterpret_cast<std::uintptr_t>(target.type) * 0xC2B2AE3D27D4EB4Full);
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  return static_cast<std::uint32_t>(h);
}

Error shutting_down() { return Error{Errc::shutting_down, "the node is shutting down"}; }

Error mailbox_full(const Activation& a) {
  return Error{Errc::overloaded, "the mailbox of " + a.type->module + " " + std::string(a.id()) +
                                     " holds " + std::to_string(a.queued()) +
                                     " messages (max_queue)"};
}

Error deadlock_error(const Activation& a) {
  return Error{Errc::deadlock, "call cycle: " + a.type->module + " " + std::string(a.id()) +
                                   " is already waiting in this call chain"};
}

void fail_all(Message* list, const Error& error) {
  while (list) {
    std::unique_ptr<Message> message(std::exchange(list, list->next));
    if (message->reply) message->reply->complete(std::unexpected(error));
  }
}

bool persistent(const ActorType& type) { return type.options.persistence != Persistence::none; }

// A call's or cast's outcome, counted once where it is decided: when its handler's result is
// released (after the commit, for after_each_message types), when it is skipped because its
// caller gave up, or when the host refuses it. Timer ticks, reminders and arrivals are not
// calls.
void count(const ActorType& type, std::uint32_t capability, MessageKind kind, const Error* error) {
  if (kind == MessageKind::call) {
    host_metrics::call(type, capability, error);
  } else if (kind == MessageKind::cast) {
    host_metrics::cast(type, capability, error);
  }
}
void count(const ActorType& type, std::uint32_t capability, MessageKind kind,
           const std::optional<Error>& error) {
  count(type, capability, kind, error ? &*error : nullptr);
}
void count_refused(const Target& target, MessageKind kind, const Error& error) {
  count(*target.type, target.capability, kind, &error);
}
bool saves_each_message(const ActorType& type) {
  return type.options.persistence == Persistence::after_each_message;
}

// A persistent actor's state as the store keeps it: MessagePack, or nullopt (an erase) when the
// snapshot is null.
std::optional<std::string> encode_state(const Value& state) {
  if (state.is_null()) return std::nullopt;
  std::string bytes;
  Value::to_msgpack(state, bytes);
  return bytes;
}

std::string describe(std::exception_ptr error) {
  try {
    std::rethrow_exception(std::move(error));
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace

// A message whose reply waits for the state it left to be committed (after_each_message). After
// a commit the writer's completer thread (or the writer, when nothing else waits) releases the
// reply itself (so an async_call's callback may run there) and makes the activation idle, or
// hands it to the pool when it has more to do; a failed write goes to the pool, which discards
// the activation (its destructor is user code, which must never hold up the completions of
// other actors).
struct SavedMessage {
  std::unique_ptr<Message> message;
  Value value;             // the reply, released once the state is durable
  std::uint64_t serial;    // the activation's, for the reply's Pid
  bool stop = false;       // the actor asked to stop: it ends once the state is durable
  Result<void> result;     // set by the writer's completer thread
};

struct ActorHost::Outcome {
  Value value;
  std::optional<Error> error;
  bool discard = false;  // the activation ends: it crashed (error set) or stopped itself

  // How the activation ends, for on_deactivate: no reason after a crash.
  std::optional<DeactivateReason> ending() const {
    return error ? std::nullopt : std::optional(DeactivateReason::stopped);
  }
};

ActorHost::ActorHost(HostOptions options)
    : options_(std::move(options)),
      shards_(std::make_unique<Shard[]>(options_.shard_count)),
      scheduler_(options_.workers, options_.max_extra_workers,
                 [this](Activation* a) { drain(a); }) {
  timers_.every(kStallCheckPeriod, [this] { scheduler_.check_stalled(); });
  if (options_.store) writer_ = std::make_unique<StateWriter>(options_.store, options_.log);
}

ActorHost::~ActorHost() { stop(); }

std::uint32_t ActorHost::now_ms() const {
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - epoch_).count());
}

Activation* ActorHost::find_or_create(Shard& shard, const Target& target, std::string& id,
                                      Refusal& refusal, bool arriving) {
  const std::uint32_t hash = key_hash(target);
  if (Activation* a = shard.table.find(hash, target.capability, target.type, id)) return a;
  if (!arriving) {
    if (owner_check_ && !owner_check_(target.capability, target.shard)) {
      refusal = Refusal::not_owned;
      return nullptr;
    }
    if (options_.max_activations != 0 &&
        activations_.load(std::memory_order_relaxed) >= options_.max_activations) {
      refusal = Refusal::at_limit;
      return nullptr;
    }
  }
  Activation* a = Activation::create(*target.type, target.capability, id,
                                     new_serial(shard, target.shard), hash);
  table_insert(shard, a);
  return a;
}

void ActorHost::table_insert(Shard& shard, Activation* a) {
  shard.table.insert(a);
  const auto counted =
      std::find_if(shard.census.begin(), shard.census.end(),
                   [a](const auto& entry) { return entry.first == a->capability; });
  if (counted != shard.census.end()) {
    ++counted->second;
  } else {
    shard.census.emplace_back(a->capability, 1);
  }
  if (options_.max_activations != 0) activations_.fetch_add(1, std::memory_order_relaxed);
}

void ActorHost::table_erase(Shard& shard, Activation* a) {
  shard.table.erase(a);
  for (auto& [capability, count] : shard.census) {
    if (capability == a->capability) {
      --count;
      break;
    }
  }
  if (options_.max_activations != 0) activations_.fetch_sub(1, std::memory_order_relaxed);
  // Its state is saved on its way out, after it left the table: until the save is queued, a
  // new activation of the actor must not load (it would miss it). destroy() lets it go.
  if (a->type->options.persistence == Persistence::on_deactivate) shard.leaving.push_back(a);
}

// An on_deactivate activation out of the table has queued its save (or has none): a new
// activation of the actor may load now.
void ActorHost::left(Activation* a) {
  Shard& shard = shard_of(*a);
  {
    std::lock_guard lock(shard.mutex);
    std::erase(shard.leaving, a);
  }
  leaving_cv_.notify_all();
}

Error ActorHost::no_room() const {
  return Error{Errc::overloaded, "node " + options_.node_name + " holds max_activations (" +
                                     std::to_string(options_.max_activations) +
                                     ") activations and none of them is idle"};
}

// At max_activations: passivates the least recently used idle activations, about a sixteenth
// of the limit at a time (so that the scans, two over every shard, are shared by many new
// activations). They leave their tables at once and end on the pool with on_deactivate(idle).
// Returns how many went (0: none was idle). Serialized by room_mutex_, taken before any shard's.
std::size_t ActorHost::make_room() {
  std::lock_guard room(room_mutex_);
  if (activations_.load(std::memory_order_relaxed) < options_.max_activations) return 1;
  const std::uint32_t now = now_ms();
  std::vector<std::uint32_t> ages;
  for (std::uint32_t s = 0; s < options_.shard_count; ++s) {
    std::lock_guard lock(shards_[s].mutex);
    shards_[s].table.for_each([&](Activation* a) {
      if (!a->busy && !a->evicting()) ages.push_back(now - a->last_active_ms);
    });
  }
  if (ages.empty()) return 0;
  const std::size_t want =
      std::min(ages.size(), std::max<std::size_t>(1, options_.max_activations / 16));
  std::nth_element(ages.begin(), ages.begin() + static_cast<std::ptrdiff_t>(want - 1), ages.end(),
                   std::greater<>());
  const std::uint32_t oldest_kept = ages[want - 1];
  std::vector<Activation*> going;
  for (std::uint32_t s = 0; s < options_.shard_count && going.size() < want; ++s) {
    Shard& shard = shards_[s];
    const std::size_t first = going.size();
    std::lock_guard lock(shard.mutex);
    shard.table.for_each([&](Activation* a) {
      if (going.size() < want && !a->busy && !a->evicting() &&
          now - a->last_active_ms >= oldest_kept) {
        a->evict_reason = DeactivateReason::idle;
        claim(shard, *a);
        going.push_back(a);
      }
    });
    for (std::size_t i = first; i < going.size(); ++i) table_erase(shard, going[i]);
  }
  for (Activation* a : going) scheduler_.submit(a);
  return going.size();
}

// With the shard's mutex held by `lock`: the activation a message for `target` goes to, found
// or created (at max_activations, after making room, which unlocks for a while). Null with
// `error` set when the node is stopping or has no room, or with it empty when the shard is not
// owned here.
Activation* ActorHost::activation_for(Shard& shard, const Target& target, std::string& id,
                                      std::unique_lock<std::mutex>& lock,
                                      std::optional<Error>& error) {
  if (shard.closed) {
    error = shutting_down();
    return nullptr;
  }
  Refusal refusal{};
  Activation* found = find_or_create(shard, target, id, refusal);
  while (!found) {
    if (refusal == Refusal::not_owned) return nullptr;
    lock.unlock();
    const bool made_room = make_room() != 0;
    lock.lock();
    if (!made_room) {
      error = no_room();
      return nullptr;
    }
    if (shard.closed) {
      error = shutting_down();
      return nullptr;
    }
    found = find_or_create(shard, target, id, refusal);
  }
  return found;
}

// Serials are unique per node: a per-shard counter above the shard's index.
std::uint64_t ActorHost::new_serial(Shard& shard, std::uint32_t shard_index) {
  return (++shard.next_serial << kShardBits) | shard_index;
}

void ActorHost::claim(Shard& shard, Activation& a) {
  a.busy = true;
  ++shard.busy;
}

// Queues a message; returns whether the caller must submit the activation to the pool.
bool ActorHost::enqueue(Shard& shard, Activation& a, Message* message) {
  a.push(message);
  if (a.busy) return false;
  claim(shard, a);
  return true;
}

// Whether a call to an idle actor of this type may run on the calling thread. An
// after_each_message type's reply waits for a commit: a blocking caller, which waits for it
// anyway, runs the handler itself (sparing a pool worker's wake-up); an async caller's thread
// is never held for a commit.
bool ActorHost::may_run_inline(const ActorType& type, bool blocking_caller) {
  return type.inline_allowed.load(std::memory_order_relaxed) &&
         (blocking_caller || !saves_each_message(type)) &&
         HandlerFrame::depth() < kMaxInlineDepth && !NoInlineHandlers::active();
}

// A persistent actor's first message waits for the store (a claim, a load): that wait runs on
// the pool, where the caller's timeout cuts it short, never on the caller's thread.
bool ActorHost::may_run_here(const Activation& a) {
  return a.constructed || !persistent(*a.type);
}

// Runs a call on the calling thread: claims the idle actor `a` (its shard locked by `lock`),
// unlocks, runs the handler and hands the actor back.
Result<Reply> ActorHost::run_inline(Shard& shard, Activation& a, std::unique_lock<std::mutex>& lock,
                                    Request& request, const ChainPtr& chain) {
  claim(shard, a);
  lock.unlock();
  Value* init = request.init_arg ? &*request.init_arg : nullptr;
  const std::uint64_t serial = a.serial;
  const bool durable = saves_each_message(*a.type);
  // A durable caller waits for the commit until the deadline its call began with.
  const Clock::time_point deadline = durable ? Clock::now() + request.timeout : Clock::time_point{};
  Outcome outcome = run(a, MessageKind::call, std::move(request.payload), init, chain);
  if (durable && !outcome.error) {
    // As drain does for a pooled run: the writer releases the reply and `a` once the state is
    // committed, so a caller that times out meanwhile leaves nothing behind.
    RefPtr<CallState> reply(new CallState(deadline));
    std::unique_ptr<Message> message(
        new Message{nullptr, MessageKind::call, Value(), std::nullopt, nullptr, reply});
    if (snapshot_and_save(a, message, outcome, serial)) return reply->wait();
  }
  count(*a.type, a.capability, MessageKind::call, outcome.error);
  release(a, outcome);
  return to_reply(std::move(outcome), serial);
}

std::optional<Result<Reply>> ActorHost::call(const Target& target, Request& request,
                                             const ChainPtr& chain) {
  Shard& shard = shards_[target.shard];
  const bool may_inline = may_run_inline(*target.type, /*blocking_caller=*/true);
  std::unique_lock lock(shard.mutex);
  std::optional<Error> error;
  Activation* found = activation_for(shard, target, request.id, lock, error);
  if (!found) {
    if (!error) return std::nullopt;
    count_refused(target, MessageKind::call, *error);
    return std::unexpected(std::move(*error));
  }
  Activation& a = *found;
  if (chain && chain->contains(options_.node_name, a.serial)) {
    Error cycle = deadlock_error(a);
    count_refused(target, MessageKind::call, cycle);
    return std::unexpected(std::move(cycle));
  }
  if (may_inline && !a.busy && may_run_here(a)) return run_inline(shard, a, lock, request, chain);
  if (a.queued() >= a.type->options.max_queue) {
    Error full = mailbox_full(a);
    count_refused(target, MessageKind::call, full);
    return std::unexpected(std::move(full));
  }
  RefPtr<CallState> state(new CallState(Clock::now() + request.timeout));
  auto* message = new Message{nullptr, MessageKind::call, std::move(request.payload),
                              std::move(request.init_arg), chain, state};
  const bool submit = enqueue(shard, a, message);
  lock.unlock();
  if (submit) scheduler_.submit(&a);
  return state->wait();
}

std::optional<Result<void>> ActorHost::cast(const Target& target, Request& request,
                                            std::string_view encoded_payload) {
  Shard& shard = shards_[target.shard];
  std::unique_lock lock(shard.mutex);
  std::optional<Error> error;
  Activation* a = activation_for(shard, target, request.id, lock, error);
  if (!a) {
    if (!error) return std::nullopt;
    count_refused(target, MessageKind::cast, *error);
    return std::unexpected(std::move(*error));
  }
  if (a->queued() >= a->type->options.max_queue) {
    Error full = mailbox_full(*a);
    count_refused(target, MessageKind::cast, full);
    return std::unexpected(std::move(full));
  }
  Message* message = Message::for_request(MessageKind::cast, request, encoded_payload, nullptr, {});
  const bool submit = enqueue(shard, *a, message);
  lock.unlock();
  if (submit) scheduler_.submit(a);
  return Result<void>{};
}

void ActorHost::adopt(const Target& target, std::string id, std::optional<Value> state) {
  Shard& shard = shards_[target.shard];
  std::unique_lock lock(shard.mutex);
  if (shard.closed || shard.table.find(key_hash(target), target.capability, target.type, id)) {
    return;
  }
  Refusal unused{};
  Activation& a = *find_or_create(shard, target, id, unused, /*arriving=*/true);
  auto* message =
      new Message{nullptr, MessageKind::restore, Value(), std::move(state), nullptr, {}};
  const bool submit = enqueue(shard, a, message);
  lock.unlock();
  if (submit) scheduler_.submit(&a);
}

bool ActorHost::deliver_reminder(const Target& target, Request& request, std::string name,
                                 CallState::Callback& done) {
  Shard& shard = shards_[target.shard];
  std::unique_lock lock(shard.mutex);
  std::optional<Error> error;
  Activation* found = activation_for(shard, target, request.id, lock, error);
  if (!found) {
    if (!error) return false;
    lock.unlock();
    done(std::unexpected(std::move(*error)));
    return true;
  }
  Activation& a = *found;
  if (a.queued() >= a.type->options.max_queue) {
    const Error full = mailbox_full(a);
    lock.unlock();
    done(std::unexpected(full));
    return true;
  }
  const Clock::time_point deadline = Clock::now() + request.timeout;
  RefPtr<CallState> state(new CallState(deadline, std::move(done)));
  auto* message = new Message{nullptr, MessageKind::reminder, std::move(request.payload),
                              Value(std::move(name)), nullptr, state};
  const bool submit = enqueue(shard, a, message);
  lock.unlock();
  if (submit) scheduler_.submit(&a);
  timers_.at(deadline, [state] {
    state->complete(std::unexpected(Error{Errc::timeout, "the reminder was not handled in time"}));
  });
  return true;
}

bool ActorHost::async_call(const Target& target, Request& request, const ChainPtr& chain,
                           CallState::Callback& done, AsyncOrigin origin,
                           std::string_view encoded_payload) {
  Shard& shard = shards_[target.shard];
  const bool may_inline =
      origin == AsyncOrigin::local && may_run_inline(*target.type, /*blocking_caller=*/false);
  std::unique_lock lock(shard.mutex);
  std::optional<Error> error;
  Activation* found = activation_for(shard, target, request.id, lock, error);
  if (!found) {
    if (!error) return false;
    lock.unlock();
    count_refused(target, MessageKind::call, *error);
    done(std::unexpected(std::move(*error)));
    return true;
  }
  Activation& a = *found;
  if (chain && chain->contains(options_.node_name, a.serial)) {
    Error cycle = deadlock_error(a);
    lock.unlock();
    count_refused(target, MessageKind::call, cycle);
    done(std::unexpected(std::move(cycle)));
    return true;
  }
  if (may_inline && !a.busy && may_run_here(a)) {
    done(run_inline(shard, a, lock, request, chain));
    return true;
  }
  if (a.queued() >= a.type->options.max_queue) {
    const Error full = mailbox_full(a);
    lock.unlock();
    count_refused(target, MessageKind::call, full);
    done(std::unexpected(full));
    return true;
  }
  const Clock::time_point deadline = Clock::now() + request.timeout;
  RefPtr<CallState> state(new CallState(deadline, std::move(done)));
  Message* message =
      Message::for_request(MessageKind::call, request, encoded_payload, chain, state);
  const bool submit = enqueue(shard, a, message);
  lock.unlock();
  if (submit) scheduler_.submit(&a);
  if (origin == AsyncOrigin::from_peer) return true;
  timers_.at(deadline, [state] {
    state->complete(std::unexpected(Error{Errc::timeout, "no reply within the request's timeout"}));
  });
  return true;
}

ActorHost::Outcome ActorHost::run(Activation& a, MessageKind kind, Value&& payload,
                                  Value* init_arg, const ChainPtr& chain) {
  HandlerFrame frame(options_.node_name, options_.node, *options_.capabilities, a, chain, this);
  const ActorVTable& vtable = *a.type->vtable;
  Outcome outcome;
  SlowRunCheck::arm();
  Clock::time_point start = Clock::now();
  if (!a.constructed) {
    // A persistent actor starts from the store: init_arg only when the store has nothing.
    std::optional<Value> stored;
    if (persistent(*a.type)) {
      auto loaded = load_state(a);
      if (!loaded) {
        outcome.error = std::move(loaded.error());
        outcome.discard = true;
        return outcome;
      }
      stored = std::move(*loaded);
      // A claim or load waits on the store, not on the handler: it must not make the module
      // look slow (it runs on the pool, where the caller's timeout holds anyway).
      start = Clock::now();
    }
    try {
      // A timer's or reminder's init_arg is its id or name, not an argument for the actor.
      const bool no_init =
          (kind != MessageKind::call && kind != MessageKind::cast) || stored.has_value();
      vtable.construct(a.actor(), std::string(a.id()), no_init ? nullptr : init_arg);
      a.constructed = true;
    } catch (...) {
      outcome.error = Error{Errc::activation_failed, describe(std::current_exception())};
      outcome.discard = true;
      return outcome;
    }
    if (stored) {
      try {
        vtable.restore(a.actor(), std::move(*stored));
      } catch (...) {
        outcome.error =
            Error{Errc::activation_failed,
                  "restoring " + a.type->module + " " + std::string(a.id()) +
                      " from the state store failed: " + describe(std::current_exception())};
        outcome.discard = true;
        return outcome;
      }
    }
  }
  try {
    if (kind == MessageKind::restore) {
      // A persistent actor's state comes from the store (loaded above), never from a handoff.
      if (init_arg && vtable.restore && !persistent(*a.type)) {
        vtable.restore(a.actor(), std::move(*init_arg));
      }
    } else if (kind == MessageKind::call) {
      outcome.value = vtable.handle_call(a.actor(), std::move(payload), frame.context());
    } else if (kind == MessageKind::timer) {
      if (take_tick(a, init_arg->get<TimerId>())) {
        vtable.handle_timer(a.actor(), init_arg->get<TimerId>(), std::move(payload),
                            frame.context());
      }
    } else if (kind == MessageKind::reminder) {
      if (!vtable.handle_reminder) {
        throw std::logic_error("actor type " + a.type->module + " has no handle_reminder");
      }
      vtable.handle_reminder(a.actor(), init_arg->get_ref<const std::string&>(),
                             std::move(payload), frame.context());
    } else if (vtable.handle_cast) {
      vtable.handle_cast(a.actor(), std::move(payload), frame.context());
    } else {
      throw std::logic_error("actor type " + a.type->module + " has no handle_cast");
    }
  } catch (...) {
    outcome.error = Error{Errc::actor_crashed, describe(std::current_exception())};
    outcome.discard = true;
  }
  const Clock::time_point end = Clock::now();
  if (kind == MessageKind::call) {
    host_metrics::handler_time(
        *a.type, a.capability,
        static_cast<std::uint64_t>(std::chrono::nanoseconds(end - start).count()));
  }
  const auto end_ms = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(end - epoch_).count());
  // A tick is not activity: an actor whose only messages are its own timer's still idles out
  // (docs/timers-and-reminders.md says why).
  if (kind != MessageKind::timer) a.last_active_ms = end_ms;
  if (end - start > options_.inline_limit) {
    if (SlowRunCheck::confirm()) mark_slow(*a.type, end_ms);
  } else if (!a.type->inline_allowed.load(std::memory_order_relaxed)) {
    note_fast(*a.type, end_ms);
  }
  outcome.discard = outcome.discard || a.stop_requested;
  return outcome;
}

Result<Reply> ActorHost::to_reply(Outcome&& outcome, std::uint64_t serial) const {
  if (outcome.error) return std::unexpected(std::move(*outcome.error));
  return Reply{Pid{options_.node_name, serial}, std::move(outcome.value)};
}

// The runner is done with `a` for now: passes it to the pool if messages arrived meanwhile,
// otherwise makes it idle (or destroys it, when discarded or the node is stopping).
void ActorHost::release(Activation& a, const Outcome& outcome) {
  Shard& shard = shard_of(a);
  std::unique_lock lock(shard.mutex);
  if (outcome.discard) {
    discard(shard, a, lock, outcome.ending());
  } else if (shard.closed) {
    discard(shard, a, lock, DeactivateReason::shutdown);
  } else if (a.has_messages()) {
    lock.unlock();
    scheduler_.submit(&a);
  } else if (a.evicting()) {
    discard(shard, a, lock, a.evict_reason);
  } else {
    a.busy = false;
    --shard.busy;
  }
}

// Removes a busy activation the caller holds. Its queued messages move, in order, to a fresh
// activation of the same actor (the "next call" after a crash or stop), so none is lost and no
// later message can overtake them. Destroys `a` after unlocking: its destructor is user code.
void ActorHost::discard(Shard& shard, Activation& a, std::unique_lock<std::mutex>& lock,
                        std::optional<DeactivateReason> reason) {
  // One evicted while idle left the table at once (evict), so that new work meets a fresh one.
  if (shard.table.find(a.key_hash, a.capability, a.type, a.id()) == &a) table_erase(shard, &a);
  Message* queued = a.take_all();
  Activation* next = nullptr;
  if (queued && !shard.closed) {
    next = Activation::create(*a.type, a.capability, a.id(),
                              new_serial(shard, static_cast<std::uint32_t>(a.serial & kShardMask)),
                              a.key_hash);
    // An actor that was being evicted stays evicted: its successor handles the queue and
    // then ends in its place (and, when moving, is the one whose end the new owner hears of).
    next->evict_reason = a.evict_reason;
    while (queued) next->push(std::exchange(queued, queued->next));
    table_insert(shard, next);
    claim(shard, *next);
  }
  const bool moving = !next && a.evict_reason == DeactivateReason::moved;
  lock.unlock();
  fail_all(queued, shutting_down());
  // The old instance is destroyed before the successor that takes over its queue runs, so a
  // destructor that releases something (a file, a lock) is done before that instance wants it,
  // and nothing of `a` is touched after the successor may have ended. `next` is claimed:
  // nothing else schedules it meanwhile.
  end(&a, reason, moving);
  if (next) scheduler_.submit(next);
  lock.lock();
  --shard.busy;
}

// Destroys an activation that is out of every table. One that is moving (its shard went to
// another node) reaches the moved-actor sink, with its snapshot when it ended normally; only
// then does it count as ended for its shard, so the shard-moved sink, called by whichever thread
// ends the shard's last one, comes after every actor of the shard has reached the moved-actor
// sink (they end on different threads, and the last to be counted need not be the last to
// report).
void ActorHost::end(Activation* a, std::optional<DeactivateReason> reason, bool moving) {
  const ShardRef key{a->capability, static_cast<std::uint32_t>(a->serial & kShardMask)};
  if (persistent(*a->type)) {
    // Moves through the store, not the handoff: its state is committed before the shard is
    // released, and the new owner loads it under its own claim (docs/persistence.md).
    destroy(a, reason, moving);
  } else if (!moving || !moved_sink_) {
    Activation::destroy(a, reason);
  } else {
    MovedActor moved{key.capability, key.shard, a->type->module, std::string(a->id()),
                     std::nullopt};
    if (reason == DeactivateReason::moved && a->constructed && a->type->vtable->snapshot) {
      try {
        moved.state = a->type->vtable->snapshot(a->actor());
      } catch (...) {
        // No state then: the new owner starts this actor fresh.
      }
    }
    Activation::destroy(a, reason);
    moved_sink_(std::move(moved));
  }
  if (!moving) return;
  bool last;
  {
    Shard& shard = shards_[key.shard];
    std::lock_guard lock(shard.mutex);
    const auto it = shard.moving.find(key.capability);
    last = --it->second == 0;
    if (last) shard.moving.erase(it);
  }
  if (last && shard_moved_sink_) shard_moved_sink_(key);
}

void ActorHost::drain(Activation* a) {
  Shard& shard = shard_of(*a);
  if (persistent(*a->type) && a->persisted().saving && !finish_save(*a)) return;
  for (int budget = kDrainBudget; budget > 0; --budget) {
    std::unique_lock lock(shard.mutex);
    std::unique_ptr<Message> message(a->pop());
    if (!message) {
      if (shard.closed) {
        discard(shard, *a, lock, DeactivateReason::shutdown);
        } else if (a->evicting()) {
        discard(shard, *a, lock, a->evict_reason);
      } else {
        a->busy = false;
        --shard.busy;
      }
      return;
    }
    lock.unlock();
    if (message->reply && (message->reply->completed() ||
                           Clock::now() >= message->reply->deadline())) {
      // The caller has given up: skip the work, as its reply would be dropped anyway.
      const Error late{Errc::timeout, "no reply within the request's timeout"};
      count(*a->type, a->capability, message->kind, &late);
      message->reply->complete(std::unexpected(late));
      continue;
    }
    Value payload;
    try {
      payload = message->take_payload();
    } catch (const std::exception& e) {
      // A peer's payload was checked when it arrived, so only bytes that the check let through
      // by mistake, or memory running out, get here: the call fails, the actor goes on.
      const Error bad{Errc::invalid_request,
                      std::string("the payload could not be decoded: ") + e.what()};
      count(*a->type, a->capability, message->kind, &bad);
      if (message->reply) message->reply->complete(std::unexpected(bad));
      continue;
    }
    Value* init = message->init_arg ? &*message->init_arg : nullptr;
    const std::uint64_t serial = a->serial;
    Outcome outcome = run(*a, message->kind, std::move(payload), init, message->chain);
    if (message->kind == MessageKind::restore && outcome.error && options_.log) {
      options_.log({LogLevel::warning,
                    "arriving_actor_not_restored",
                    "an arriving " + a->type->module + " " + std::string(a->id()) +
                        " failed to restore its state: " + outcome.error->message,
                    {{"module", a->type->module},
                     {"id", std::string(a->id())},
                     {"reason", outcome.error->message}}});
    }
    if (saves_each_message(*a->type) && !outcome.error && message->kind != MessageKind::restore &&
        snapshot_and_save(*a, message, outcome, serial)) {
      return;  // the writer hands `a` back to the pool once the state is committed
    }
    count(*a->type, a->capability, message->kind, outcome.error);
    const bool discarded = outcome.discard;
    if (discarded) {
      lock.lock();
      discard(shard, *a, lock, outcome.ending());
    }
    if (message->reply) message->reply->complete(to_reply(std::move(outcome), serial));
    if (discarded) return;
  }
  scheduler_.submit(a);
}

// A slow run takes an adaptive module off callers' threads (HandlerMode); declared modes stay.
void ActorHost::mark_slow(const ActorType& type, std::uint32_t now_ms) {
  if (type.options.handlers != HandlerMode::adaptive) return;
  type.fast_runs.store(0, std::memory_order_relaxed);
  type.slow_until_ms.store(static_cast<std::int64_t>(now_ms) + kSlowCooldownMs,
                           std::memory_order_relaxed);
  type.inline_allowed.store(false, std::memory_order_relaxed);
}

// A fast run of an adaptive module that is off callers' threads: after the cooldown, enough of
// them in a row put it back.
void ActorHost::note_fast(const ActorType& type, std::uint32_t now_ms) {
  if (type.options.handlers != HandlerMode::adaptive) return;
  if (static_cast<std::int64_t>(now_ms) < type.slow_until_ms.load(std::memory_order_relaxed)) return;
  if (type.fast_runs.fetch_add(1, std::memory_order_relaxed) + 1 >= kFastRunsToInline) {
    type.inline_allowed.store(true, std::memory_order_relaxed);
  }
}

void ActorHost::watch_idle(const ActorType& type) {
  const auto idle = type.options.idle_timeout;
  if (idle <= std::chrono::milliseconds::zero()) return;
  const auto period = std::clamp<Clock::duration>(idle / 4, std::chrono::milliseconds(5),
                                                   std::chrono::seconds(1));
  const auto idle_ms = static_cast<std::uint32_t>(idle.count());
  timers_.every(period, [this, &type, idle_ms] { sweep_idle(type, idle_ms); });
}

// Passivates activations of `type` that are idle and have handled nothing for idle_ms.
void ActorHost::sweep_idle(const ActorType& type, std::uint32_t idle_ms) {
  std::vector<Activation*> expired;
  for (std::uint32_t s = 0; s < options_.shard_count; ++s) {
    Shard& shard = shards_[s];
    const std::size_t first = expired.size();
    std::lock_guard lock(shard.mutex);
    if (shard.closed) break;
    const std::uint32_t now = now_ms();
    shard.table.for_each([&](Activation* a) {
      if (a->type == &type && !a->busy && now - a->last_active_ms >= idle_ms) expired.push_back(a);
    });
    for (std::size_t i = first; i < expired.size(); ++i) table_erase(shard, expired[i]);
  }
  for (Activation* a : expired) destroy(a, DeactivateReason::idle, false);
}

ActorHost::Eviction ActorHost::evict(const LostPredicate& lost) {
  Eviction result;
  std::vector<Activation*> idle;  // claimed here, ended by the pool
  // The shard's capabilities that have activations, and the reason each ends for (none: it
  // stays). Asked once per shard, so that a shard where nothing is lost is not walked.
  std::vector<std::pair<std::uint32_t, std::optional<DeactivateReason>>> verdicts;
  for (std::uint32_t s = 0; s < options_.shard_count; ++s) {
    Shard& shard = shards_[s];
    const std::size_t first = idle.size();
    std::lock_guard lock(shard.mutex);
    verdicts.clear();
    bool any_lost = false;
    for (const auto& [capability, count] : shard.census) {
      if (count == 0) continue;
      verdicts.emplace_back(capability, lost(capability, s));
      any_lost = any_lost || verdicts.back().second.has_value();
    }
    if (any_lost) {
      shard.table.for_each([&](Activation* a) {
        if (a->evicting()) return;
        std::optional<DeactivateReason> reason;
        for (const auto& [capability, verdict] : verdicts) {
          if (capability == a->capability) reason = verdict;
        }
        if (!reason) return;
        ++result.ended;
        a->evict_reason = *reason;  // its runner ends it once what it holds is handled
        if (*reason == DeactivateReason::moved) {
          ++shard.moving[a->capability];
          result.busy.insert(ShardRef{a->capability, s});
        }
        if (!a->busy) {
          claim(shard, *a);
          idle.push_back(a);
        }
      });
    }
    for (std::size_t i = first; i < idle.size(); ++i) table_erase(shard, idle[i]);
    // A shard this node no longer owns must be claimed again (and its states reloaded) if it
    // comes back: another node may have written them meanwhile.
    for (auto it = shard.claims.begin(); it != shard.claims.end();) {
      if (lost(it->first, s)) {
        it = shard.claims.erase(it);
        ++shard.claims_epoch;
      } else {
        ++it;
      }
    }
  }
  // An idle one has an empty mailbox and is out of the table (new work meets a fresh activation,
  // or the owner check): its runner ends it at once, on a pool thread, since its snapshot and
  // on_deactivate hooks are user code and the caller may hold locks.
  for (Activation* a : idle) scheduler_.submit(a);
  return result;
}

void ActorHost::for_each(
    const std::function<void(const Activation&, std::uint32_t shard)>& visit) const {
  for (std::uint32_t s = 0; s < options_.shard_count; ++s) {
    std::lock_guard lock(shards_[s].mutex);
    shards_[s].table.for_each([&](Activation* a) { visit(*a, s); });
  }
}

std::optional<std::uint64_t> ActorHost::find(const Target& target, std::string_view id) const {
  const Shard& shard = shards_[target.shard];
  std::lock_guard lock(shard.mutex);
  const Activation* a = shard.table.find(key_hash(target), target.capability, target.type, id);
  if (!a) return std::nullopt;
  return a->serial;
}

std::size_t ActorHost::activation_count() const {
  std::size_t total = 0;
  for (std::uint32_t s = 0; s < options_.shard_count; ++s) {
    std::lock_guard lock(shards_[s].mutex);
    total += shards_[s].table.size();
  }
  return total;
}

void ActorHost::stop() {
  std::call_once(stopped_, [this] {
    for (std::uint32_t s = 0; s < options_.shard_count; ++s) {
      Shard& shard = shards_[s];
      std::vector<Activation*> idle;
      Message* queued = nullptr;
      {
        std::lock_guard lock(shard.mutex);
        shard.closed = true;
        shard.table.for_each([&](Activation* a) {
          for (Message* m = a->take_all(); m;) {
            Message* next = m->next;
            m->next = queued;
            queued = m;
            m = next;
          }
          if (!a->busy) idle.push_back(a);
        });
        for (Activation* a : idle) table_erase(shard, a);
      }
      fail_all(queued, shutting_down());
      for (Activation* a : idle) destroy(a, DeactivateReason::shutdown, false);
    }
    // Handlers still running finish their current message; their runners then see `closed`
    // and destroy the activation.
    for (std::uint32_t s = 0; s < options_.shard_count; ++s) {
      for (;;) {
        {
          std::lock_guard lock(shards_[s].mutex);
          if (shards_[s].busy == 0) break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    // Every activation is gone (the idle sweep, which ends activations on the timer thread,
    // is stopped first); commit the states they left before the node goes.
    timers_.stop();
    if (writer_) writer_->stop();
    scheduler_.stop();
  });
}

// --- Timers (docs/timers-and-reminders.md) ----------------------------------------------------

Result<TimerId> ActorHost::start_timer(Activation& a, std::chrono::milliseconds due,
                                       std::optional<std::chrono::milliseconds> period,
                                       Value payload) {
  auto invalid = [&](std::string why) {
    return std::unexpected(Error{Errc::invalid_request, a.type->module + " " + std::string(a.id()) +
                                                            " cannot start this timer: " + why});
  };
  if (!a.type->vtable->handle_timer) {
    return invalid("its class has no handle_timer(mesh::TimerId, mesh::Value)");
  }
  if (due < std::chrono::milliseconds::zero()) return invalid("the due time is negative");
  if (period && *period <= std::chrono::milliseconds::zero()) {
    return invalid("a period must be positive (leave it out for a one-shot timer)");
  }
  auto timer = std::make_shared<TimerEntry>();
  timer->type = a.type;
  timer->capability = a.capability;
  timer->shard = static_cast<std::uint32_t>(a.serial & kShardMask);
  timer->key_hash = a.key_hash;
  timer->serial = a.serial;
  timer->actor_id = a.id();
  timer->period = period ? Clock::duration(*period) : Clock::duration::zero();
  timer->payload = std::move(payload);
  timer->next = Clock::now() + due;
  {
    std::lock_guard lock(timers_mutex_);
    timer->id = ++last_timer_id_;
    live_timers_.emplace(timer->id, timer);
  }
  timers_.at(timer->next, [this, timer] { fire_timer(timer); });
  return timer->id;
}

bool ActorHost::cancel_timer(const Activation& a, TimerId id) noexcept {
  std::lock_guard lock(timers_mutex_);
  const auto it = live_timers_.find(id);
  if (it == live_timers_.end() || it->second->serial != a.serial) return false;
  live_timers_.erase(it);
  return true;
}

std::size_t ActorHost::timer_count() const {
  std::lock_guard lock(timers_mutex_);
  return live_timers_.size();
}

// On the timer thread: queues a tick for the timer's activation, or ends the timer when that
// activation is gone. A periodic timer keeps its rhythm (the next tick is one period after the
// previous one was due), but never schedules ticks in the past to catch up.
void ActorHost::fire_timer(const std::shared_ptr<TimerEntry>& timer) {
  {
    std::lock_guard lock(timers_mutex_);
    const auto it = live_timers_.find(timer->id);
    if (it == live_timers_.end() || it->second != timer) return;  // cancelled
  }
  Shard& shard = shards_[timer->shard];
  std::unique_lock lock(shard.mutex);
  Activation* a = shard.closed ? nullptr
                               : shard.table.find(timer->key_hash, timer->capability, timer->type,
                                                  timer->actor_id);
  if (a == nullptr || a->serial != timer->serial || a->evicting()) {
    lock.unlock();
    std::lock_guard timers_lock(timers_mutex_);
    live_timers_.erase(timer->id);
    return;
  }
  bool push;
  {
    std::lock_guard timers_lock(timers_mutex_);
    push = !timer->queued && a->queued() < a->type->options.max_queue;
    if (push) timer->queued = true;
  }
  bool submit = false;
  if (push) {
    submit = enqueue(shard, *a, new Message{nullptr, MessageKind::timer, timer->payload,
                                            Value(timer->id), nullptr, {}});
  }
  lock.unlock();
  if (submit) scheduler_.submit(a);
  const Clock::time_point now = Clock::now();
  if (timer->period != Clock::duration::zero()) {
    timer->next += timer->period;
    if (timer->next < now) timer->next = now + timer->period;
  } else if (push) {
    return;  // a one-shot ends when its tick runs (take_tick)
  } else {
    timer->next = now + std::chrono::milliseconds(10);  // its mailbox is full: try again soon
  }
  timers_.at(timer->next, [this, timer] { fire_timer(timer); });
}

bool ActorHost::take_tick(const Activation& a, TimerId id) {
  std::lock_guard lock(timers_mutex_);
  const auto it = live_timers_.find(id);
  // Cancelled since it was queued, or queued for a predecessor that crashed (its queue went to
  // this activation): no tick.
  if (it == live_timers_.end() || it->second->serial != a.serial) return false;
  it->second->queued = false;
  if (it->second->period == Clock::duration::zero()) live_timers_.erase(it);
  return true;
}

// --- Persistence (docs/persistence.md) -------------------------------------------------------

StateKey ActorHost::state_key(const Activation& a) const {
  return StateKey{options_.capabilities->name(a.capability), a.type->module, std::string(a.id()),
                  static_cast<std::uint32_t>(a.serial & kShardMask)};
}

// The node's fence token for a shard: claimed in the store by the first persistent activation
// since the node gained the shard, then shared by the shard's activations until it is lost
// (evict) or a write under it is fenced. A claim that raced with the shard being lost is not
// kept (claims_epoch), so a shard that comes back is always claimed afresh.
Result<std::uint64_t> ActorHost::claim_shard(std::uint32_t capability, std::uint32_t shard_index) {
  Shard& shard = shards_[shard_index];
  std::uint32_t epoch;
  {
    std::lock_guard lock(shard.mutex);
    const auto it = shard.claims.find(capability);
    if (it != shard.claims.end()) return it->second;
  }
  std::lock_guard claiming(claim_mutexes_[shard_index % claim_mutexes_.size()]);
  {
    std::lock_guard lock(shard.mutex);
    const auto it = shard.claims.find(capability);
    if (it != shard.claims.end()) return it->second;
    epoch = shard.claims_epoch;
  }
  Result<std::uint64_t> fence = std::unexpected(Error{Errc::store_unavailable, ""});
  try {
    fence = options_.store->claim(options_.capabilities->name(capability), shard_index,
                                  options_.node_name);
  } catch (const std::exception& e) {
    fence = std::unexpected(Error{Errc::store_unavailable, std::string("the state store threw: ") + e.what()});
  }
  if (!fence) return fence;
  std::lock_guard lock(shard.mutex);
  if (shard.claims_epoch == epoch) shard.claims[capability] = *fence;
  return fence;
}

Result<std::vector<std::uint64_t>> ActorHost::shard_fences(std::uint32_t capability,
                                                           std::span<const std::uint32_t> shards) {
  std::vector<std::uint64_t> fences(shards.size(), 0);
  auto known = [&](std::size_t i) {
    Shard& shard = shards_[shards[i]];
    std::lock_guard lock(shard.mutex);
    const auto it = shard.claims.find(capability);
    if (it == shard.claims.end()) return false;
    fences[i] = it->second;
    return true;
  };
  std::vector<std::size_t> missing;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    if (!known(i)) missing.push_back(i);
  }
  if (missing.empty()) return fences;
  // The claim stripes of the missing shards, taken in index order (so that two batches cannot
  // deadlock), then the shards checked again: a first activation may have claimed meanwhile.
  std::vector<std::size_t> stripes;
  for (const std::size_t i : missing) stripes.push_back(shards[i] % claim_mutexes_.size());
  std::sort(stripes.begin(), stripes.end());
  stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
  std::vector<std::unique_lock<std::mutex>> claiming;
  for (const std::size_t stripe : stripes) claiming.emplace_back(claim_mutexes_[stripe]);
  std::vector<std::size_t> still;
  std::vector<std::uint32_t> to_claim;
  std::vector<std::uint32_t> epochs;
  for (const std::size_t i : missing) {
    if (known(i)) continue;
    Shard& shard = shards_[shards[i]];
    std::lock_guard lock(shard.mutex);
    still.push_back(i);
    to_claim.push_back(shards[i]);
    epochs.push_back(shard.claims_epoch);
  }
  if (still.empty()) return fences;
  Result<std::vector<std::uint64_t>> claimed = std::unexpected(Error{Errc::store_unavailable, ""});
  try {
    claimed = options_.store->claim_many(options_.capabilities->name(capability), to_claim,
                                         options_.node_name);
  } catch (const std::exception& e) {
    claimed = std::unexpected(
        Error{Errc::store_unavailable, std::string("the state store threw: ") + e.what()});
  }
  if (!claimed) return std::unexpected(std::move(claimed.error()));
  if (claimed->size() != still.size()) {
    return std::unexpected(Error{Errc::store_unavailable, "the state store answered " +
                                                               std::to_string(claimed->size()) +
                                                               " claims for " +
                                                               std::to_string(still.size())});
  }
  for (std::size_t k = 0; k < still.size(); ++k) {
    fences[still[k]] = (*claimed)[k];
    Shard& shard = shards_[to_claim[k]];
    std::lock_guard lock(shard.mutex);
    if (shard.claims_epoch == epochs[k]) shard.claims[capability] = (*claimed)[k];
  }
  return fences;
}

// A write under `fence` was refused: another node claimed the shard since. The next activation
// claims again (and reloads), unless the shard was claimed afresh meanwhile.
void ActorHost::forget_claim(std::uint32_t capability, std::uint32_t shard_index,
                             std::uint64_t fence) {
  Shard& shard = shards_[shard_index];
  std::lock_guard lock(shard.mutex);
  const auto it = shard.claims.find(capability);
  if (it != shard.claims.end() && it->second == fence) {
    shard.claims.erase(it);
    ++shard.claims_epoch;
  }
}

// The state a persistent actor starts from (nullopt: none stored), read under this node's
// claim on its shard; the newest state this node has queued for it but not yet committed wins
// over the store's row.
Result<std::optional<Value>> ActorHost::load_state(Activation& a) {
  const auto shard_index = static_cast<std::uint32_t>(a.serial & kShardMask);
  if (a.type->options.persistence == Persistence::on_deactivate) {
    // A previous activation of this actor that is still on its way out has not queued the
    // state it leaves yet: wait for it (its hook and snapshot are all that remain).
    Shard& shard = shards_[shard_index];
    auto still_leaving = [&] {
      return std::any_of(shard.leaving.begin(), shard.leaving.end(), [&](const Activation* l) {
        return l->key_hash == a.key_hash && l->capability == a.capability && l->type == a.type &&
               l->id() == a.id();
      });
    };
    std::unique_lock lock(shard.mutex);
    if (still_leaving()) {
      BlockingScope waiting;
      leaving_cv_.wait(lock, [&] { return !still_leaving(); });
    }
  }
  auto fence = claim_shard(a.capability, shard_index);
  if (!fence) return std::unexpected(std::move(fence.error()));
  a.persisted().fence = *fence;
  const StateKey key = state_key(a);
  std::optional<std::string> bytes;
  if (auto queued = writer_->pending(key)) {
    bytes = std::move(*queued);
  } else {
    Result<std::optional<std::string>> loaded = std::nullopt;
    try {
      loaded = options_.store->load(key);
    } catch (const std::exception& e) {
      loaded = std::unexpected(Error{Errc::store_unavailable, std::string("the state store threw: ") + e.what()});
    }
    if (!loaded) return std::unexpected(std::move(loaded.error()));
    bytes = std::move(*loaded);
  }
  if (!bytes) return std::optional<Value>{};
  try {
    return std::optional<Value>{Value::from_msgpack(*bytes)};
  } catch (const std::exception& e) {
    return std::unexpected(
        Error{Errc::activation_failed, "the stored state of " + a.type->module + " " +
                                           std::string(a.id()) +
                                           " is not valid MessagePack: " + e.what()});
  }
}

// After a message an after_each_message actor handled without error: hands the state it left
// to the writer (begin_save, which takes `message`) and says true. When snapshot() throws, says
// false with `outcome` a crash that discards `a`, and `message` still the caller's.
bool ActorHost::snapshot_and_save(Activation& a, std::unique_ptr<Message>& message,
                                  Outcome& outcome, std::uint64_t serial) {
  std::optional<std::string> state;
  try {
    state = encode_state(a.type->vtable->snapshot(a.actor()));
  } catch (...) {
    outcome.error =
        Error{Errc::actor_crashed, "snapshot() of " + a.type->module + " " + std::string(a.id()) +
                                       " threw: " + describe(std::current_exception())};
    outcome.discard = true;
    return false;
  }
  begin_save(a, std::move(message), std::move(outcome), serial, std::move(state));
  return true;
}

// Holds `a` (still busy) and the message's reply until the state the message left is durable.
void ActorHost::begin_save(Activation& a, std::unique_ptr<Message> message, Outcome&& outcome,
                           std::uint64_t serial, std::optional<std::string> state) {
  auto* saved = new SavedMessage{std::move(message), std::move(outcome.value), serial,
                                 outcome.discard, {}};
  a.persisted().saving = saved;
  Activation* held = &a;
  writer_->write(state_key(a), a.persisted().fence, std::move(state), /*visible=*/false,
                 [this, held, saved](Result<void> result) {
                   saved->result = std::move(result);
                   if (saved->result && !saved->stop) {
                     release_saved(*held);
                   } else {
                     scheduler_.submit(held);  // discarded: its destructor is user code
                   }
                 });
}

// On the writer's completer thread, after a successful commit: releases the reply and, unless
// more work waits for `a`, makes it idle there, sparing a hop through the pool (a thread
// wake-up costs more than everything else a durable call does besides the commit).
void ActorHost::release_saved(Activation& a) {
  std::unique_ptr<SavedMessage> saved(std::exchange(a.persisted().saving, nullptr));
  count(*a.type, a.capability, saved->message->kind, nullptr);
  Shard& shard = shard_of(a);
  bool goes_on;
  {
    std::lock_guard lock(shard.mutex);
    goes_on = a.has_messages() || shard.closed || a.evicting();
    if (!goes_on) {
      a.busy = false;
      --shard.busy;
    }
  }
  // Only now (and without touching `a`, which may be gone once idle): a caller that calls
  // the actor again as soon as it has its reply finds it idle and runs it on its own thread.
  if (const RefPtr<CallState>& reply = saved->message->reply) {
    reply->complete(Reply{Pid{options_.node_name, saved->serial}, std::move(saved->value)});
  }
  if (goes_on) scheduler_.submit(&a);
}

// On the pool, once the writer is done with `a`'s last message: releases its reply and says
// whether `a` goes on. A write that failed discards `a`, whose state is now ahead of the store
// (its queue goes to a fresh activation, which loads what the store has).
bool ActorHost::finish_save(Activation& a) {
  std::unique_ptr<SavedMessage> saved(std::exchange(a.persisted().saving, nullptr));
  const RefPtr<CallState>& reply = saved->message->reply;
  Shard& shard = shard_of(a);
  count(*a.type, a.capability, saved->message->kind,
        saved->result ? nullptr : &saved->result.error());
  if (!saved->result) {
    if (saved->result.error().code == Errc::fenced) {
      forget_claim(a.capability, static_cast<std::uint32_t>(a.serial & kShardMask),
                   a.persisted().fence);
    }
    if (reply) reply->complete(std::unexpected(saved->result.error()));
    std::unique_lock lock(shard.mutex);
    discard(shard, a, lock, std::nullopt);
    return false;
  }
  if (reply) reply->complete(Reply{Pid{options_.node_name, saved->serial}, std::move(saved->value)});
  if (!saved->stop) return true;
  std::unique_lock lock(shard.mutex);
  discard(shard, a, lock, DeactivateReason::stopped);
  return false;
}

void ActorHost::destroy(Activation* a, std::optional<DeactivateReason> reason, bool wait_saved) {
  const ActorType& type = *a->type;
  if (type.options.persistence != Persistence::on_deactivate) {
    Activation::destroy(a, reason);
    return;
  }
  if (!reason || !a->constructed) {
    left(a);
    Activation::destroy(a, reason);
    return;
  }
  // The hook first: the state saved is the one the actor leaves after its farewell.
  if (type.vtable->on_deactivate) {
    try {
      type.vtable->on_deactivate(a->actor(), *reason);
    } catch (...) {
    }
  }
  std::optional<std::string> state;
  bool have_state = true;
  try {
    state = encode_state(type.vtable->snapshot(a->actor()));
  } catch (...) {
    have_state = false;
    if (options_.log) {
      const std::string why = describe(std::current_exception());
      options_.log({LogLevel::warning,
                    "snapshot_failed",
                    "snapshot() of " + type.module + " " + std::string(a->id()) +
                        " threw; its state was not saved: " + why,
                    {{"module", type.module}, {"id", std::string(a->id())}, {"reason", why}}});
    }
  }
  if (have_state) {
    if (wait_saved) {
      std::promise<void> committed;
      writer_->write(state_key(*a), a->persisted().fence, std::move(state), /*visible=*/true,
                     [&committed](Result<void>) { committed.set_value(); });
      BlockingScope waiting;
      committed.get_future().wait();
    } else {
      writer_->write(state_key(*a), a->persisted().fence, std::move(state), /*visible=*/true,
                     nullptr);
    }
  }
  left(a);  // its save is queued (writer_->pending finds it)
  Activation::destroy(a, reason, /*run_hook=*/false);  // the hook already ran
}

}  // namespace mesh::detail

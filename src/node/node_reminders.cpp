// Reminders at the node: where a set, a removal or a listing runs (the shard's owner, reached
// like a call) and how a due reminder reaches its actor (docs/timers-and-reminders.md).
#include <chrono>

#include "node/node_core.hpp"
#include "node/request_deadline.hpp"
#include "runtime/handler_frame.hpp"

namespace mesh::detail {
namespace {

// How long a reminder request may take, end to end.
constexpr auto kRequestTimeout = std::chrono::milliseconds(5000);

std::unexpected<Error> invalid(std::string message) {
  return std::unexpected(Error{Errc::invalid_request, std::move(message)});
}

ChainPtr current_chain() {
  HandlerFrame* frame = HandlerFrame::current();
  return frame ? frame->chain_for_nested_call() : nullptr;
}

// The node's own actor under kReminderModule: a reminder request for an actor owned by another
// node travels there as a call to this actor with the same capability and id (so it lands on
// the same shard's owner through the ordinary routing, forwarding and handoff parking), which
// then runs it there. It ends after each request; errors come back as values so that their
// codes survive the trip.
class ReminderOps {
 public:
  explicit ReminderOps(std::string) {}

  Value handle_call(Value request, ActorContext& context) {
    context.stop();
    const ActorAddress actor{context.capability(), request.value("module", ""), context.id()};
    auto result = NodeCore::of(context.node()).reminder_request(actor, std::move(request));
    if (result) return Value{{"ok", std::move(*result)}};
    return Value{{"error", static_cast<int>(result.error().code)},
                 {"message", result.error().message}};
  }
};

}  // namespace

void NodeCore::register_reminder_ops() {
  ActorOptions options;
  options.handlers = HandlerMode::blocking;  // it waits on the store
  registry_.add(std::string(kReminderModule), actor_vtable<ReminderOps>, options);
}

Result<Value> NodeCore::reminder_request(const ActorAddress& actor, Value op) {
  if (!reminders_) {
    return invalid("node " + options_.name +
                   " has no state store (NodeOptions::state_store): reminders are kept there");
  }
  Request request;
  request.capability = actor.capability;
  request.module = actor.module;
  request.id = actor.id;
  request.timeout = kRequestTimeout;
  const auto deadline = Clock::now() + kRequestTimeout;
  for (std::uint32_t attempt = 0;; ++attempt) {
    Result<Route> route = resolve(request);
    if (!route) return std::unexpected(std::move(route.error()));
    if (attempt > 0 && !with_time_left(request, deadline)) {
      return std::unexpected(timed_out("while its shard was moving"));
    }
    if (const Target* local = std::get_if<Target>(&*route)) {
      ShardHandoffs& handoffs = rebalancer_.handoffs();
      if (handoffs.waiting(local->shard_ref())) {
        handoffs.wait(local->shard_ref(), deadline);
        continue;
      }
      return apply_reminder_op(*local, actor, op);
    }
    // Owned elsewhere: ask the owner's ReminderOps actor with the same id.
    op["module"] = actor.module;
    Request remote;
    remote.capability = actor.capability;
    remote.module = std::string(kReminderModule);
    remote.id = actor.id;
    remote.payload = std::move(op);
    remote.timeout = request.timeout;
    auto reply = cluster_->call(std::get<std::string>(*route), std::move(remote), current_chain(), 0);
    if (!reply) return std::unexpected(std::move(reply.error()));
    Value& answer = reply->value;
    if (answer.contains("ok")) return std::move(answer["ok"]);
    const int code = answer.value("error", static_cast<int>(Errc::invalid_request));
    return std::unexpected(Error{static_cast<Errc>(code), answer.value("message", "")});
  }
}

Result<Value> NodeCore::apply_reminder_op(const Target& target, const ActorAddress& actor,
                                          const Value& op) {
  const StateKey key{actor.capability, actor.module, actor.id, target.shard};
  const std::string kind = op.value("op", "");
  if (kind == "set") {
    if (!target.type->vtable->handle_reminder) {
      return invalid("module " + actor.module +
                     " has no handle_reminder(std::string_view name, mesh::Value payload)");
    }
    ReminderRow row;
    row.key = key;
    row.name = op.value("name", "");
    row.due_ms = op.value("due_ms", std::int64_t{0});
    row.period_ms = op.value("period_ms", std::int64_t{0});
    Value::to_msgpack(op.contains("payload") ? op["payload"] : Value(), row.payload);
    auto set = reminders_->set(target.capability, row);
    if (!set) return std::unexpected(std::move(set.error()));
    return Value();
  }
  if (kind == "remove") {
    auto removed = reminders_->remove(target.capability, key, op.value("name", ""));
    if (!removed) return std::unexpected(std::move(removed.error()));
    return Value(*removed);
  }
  if (kind == "list") {
    auto rows = options_.state_store->reminders_of(key);
    if (!rows) return std::unexpected(std::move(rows.error()));
    Value list = Value::array();
    for (const ReminderRow& row : *rows) {
      Value payload;
      try {
        payload = Value::from_msgpack(row.payload);
      } catch (const std::exception&) {
        // Written by this node's own encoder; a row damaged outside mesh shows as null.
      }
      list.push_back(Value{{"name", row.name},
                           {"due_ms", row.due_ms},
                           {"period_ms", row.period_ms > 0 ? Value(row.period_ms) : Value()},
                           {"payload", std::move(payload)}});
    }
    return list;
  }
  return invalid("unknown reminder operation '" + kind + "'");
}

void NodeCore::deliver_reminder(const ReminderRow& row, std::function<void(bool)> done) {
  Request request;
  request.capability = row.key.capability;
  request.module = row.key.module;
  request.id = row.key.id;
  request.timeout = Reminders::kLease;
  try {
    request.payload = Value::from_msgpack(row.payload);
  } catch (const std::exception&) {
    // Written by this node's own encoder; a row damaged outside mesh is delivered with null.
  }
  Result<Route> route = resolve(request);
  const Target* local = route ? std::get_if<Target>(&*route) : nullptr;
  if (!local) {
    // The shard moved (its next owner takes the reminder once the lease ends), or the module
    // is not registered here.
    if (!route) {
      log({LogLevel::warning, "reminder_undeliverable",
           "reminder " + row.name + " of " + row.key.module + " " + row.key.id +
               " cannot be delivered here: " + route.error().message,
           {{"reminder", row.name},
            {"module", row.key.module},
            {"id", row.key.id},
            {"reason", route.error().message}}});
    }
    done(false);
    return;
  }
  ShardHandoffs& handoffs = rebalancer_.handoffs();
  if (handoffs.waiting(local->shard_ref())) {
    // Its actor may be arriving with the shard: delivered once the shard is released.
    auto parked = std::make_shared<std::pair<ReminderRow, std::function<void(bool)>>>(row, done);
    if (handoffs.park(local->shard_ref(), [this, parked] {
          deliver_reminder(parked->first, std::move(parked->second));
        })) {
      return;
    }
  }
  CallState::Callback handled = [done](Result<Reply> result) {
    // A handler that threw was delivered to all the same: firing it again would crash it again.
    done(result || result.error().code == Errc::actor_crashed ||
         result.error().code == Errc::activation_failed);
  };
  if (!host_.deliver_reminder(*local, request, row.name, handled)) done(false);
}

}  // namespace mesh::detail

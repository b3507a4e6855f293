#include "mesh/node.hpp"

#include "node/node_core.hpp"
#include "runtime/handler_frame.hpp"

namespace mesh {
namespace {

// A plain Node::call made inside a handler carries that handler's call chain, exactly as
// ActorContext::call does, so cycles are caught either way.
detail::ChainPtr current_chain() {
  detail::HandlerFrame* frame = detail::HandlerFrame::current();
  return frame ? frame->chain_for_nested_call() : nullptr;
}

}  // namespace

Node::Node(NodeOptions options)
    : core_(std::make_unique<detail::NodeCore>(*this, std::move(options))) {}

Node::~Node() = default;

void Node::register_actor_type(std::string module, const detail::ActorVTable& vtable,
                               ActorOptions options) {
  core_->register_actor_type(std::move(module), vtable, options);
}

void Node::register_capabilities(std::vector<std::string> capabilities) {
  core_->register_capabilities(std::move(capabilities));
}

Result<Reply> Node::call(Request request) {
  return core_->route_call(std::move(request), current_chain());
}

Result<void> Node::cast(Request request) { return core_->route_cast(std::move(request)); }

void Node::async_call(Request request, std::function<void(Result<Reply>)> done) {
  core_->route_async_call(std::move(request), std::move(done));
}

namespace {

std::unexpected<Error> invalid_reminder(std::string message) {
  return std::unexpected(Error{Errc::invalid_request, std::move(message)});
}

Result<void> check_address(const ActorAddress& actor) {
  if (actor.capability.empty()) return invalid_reminder("the actor's capability is empty");
  if (actor.module.empty()) return invalid_reminder("the actor's module is empty");
  if (actor.id.empty()) return invalid_reminder("the actor's id is empty");
  return {};
}

}  // namespace

Result<void> Node::set_reminder(const ActorAddress& actor, std::string name,
                                std::chrono::milliseconds due,
                                std::optional<std::chrono::milliseconds> period, Value payload) {
  if (auto checked = check_address(actor); !checked) return checked;
  if (name.empty()) return invalid_reminder("a reminder needs a name");
  if (due < std::chrono::milliseconds::zero()) {
    return invalid_reminder("reminder " + name + ": the due time is negative");
  }
  if (period && *period <= std::chrono::milliseconds::zero()) {
    return invalid_reminder("reminder " + name +
                            ": a period must be positive (leave it out for a one-shot reminder)");
  }
  std::string bytes;
  Value::to_msgpack(payload, bytes);
  if (bytes.size() > kMaxReminderPayloadBytes) {
    return invalid_reminder("reminder " + name + ": its payload takes " +
                            std::to_string(bytes.size()) + " bytes; the limit is " +
                            std::to_string(kMaxReminderPayloadBytes));
  }
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  Value op{{"op", "set"},
           {"name", std::move(name)},
           {"due_ms", (now + due).count()},
           {"period_ms", period ? period->count() : 0},
           {"payload", std::move(payload)}};
  auto done = core_->reminder_request(actor, std::move(op));
  if (!done) return std::unexpected(std::move(done.error()));
  return {};
}

Result<void> Node::remove_reminder(const ActorAddress& actor, std::string_view name) {
  if (auto checked = check_address(actor); !checked) return checked;
  if (name.empty()) return invalid_reminder("a reminder needs a name");
  auto done = core_->reminder_request(actor, Value{{"op", "remove"}, {"name", name}});
  if (!done) return std::unexpected(std::move(done.error()));
  return {};
}

Result<std::vector<ReminderInfo>> Node::reminders(const ActorAddress& actor) {
  if (auto checked = check_address(actor); !checked) return std::unexpected(checked.error());
  auto listed = core_->reminder_request(actor, Value{{"op", "list"}});
  if (!listed) return std::unexpected(std::move(listed.error()));
  std::vector<ReminderInfo> out;
  for (Value& row : *listed) {
    ReminderInfo info;
    info.name = row.value("name", "");
    info.due = std::chrono::system_clock::time_point(
        std::chrono::milliseconds(row.value("due_ms", std::int64_t{0})));
    if (row["period_ms"].is_number()) {
      info.period = std::chrono::milliseconds(row["period_ms"].get<std::int64_t>());
    }
    info.payload = std::move(row["payload"]);
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<std::string> Node::nodes_for(std::string_view capability) const {
  return core_->nodes_for(capability);
}

std::vector<std::string> Node::all_capabilities() const { return core_->all_capabilities(); }

std::uint32_t Node::shard_for(std::string_view actor_id) const {
  return core_->shard_for(actor_id);
}

Result<std::string> Node::owner_node(std::uint32_t shard, std::string_view capability) const {
  return core_->owner_node(shard, capability);
}

const std::string& Node::name() const { return core_->name(); }

const std::string& Node::listen_address() const { return core_->listen_address(); }

const std::string& Node::http_address() const { return core_->http_address(); }

NodeStatus Node::status() const { return core_->status(); }

std::vector<ActivationInfo> Node::activations() const { return core_->activations(); }

std::size_t Node::reconcile() { return core_->reconcile(); }

}  // namespace mesh

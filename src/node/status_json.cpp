// The status JSON, and the "$status" query by which a node asks a peer for its own.
#include "node/status_json.hpp"

#include <algorithm>

#include "node/node_core.hpp"

namespace mesh::detail {

Value status_json(const NodeCore& core) {
  const NodeStatus status = core.status();
  // Own capabilities and owned counts from one table, so that they agree with each other.
  const std::shared_ptr<const RoutingTable> table = core.routing_table();
  Value capabilities = Value::array();
  Value owned = Value::object();
  for (const std::string& capability : table->capabilities()) {
    const CapabilityRoute* route = table->find(capability);
    if (route->self == CapabilityRoute::kNotMember) continue;
    capabilities.push_back(capability);
    owned[capability] = std::count(route->owner.begin(), route->owner.end(), route->self);
  }
  Value out = Value::object();
  out["name"] = status.name;
  out["listen"] = core.listen_address();
  out["http"] = core.http_address();
  out["view_epoch"] = status.view_epoch;
  out["members"] = status.members;
  out["capabilities"] = std::move(capabilities);
  out["owned_shards"] = std::move(owned);
  out["activations"] = status.activations;
  out["handoffs_in_progress"] = status.handoffs_in_progress;
  out["reconciler_runs"] = status.reconciler_runs;
  out["reconciler_stopped"] = status.reconciler_stopped;
  out["handshakes_refused"] = status.handshakes_refused;
  out["discovery_dropped"] = status.discovery_dropped;
  out["timers"] = status.timers;
  out["reminders_held"] = status.reminders_held;
  out["reminders_due"] = status.reminders_due;
  out["reminders_fired"] = status.reminders_fired;
  // What the dashboard turns into calls/s: the calls and casts decided here (mesh_calls_total
  // and mesh_casts_total summed over their labels).
  const NodeCore::Handled handled = core.handled();
  out["calls_total"] = handled.calls;
  out["casts_total"] = handled.casts;
  return out;
}

void NodeCore::async_status(const std::string& peer, std::chrono::milliseconds timeout,
                            std::function<void(Result<Value>)> done) {
  if (!cluster_) {
    return done(std::unexpected(Error{Errc::node_unreachable, "this node has no cluster"}));
  }
  // Capability and id only name the query: the peer answers it itself, whatever its view.
  Request query;
  query.module = std::string(kStatusModule);
  query.id = options_.name;
  query.capability = std::string(kStatusModule);
  query.payload = nullptr;
  query.timeout = timeout;
  cluster_->async_call(
      peer, std::move(query), nullptr, 0, [done = std::move(done)](Result<Reply> reply) {
        if (!reply) return done(std::unexpected(std::move(reply.error())));
        if (!reply->value.is_object()) {
          return done(std::unexpected(
              Error{Errc::invalid_request, "the peer's status is not a JSON object"}));
        }
        done(std::move(reply->value));
      });
}

void NodeCore::serve_status(CallState::Callback done) {
  // Off the cluster's IO thread: the status reads every activation and, with a store, the
  // reminders. The timer thread only runs short tasks, and this is one a second at most per
  // dashboard; once the host stops it never runs and the asker's deadline answers instead.
  host_.after(Clock::duration::zero(), [this, done = std::move(done)] {
    done(Reply{Pid{options_.name, 0}, status_json(*this)});
  });
}

}  // namespace mesh::detail

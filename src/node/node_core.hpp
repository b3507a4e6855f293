// NodeCore: the node's parts wired together behind the Node facade, and the routing of requests.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "cluster/cluster.hpp"
#include "mesh/node.hpp"
#include "node/http_gateway.hpp"
#include "node/rebalancer.hpp"
#include "node/reminders.hpp"
#include "placement/capability_ids.hpp"
#include "placement/routing_table.hpp"
#include "runtime/actor_host.hpp"
#include "runtime/actor_registry.hpp"

namespace mesh::detail {

// The module name of a locate query between nodes; register_actor refuses names starting
// with '$', so no actor type can take it.
inline constexpr std::string_view kLocateModule = "$where";
// The module name of a status query between nodes (GET /v1/cluster): the node answers with its
// status JSON (status_json.hpp).
inline constexpr std::string_view kStatusModule = "$status";

// Validates requests, resolves (capability, shard) to the owner through the current routing
// table, and hands local work to the host and remote work to the cluster; serves and forwards
// peers' requests (peer_requests.cpp). The view and its changes are the Rebalancer's.
//
// A request keeps the deadline its caller gave it across every step inside this node: waiting
// for a shard on its way here, and routing again when the host refuses it because the view
// changed meanwhile. Thread-safe; the call path takes no lock of its own.
class NodeCore final : public ClusterHost {
 public:
  NodeCore(Node& facade, NodeOptions options);
  ~NodeCore() override;

  void register_actor_type(std::string module, const ActorVTable& vtable, ActorOptions options);
  void register_capabilities(std::vector<std::string> capabilities);

  // chain: the call chain of the handler this call is made from (null outside handlers).
  Result<Reply> route_call(Request&& request, const ChainPtr& chain);
  Result<void> route_cast(Request&& request);
  void route_async_call(Request&& request, CallState::Callback done);
  // Whether the actor of `request` (its payload is ignored) is active on its owner now: the
  // owner's Pid for it, or nullopt. Asks the owner when it is a peer (a CALL to the reserved
  // module kLocateModule, docs/wire-protocol.md). `done` runs once, on any thread.
  using LocateCallback = std::function<void(Result<std::optional<Pid>>)>;
  void async_locate(Request&& request, LocateCallback done);

  // ClusterHost (IO thread)
  void on_peers_changed(std::vector<MemberInfo> peers) override;
  void serve_call(Request&& request, std::string_view encoded_payload, ChainPtr chain,
                  std::uint32_t hops, const std::string& from, CallState::Callback done) override;
  void serve_cast(Request&& request, std::string_view encoded_payload, std::uint32_t hops,
                  const std::string& from) override;
  // Formats (NodeOptions::log_format) and hands the event to NodeOptions::log (node_log.cpp).
  void log(LogEvent&& event) override;
  void on_synced() override;
  void on_control(const std::string& from, ControlMessage&& message) override;

  // Reminders (node_reminders.cpp). A set, remove or list for `actor`, run on its shard's owner
  // (this node, or the owner's kReminderModule actor reached like a call); `op` holds the
  // operation's fields ("op": set | remove | list, and "name", "due_ms", "period_ms",
  // "payload"). The answer: null (set), whether one was removed, or the list.
  Result<Value> reminder_request(const ActorAddress& actor, Value op);
  // The module name of the node's own actor that runs reminder requests sent by other nodes.
  static constexpr std::string_view kReminderModule = "mesh.reminders";
  static NodeCore& of(Node& node) { return *node.core_; }
  std::size_t timer_count() const { return host_.timer_count(); }

  std::vector<std::string> nodes_for(std::string_view capability) const;
  std::vector<std::string> all_capabilities() const;
  std::uint32_t shard_for(std::string_view actor_id) const;
  Result<std::string> owner_node(std::uint32_t shard, std::string_view capability) const;
  const std::string& name() const { return options_.name; }
  NodeStatus status() const;
  std::vector<ActivationInfo> activations() const;
  // At most `limit` of them, without copying the rest (a node may hold millions); returns how
  // many there are in all.
  std::size_t activations(std::size_t limit, std::vector<ActivationInfo>& first) const;
  // The routing table of the current view, kept alive for as long as the caller holds it.
  std::shared_ptr<const RoutingTable> routing_table() const { return rebalancer_.table_snapshot(); }
  // Asks node `peer` for its status JSON (a CALL to kStatusModule), bounded by `timeout`.
  // `done` runs once, on any thread.
  void async_status(const std::string& peer, std::chrono::milliseconds timeout,
                    std::function<void(Result<Value>)> done);
  std::size_t reconcile() { return rebalancer_.reconcile(); }
  std::vector<std::string> members() const { return rebalancer_.members(); }  // sorted
  // This node's figures in the Prometheus text format 0.0.4 (node_metrics.cpp,
  // docs/operations.md "Metrics"). Cost: a pass over every thread's counters and the routing
  // table; no pass over activations or the store.
  std::string metrics_text() const;
  // Calls and casts whose outcome was decided on this node (the host's counts), in total.
  struct Handled {
    std::uint64_t calls = 0;
    std::uint64_t casts = 0;
  };
  Handled handled() const;
  const std::string& http_address() const {
    static const std::string none;
    return http_ ? http_->address() : none;
  }
  const std::string& listen_address() const {
    static const std::string none;
    return cluster_ ? cluster_->listen_address() : none;
  }

 private:
  using Clock = std::chrono::steady_clock;
  // A call held behind its shard's handoff until the shard is released.
  struct ParkedCall {
    ParkedCall(Request&& r, CallState::Callback&& d) : request(std::move(r)), done(std::move(d)) {}
    Request request;
    CallState::Callback done;
  };
  // Where a request goes: this node's host, or the named owner node.
  using Route = std::variant<Target, std::string>;
  Result<Route> resolve(const Request& request) const;
  // A local caller's async call; `attempt` counts the times it was routed again.
  void route_async(Request&& request, CallState::Callback done, Clock::time_point deadline,
                   ActorHost::AsyncOrigin origin, std::uint32_t attempt);
  // A peer's request. `from`: the peer it came from, on its first arrival (on the IO thread);
  // null once it waited for views to settle or for its shard to arrive. `encoded_payload`: on
  // the first arrival, the payload still encoded (see ClusterHost::serve_call); it is handed
  // to the host encoded when the request is queued here at once, and decoded into
  // request.payload before it waits or goes on to another node. Empty otherwise.
  void serve_call_settled(Request&& request, ChainPtr chain, std::uint32_t hops,
                          CallState::Callback done, const std::string* from,
                          Clock::time_point deadline, std::uint32_t attempt,
                          std::string_view encoded_payload = {});
  // A peer's locate query (a CALL to kLocateModule), answered from this node's host alone.
  void serve_locate(Request&& request, const CallState::Callback& done);
  // A peer's status query (a CALL to kStatusModule).
  void serve_status(CallState::Callback done);
  // `encoded_payload`: as for serve_call_settled.
  void serve_cast_settled(Request&& request, std::uint32_t hops, const std::string* from,
                          std::uint32_t attempt, std::string_view encoded_payload = {});
  void register_reminder_ops();
  Result<Value> apply_reminder_op(const Target& target, const ActorAddress& actor, const Value& op);
  void deliver_reminder(const ReminderRow& row, std::function<void(bool)> done);

  // Destroyed in reverse: the rebalancer first, then the host; ~NodeCore stops them in order
  // (leave, release waits, stop the host) before any is destroyed.
  Node& facade_;
  // Null when NodeOptions::http_listen is empty. Bound first and destroyed last: it is stopped
  // first in ~NodeCore, and the calls it started must all have completed before it goes.
  std::unique_ptr<HttpGateway> http_;
  std::unique_ptr<Cluster> cluster_;  // null for a standalone node
  const NodeOptions options_;
  ActorRegistry registry_;
  CapabilityIds capability_ids_;
  ActorHost host_;
  Rebalancer rebalancer_;
  // Null without a state store. Stopped first: deliveries under way are recorded before the
  // node hands its shards over.
  std::unique_ptr<Reminders> reminders_;
  // Requests passed on to the owner by this node's view (peer_requests.cpp).
  std::atomic<std::uint64_t> forwarded_{0};
};

}  // namespace mesh::detail

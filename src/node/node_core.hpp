// NodeCore: the node's parts wired together behind the Node facade.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "cluster/cluster.hpp"
#include "core/snapshot_cell.hpp"
#include "mesh/node.hpp"
#include "node/capability_ids.hpp"
#include "node/shard_handoffs.hpp"
#include "placement/routing_table.hpp"
#include "runtime/actor_host.hpp"
#include "runtime/actor_registry.hpp"
#include "runtime/router.hpp"

namespace mesh::detail {

// Validates requests, resolves (capability, shard) to the owner through the current routing
// table, hands local work to the host and remote work to the cluster. Thread-safe.
class NodeCore final : public Router, public ClusterHost {
 public:
  NodeCore(Node& facade, NodeOptions options);
  ~NodeCore() override;

  void register_actor_type(std::string module, const ActorVTable& vtable, ActorOptions options);
  void register_capabilities(std::vector<std::string> capabilities);

  // Router
  Result<Reply> route_call(Request&& request, const ChainPtr& chain) override;
  Result<void> route_cast(Request&& request) override;
  void route_async_call(Request&& request, const ChainPtr& chain, CallState::Callback done,
                        bool may_run_here) override;
  Node& facade() override { return facade_; }
  const std::string& capability_name(std::uint32_t capability) const override {
    return capability_ids_.name(capability);
  }

  // ClusterHost
  void on_peers_changed(std::vector<MemberInfo> peers) override;
  void serve_call(Request&& request, ChainPtr chain, std::uint32_t hops, const std::string& from,
                  CallState::Callback done) override;
  void serve_cast(Request&& request, std::uint32_t hops, const std::string& from) override;
  void log(LogLevel level, const std::string& message) override;
  void on_synced() override;
  void on_handoff(const std::string& from, const std::string& capability, std::uint32_t shard,
                  std::string module, std::string id, std::optional<Value> state) override;
  void on_release(const std::string& from, const std::string& capability,
                  std::vector<std::uint32_t> shards, bool answer) override;
  void on_ask_release(const std::string& from, const std::string& capability,
                      std::vector<std::uint32_t> shards) override;

  std::vector<std::string> nodes_for(std::string_view capability) const;
  std::vector<std::string> all_capabilities() const;
  std::uint32_t shard_for(std::string_view actor_id) const;
  Result<std::string> owner_node(std::uint32_t shard, std::string_view capability) const;
  const std::string& name() const { return options_.name; }
  NodeStatus status() const;
  std::vector<ActivationInfo> activations() const;
  std::size_t reconcile();
  const std::string& listen_address() const {
    static const std::string none;
    return cluster_ ? cluster_->listen_address() : none;
  }

 private:
  // Where a request goes: this node's host, or the named owner node.
  using Route = std::variant<Target, std::string>;
  Result<Route> resolve(const Request& request) const;
  void publish_routes();  // caller holds membership_mutex_
  void hand_off_lost(const RoutingTable& before, const RoutingTable& after);
  void expect_gained(const RoutingTable& before, const RoutingTable& after);
  void on_moved(ActorHost::MovedActor&& moved);
  void adopt(const ShardKey& key, std::vector<ArrivingActor>&& actors);
  void leave_cluster();
  void serve_call_settled(Request&& request, ChainPtr chain, std::uint32_t hops,
                          CallState::Callback done, const std::string* from);
  void serve_cast_settled(Request&& request, std::uint32_t hops, const std::string* from);
  std::chrono::steady_clock::time_point last_peer_request() const;
  std::size_t stop_unowned(const RoutingTable& table);  // caller holds membership_mutex_

  Node& facade_;
  std::unique_ptr<Cluster> cluster_;  // null for a standalone node
  const NodeOptions options_;
  ActorRegistry registry_;
  CapabilityIds capability_ids_;
  mutable std::mutex membership_mutex_;
  std::atomic<std::uint64_t> reconciler_runs_{0};
  std::atomic<std::uint64_t> reconciler_stopped_{0};
  std::atomic<bool> leaving_{false};
  std::atomic<std::chrono::steady_clock::rep> last_peer_request_{0};
  std::vector<MemberInfo> members_;  // guarded by membership_mutex_; [0] is this node
  std::vector<std::string> wanted_capabilities_;  // guarded by membership_mutex_
  bool synced_ = false;                           // guarded by membership_mutex_
  std::uint64_t epoch_ = 0;          // guarded by membership_mutex_
  SnapshotCell<RoutingTable> routes_;
  ShardHandoffs handoffs_;
  ActorHost host_;  // last: stopped and destroyed first
};

}  // namespace mesh::detail

// Rebalancer: this node's membership view and everything that follows from a change of it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/log_event.hpp"
#include "cluster/cluster.hpp"
#include "cluster/control_codec.hpp"
#include "core/snapshot_cell.hpp"
#include "mesh/node_options.hpp"
#include "node/shard_handoffs.hpp"
#include "placement/capability_ids.hpp"
#include "placement/routing_table.hpp"
#include "runtime/actor_host.hpp"
#include "runtime/actor_registry.hpp"

namespace mesh::detail {

// Owns the view (members and their capabilities, its epoch) and the routing table published
// from it; on every change it hands over the shards this node lost (evicting their activations,
// sending their snapshots and a RELEASE) and holds back work for the shards it gained until
// their previous owners release them (ShardHandoffs). It also runs the planned leave, the
// handoff timers (expiry, ASK_RELEASE) and the reconciler. The protocol is docs/rebalancing.md;
// the cluster only carries its messages (ControlMessage).
//
// Thread-safety: every member function may be called from any thread. table() and handoffs()
// take no lock the call path would notice. Lock order: membership_mutex_, then the handoffs'
// mutex, then the host's shard mutexes; no user code (actor constructors, hooks, handlers) runs
// under any of them, and nothing here runs user code on the thread that called it.
class Rebalancer {
 public:
  using Log = Logger;

  // `cluster` is null for a standalone node. Every reference must outlive the rebalancer.
  Rebalancer(const NodeOptions& options, Cluster* cluster, ActorHost& host,
             const ActorRegistry& registry, CapabilityIds& capabilities, Log log);

  // Starts the periodic work (handoff expiry and asks, the reconciler) on the host's timers.
  void start();
  // A planned leave: gives up this node's capabilities so its shards move (with their actors'
  // state) and calls for them wait at their new owners, waits (bounded) for the handoffs to go
  // out and for peers to stop sending requests here, then stops the cluster.
  void leave();
  // The node is stopping: releases every shard still waiting so that parked work fails with
  // shutting_down rather than being dropped. Call before the host stops.
  void stop();

  // The current routing table (SnapshotCell: lock-free; valid until this thread reads again).
  const RoutingTable& table() const { return routes_.read(); }
  std::shared_ptr<const RoutingTable> table_snapshot() const { return routes_.load(); }
  ShardHandoffs& handoffs() { return handoffs_; }

  // Membership (from the cluster's IO thread).
  void on_peers_changed(std::vector<MemberInfo> peers);
  void on_synced();
  void on_control(const std::string& from, ControlMessage&& message);
  // This node's own capabilities (Node::register_capabilities).
  void set_capabilities(std::vector<std::string> capabilities);
  // An activation ended because its shard moved (the host's moved-actor sink), and the last
  // of a shard's moving activations has ended (the host's shard-moved sink).
  void on_moved(ActorHost::MovedActor&& moved);
  void on_shard_moved(ShardRef key);
  // A peer's request arrived: while leaving, the node lingers until they stop coming.
  void note_peer_request();

  // Stops activations that sit on shards this node does not own; returns how many.
  std::size_t reconcile();

  std::uint64_t epoch() const;
  std::vector<std::string> members() const;  // sorted, this node included
  std::size_t handoffs_in_progress() const { return handoffs_.in_progress(); }
  std::uint64_t reconciler_runs() const { return reconciler_runs_.load(std::memory_order_relaxed); }
  std::uint64_t reconciler_stopped() const {
    return reconciler_stopped_.load(std::memory_order_relaxed);
  }
  // View changes that gave this node shards or took some away.
  std::uint64_t rebalances() const { return rebalances_.load(std::memory_order_relaxed); }

 private:
  void publish_routes();  // caller holds membership_mutex_
  void expect_gained(const RoutingTable& before, const RoutingTable& after);
  bool owned_shards_differ(const RoutingTable& before, const RoutingTable& after) const;
  void hand_off_lost(const RoutingTable& before, const RoutingTable& after);
  void adopt(const ShardRef& key, std::vector<ArrivingActor>&& actors);
  void on_ask_release(const std::string& from, const AskReleaseMessage& ask);
  void send_release(const std::string& to, const std::string& capability,
                    std::vector<std::uint32_t> shards, bool answer);
  void handoff_tick();
  std::chrono::steady_clock::time_point last_peer_request() const;

  const NodeOptions& options_;
  Cluster* const cluster_;
  ActorHost& host_;
  const ActorRegistry& registry_;
  CapabilityIds& capability_ids_;
  const Log log_;

  // Guards the view below. Held while a change is published and its handoffs are queued, so
  // that an ASK_RELEASE answer cannot slip in between (see on_ask_release).
  mutable std::mutex membership_mutex_;
  std::vector<MemberInfo> members_;               // guarded; [0] is this node
  std::vector<std::string> wanted_capabilities_;  // guarded
  bool synced_;                                   // guarded
  std::uint64_t epoch_ = 0;                       // guarded

  SnapshotCell<RoutingTable> routes_;
  ShardHandoffs handoffs_;
  std::atomic<bool> leaving_{false};
  std::atomic<std::chrono::steady_clock::rep> last_peer_request_{0};
  std::atomic<std::uint64_t> reconciler_runs_{0};
  std::atomic<std::uint64_t> reconciler_stopped_{0};
  std::atomic<std::uint64_t> rebalances_{0};
  // Snapshots of a lost shard's ended activations, until its last one ends (on_moved). A leaf
  // lock: nothing else is taken while it is held.
  std::mutex moving_mutex_;
  std::map<ShardRef, std::vector<HandoffMessage>> moving_;  // guarded by moving_mutex_
};

}  // namespace mesh::detail

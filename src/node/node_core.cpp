#include "node/node_core.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <unordered_map>
#include <thread>
#include <unistd.h>

namespace mesh::detail {
namespace {

constexpr std::uint32_t kMaxShards = 1u << 20;
// How many times a request may be passed on by nodes that are not its owner.
constexpr std::uint32_t kMaxForwards = 3;

std::string default_name(const NodeOptions& options) {
  if (!options.listen.empty()) return options.listen;
  static std::atomic<unsigned> created{0};
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  std::string name = std::string(host) + "-" + std::to_string(::getpid());
  if (const unsigned n = created.fetch_add(1); n > 0) name += "-" + std::to_string(n + 1);
  return name;
}

const NodeOptions& validated(const NodeOptions& options) {
  if (options.shard_count == 0 || options.shard_count > kMaxShards) {
    throw std::invalid_argument("mesh: shard_count must be between 1 and 1048576, got " +
                                std::to_string(options.shard_count));
  }
  if (options.listen.empty() && !options.seeds.empty()) {
    throw std::invalid_argument("mesh: seeds need a listen address to join a cluster");
  }
  if (options.listen.empty() && options.discovery) {
    throw std::invalid_argument("mesh: discovery needs a listen address to join a cluster");
  }
  if (options.heartbeat_interval <= std::chrono::milliseconds::zero() ||
      options.failure_timeout <= options.heartbeat_interval) {
    throw std::invalid_argument("mesh: failure_timeout must exceed a positive heartbeat_interval");
  }
  if (options.max_frame_bytes < 1024) {
    throw std::invalid_argument("mesh: max_frame_bytes must be at least 1024");
  }
  return options;
}

std::unique_ptr<Cluster> make_cluster(const NodeOptions& options, ClusterHost& host) {
  if (options.listen.empty()) return nullptr;
  return std::make_unique<Cluster>(
      ClusterOptions{options.name, options.listen, options.seeds, options.cookie,
                     options.heartbeat_interval, options.failure_timeout, options.max_frame_bytes,
                     options.discovery, options.discovery_interval},
      host);
}

NodeOptions finished(NodeOptions options, const Cluster* cluster) {
  if (cluster) options.name = cluster->name();
  if (options.name.empty()) options.name = default_name(options);
  if (!options.strategy) options.strategy = rendezvous_strategy();
  if (options.worker_threads == 0) {
    options.worker_threads = std::max(2u, std::thread::hardware_concurrency());
  }
  return options;
}

std::unexpected<Error> invalid(std::string message) {
  return std::unexpected(Error{Errc::invalid_request, std::move(message)});
}

}  // namespace

NodeCore::NodeCore(Node& facade, NodeOptions options)
    : facade_(facade),
      cluster_(make_cluster(validated(options), *this)),
      options_(finished(std::move(options), cluster_.get())),
      members_{MemberInfo{options_.name, {}}},
      routes_(std::make_shared<const RoutingTable>(
          0, members_, *options_.strategy, options_.shard_count, options_.name,
          [this](std::string_view c) { return capability_ids_.intern(c); })),
      host_(HostOptions{options_.name, options_.shard_count, options_.worker_threads,
                        options_.max_extra_workers, options_.inline_limit},
            *this) {
  if (cluster_) cluster_->start({});
  if (options_.reconcile_interval > std::chrono::milliseconds::zero()) {
    host_.every(options_.reconcile_interval, [this] { reconcile(); });
  }
}

NodeCore::~NodeCore() {
  // Leave first, so that peers stop routing here, then stop the actors.
  if (cluster_) cluster_->stop();
  host_.stop();
}

void NodeCore::log(LogLevel level, const std::string& message) {
  if (options_.log) {
    options_.log(level, message);
  } else if (level >= LogLevel::warning) {
    std::fprintf(stderr, "[mesh %s] %s\n", options_.name.c_str(), message.c_str());
  }
}

void NodeCore::on_peers_changed(std::vector<MemberInfo> peers) {
  std::lock_guard lock(membership_mutex_);
  members_.resize(1);
  for (MemberInfo& peer : peers) members_.push_back(std::move(peer));
  publish_routes();
}

void NodeCore::register_actor_type(std::string module, const ActorVTable& vtable,
                                   ActorOptions options) {
  host_.watch_idle(registry_.add(std::move(module), vtable, options));
}

void NodeCore::register_capabilities(std::vector<std::string> capabilities) {
  for (const std::string& capability : capabilities) {
    if (capability.empty()) throw std::invalid_argument("mesh: a capability name is empty");
  }
  std::sort(capabilities.begin(), capabilities.end());
  capabilities.erase(std::unique(capabilities.begin(), capabilities.end()), capabilities.end());
  std::lock_guard lock(membership_mutex_);
  members_.front().capabilities = capabilities;
  publish_routes();
  if (cluster_) cluster_->set_capabilities(std::move(capabilities));
}

void NodeCore::publish_routes() {
  const std::shared_ptr<const RoutingTable> before = routes_.load();
  auto after = std::make_shared<const RoutingTable>(
      ++epoch_, members_, *options_.strategy, options_.shard_count, options_.name,
      [this](std::string_view c) { return capability_ids_.intern(c); });
  routes_.publish(after);
  // Activations on shards this node no longer owns are stopped, so that a shard coming back later
  // never meets an old activation with stale state (requests for them now go to the new owner).
  std::unordered_map<std::uint32_t, std::vector<bool>> lost;
  for (const std::string& capability : before->capabilities()) {
    const CapabilityRoute& old_route = *before->find(capability);
    const CapabilityRoute* new_route = after->find(capability);
    std::vector<bool> gone(options_.shard_count, false);
    bool any = false;
    for (std::uint32_t s = 0; s < options_.shard_count; ++s) {
      gone[s] = old_route.owned_here(s) && !(new_route && new_route->owned_here(s));
      any = any || gone[s];
    }
    if (any) lost.emplace(old_route.id, std::move(gone));
  }
  if (lost.empty()) return;
  const std::size_t stopped = host_.evict(
      [&lost](std::uint32_t capability, std::uint32_t shard) -> std::optional<DeactivateReason> {
        const auto it = lost.find(capability);
        if (it != lost.end() && it->second[shard]) return DeactivateReason::moved;
        return std::nullopt;
      });
  if (stopped > 0) {
    log(LogLevel::info, "view " + std::to_string(epoch_) + ": stopped " + std::to_string(stopped) +
                            " activations of shards now owned elsewhere");
  }
}

Result<NodeCore::Route> NodeCore::resolve(const Request& request) const {
  if (request.module.empty()) return invalid("request has an empty module");
  if (request.id.empty()) return invalid("request has an empty id");
  if (request.capability.empty()) return invalid("request has an empty capability");
  if (request.timeout <= std::chrono::milliseconds::zero()) {
    return invalid("request timeout must be positive");
  }
  const RoutingTable& table = routes_.read();
  const CapabilityRoute* route = table.find(request.capability);
  if (!route) {
    return std::unexpected(
        Error{Errc::no_nodes, "no node has capability '" + request.capability + "'"});
  }
  const std::uint64_t hash = stable_hash(request.id);
  const auto shard = static_cast<std::uint32_t>(hash % options_.shard_count);
  if (!route->owned_here(shard)) return Route{route->owner_of(shard)};
  const ActorType* type = registry_.find(request.module);
  if (!type) {
    return std::unexpected(Error{Errc::unknown_module, "node " + options_.name +
                                                           " has no actor module '" +
                                                           request.module + "'"});
  }
  return Route{Target{type, route->id, shard, hash}};
}

Result<Reply> NodeCore::route_call(Request&& request, const ChainPtr& chain) {
  Result<Route> route = resolve(request);
  if (!route) return std::unexpected(std::move(route.error()));
  if (const Target* local = std::get_if<Target>(&*route)) {
    return host_.call(*local, std::move(request), chain);
  }
  return cluster_->call(std::get<std::string>(*route), std::move(request), chain, 0);
}

Result<void> NodeCore::route_cast(Request&& request) {
  Result<Route> route = resolve(request);
  if (!route) return std::unexpected(std::move(route.error()));
  if (const Target* local = std::get_if<Target>(&*route)) {
    return host_.cast(*local, std::move(request));
  }
  return cluster_->cast(std::get<std::string>(*route), std::move(request), 0);
}

void NodeCore::route_async_call(Request&& request, CallState::Callback done) {
  Result<Route> route = resolve(request);
  if (!route) {
    done(std::unexpected(std::move(route.error())));
  } else if (const Target* local = std::get_if<Target>(&*route)) {
    host_.async_call(*local, std::move(request), nullptr, std::move(done));
  } else {
    cluster_->async_call(std::get<std::string>(*route), std::move(request), nullptr, 0,
                         std::move(done));
  }
}

// A request from a peer is served by this node's own view: if the shard is not ours any more
// (the sender's view was stale), it is forwarded to the owner, a bounded number of times.
void NodeCore::serve_call(Request&& request, ChainPtr chain, std::uint32_t hops,
                          CallState::Callback done) {
  Result<Route> route = resolve(request);
  if (!route) {
    done(std::unexpected(std::move(route.error())));
  } else if (const Target* local = std::get_if<Target>(&*route)) {
    host_.async_call(*local, std::move(request), chain, std::move(done),
                     ActorHost::AsyncOrigin::from_peer);
  } else if (hops >= kMaxForwards) {
    done(std::unexpected(Error{Errc::node_unreachable,
                               "request forwarded " + std::to_string(hops) +
                                   " times without reaching its owner"}));
  } else {
    cluster_->async_call(std::get<std::string>(*route), std::move(request), chain, hops + 1,
                         std::move(done));
  }
}

void NodeCore::serve_cast(Request&& request, std::uint32_t hops) {
  Result<Route> route = resolve(request);
  if (!route) {
    log(LogLevel::debug, "dropped a cast from a peer: " + to_string(route.error()));
  } else if (const Target* local = std::get_if<Target>(&*route)) {
    (void)host_.cast(*local, std::move(request));
  } else if (hops < kMaxForwards) {
    (void)cluster_->cast(std::get<std::string>(*route), std::move(request), hops + 1);
  }
}

// Stops every activation on a shard this node does not own in `table`.
std::size_t NodeCore::stop_unowned(const RoutingTable& table) {
  std::unordered_map<std::uint32_t, const CapabilityRoute*> by_id;
  for (const std::string& capability : table.capabilities()) {
    const CapabilityRoute* route = table.find(capability);
    by_id.emplace(route->id, route);
  }
  return host_.evict(
      [&by_id](std::uint32_t capability, std::uint32_t shard) -> std::optional<DeactivateReason> {
        const auto it = by_id.find(capability);
        if (it == by_id.end() || !it->second->owned_here(shard)) return DeactivateReason::evicted;
        return std::nullopt;
      });
}

std::size_t NodeCore::reconcile() {
  std::lock_guard lock(membership_mutex_);
  const std::size_t stopped = stop_unowned(*routes_.load());
  reconciler_runs_.fetch_add(1, std::memory_order_relaxed);
  if (stopped > 0) {
    reconciler_stopped_.fetch_add(stopped, std::memory_order_relaxed);
    log(LogLevel::warning, "reconciler: stopped " + std::to_string(stopped) +
                               " activations on shards owned elsewhere (view " +
                               std::to_string(epoch_) + ")");
  }
  return stopped;
}

NodeStatus NodeCore::status() const {
  NodeStatus status;
  status.name = options_.name;
  {
    std::lock_guard lock(membership_mutex_);
    status.view_epoch = epoch_;
    for (const MemberInfo& member : members_) status.members.push_back(member.name);
  }
  std::sort(status.members.begin(), status.members.end());
  const std::shared_ptr<const RoutingTable> table = routes_.load();
  for (const std::string& capability : table->capabilities()) {
    const CapabilityRoute* route = table->find(capability);
    std::vector<std::uint32_t>& owned = status.owned_shards[capability];
    for (std::uint32_t s = 0; s < options_.shard_count; ++s) {
      if (route->owned_here(s)) owned.push_back(s);
    }
  }
  host_.for_each([&status](const Activation&, std::uint32_t shard) {
    ++status.activations;
    ++status.activations_per_shard[shard];
  });
  status.reconciler_runs = reconciler_runs_.load(std::memory_order_relaxed);
  status.reconciler_stopped = reconciler_stopped_.load(std::memory_order_relaxed);
  return status;
}

std::vector<ActivationInfo> NodeCore::activations() const {
  std::vector<ActivationInfo> out;
  host_.for_each([&](const Activation& a, std::uint32_t shard) {
    out.push_back(ActivationInfo{a.type->module, a.id, capability_ids_.name(a.capability), shard,
                                 Pid{options_.name, a.serial}});
  });
  return out;
}

std::vector<std::string> NodeCore::nodes_for(std::string_view capability) const {
  const CapabilityRoute* route = routes_.read().find(capability);
  return route ? route->nodes : std::vector<std::string>{};
}

std::vector<std::string> NodeCore::all_capabilities() const {
  return routes_.read().capabilities();
}

std::uint32_t NodeCore::shard_for(std::string_view actor_id) const {
  return shard_of(actor_id, options_.shard_count);
}

Result<std::string> NodeCore::owner_node(std::uint32_t shard, std::string_view capability) const {
  if (capability.empty()) return invalid("capability is empty");
  if (shard >= options_.shard_count) {
    return invalid("shard " + std::to_string(shard) + " is out of range (shard_count " +
                   std::to_string(options_.shard_count) + ")");
  }
  const CapabilityRoute* route = routes_.read().find(capability);
  if (!route) {
    return std::unexpected(
        Error{Errc::no_nodes, "no node has capability '" + std::string(capability) + "'"});
  }
  return route->owner_of(shard);
}

}  // namespace mesh::detail

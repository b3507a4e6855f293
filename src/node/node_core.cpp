#include "node/node_core.hpp"

#include <algorithm>
#include <random>
#include <cstdio>
#include <stdexcept>
#include <map>
#include <unordered_map>
#include <thread>
#include <unistd.h>

namespace mesh::detail {
namespace {

constexpr std::uint32_t kMaxShards = 1u << 20;
// How many times a request may be passed on by nodes that are not its owner.
constexpr std::uint32_t kMaxForwards = 8;
// A leaving node lingers until no peer request has come for kLeaveQuiet, at most kLeaveLingerMax.
constexpr auto kLeaveQuiet = std::chrono::milliseconds(100);
constexpr auto kLeaveLingerMax = std::chrono::seconds(1);

// A node that receives a forwarded request its view sends on again disagrees with the sender's
// view for a moment (one of them has not seen the latest change yet); it waits this long, which
// doubles with each hop, for the views to settle before it forwards.
std::chrono::milliseconds settle_delay(std::uint32_t hops) {
  return std::chrono::milliseconds(1u << std::min<std::uint32_t>(hops - 1, 6));
}

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
                     options.discovery, options.discovery_interval, options.join_timeout},
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
      // Nobody to meet (no seeds, no discovery, or no patience): capabilities count at once.
      synced_(!cluster_ || (options_.seeds.empty() && !options_.discovery) ||
              options_.join_timeout <= std::chrono::milliseconds::zero()),
      routes_(std::make_shared<const RoutingTable>(
          0, members_, *options_.strategy, options_.shard_count, options_.name,
          [this](std::string_view c) { return capability_ids_.intern(c); })),
      handoffs_([this](const ShardKey& key, std::vector<ArrivingActor>&& actors) {
        adopt(key, std::move(actors));
      }),
      host_(HostOptions{options_.name, options_.shard_count, options_.worker_threads,
                        options_.max_extra_workers, options_.inline_limit},
            *this) {
  if (cluster_) {
    host_.set_moved_sink([this](ActorHost::MovedActor&& moved) { on_moved(std::move(moved)); });
    host_.set_owner_check([this](std::uint32_t capability, std::uint32_t shard) {
      return routes_.read().owned_here(capability, shard);
    });
    host_.every(std::chrono::milliseconds(50), [this] {
      const auto now = ShardHandoffs::Clock::now();
      for (const ShardKey& key : handoffs_.expire(now)) {
        log(LogLevel::warning, "handoff of shard " + std::to_string(key.second) + " of " +
                                   capability_ids_.name(key.first) +
                                   " timed out: serving it without the previous owner's release");
      }
      // Waits that last are asked about again, with backoff and jitter (ShardHandoffs).
      thread_local std::mt19937 random(std::random_device{}());
      std::uniform_real_distribution<double> jitter(0.8, 1.2);
      for (const auto& [to, shards] : handoffs_.due_asks(now, [&] { return jitter(random); })) {
        cluster_->send_ask_release(to.first, capability_ids_.name(to.second), shards);
      }
    });
    cluster_->start({});
  }
  if (options_.reconcile_interval > std::chrono::milliseconds::zero()) {
    host_.every(options_.reconcile_interval, [this] { reconcile(); });
  }
}

NodeCore::~NodeCore() {
  // Hand the shards over and leave first, so that peers stop routing here, then stop the actors.
  if (cluster_) leave_cluster();
  host_.stop();
}

// A planned leave: this node gives up its capabilities (so its shards move, with their actors'
// state, to their new owners and calls for them wait there rather than fail), waits for its
// handoffs to go out, then announces LEAVE.
void NodeCore::leave_cluster() {
  leaving_ = true;
  last_peer_request_ = std::chrono::steady_clock::now().time_since_epoch().count();
  {
    std::lock_guard lock(membership_mutex_);
    wanted_capabilities_.clear();
    if (synced_ && !members_.front().capabilities.empty()) {
      members_.front().capabilities.clear();
      publish_routes();
    }
    cluster_->set_capabilities({});
  }
  const auto give_up = std::chrono::steady_clock::now() + options_.handoff_timeout;
  while (handoffs_.outgoing_count() > 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // Peers that had not yet seen the change may still send requests here: keep forwarding them
  // until none has come for a while (bounded), so that leaving fails none of them.
  const auto linger_until = std::chrono::steady_clock::now() + kLeaveLingerMax;
  while (std::chrono::steady_clock::now() < linger_until &&
         std::chrono::steady_clock::now() - last_peer_request() < kLeaveQuiet) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  cluster_->stop();
}

void NodeCore::log(LogLevel level, const std::string& message) {
  if (options_.log) {
    options_.log(level, message);
  } else if (level >= LogLevel::warning) {
    std::fprintf(stderr, "[mesh %s] %s\n", options_.name.c_str(), message.c_str());
  }
}

void NodeCore::on_peers_changed(std::vector<MemberInfo> peers) {
  std::vector<std::string> gone;
  {
    std::lock_guard lock(membership_mutex_);
    for (std::size_t i = 1; i < members_.size(); ++i) {
      const bool still = std::any_of(peers.begin(), peers.end(),
                                     [&](const MemberInfo& p) { return p.name == members_[i].name; });
      if (!still) gone.push_back(members_[i].name);
    }
    members_.resize(1);
    for (MemberInfo& peer : peers) members_.push_back(std::move(peer));
    publish_routes();
  }
  // A node that is gone will release nothing: what it held is served here now, fresh.
  for (const std::string& name : gone) handoffs_.forget(name);
}

// Announcements go out under membership_mutex_ (set_capabilities only queues them): racing
// announcements from here and register_capabilities must reach peers in the order they were
// decided, or a stale list could be the last one peers hear.
void NodeCore::on_synced() {
  std::lock_guard lock(membership_mutex_);
  synced_ = true;
  if (wanted_capabilities_ != members_.front().capabilities) {
    members_.front().capabilities = wanted_capabilities_;
    publish_routes();
  }
  cluster_->set_capabilities(wanted_capabilities_);
}

void NodeCore::on_handoff(const std::string& from, const std::string& capability,
                          std::uint32_t shard, std::string module, std::string id,
                          std::optional<Value> state) {
  if (shard >= options_.shard_count) return;
  handoffs_.arrived({capability_ids_.intern(capability), shard}, from,
                    ArrivingActor{std::move(module), std::move(id), std::move(state)});
}

void NodeCore::on_release(const std::string& from, const std::string& capability,
                          std::vector<std::uint32_t> shards, bool answer) {
  const std::uint32_t id = capability_ids_.intern(capability);
  for (std::uint32_t shard : shards) {
    if (shard < options_.shard_count) handoffs_.released({id, shard}, from, answer);
  }
}

// A peer still waits for shards it thinks this node held. Those this node does not own by its
// view and holds no finishing activation of are released (again, or for the first time when
// its RELEASE went to another node under a view that has changed since); the rest wait for
// this node's own handoff, and the peer asks again later. Under membership_mutex_: a view change
// publishes its table and registers its finishing activations (or sends their HANDOFFs) under
// it, so no answer can slip in between and release a shard whose actors are still here.
void NodeCore::on_ask_release(const std::string& from, const std::string& capability,
                              std::vector<std::uint32_t> shards) {
  const std::uint32_t id = capability_ids_.intern(capability);
  std::lock_guard lock(membership_mutex_);
  const RoutingTable& table = routes_.read();
  std::vector<std::uint32_t> released;
  for (std::uint32_t shard : shards) {
    if (shard >= options_.shard_count || table.owned_here(id, shard) ||
        handoffs_.outgoing({id, shard})) {
      continue;
    }
    released.push_back(shard);
  }
  cluster_->send_release(from, capability, released, /*answer=*/true);
}

void NodeCore::adopt(const ShardKey& key, std::vector<ArrivingActor>&& actors) {
  for (ArrivingActor& actor : actors) {
    const ActorType* type = registry_.find(actor.module);
    if (!type) {
      log(LogLevel::warning, "dropped arriving actor " + actor.module + " " + actor.id +
                                 ": no such module here");
      continue;
    }
    const Target target{type, key.first, key.second, stable_hash(actor.id)};
    if (!host_.adopt(target, std::move(actor.id), std::move(actor.state))) {
      log(LogLevel::warning, "an arriving " + type->module + " failed to restore its state");
    }
  }
}

// An activation ended because its shard moved: its snapshot goes to the new owner, and the
// shard's RELEASE follows the last of its actors.
void NodeCore::on_moved(ActorHost::MovedActor&& moved) {
  const std::string& capability = capability_ids_.name(moved.capability);
  std::string to;
  if (const CapabilityRoute* route = routes_.load()->find(capability);
      route && !route->owned_here(moved.shard)) {
    to = route->owner_of(moved.shard);
  }
  if (!to.empty()) {
    cluster_->send_handoff(to, capability, moved.shard, moved.module, moved.id, moved.state);
  }
  if (moved.last) {
    if (!to.empty()) cluster_->send_release(to, capability, {moved.shard});
    handoffs_.outgoing_changed({moved.capability, moved.shard}, -1);
  }
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
  wanted_capabilities_ = capabilities;
  if (!synced_) return;  // takes effect once the node has met the cluster
  members_.front().capabilities = capabilities;
  publish_routes();
  // After publish_routes queued this node's handoffs, so peers see releases before the change.
  if (cluster_) cluster_->set_capabilities(std::move(capabilities));
}

void NodeCore::publish_routes() {
  const std::shared_ptr<const RoutingTable> before = routes_.load();
  auto after = std::make_shared<const RoutingTable>(
      ++epoch_, members_, *options_.strategy, options_.shard_count, options_.name,
      [this](std::string_view c) { return capability_ids_.intern(c); });
  // Gained shards wait for their release before the new table serves them; lost ones are
  // handed over once calls no longer come here.
  if (cluster_) expect_gained(*before, *after);
  routes_.publish(after);
  hand_off_lost(*before, *after);
}

// For each shard this node gains from a live previous owner, calls wait until that owner has
// released it (with its actors' state).
void NodeCore::expect_gained(const RoutingTable& before, const RoutingTable& after) {
  const auto deadline = ShardHandoffs::Clock::now() + options_.handoff_timeout;
  for (const std::string& capability : after.capabilities()) {
    const CapabilityRoute& now = *after.find(capability);
    const CapabilityRoute* then = before.find(capability);
    if (!then || now.self == CapabilityRoute::kNotMember) continue;
    for (std::uint32_t s = 0; s < options_.shard_count; ++s) {
      if (!now.owned_here(s) || then->owned_here(s)) continue;
      const std::string& previous = then->owner_of(s);
      if (cluster_->connected(previous)) handoffs_.expect({now.id, s}, previous, deadline);
    }
  }
}

// Activations of shards this node no longer owns end (idle ones now, busy ones once their
// mailbox is empty); their snapshots and then a RELEASE go to the new owner. So a shard never
// has two live copies of an actor, and a shard coming back later never meets stale state.
void NodeCore::hand_off_lost(const RoutingTable& before, const RoutingTable& after) {
  std::map<ShardKey, std::string> lost;  // -> new owner ("" if nobody has the capability now)
  for (const std::string& capability : before.capabilities()) {
    const CapabilityRoute& then = *before.find(capability);
    const CapabilityRoute* now = after.find(capability);
    for (std::uint32_t s = 0; s < options_.shard_count; ++s) {
      if (!then.owned_here(s) || (now && now->owned_here(s))) continue;
      lost.emplace(ShardKey{then.id, s}, now ? now->owner_of(s) : std::string());
    }
  }
  if (lost.empty()) return;
  const ActorHost::Eviction eviction = host_.evict(
      [&lost](std::uint32_t capability, std::uint32_t shard) -> std::optional<DeactivateReason> {
        if (lost.contains({capability, shard})) return DeactivateReason::moved;
        return std::nullopt;
      });
  if (eviction.ended > 0) {
    log(LogLevel::info, "view " + std::to_string(epoch_) + ": handing over " +
                            std::to_string(eviction.ended) +
                            " activations of shards now owned elsewhere");
  }
  if (!cluster_) return;
  std::map<std::pair<std::string, std::uint32_t>, std::vector<std::uint32_t>> releases;
  for (const auto& [key, to] : lost) {
    if (eviction.busy.contains(key)) {
      handoffs_.outgoing_changed(key, +1);  // released by on_moved when the last of them ends
    } else if (!to.empty()) {
      releases[{to, key.first}].push_back(key.second);
    }
  }
  for (const auto& [target, shards] : releases) {
    cluster_->send_release(target.first, capability_ids_.name(target.second), shards);
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

// Work for a shard that is still on its way here (waiting for the previous owner's release)
// waits: a blocking caller on its own thread, anything else parked in arrival order. Parked
// work only queues when it resumes, so it never runs a handler inside the release.
namespace {
ShardKey key_of(const Target& target) { return {target.capability, target.shard}; }
}  // namespace

Result<Reply> NodeCore::route_call(Request&& request, const ChainPtr& chain) {
  const auto deadline = std::chrono::steady_clock::now() + request.timeout;
  for (;;) {
    Result<Route> route = resolve(request);
    if (!route) return std::unexpected(std::move(route.error()));
    const Target* local = std::get_if<Target>(&*route);
    if (!local) return cluster_->call(std::get<std::string>(*route), std::move(request), chain, 0);
    if (!handoffs_.waiting(key_of(*local))) return host_.call(*local, std::move(request), chain);
    handoffs_.wait(key_of(*local), deadline);
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::unexpected(Error{Errc::timeout, "the actor's shard was still moving here"});
    }
  }
}

Result<void> NodeCore::route_cast(Request&& request) {
  Result<Route> route = resolve(request);
  if (!route) return std::unexpected(std::move(route.error()));
  if (const Target* local = std::get_if<Target>(&*route)) {
    if (handoffs_.waiting(key_of(*local))) {
      auto parked = std::make_shared<Request>(std::move(request));
      if (handoffs_.park(key_of(*local), [this, target = *local, parked] {
            (void)host_.cast(target, std::move(*parked));
          })) {
        return {};
      }
      request = std::move(*parked);
    }
    return host_.cast(*local, std::move(request));
  }
  return cluster_->cast(std::get<std::string>(*route), std::move(request), 0);
}

void NodeCore::route_async_call(Request&& request, const ChainPtr& chain,
                                CallState::Callback done, bool may_run_here) {
  Result<Route> route = resolve(request);
  if (!route) {
    done(std::unexpected(std::move(route.error())));
  } else if (const Target* local = std::get_if<Target>(&*route)) {
    if (handoffs_.waiting(key_of(*local))) {
      auto parked = std::make_shared<Request>(std::move(request));
      auto callback = std::make_shared<CallState::Callback>(std::move(done));
      if (handoffs_.park(key_of(*local), [this, target = *local, parked, chain, callback] {
            host_.async_call(target, std::move(*parked), chain, std::move(*callback),
                             ActorHost::AsyncOrigin::queued);
          })) {
        return;
      }
      request = std::move(*parked);
      done = std::move(*callback);
    }
    host_.async_call(*local, std::move(request), chain, std::move(done),
                     may_run_here ? ActorHost::AsyncOrigin::local : ActorHost::AsyncOrigin::queued);
  } else {
    cluster_->async_call(std::get<std::string>(*route), std::move(request), chain, 0,
                         std::move(done));
  }
}

std::chrono::steady_clock::time_point NodeCore::last_peer_request() const {
  return std::chrono::steady_clock::time_point(
      std::chrono::steady_clock::duration(last_peer_request_.load(std::memory_order_relaxed)));
}

// A request from a peer is served by this node's own view: if the shard is not ours any more
// (the sender's view was stale), it is forwarded to the owner, a bounded number of times.
void NodeCore::serve_call(Request&& request, ChainPtr chain, std::uint32_t hops,
                          const std::string& from, CallState::Callback done) {
  serve_call_settled(std::move(request), std::move(chain), hops, std::move(done), &from);
}

// `from`: the peer the request came from, on its first arrival (on the IO thread); null once it
// waited to settle (on the timer thread).
void NodeCore::serve_call_settled(Request&& request, ChainPtr chain, std::uint32_t hops,
                                  CallState::Callback done, const std::string* from) {
  const bool settled = from == nullptr;
  if (leaving_.load(std::memory_order_relaxed)) {
    last_peer_request_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                             std::memory_order_relaxed);
  }
  Result<Route> route = resolve(request);
  if (!route) {
    done(std::unexpected(std::move(route.error())));
  } else if (const Target* local = std::get_if<Target>(&*route)) {
    if (!handoffs_.waiting(key_of(*local))) {
      host_.async_call(*local, std::move(request), chain, std::move(done),
                       ActorHost::AsyncOrigin::from_peer);
      return;
    }
    auto parked = std::make_shared<Request>(std::move(request));
    auto callback = std::make_shared<CallState::Callback>(std::move(done));
    auto serve = [this, target = *local, parked, chain, callback] {
      host_.async_call(target, std::move(*parked), chain, std::move(*callback),
                       ActorHost::AsyncOrigin::from_peer);
    };
    if (!handoffs_.park(key_of(*local), serve)) serve();
  } else if (hops >= kMaxForwards) {
    done(std::unexpected(Error{Errc::node_unreachable,
                               "request forwarded " + std::to_string(hops) +
                                   " times without reaching its owner"}));
  } else if (hops > 0 && !settled) {
    auto parked = std::make_shared<Request>(std::move(request));
    auto callback = std::make_shared<CallState::Callback>(std::move(done));
    host_.after(settle_delay(hops), [this, parked, chain, hops, callback] {
      serve_call_settled(std::move(*parked), chain, hops, std::move(*callback), nullptr);
    });
  } else {
    // Straight from the sender, which took this node for the owner: its view is older than
    // this node's, so it hears this node's view too.
    if (hops == 0 && from) cluster_->share_view(*from);
    cluster_->async_call(std::get<std::string>(*route), std::move(request), chain, hops + 1,
                         std::move(done));
  }
}

void NodeCore::serve_cast(Request&& request, std::uint32_t hops, const std::string& from) {
  serve_cast_settled(std::move(request), hops, &from);
}

void NodeCore::serve_cast_settled(Request&& request, std::uint32_t hops, const std::string* from) {
  const bool settled = from == nullptr;
  Result<Route> route = resolve(request);
  if (!route) {
    log(LogLevel::debug, "dropped a cast from a peer: " + to_string(route.error()));
  } else if (const Target* local = std::get_if<Target>(&*route)) {
    if (!handoffs_.waiting(key_of(*local))) {
      (void)host_.cast(*local, std::move(request));
      return;
    }
    auto parked = std::make_shared<Request>(std::move(request));
    auto serve = [this, target = *local, parked] { (void)host_.cast(target, std::move(*parked)); };
    if (!handoffs_.park(key_of(*local), serve)) serve();
  } else if (hops > 0 && !settled && hops < kMaxForwards) {
    auto parked = std::make_shared<Request>(std::move(request));
    host_.after(settle_delay(hops), [this, parked, hops] {
      serve_cast_settled(std::move(*parked), hops, nullptr);
    });
  } else if (hops < kMaxForwards) {
    if (hops == 0 && from) cluster_->share_view(*from);
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
      }).ended;
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

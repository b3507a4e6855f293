#include "node/rebalancer.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

namespace mesh::detail {
namespace {

// A leaving node lingers until no peer request has come for kLeaveQuiet, at most kLeaveLingerMax.
constexpr auto kLeaveQuiet = std::chrono::milliseconds(100);
constexpr auto kLeaveLingerMax = std::chrono::seconds(1);
// How often waits for a release are checked for their deadline and asked about again.
constexpr auto kHandoffTick = std::chrono::milliseconds(50);

}  // namespace

Rebalancer::Rebalancer(const NodeOptions& options, Cluster* cluster, ActorHost& host,
                       const ActorRegistry& registry, CapabilityIds& capabilities, Log log)
    : options_(options),
      cluster_(cluster),
      host_(host),
      registry_(registry),
      capability_ids_(capabilities),
      log_(std::move(log)),
      members_{MemberInfo{options.name, {}}},
      // Nobody to meet (no seeds, no discovery, or no patience): capabilities count at once.
      synced_(!cluster || (options.seeds.empty() && !options.discovery) ||
              options.join_timeout <= std::chrono::milliseconds::zero()),
      routes_(std::make_shared<const RoutingTable>(
          0, members_, *options.strategy, options.shard_count, options.name,
          [this](std::string_view c) { return capability_ids_.intern(c); })),
      handoffs_([this](const ShardRef& key,
                       std::vector<ArrivingActor>&& actors) { adopt(key, std::move(actors)); },
                [this](std::function<void()> task) {
                  host_.after(std::chrono::steady_clock::duration::zero(), std::move(task));
                }) {}

void Rebalancer::start() {
  if (cluster_) host_.every(kHandoffTick, [this] { handoff_tick(); });
  if (options_.reconcile_interval > std::chrono::milliseconds::zero()) {
    host_.every(options_.reconcile_interval, [this] { reconcile(); });
  }
}

void Rebalancer::handoff_tick() {
  const auto now = ShardHandoffs::Clock::now();
  for (const ShardRef& key : handoffs_.expire(now)) {
    log_({LogLevel::warning, "handoff_timed_out",
          "handoff of shard " + std::to_string(key.shard) + " of " +
              capability_ids_.name(key.capability) +
              " timed out: serving it without the previous owner's release",
          {{"capability", capability_ids_.name(key.capability)},
           {"shard", std::to_string(key.shard)}}});
  }
  // Waits that last are asked about again, with backoff and jitter (ShardHandoffs).
  thread_local std::mt19937 random(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  for (auto& [to, shards] : handoffs_.due_asks(now, [&] { return jitter(random); })) {
    cluster_->send(to.peer,
                   AskReleaseMessage{capability_ids_.name(to.capability), std::move(shards)});
  }
}

void Rebalancer::leave() {
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

void Rebalancer::stop() { handoffs_.release_all(); }

void Rebalancer::note_peer_request() {
  if (leaving_.load(std::memory_order_relaxed)) {
    last_peer_request_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                             std::memory_order_relaxed);
  }
}

std::chrono::steady_clock::time_point Rebalancer::last_peer_request() const {
  return std::chrono::steady_clock::time_point(
      std::chrono::steady_clock::duration(last_peer_request_.load(std::memory_order_relaxed)));
}

void Rebalancer::on_peers_changed(std::vector<MemberInfo> peers) {
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
// announcements from here and set_capabilities must reach peers in the order they were
// decided, or a stale list could be the last one peers hear.
void Rebalancer::on_synced() {
  std::lock_guard lock(membership_mutex_);
  synced_ = true;
  if (wanted_capabilities_ != members_.front().capabilities) {
    members_.front().capabilities = wanted_capabilities_;
    publish_routes();
  }
  cluster_->set_capabilities(wanted_capabilities_);
}

void Rebalancer::set_capabilities(std::vector<std::string> capabilities) {
  std::lock_guard lock(membership_mutex_);
  wanted_capabilities_ = capabilities;
  if (!synced_) return;  // takes effect once the node has met the cluster
  members_.front().capabilities = capabilities;
  publish_routes();
  // After publish_routes queued this node's handoffs, so peers see releases before the change.
  if (cluster_) cluster_->set_capabilities(std::move(capabilities));
}

void Rebalancer::on_control(const std::string& from, ControlMessage&& message) {
  if (auto* handoff = std::get_if<HandoffMessage>(&message)) {
    if (handoff->shard >= options_.shard_count) return;
    handoffs_.arrived({capability_ids_.intern(handoff->capability), handoff->shard}, from,
                      ArrivingActor{std::move(handoff->module), std::move(handoff->id),
                                    std::move(handoff->state)});
  } else if (auto* release = std::get_if<ReleaseMessage>(&message)) {
    const std::uint32_t id = capability_ids_.intern(release->capability);
    for (std::uint32_t shard : release->shards) {
      if (shard < options_.shard_count) handoffs_.released({id, shard}, from, release->answer);
    }
  } else {
    on_ask_release(from, std::get<AskReleaseMessage>(message));
  }
}

// A peer still waits for shards it thinks this node held. Those this node does not own by its
// view and holds no finishing activation of are released (again, or for the first time when
// its RELEASE went to another node under a view that has changed since); the rest wait for
// this node's own handoff, and the peer asks again later. Under membership_mutex_: a view change
// publishes its table and registers its finishing activations (or sends their HANDOFFs) under
// it, so no answer can slip in between and release a shard whose actors are still here.
void Rebalancer::on_ask_release(const std::string& from, const AskReleaseMessage& ask) {
  const std::uint32_t id = capability_ids_.intern(ask.capability);
  std::lock_guard lock(membership_mutex_);
  const RoutingTable& table = routes_.read();
  std::vector<std::uint32_t> released;
  for (std::uint32_t shard : ask.shards) {
    if (shard >= options_.shard_count || table.owned_here(id, shard) ||
        handoffs_.outgoing({id, shard})) {
      continue;
    }
    released.push_back(shard);
  }
  send_release(from, ask.capability, std::move(released), /*answer=*/true);
}

void Rebalancer::send_release(const std::string& to, const std::string& capability,
                              std::vector<std::uint32_t> shards, bool answer) {
  if (shards.empty()) return;
  cluster_->send(to, ReleaseMessage{capability, std::move(shards), answer});
}

// Runs on the timer thread once a shard is released (ShardHandoffs::finish), under no lock: it
// only queues each actor's construction and restore on the pool (ActorHost::adopt).
void Rebalancer::adopt(const ShardRef& key, std::vector<ArrivingActor>&& actors) {
  for (ArrivingActor& actor : actors) {
    const ActorType* type = registry_.find(actor.module);
    if (!type) {
      log_({LogLevel::warning, "arriving_actor_dropped",
            "dropped arriving actor " + actor.module + " " + actor.id + ": no such module here",
            {{"module", actor.module}, {"id", actor.id}}});
      continue;
    }
    const Target target{type, key.capability, key.shard, stable_hash(actor.id)};
    host_.adopt(target, std::move(actor.id), std::move(actor.state));
  }
}

// An activation ended because its shard moved: its snapshot waits here until every activation
// of its shard has ended (on_shard_moved).
void Rebalancer::on_moved(ActorHost::MovedActor&& moved) {
  const ShardRef key{moved.capability, moved.shard};
  HandoffMessage handoff{capability_ids_.name(moved.capability), moved.shard,
                         std::move(moved.module), std::move(moved.id), std::move(moved.state)};
  std::lock_guard lock(moving_mutex_);
  moving_[key].push_back(std::move(handoff));
}

// The last activation of a lost shard has ended: every snapshot and the shard's RELEASE leave
// together, in one write on one link, to the shard's owner by the view of this moment. Sent one
// by one as each activation ended (on different pool threads), a HANDOFF could leave on a link
// that a second link to the same peer was replacing and arrive after a RELEASE sent on the new
// one: the new owner would have started that actor fresh.
void Rebalancer::on_shard_moved(ShardRef key) {
  std::vector<ControlMessage> messages;
  {
    std::lock_guard lock(moving_mutex_);
    if (const auto it = moving_.find(key); it != moving_.end()) {
      for (HandoffMessage& handoff : it->second) messages.emplace_back(std::move(handoff));
      moving_.erase(it);
    }
  }
  const std::string& capability = capability_ids_.name(key.capability);
  // Held for as long as `route` (and the owner's name in it) is used: a view change on the IO
  // thread may replace the table meanwhile and free the old one.
  const std::shared_ptr<const RoutingTable> routes = routes_.load();
  if (const CapabilityRoute* route = routes->find(capability);
      route && !route->owned_here(key.shard)) {
    messages.push_back(ReleaseMessage{capability, {key.shard}, false});
    cluster_->send(route->owner_of(key.shard), messages);
  }
  handoffs_.outgoing_changed(key, -1);
}

void Rebalancer::publish_routes() {
  const std::shared_ptr<const RoutingTable> before = routes_.load();
  auto after = std::make_shared<const RoutingTable>(
      ++epoch_, members_, *options_.strategy, options_.shard_count, options_.name,
      [this](std::string_view c) { return capability_ids_.intern(c); });
  // Gained shards wait for their release before the new table serves them; lost ones are
  // handed over once calls no longer come here.
  if (cluster_) expect_gained(*before, *after);
  routes_.publish(after);
  hand_off_lost(*before, *after);
  if (owned_shards_differ(*before, *after)) rebalances_.fetch_add(1, std::memory_order_relaxed);
}

bool Rebalancer::owned_shards_differ(const RoutingTable& before, const RoutingTable& after) const {
  std::set<std::string> capabilities;
  for (const std::string& c : before.capabilities()) capabilities.insert(c);
  for (const std::string& c : after.capabilities()) capabilities.insert(c);
  for (const std::string& capability : capabilities) {
    const CapabilityRoute* then = before.find(capability);
    const CapabilityRoute* now = after.find(capability);
    for (std::uint32_t s = 0; s < options_.shard_count; ++s) {
      if ((then && then->owned_here(s)) != (now && now->owned_here(s))) return true;
    }
  }
  return false;
}

// For each shard this node gains from a live previous owner, calls wait until that owner has
// released it (with its actors' state).
void Rebalancer::expect_gained(const RoutingTable& before, const RoutingTable& after) {
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

// Activations of shards this node no longer owns end once their mailbox is empty (on the pool:
// their snapshot and on_deactivate hooks are user code); their snapshots and then a RELEASE go
// to the new owner. So a shard never has two live copies of an actor, and a shard coming back
// later never meets stale state.
void Rebalancer::hand_off_lost(const RoutingTable& before, const RoutingTable& after) {
  std::map<ShardRef, std::string> lost;  // -> new owner ("" if nobody has the capability now)
  for (const std::string& capability : before.capabilities()) {
    const CapabilityRoute& then = *before.find(capability);
    const CapabilityRoute* now = after.find(capability);
    for (std::uint32_t s = 0; s < options_.shard_count; ++s) {
      if (!then.owned_here(s) || (now && now->owned_here(s))) continue;
      lost.emplace(ShardRef{then.id, s}, now ? now->owner_of(s) : std::string());
    }
  }
  if (lost.empty()) return;
  const ActorHost::Eviction eviction = host_.evict(
      [&lost](std::uint32_t capability, std::uint32_t shard) -> std::optional<DeactivateReason> {
        if (lost.contains({capability, shard})) return DeactivateReason::moved;
        return std::nullopt;
      });
  if (eviction.ended > 0) {
    log_({LogLevel::info, "handing_over",
          "view " + std::to_string(epoch_) + ": handing over " + std::to_string(eviction.ended) +
              " activations of shards now owned elsewhere",
          {{"view_epoch", std::to_string(epoch_)},
           {"activations", std::to_string(eviction.ended)}}});
  }
  if (!cluster_) return;
  std::map<PeerCapability, std::vector<std::uint32_t>> releases;
  for (const auto& [key, to] : lost) {
    if (eviction.busy.contains(key)) {
      handoffs_.outgoing_changed(key, +1);  // released by on_moved when the last of them ends
    } else if (!to.empty()) {
      releases[PeerCapability{to, key.capability}].push_back(key.shard);
    }
  }
  for (auto& [target, shards] : releases) {
    send_release(target.peer, capability_ids_.name(target.capability), std::move(shards), false);
  }
}

std::size_t Rebalancer::reconcile() {
  std::lock_guard lock(membership_mutex_);
  const std::shared_ptr<const RoutingTable> table = routes_.load();
  std::unordered_map<std::uint32_t, const CapabilityRoute*> by_id;
  for (const std::string& capability : table->capabilities()) {
    const CapabilityRoute* route = table->find(capability);
    by_id.emplace(route->id, route);
  }
  const std::size_t stopped =
      host_.evict([&by_id](std::uint32_t capability,
                           std::uint32_t shard) -> std::optional<DeactivateReason> {
            const auto it = by_id.find(capability);
            if (it == by_id.end() || !it->second->owned_here(shard)) {
              return DeactivateReason::evicted;
            }
            return std::nullopt;
          }).ended;
  reconciler_runs_.fetch_add(1, std::memory_order_relaxed);
  if (stopped > 0) {
    reconciler_stopped_.fetch_add(stopped, std::memory_order_relaxed);
    log_({LogLevel::warning, "reconciler_stopped",
          "reconciler: stopped " + std::to_string(stopped) +
              " activations on shards owned elsewhere (view " + std::to_string(epoch_) + ")",
          {{"activations", std::to_string(stopped)}, {"view_epoch", std::to_string(epoch_)}}});
  }
  return stopped;
}

std::uint64_t Rebalancer::epoch() const {
  std::lock_guard lock(membership_mutex_);
  return epoch_;
}

std::vector<std::string> Rebalancer::members() const {
  std::vector<std::string> names;
  {
    std::lock_guard lock(membership_mutex_);
    for (const MemberInfo& member : members_) names.push_back(member.name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace mesh::detail

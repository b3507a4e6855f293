#include "node/node_core.hpp"

#include "node/request_deadline.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <tuple>

namespace mesh::detail {
namespace {

constexpr std::uint32_t kMaxShards = 1u << 20;

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
  if (options.max_send_queue_bytes < options.max_frame_bytes) {
    throw std::invalid_argument("mesh: max_send_queue_bytes must be at least max_frame_bytes");
  }
  if (options.log_format != LogFormat::text && options.log_format != LogFormat::json) {
    throw std::invalid_argument("mesh: log_format is not a LogFormat");
  }
  return options;
}

std::unique_ptr<Cluster> make_cluster(const NodeOptions& options, ClusterHost& host) {
  if (options.listen.empty()) return nullptr;
  return std::make_unique<Cluster>(
      ClusterOptions{options.name, options.listen, options.seeds, options.cookie,
                     options.heartbeat_interval, options.failure_timeout, options.max_frame_bytes,
                     options.discovery, options.discovery_interval, options.join_timeout,
                     options.max_send_queue_bytes, options.tls, options.max_handshakes},
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
      http_(options.http_listen.empty() ? nullptr
                                        : std::make_unique<HttpGateway>(*this, options)),
      cluster_(make_cluster(validated(options), *this)),
      options_(finished(std::move(options), cluster_.get())),
      host_(HostOptions{options_.name, options_.shard_count, options_.worker_threads,
                        options_.max_extra_workers, options_.inline_limit, &facade_,
                        &capability_ids_,
                        [this](LogEvent&& event) { log(std::move(event)); },
                        options_.max_activations, options_.state_store}),
      rebalancer_(options_, cluster_.get(), host_, registry_, capability_ids_,
                  [this](LogEvent&& event) { log(std::move(event)); }) {
  if (cluster_) {
    host_.set_moved_sink(
        [this](ActorHost::MovedActor&& moved) { rebalancer_.on_moved(std::move(moved)); });
    host_.set_shard_moved_sink([this](ShardRef key) { rebalancer_.on_shard_moved(key); });
    host_.set_owner_check([this](std::uint32_t capability, std::uint32_t shard) {
      return rebalancer_.table().owned_here(capability, shard);
    });
  }
  if (options_.state_store) {
    register_reminder_ops();
    reminders_ = std::make_unique<Reminders>(
        options_.state_store, host_, rebalancer_, capability_ids_,
        [this](const ReminderRow& row, std::function<void(bool)> done) {
          deliver_reminder(row, std::move(done));
        },
        [this](LogEvent&& event) { log(std::move(event)); });
  }
  rebalancer_.start();
  if (reminders_) reminders_->start();
  if (cluster_) cluster_->start({});
  if (http_) http_->start();
}

NodeCore::~NodeCore() {
  // Take no more HTTP requests, record the reminders being delivered, hand the shards over
  // and leave, so that peers stop routing here, then stop the actors.
  if (http_) http_->stop();
  if (reminders_) reminders_->stop();
  if (cluster_) rebalancer_.leave();
  rebalancer_.stop();
  host_.stop();
}

void NodeCore::on_peers_changed(std::vector<MemberInfo> peers) {
  rebalancer_.on_peers_changed(std::move(peers));
}

void NodeCore::on_synced() { rebalancer_.on_synced(); }

void NodeCore::on_control(const std::string& from, ControlMessage&& message) {
  rebalancer_.on_control(from, std::move(message));
}

void NodeCore::register_actor_type(std::string module, const ActorVTable& vtable,
                                   ActorOptions options) {
  if (!module.empty() && module.front() == '$') {
    throw std::invalid_argument("mesh: module names starting with '$' are reserved: " + module);
  }
  if (options.persistence != Persistence::none && !options_.state_store) {
    throw std::invalid_argument("mesh: " + module +
                                " is persistent but the node has no NodeOptions::state_store");
  }
  host_.watch_idle(registry_.add(std::move(module), vtable, options));
}

void NodeCore::register_capabilities(std::vector<std::string> capabilities) {
  for (const std::string& capability : capabilities) {
    if (capability.empty()) throw std::invalid_argument("mesh: a capability name is empty");
  }
  std::sort(capabilities.begin(), capabilities.end());
  capabilities.erase(std::unique(capabilities.begin(), capabilities.end()), capabilities.end());
  rebalancer_.set_capabilities(std::move(capabilities));
}

Result<NodeCore::Route> NodeCore::resolve(const Request& request) const {
  if (request.module.empty()) return invalid("request has an empty module");
  if (request.id.empty()) return invalid("request has an empty id");
  if (request.capability.empty()) return invalid("request has an empty capability");
  if (request.timeout <= std::chrono::milliseconds::zero()) {
    return invalid("request timeout must be positive");
  }
  const RoutingTable& table = rebalancer_.table();
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
// waits: a blocking caller on its own thread, anything else parked in arrival order and routed
// again when the shard is released. Parked work only queues when it resumes, so it never runs
// a handler inside the release. Work the host refuses (the view changed after resolve) is
// routed again by the newer view, with the deadline it came with.
Result<Reply> NodeCore::route_call(Request&& request, const ChainPtr& chain) {
  const auto deadline = Clock::now() + request.timeout;
  for (std::uint32_t attempt = 0;; ++attempt) {
    Result<Route> route = resolve(request);
    if (!route) return std::unexpected(std::move(route.error()));
    if (attempt > 0 && !with_time_left(request, deadline)) {
      return std::unexpected(timed_out("while its shard was moving"));
    }
    const Target* local = std::get_if<Target>(&*route);
    if (!local) return cluster_->call(std::get<std::string>(*route), std::move(request), chain, 0);
    ShardHandoffs& handoffs = rebalancer_.handoffs();
    if (handoffs.waiting(local->shard_ref())) {
      handoffs.wait(local->shard_ref(), deadline);
      continue;
    }
    if (auto reply = host_.call(*local, request, chain)) return std::move(*reply);
    if (attempt >= kMaxReroutes) return std::unexpected(unsettled());
  }
}

Result<void> NodeCore::route_cast(Request&& request) {
  for (std::uint32_t attempt = 0;; ++attempt) {
    Result<Route> route = resolve(request);
    if (!route) return std::unexpected(std::move(route.error()));
    const Target* local = std::get_if<Target>(&*route);
    if (!local) return cluster_->cast(std::get<std::string>(*route), std::move(request), 0);
    if (rebalancer_.handoffs().waiting(local->shard_ref())) {
      auto parked = std::make_shared<Request>(std::move(request));
      if (rebalancer_.handoffs().park(local->shard_ref(), [this, parked] {
            (void)route_cast(std::move(*parked));
          })) {
        return {};
      }
      request = std::move(*parked);
    }
    if (auto queued = host_.cast(*local, request)) return *queued;
    if (attempt >= kMaxReroutes) return std::unexpected(unsettled());
  }
}

void NodeCore::route_async_call(Request&& request, CallState::Callback done) {
  route_async(std::move(request), std::move(done), Clock::now() + request.timeout,
              ActorHost::AsyncOrigin::local, 0);
}

void NodeCore::route_async(Request&& request, CallState::Callback done,
                           Clock::time_point deadline, ActorHost::AsyncOrigin origin,
                           std::uint32_t attempt) {
  Result<Route> route = resolve(request);
  if (!route) {
    done(std::unexpected(std::move(route.error())));
    return;
  }
  if (attempt > 0 && !with_time_left(request, deadline)) {
    done(std::unexpected(timed_out("while its shard was moving")));
    return;
  }
  const Target* local = std::get_if<Target>(&*route);
  if (!local) {
    cluster_->async_call(std::get<std::string>(*route), std::move(request), nullptr, 0,
                         std::move(done));
    return;
  }
  if (rebalancer_.handoffs().waiting(local->shard_ref())) {
    auto parked = std::make_shared<ParkedCall>(std::move(request), std::move(done));
    // Resumed on the thread that finishes the release: queued, never run there.
    if (rebalancer_.handoffs().park(local->shard_ref(), [this, parked, deadline, attempt] {
          route_async(std::move(parked->request), std::move(parked->done), deadline,
                      ActorHost::AsyncOrigin::queued, attempt + 1);
        })) {
      return;
    }
    request = std::move(parked->request);
    done = std::move(parked->done);
  }
  if (host_.async_call(*local, request, nullptr, done, origin)) return;
  if (attempt >= kMaxReroutes) {
    done(std::unexpected(unsettled()));
    return;
  }
  route_async(std::move(request), std::move(done), deadline, origin, attempt + 1);
}

NodeStatus NodeCore::status() const {
  NodeStatus status;
  status.name = options_.name;
  status.view_epoch = rebalancer_.epoch();
  status.members = rebalancer_.members();
  const std::shared_ptr<const RoutingTable> table = rebalancer_.table_snapshot();
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
  status.handoffs_in_progress = rebalancer_.handoffs_in_progress();
  status.reconciler_runs = rebalancer_.reconciler_runs();
  status.reconciler_stopped = rebalancer_.reconciler_stopped();
  if (cluster_) status.handshakes_refused = cluster_->handshakes_refused();
  if (options_.discovery) status.discovery_dropped = options_.discovery->dropped();
  status.timers = host_.timer_count();
  if (reminders_) {
    std::tie(status.reminders_held, status.reminders_due) = reminders_->held_and_due();
    status.reminders_fired = reminders_->fired();
  }
  return status;
}

std::vector<ActivationInfo> NodeCore::activations() const {
  std::vector<ActivationInfo> out;
  host_.for_each([&](const Activation& a, std::uint32_t shard) {
    out.push_back(ActivationInfo{a.type->module, std::string(a.id()),
                                 capability_ids_.name(a.capability), shard,
                                 Pid{options_.name, a.serial}});
  });
  return out;
}

std::size_t NodeCore::activations(std::size_t limit, std::vector<ActivationInfo>& first) const {
  std::size_t total = 0;
  host_.for_each([&](const Activation& a, std::uint32_t shard) {
    if (total++ >= limit) return;
    first.push_back(ActivationInfo{a.type->module, std::string(a.id()),
                                   capability_ids_.name(a.capability), shard,
                                   Pid{options_.name, a.serial}});
  });
  return total;
}

std::vector<std::string> NodeCore::nodes_for(std::string_view capability) const {
  const CapabilityRoute* route = rebalancer_.table().find(capability);
  return route ? route->nodes : std::vector<std::string>{};
}

std::vector<std::string> NodeCore::all_capabilities() const {
  return rebalancer_.table().capabilities();
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
  const CapabilityRoute* route = rebalancer_.table().find(capability);
  if (!route) {
    return std::unexpected(
        Error{Errc::no_nodes, "no node has capability '" + std::string(capability) + "'"});
  }
  return route->owner_of(shard);
}

}  // namespace mesh::detail

namespace mesh::detail {

void NodeCore::async_locate(Request&& request, LocateCallback done) {
  Result<Route> route = resolve(request);
  if (!route) return done(std::unexpected(std::move(route.error())));
  if (const Target* local = std::get_if<Target>(&*route)) {
    const std::optional<std::uint64_t> serial = host_.find(*local, request.id);
    if (!serial) return done(std::optional<Pid>());
    return done(std::optional<Pid>(Pid{options_.name, *serial}));
  }
  Request query;
  query.module = std::string(kLocateModule);
  query.id = std::move(request.id);
  query.capability = std::move(request.capability);
  query.payload = std::move(request.module);
  query.timeout = request.timeout;
  cluster_->async_call(std::get<std::string>(*route), std::move(query), nullptr, 0,
                       [done = std::move(done)](Result<Reply> reply) {
                         if (!reply) return done(std::unexpected(std::move(reply.error())));
                         if (reply->value != true) return done(std::optional<Pid>());
                         done(std::optional<Pid>(std::move(reply->pid)));
                       });
}

void NodeCore::serve_locate(Request&& request, const CallState::Callback& done) {
  if (!request.payload.is_string()) {
    return done(std::unexpected(Error{Errc::invalid_request, "a locate query names a module"}));
  }
  request.module = request.payload.get<std::string>();
  Result<Route> route = resolve(request);
  if (!route) return done(std::unexpected(std::move(route.error())));
  const Target* local = std::get_if<Target>(&*route);
  // Not owned here by this node's view: the asking node's view is older or newer for a moment;
  // nothing is active here for it either way.
  const std::optional<std::uint64_t> serial =
      local ? host_.find(*local, request.id) : std::nullopt;
  done(Reply{Pid{options_.name, serial.value_or(0)}, Value(serial.has_value())});
}

}  // namespace mesh::detail

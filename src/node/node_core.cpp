#include "node/node_core.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>
#include <unistd.h>

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

NodeOptions checked(NodeOptions options) {
  if (options.shard_count == 0 || options.shard_count > kMaxShards) {
    throw std::invalid_argument("mesh: shard_count must be between 1 and 1048576, got " +
                                std::to_string(options.shard_count));
  }
  if (!options.listen.empty() || !options.seeds.empty()) {
    throw std::invalid_argument(
        "mesh: this build has no cluster transport yet; leave listen and seeds empty");
  }
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
      options_(checked(std::move(options))),
      members_{MemberInfo{options_.name, {}}},
      routes_(std::make_shared<const RoutingTable>(
          0, members_, *options_.strategy, options_.shard_count, options_.name,
          [this](std::string_view c) { return capability_ids_.intern(c); })),
      host_(HostOptions{options_.name, options_.shard_count, options_.worker_threads,
                        options_.max_extra_workers, options_.inline_limit},
            *this) {}

NodeCore::~NodeCore() { host_.stop(); }

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
  members_.front().capabilities = std::move(capabilities);
  publish_routes();
}

void NodeCore::publish_routes() {
  routes_.publish(std::make_shared<const RoutingTable>(
      ++epoch_, members_, *options_.strategy, options_.shard_count, options_.name,
      [this](std::string_view c) { return capability_ids_.intern(c); }));
}

Result<Target> NodeCore::resolve(const Request& request) const {
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
  if (!route->owned_here(shard)) {
    return std::unexpected(Error{Errc::node_unreachable,
                                 "owner " + route->owner_of(shard) + " is not reachable"});
  }
  const ActorType* type = registry_.find(request.module);
  if (!type) {
    return std::unexpected(Error{Errc::unknown_module, "node " + options_.name +
                                                           " has no actor module '" +
                                                           request.module + "'"});
  }
  return Target{type, route->id, shard, hash};
}

Result<Reply> NodeCore::route_call(Request&& request, const ChainPtr& chain) {
  const Result<Target> target = resolve(request);
  if (!target) return std::unexpected(target.error());
  return host_.call(*target, std::move(request), chain);
}

Result<void> NodeCore::route_cast(Request&& request) {
  const Result<Target> target = resolve(request);
  if (!target) return std::unexpected(target.error());
  return host_.cast(*target, std::move(request));
}

void NodeCore::route_async_call(Request&& request, CallState::Callback done) {
  const Result<Target> target = resolve(request);
  if (!target) {
    done(std::unexpected(target.error()));
    return;
  }
  host_.async_call(*target, std::move(request), std::move(done));
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

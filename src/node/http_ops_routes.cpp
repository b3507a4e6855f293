// The operator's routes of the HTTP API (docs/operations.md, "Status and shard map"): this
// node's status, every member's, the shard map of a capability, a page of activations, and a
// reconciler run on demand.
#include <charconv>
#include <map>
#include <memory>
#include <mutex>

#include "node/http_gateway.hpp"
#include "node/node_core.hpp"
#include "node/status_json.hpp"

namespace mesh::detail {
namespace {

using http::HttpRequest;
using http::HttpResponse;
using http::PathParams;
using http::Respond;

// How long GET /v1/cluster waits for each peer's status: a node that cannot answer within it is
// reported as such rather than holding the page.
constexpr std::chrono::milliseconds kPeerStatusTimeout{1000};

constexpr std::size_t kDefaultActivationPage = 100;
constexpr std::size_t kMaxActivationPage = 10'000;

// The value of `name` in a raw query string ("limit=5&x=1"), nullopt when absent.
std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// "limit": 1..10000, default 100; nullopt when it is anything else.
std::optional<std::size_t> page_limit(std::string_view query) {
  const std::optional<std::string_view> text = query_param(query, "limit");
  if (!text) return kDefaultActivationPage;
  std::size_t limit = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
  if (ec != std::errc() || end != text->data() + text->size() || limit == 0 ||
      limit > kMaxActivationPage) {
    return std::nullopt;
  }
  return limit;
}

std::string pid_text(const Pid& pid) { return pid.node + "." + std::to_string(pid.serial); }

// Collects every member's entry of GET /v1/cluster as the answers come, and answers once the
// last one is in. Answers come on IO threads of the cluster, or at once on this one.
class ClusterGather {
 public:
  ClusterGather(Value head, std::size_t count, Respond respond)
      : head_(std::move(head)), entries_(count), left_(count), respond_(std::move(respond)) {}

  void set(std::size_t index, Value entry) {
    std::unique_lock lock(mutex_);
    entries_[index] = std::move(entry);
    if (--left_ > 0) return;
    lock.unlock();  // the last answer: nothing writes entries_ any more
    Value body = std::move(head_);
    body["nodes"] = std::move(entries_);
    respond_(json_response(200, body));
  }

 private:
  std::mutex mutex_;
  Value head_;
  std::vector<Value> entries_;
  std::size_t left_;
  Respond respond_;
};

}  // namespace

void HttpGateway::add_ops_routes() {
  router_.add("GET", "/v1/status", [this](HttpRequest&&, PathParams&&, Respond respond) {
    respond(json_response(200, status_json(core_)));
  });

  router_.add("GET", "/v1/cluster", [this](HttpRequest&&, PathParams&&, Respond respond) {
    // Capabilities as this node sees them, so that a member that cannot answer still has them.
    std::map<std::string, Value> capabilities;
    for (const std::string& member : core_.members()) capabilities[member] = Value::array();
    for (const std::string& capability : core_.all_capabilities()) {
      for (const std::string& node : core_.nodes_for(capability)) {
        capabilities.try_emplace(node, Value::array()).first->second.push_back(capability);
      }
    }
    const std::shared_ptr<const RoutingTable> table = core_.routing_table();
    auto gather = std::make_shared<ClusterGather>(
        Value{{"node", core_.name()}, {"view_epoch", table->epoch()}}, capabilities.size(),
        std::move(respond));
    std::size_t index = 0;
    for (auto& [name, node_capabilities] : capabilities) {
      Value entry{{"name", name}, {"capabilities", std::move(node_capabilities)}};
      const std::size_t slot = index++;
      if (name == core_.name()) {
        entry["status"] = status_json(core_);
        gather->set(slot, std::move(entry));
        continue;
      }
      core_.async_status(name, kPeerStatusTimeout,
                         [gather, slot, entry = std::move(entry)](Result<Value> status) mutable {
                           if (status) {
                             entry["status"] = std::move(*status);
                           } else {
                             entry["error"] = to_string(status.error().code);
                             entry["message"] = status.error().message;
                           }
                           gather->set(slot, std::move(entry));
                         });
    }
  });

  router_.add("GET", "/v1/shards/{capability}",
              [this](HttpRequest&&, PathParams&& params, Respond respond) {
                const std::string& capability = params["capability"];
                const std::shared_ptr<const RoutingTable> table = core_.routing_table();
                const CapabilityRoute* route = table->find(capability);
                if (!route) {
                  return respond(error_response(
                      Error{Errc::no_nodes, "no node has capability '" + capability + "'"}));
                }
                std::vector<std::size_t> counts(route->nodes.size(), 0);
                for (const std::uint32_t owner : route->owner) ++counts[owner];
                Value count_of = Value::object();
                for (std::size_t i = 0; i < route->nodes.size(); ++i) {
                  count_of[route->nodes[i]] = counts[i];
                }
                Value body = Value::object();
                body["capability"] = capability;
                body["view_epoch"] = table->epoch();
                body["shard_count"] = table->shard_count();
                body["nodes"] = route->nodes;
                body["owners"] = route->owner;
                body["counts"] = std::move(count_of);
                respond(json_response(200, body));
              });

  router_.add("GET", "/v1/activations", [this](HttpRequest&& http, PathParams&&, Respond respond) {
    const std::optional<std::size_t> limit = page_limit(http.query);
    if (!limit) {
      return respond(HttpResponse::error(400, "invalid_request",
                                         "\"limit\" must be an integer from 1 to 10000"));
    }
    std::vector<ActivationInfo> first;
    const std::size_t total = core_.activations(*limit, first);
    Value list = Value::array();
    for (const ActivationInfo& a : first) {
      list.push_back(Value{{"capability", a.capability},
                           {"module", a.module},
                           {"id", a.id},
                           {"shard", a.shard},
                           {"pid", pid_text(a.pid)}});
    }
    respond(json_response(200, Value{{"total", total}, {"activations", std::move(list)}}));
  });

  router_.add("POST", "/v1/reconcile", [this](HttpRequest&&, PathParams&&, Respond respond) {
    respond(json_response(200, Value{{"stopped", core_.reconcile()}}));
  });
}

}  // namespace mesh::detail

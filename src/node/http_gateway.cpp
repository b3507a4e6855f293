#include "node/http_gateway.hpp"

#include <limits>
#include <map>
#include <optional>
#include <stdexcept>

#include "http/http_server.hpp"
#include "node/node_core.hpp"

namespace mesh::detail {
namespace {

using http::HttpRequest;
using http::HttpResponse;
using http::PathParams;
using http::Respond;

// The longest timeout_ms a request may ask for (an hour): longer is a mistake, not a wait.
constexpr std::int64_t kMaxTimeoutMs = 3'600'000;

}  // namespace

int http_status(Errc code) {
  switch (code) {
    case Errc::invalid_request:
      return 400;
    case Errc::unknown_module:
      return 404;
    case Errc::deadlock:
      return 409;
    case Errc::fenced:
      return 409;
    case Errc::overloaded:
      return 429;
    case Errc::actor_crashed:
      return 500;
    case Errc::activation_failed:
      return 500;
    case Errc::node_unreachable:
      return 502;
    case Errc::no_nodes:
      return 503;
    case Errc::shutting_down:
      return 503;
    case Errc::store_unavailable:
      return 503;
    case Errc::timeout:
      return 504;
  }
  return 500;
}

// Invalid UTF-8 in a reply (an actor may put any bytes in a string) becomes U+FFFD rather than
// failing the whole answer.
HttpResponse json_response(int status, const Value& body) {
  HttpResponse response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, Value::error_handler_t::replace);
  return response;
}

HttpResponse error_response(const Error& error) {
  return HttpResponse::error(http_status(error.code), to_string(error.code), error.message);
}

namespace {

HttpResponse invalid(std::string_view message) {
  return HttpResponse::error(400, "invalid_request", message);
}

std::string pid_text(const Pid& pid) { return pid.node + "." + std::to_string(pid.serial); }

// The node's own modules (the locate query, the reminder operations) are for nodes, not for
// outside callers: refused as if they did not exist.
bool internal_module(std::string_view module) {
  return (!module.empty() && module.front() == '$') || module == NodeCore::kReminderModule;
}

HttpResponse internal_module_refused(const std::string& module) {
  return HttpResponse::error(404, "unknown_module", "'" + module + "' is internal to mesh");
}

Request actor_request(PathParams& params) {
  Request request;
  request.capability = std::move(params["capability"]);
  request.module = std::move(params["module"]);
  request.id = std::move(params["id"]);
  return request;
}

// Values are encoded, copied and destroyed recursively further on (the reply's JSON, MessagePack
// to a peer): a body nested without bound would overflow a thread's stack. Deeper than this is
// refused before parsing.
constexpr int kMaxNesting = 128;

bool nested_too_deep(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxNesting) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// Fills payload, init_arg and timeout from a call or cast body:
// {"payload": any, "init_arg": any (optional), "timeout_ms": integer (optional)}.
std::optional<HttpResponse> read_body(const std::string& text, Request& request) {
  if (nested_too_deep(text)) return invalid("the body is nested deeper than 128 levels");
  Value body = Value::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return invalid("the body is not valid JSON");
  if (!body.is_object()) return invalid("the body must be a JSON object");
  const auto payload = body.find("payload");
  if (payload == body.end()) return invalid("the body has no \"payload\"");
  request.payload = std::move(*payload);
  if (const auto init = body.find("init_arg"); init != body.end()) {
    request.init_arg = std::move(*init);
  }
  if (const auto timeout = body.find("timeout_ms"); timeout != body.end()) {
    if (!timeout->is_number_integer() || timeout->get<std::int64_t>() <= 0 ||
        timeout->get<std::int64_t>() > kMaxTimeoutMs) {
      return invalid("\"timeout_ms\" must be an integer from 1 to 3600000");
    }
    request.timeout = std::chrono::milliseconds(timeout->get<std::int64_t>());
  }
  return std::nullopt;
}

}  // namespace

HttpGateway::HttpGateway(NodeCore& core, const NodeOptions& options) : core_(core) {
  if (options.http_threads == 0 || options.http_threads > 64) {
    throw std::invalid_argument("mesh: http_threads must be 1..64");
  }
  if (options.http_max_connections == 0 || options.http_max_header_bytes < 1024) {
    throw std::invalid_argument(
        "mesh: http_max_connections must be positive and http_max_header_bytes at least 1024");
  }
  if (options.http_read_timeout <= std::chrono::milliseconds::zero()) {
    throw std::invalid_argument("mesh: http_read_timeout must be positive");
  }
  http::HttpServerOptions server;
  server.listen = options.http_listen;
  server.token = options.http_token;
  server.max_body = options.http_max_body;
  server.max_header_bytes = options.http_max_header_bytes;
  server.max_connections = options.http_max_connections;
  server.read_timeout = options.http_read_timeout;
  server.threads = options.http_threads;
  server.log_warning = [&core](const std::string& line) {
    core.log({LogLevel::warning, "http_warning", line, {}});
  };
  add_actor_routes();
  add_cluster_routes();
  add_metrics_route();
  add_ops_routes();
  add_dashboard_routes(options);
  server_ = std::make_unique<http::HttpServer>(std::move(server), router_);
}

HttpGateway::~HttpGateway() { server_->stop(); }

void HttpGateway::start() { server_->start(); }

void HttpGateway::stop() { server_->stop(); }

const std::string& HttpGateway::address() const { return server_->address(); }

void HttpGateway::add_actor_routes() {
  router_.add("POST", "/v1/actors/{capability}/{module}/{id}/call",
              [this](HttpRequest&& http, PathParams&& params, Respond respond) {
                Request request = actor_request(params);
                if (internal_module(request.module)) {
                  return respond(internal_module_refused(request.module));
                }
                if (auto refused = read_body(http.body, request)) return respond(*refused);
                core_.route_async_call(std::move(request), [respond](Result<Reply> reply) {
                  if (!reply) return respond(error_response(reply.error()));
                  Value body = Value::object();
                  body["pid"] = pid_text(reply->pid);
                  body["node"] = std::move(reply->pid.node);
                  body["value"] = std::move(reply->value);
                  respond(json_response(200, body));
                });
              });
  router_.add(
      "POST", "/v1/actors/{capability}/{module}/{id}/cast",
      [this](HttpRequest&& http, PathParams&& params, Respond respond) {
        Request request = actor_request(params);
        if (auto refused = read_body(http.body, request)) return respond(*refused);
        const Result<void> routed = core_.route_cast(std::move(request));
        respond(routed ? json_response(202, Value::object()) : error_response(routed.error()));
      });
  router_.add("GET", "/v1/actors/{capability}/{module}/{id}",
              [this](HttpRequest&&, PathParams&& params, Respond respond) {
                Request request = actor_request(params);
                if (request.capability.empty() || request.module.empty() || request.id.empty()) {
                  return respond(invalid("empty capability, module or id"));
                }
                if (internal_module(request.module)) {
                  return respond(internal_module_refused(request.module));
                }
                const std::uint32_t shard = core_.shard_for(request.id);
                Result<std::string> owner = core_.owner_node(shard, request.capability);
                if (!owner) return respond(error_response(owner.error()));
                core_.async_locate(std::move(request), [respond, shard, owner = *owner](
                                                           Result<std::optional<Pid>> found) {
                  if (!found) return respond(error_response(found.error()));
                  Value body = Value::object();
                  body["shard"] = shard;
                  body["owner"] = owner;
                  body["active"] = found->has_value();
                  body["pid"] = found->has_value() ? Value(pid_text(**found)) : Value(nullptr);
                  respond(json_response(200, body));
                });
              });
}

void HttpGateway::add_cluster_routes() {
  router_.add("GET", "/v1/nodes", [this](HttpRequest&&, PathParams&&, Respond respond) {
    std::map<std::string, Value> nodes;
    for (const std::string& member : core_.members()) nodes[member] = Value::array();
    for (const std::string& capability : core_.all_capabilities()) {
      for (const std::string& node : core_.nodes_for(capability)) {
        auto [it, added] = nodes.try_emplace(node, Value::array());
        it->second.push_back(capability);
      }
    }
    Value list = Value::array();
    for (auto& [name, capabilities] : nodes) {
      list.push_back(Value{{"name", name}, {"capabilities", std::move(capabilities)}});
    }
    respond(json_response(200, Value{{"nodes", std::move(list)}}));
  });
  router_.add("GET", "/v1/capabilities", [this](HttpRequest&&, PathParams&&, Respond respond) {
    Value capabilities = Value::object();
    for (const std::string& capability : core_.all_capabilities()) {
      capabilities[capability] = core_.nodes_for(capability);
    }
    respond(json_response(200, Value{{"capabilities", std::move(capabilities)}}));
  });
}

// Prometheus scrapes this (docs/operations.md): with http_token set, the scrape config sends
// it as a Bearer token ("authorization" in the scrape config), like any other client.
void HttpGateway::add_metrics_route() {
  router_.add("GET", "/metrics", [this](HttpRequest&&, PathParams&&, Respond respond) {
    HttpResponse response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = core_.metrics_text();
    respond(std::move(response));
  });
}

}  // namespace mesh::detail

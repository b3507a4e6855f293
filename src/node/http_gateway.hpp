// HttpGateway: the node's HTTP/JSON API (docs/http-api.md) on the http layer's server.
#pragma once

#include <memory>
#include <string>

#include "http/router.hpp"
#include "mesh/error.hpp"
#include "mesh/node_options.hpp"
#include "mesh/value.hpp"

namespace mesh::detail {

namespace http {
class HttpServer;  // http_server.hpp brings Asio: only http_gateway.cpp includes it
}
class NodeCore;

// The HTTP status an error code answers with (docs/http-api.md, "Errors").
int http_status(Errc code);
// The API's answers, shared by the route files: a JSON body (invalid UTF-8 in strings becomes
// U+FFFD), and an error's {"error", "message"} with its status.
http::HttpResponse json_response(int status, const Value& body);
http::HttpResponse error_response(const Error& error);

// Serves /v1/... for one node: calls and casts go through the node's own routing
// (NodeCore::route_async_call / route_cast), so any node serves any actor. More routes (the
// node's status, metrics) can be added to router() before start(). Thread-safe.
class HttpGateway {
 public:
  // Binds options.http_listen (throws std::invalid_argument / std::system_error).
  HttpGateway(NodeCore& core, const NodeOptions& options);
  ~HttpGateway();

  http::Router& router() { return router_; }
  void start();
  // Stops taking requests and joins the IO threads; answers still to come are dropped. The
  // gateway itself must be destroyed only once no call it started can still complete.
  void stop();
  const std::string& address() const;

 private:
  void add_actor_routes();
  void add_cluster_routes();
  void add_metrics_route();
  void add_ops_routes();  // http_ops_routes.cpp
  void add_dashboard_routes(const NodeOptions& options);  // http_dashboard_routes.cpp

  NodeCore& core_;
  http::Router router_;
  std::unique_ptr<http::HttpServer> server_;
};

}  // namespace mesh::detail

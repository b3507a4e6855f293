// Router: maps a method and a path pattern to the function that answers it.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_message.hpp"

namespace mesh::detail::http {

// Percent-decodes one path segment ("a%2Fb" -> "a/b"; '+' stays '+'). Nullopt for a malformed
// escape (a '%' not followed by two hex digits) or a decoded NUL.
std::optional<std::string> percent_decode(std::string_view segment);

// The named segments of a matched pattern, percent-decoded.
using PathParams = std::map<std::string, std::string, std::less<>>;

// Answers a request exactly once, from any thread. Cheap to copy; calls after the first are
// ignored.
using Respond = std::function<void(HttpResponse)>;

using Route = std::function<void(HttpRequest&& request, PathParams&& params, Respond respond)>;

// Who a route serves: only authorized requests (HttpRequest::authorized), or everyone (a login
// form; the route itself looks at `authorized` to choose what to show).
enum class Access { token, open };

// Patterns are paths whose segments are literals or "{name}" captures, e.g.
// "/v1/actors/{capability}/{module}/{id}/call"; a capture matches one non-empty segment, which
// may hold an encoded '/' ("%2F"). Routes are added before the server starts and read-only
// afterwards, so dispatch is thread-safe without a lock.
class Router {
 public:
  // Throws std::invalid_argument for a pattern that does not start with '/'.
  void add(std::string method, std::string_view pattern, Route route,
           Access access = Access::token);

  // Runs the route for request, or answers 404 not_found (no pattern matches the path),
  // 405 (a pattern matches, not with this method; with an Allow header) or 400
  // invalid_request (a malformed percent escape). A route that throws answers 500. A request
  // that is not authorized reaches only the open routes; for anything else it is answered 401
  // unauthorized (with WWW-Authenticate: Bearer), whether or not a route has the path, so
  // that the routes cannot be probed without the token.
  void dispatch(HttpRequest&& request, const Respond& respond) const;

 private:
  struct Entry {
    std::string method;
    std::vector<std::string> segments;  // "{name}" for a capture
    Route route;
    Access access;
  };
  std::vector<Entry> entries_;
};

}  // namespace mesh::detail::http

#include "http/router.hpp"

#include <exception>
#include <stdexcept>

namespace mesh::detail::http {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    const std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    path.remove_prefix(slash + 1);
  }
}

bool is_capture(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view segment) {
  std::string out;
  out.reserve(segment.size());
  for (std::size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] != '%') {
      out += segment[i];
      continue;
    }
    if (i + 2 >= segment.size()) return std::nullopt;
    const int high = hex_value(segment[i + 1]);
    const int low = hex_value(segment[i + 2]);
    if (high < 0 || low < 0 || (high == 0 && low == 0)) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

void Router::add(std::string method, std::string_view pattern, Route route, Access access) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("mesh: a route pattern must start with '/'");
  }
  Entry entry{std::move(method), {}, std::move(route), access};
  for (std::string_view segment : split_path(pattern)) entry.segments.emplace_back(segment);
  entries_.push_back(std::move(entry));
}

void Router::dispatch(HttpRequest&& request, const Respond& respond) const {
  const std::vector<std::string_view> segments = split_path(request.path);
  std::string allowed;
  for (const Entry& entry : entries_) {
    if (!request.authorized && entry.access != Access::open) continue;
    if (entry.segments.size() != segments.size()) continue;
    PathParams params;
    bool match = true;
    for (std::size_t i = 0; i < segments.size() && match; ++i) {
      if (!is_capture(entry.segments[i])) {
        match = entry.segments[i] == segments[i];
      } else if (segments[i].empty()) {
        match = false;
      } else {
        std::optional<std::string> value = percent_decode(segments[i]);
        if (!value) {
          respond(
              HttpResponse::error(400, "invalid_request", "malformed percent-encoding in path"));
          return;
        }
        const std::string& name = entry.segments[i];
        params.emplace(name.substr(1, name.size() - 2), std::move(*value));
      }
    }
    if (!match) continue;
    if (entry.method != request.method) {
      if (allowed.find(entry.method) == std::string::npos) {
        allowed += allowed.empty() ? "" : ", ";
        allowed += entry.method;
      }
      continue;
    }
    try {
      entry.route(std::move(request), std::move(params), respond);
    } catch (const std::exception& e) {
      // The route may have answered before it threw; Respond ignores a second answer.
      respond(HttpResponse::error(500, "internal", e.what()));
    }
    return;
  }
  if (!request.authorized) {
    HttpResponse response =
        HttpResponse::error(401, "unauthorized", "missing or wrong Authorization: Bearer token");
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
    respond(std::move(response));
    return;
  }
  if (!allowed.empty()) {
    HttpResponse response = HttpResponse::error(405, "method_not_allowed", "allowed: " + allowed);
    response.headers.emplace_back("Allow", allowed);
    respond(std::move(response));
    return;
  }
  respond(HttpResponse::error(404, "not_found", "no route for " + request.path));
}

}  // namespace mesh::detail::http

// HttpRequest and HttpResponse: what the HTTP server hands its routes and what they answer.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mesh::detail::http {

// One parsed request. Header names are lower-case; only the headers a route may need are kept
// (the server drops the rest while parsing, so a client cannot make it hold many).
struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // raw, still percent-encoded, without the query
  std::string query;   // after '?', raw; empty when absent
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Whether the request carries the server's token (Bearer header or session cookie), or no
  // token is configured. False until the server has checked: a request nobody checked reaches
  // only the routes open to everyone.
  bool authorized = false;

  // The value of header `name` (lower-case), or empty.
  std::string_view header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return value;
    }
    return {};
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones, e.g. Allow
  bool close = false;  // close the connection once it is written

  // A JSON error body {"error": name, "message": message} with `status`.
  static HttpResponse error(int status, std::string_view name, std::string_view message);
};

// The reason phrase of a status code ("Not Found"), or "Unknown".
std::string_view reason_phrase(int status) noexcept;

// Appends the JSON string literal for `text` (quotes and escapes) to `out`.
void append_json_string(std::string& out, std::string_view text);

}  // namespace mesh::detail::http

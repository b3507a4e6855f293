// Credentials: who may use the HTTP server when a token is configured.
#pragma once

#include <string>
#include <string_view>

#include "http/http_message.hpp"

namespace mesh::detail::http {

// A request is let in when it carries "Authorization: Bearer <token>" (scripts, Prometheus) or
// the dashboard's session cookie (a browser cannot add a header to a page load by itself). The
// cookie's value is derived from the token, so every node of a cluster accepts the cookie any of
// them handed out, no session is stored, and changing the token ends every session. Immutable
// and thread-safe.
class Credentials {
 public:
  static constexpr std::string_view kCookieName = "mesh_session";

  // An empty token: every request is let in.
  explicit Credentials(std::string_view token);

  bool required() const { return !bearer_.empty(); }
  bool accepts(const HttpRequest& request) const;
  // Whether `candidate` is the token (the login form's field). False when none is configured.
  bool is_token(std::string_view candidate) const;
  // The Set-Cookie header value that logs a browser in.
  std::string session_cookie() const;
  // The Set-Cookie header value that makes a browser drop the session cookie.
  static std::string expired_cookie();

 private:
  std::string token_;
  std::string bearer_;   // "Bearer <token>", or empty
  std::string session_;  // the cookie's value, or empty
};

// Lower-case hex of HMAC-SHA256(key = token, "mesh dashboard session"): the session cookie's
// value. Keyed with the token so that it proves knowledge of the token without revealing it
// (the cookie may be seen where the token must not be, e.g. a browser's storage).
std::string session_value(std::string_view token);

// Equality of two secrets in time that depends only on the length of `given` (the attacker's
// part), never on where the two first differ.
bool same_secret(std::string_view given, std::string_view expected);

}  // namespace mesh::detail::http

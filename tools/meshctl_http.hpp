// A small blocking HTTP/1.1 client for meshctl: one request per connection, bounded connect and
// read times, POSIX sockets. Enough for a node's HTTP listener (Content-Length answers), not a
// general client.
#pragma once

#include <chrono>
#include <expected>
#include <string>

namespace tools {

struct HttpAnswer {
  int status = 0;
  std::string body;
};

struct HttpTarget {
  std::string address;  // "host:port"; host a name, an IPv4 address or a [bracketed] IPv6 one
  std::string token;    // sent as "Authorization: Bearer <token>" when not empty
  std::chrono::milliseconds connect_timeout{3000};
};

// Sends one request and reads its answer, all within `read_timeout` once connected. The error is
// a sentence saying what failed (cannot resolve, refused, timed out, closed early, malformed).
std::expected<HttpAnswer, std::string> http_request(const HttpTarget& target,
                                                    const std::string& method,
                                                    const std::string& path,
                                                    const std::string& body,
                                                    std::chrono::milliseconds read_timeout);

// Percent-encodes one path segment: everything but letters, digits and "-._~".
std::string encode_segment(std::string_view segment);

}  // namespace tools

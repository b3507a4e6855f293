// "host:port" strings.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace mesh::detail {

struct HostPort {
  std::string host;
  std::string port;
};

// Splits "host:port", "[v6]:port" or "v6::addr" forms; nullopt when there is no port.
inline std::optional<HostPort> split_address(const std::string& address) {
  if (!address.empty() && address.front() == '[') {
    const auto close = address.find(']');
    if (close == std::string::npos || close + 2 > address.size() || address[close + 1] != ':') {
      return std::nullopt;
    }
    return HostPort{address.substr(1, close - 1), address.substr(close + 2)};
  }
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= address.size()) return std::nullopt;
  return HostPort{address.substr(0, colon), address.substr(colon + 1)};
}

inline std::string join_address(const std::string& host, unsigned short port) {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                             : host + ":" + std::to_string(port);
}

}  // namespace mesh::detail

// Discovery: where a node finds other nodes to join through, besides NodeOptions::seeds.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace mesh {

// A source of "host:port" addresses of nodes, asked periodically by the node's IO thread.
// Implementations must be thread-safe and should return quickly (bound their own timeouts).
class Discovery {
 public:
  virtual ~Discovery() = default;
  virtual std::vector<std::string> addresses() = 0;
};

// A fixed list, e.g. {"10.0.0.5:4000", "10.0.0.6:4000"}.
std::shared_ptr<Discovery> static_discovery(std::vector<std::string> addresses);

// Resolves `name` to its A records (all of them: a Kubernetes headless service has one per pod)
// and pairs each with `port`. resolver: "" = the system resolver (getaddrinfo, /etc/resolv.conf);
// "ip:port" = ask that DNS server directly over UDP (a test's own dnsmasq, say). Each lookup is
// bounded by `timeout`; a failed lookup yields no addresses and is retried on the next round.
std::shared_ptr<Discovery> dns_discovery(std::string name, unsigned short port,
                                         std::string resolver = "",
                                         std::chrono::milliseconds timeout = std::chrono::milliseconds(500));

}  // namespace mesh

// Discovery: where a node finds other nodes to join through, besides NodeOptions::seeds.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mesh {

// Who the node using a provider is, for providers that announce it (multicast_discovery).
struct DiscoveryIdentity {
  std::string name;
  std::string listen;  // "host:port" as bound (the port is real even when 0 was asked for)
  std::string cookie;  // to sign announcements with; never sent
  std::function<void(std::string_view)> warn;  // logs a warning through the node's LogSink
};

// A source of "host:port" addresses of nodes, asked every NodeOptions::discovery_interval by
// the node's discovery thread. Implementations must be thread-safe and should return quickly
// (bound their own timeouts).
class Discovery {
 public:
  virtual ~Discovery() = default;
  virtual std::vector<std::string> addresses() = 0;
  // Called once by the node, on its discovery thread, before the first addresses(). Providers
  // that only look up others ignore it (the default).
  virtual void announce_as(const DiscoveryIdentity&) {}
  // Announcements dropped as forged or malformed so far (NodeStatus::discovery_dropped). Any
  // thread.
  virtual std::uint64_t dropped() const { return 0; }
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

// UDP multicast gossip, as libcluster's Gossip strategy (docs/discovery.md): every
// addresses() call sends one announcement of this node's name and listen address to
// group:port, signed with HMAC-SHA256 of the cookie (the cookie is never sent), and returns the
// addresses of the nodes heard within the last 30 s. Announcements with a bad signature (another
// cookie, a stranger) or a bad form are dropped and counted (dropped()); at most 256 datagrams
// are read per call, so a flood costs bounded work. A listen host of 0.0.0.0 is replaced by the
// sender's address. The socket sends and joins the group on the interface of the node's listen
// address (any interface when it listens on 0.0.0.0). Needs a node with a listen address.
// Throws std::invalid_argument when `group` is not an IPv4 multicast address.
std::shared_ptr<Discovery> multicast_discovery(std::string group = "230.1.1.251",
                                               unsigned short port = 45892);

}  // namespace mesh

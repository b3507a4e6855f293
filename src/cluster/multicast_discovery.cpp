// multicast_discovery: signed announcements on a UDP multicast group (docs/discovery.md).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>

#include "cluster/address.hpp"
#include "cluster/auth.hpp"
#include "mesh/discovery.hpp"

namespace mesh {
namespace {

using Clock = std::chrono::steady_clock;

// "MESHGSP1", u16 name length, name, u16 listen length, listen, HMAC-SHA256(cookie, all before).
constexpr std::string_view kMagic = "MESHGSP1";
constexpr std::size_t kMacBytes = 32;
constexpr std::size_t kMaxDatagram = 1024;
constexpr std::size_t kReadsPerRound = 256;   // bounds the work a flood of datagrams causes
constexpr std::size_t kMaxHeard = 1024;       // bounds the memory it takes
constexpr auto kForgetAfter = std::chrono::seconds(30);

detail::auth::Bytes sign(std::string_view cookie, std::string_view message) {
  detail::auth::Bytes mac(EVP_MAX_MD_SIZE);
  unsigned int length = 0;
  HMAC(EVP_sha256(), cookie.data(), static_cast<int>(cookie.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &length);
  mac.resize(length);
  return mac;
}

void put_field(std::string& out, std::string_view field) {
  out.push_back(static_cast<char>(field.size() >> 8));
  out.push_back(static_cast<char>(field.size() & 0xff));
  out.append(field);
}

// Reads one length-prefixed field at `at`; false when it runs past `end`.
bool get_field(std::string_view data, std::size_t& at, std::size_t end, std::string& field) {
  if (at + 2 > end) return false;
  const std::size_t size = (static_cast<unsigned char>(data[at]) << 8) |
                           static_cast<unsigned char>(data[at + 1]);
  at += 2;
  if (at + size > end) return false;
  field.assign(data.substr(at, size));
  at += size;
  return true;
}

bool wildcard(const std::string& host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

class MulticastDiscovery final : public Discovery {
 public:
  MulticastDiscovery(std::string group, unsigned short port)
      : port_(port), group_text_(group) {
    if (::inet_pton(AF_INET, group.c_str(), &group_) != 1 || !IN_MULTICAST(ntohl(group_.s_addr))) {
      throw std::invalid_argument("mesh: multicast group '" + group +
                                  "' is not an IPv4 multicast address (224.0.0.0/4)");
    }
  }
  ~MulticastDiscovery() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void announce_as(const DiscoveryIdentity& self) override {
    std::lock_guard lock(mutex_);
    self_ = self;
    const auto parts = detail::split_address(self.listen);
    in_addr interface{htonl(INADDR_ANY)};
    if (parts && !wildcard(parts->host)) ::inet_pton(AF_INET, parts->host.c_str(), &interface);
    announcement_ = std::string(kMagic);
    put_field(announcement_, self.name);
    put_field(announcement_, self.listen);
    const auto mac = sign(self.cookie, announcement_);
    announcement_.append(mac.begin(), mac.end());
    if (!open_socket(interface) && self.warn) {
      self.warn("multicast discovery on " + group_text_ + ":" + std::to_string(port_) +
                " is off: " + std::strerror(errno) +
                " (does the listen address's interface have MULTICAST set?)");
    }
  }

  std::vector<std::string> addresses() override {
    std::lock_guard lock(mutex_);
    if (fd_ < 0) return {};
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr = group_;
    to.sin_port = htons(port_);
    ::sendto(fd_, announcement_.data(), announcement_.size(), 0,
             reinterpret_cast<const sockaddr*>(&to), sizeof to);
    receive();
    const auto now = Clock::now();
    std::vector<std::string> out;
    for (auto it = heard_.begin(); it != heard_.end();) {
      if (now - it->second > kForgetAfter) {
        it = heard_.erase(it);
      } else {
        out.push_back(it->first);
        ++it;
      }
    }
    return out;
  }

  std::uint64_t dropped() const override { return dropped_.load(std::memory_order_relaxed); }

 private:
  bool open_socket(in_addr interface) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    const int one = 1;
    // Room for more than a round's reads (the kernel caps it at twice net.core.rmem_max).
    const int receive_buffer = 512 * 1024;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    const unsigned char ttl = 1, loop = 1;  // the local network only; nodes on one host too
    ip_mreq join{};
    join.imr_multiaddr = group_;
    join.imr_interface = interface;
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_addr = group_;  // bound to the group: no other datagrams to this port arrive
    at.sin_port = htons(port_);
    const bool ok =
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0 &&
        ::bind(fd_, reinterpret_cast<const sockaddr*>(&at), sizeof at) == 0 &&
        ::setsockopt(fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &join, sizeof join) == 0 &&
        ::setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) == 0 &&
        ::setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) == 0 &&
        (interface.s_addr == htonl(INADDR_ANY) ||
         ::setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &interface, sizeof interface) == 0);
    if (!ok) {
      const int error = errno;
      ::close(fd_);
      fd_ = -1;
      errno = error;
    }
    return ok;
  }

  // Reads what arrived since the last round, at most kReadsPerRound datagrams.
  void receive() {
    char buffer[kMaxDatagram + 1];
    for (std::size_t i = 0; i < kReadsPerRound; ++i) {
      sockaddr_in from{};
      socklen_t from_size = sizeof from;
      const ssize_t got = ::recvfrom(fd_, buffer, sizeof buffer, 0,
                                     reinterpret_cast<sockaddr*>(&from), &from_size);
      if (got < 0) return;  // EAGAIN: nothing more queued
      if (!accept(std::string_view(buffer, static_cast<std::size_t>(got)), from.sin_addr)) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }

  // False for a datagram that is malformed or not signed with our cookie.
  bool accept(std::string_view data, in_addr sender) {
    if (data.size() > kMaxDatagram || data.size() < kMagic.size() + 4 + kMacBytes ||
        data.substr(0, kMagic.size()) != kMagic) {
      return false;
    }
    const std::size_t signed_end = data.size() - kMacBytes;
    std::size_t at = kMagic.size();
    std::string name, listen;
    if (!get_field(data, at, signed_end, name) || !get_field(data, at, signed_end, listen) ||
        at != signed_end || name.empty()) {
      return false;
    }
    const auto expected = sign(self_.cookie, data.substr(0, signed_end));
    const auto* mac = reinterpret_cast<const std::uint8_t*>(data.data() + signed_end);
    if (!detail::auth::equal(detail::auth::Bytes(mac, mac + kMacBytes), expected)) return false;
    auto parts = detail::split_address(listen);
    if (!parts) return false;
    if (name == self_.name) return true;  // our own announcement, looped back
    unsigned short port = 0;
    const auto [end, error] =
        std::from_chars(parts->port.data(), parts->port.data() + parts->port.size(), port);
    if (error != std::errc() || end != parts->port.data() + parts->port.size() || port == 0) {
      return false;
    }
    if (wildcard(parts->host)) {
      char text[INET_ADDRSTRLEN];
      if (!::inet_ntop(AF_INET, &sender, text, sizeof text)) return false;
      listen = detail::join_address(text, port);
    }
    if (heard_.size() >= kMaxHeard && !heard_.contains(listen)) return true;
    heard_[listen] = Clock::now();
    return true;
  }

  const unsigned short port_;
  const std::string group_text_;
  in_addr group_{};
  std::mutex mutex_;
  DiscoveryIdentity self_;          // guarded by mutex_
  std::string announcement_;        // guarded by mutex_
  int fd_ = -1;                     // guarded by mutex_
  std::map<std::string, Clock::time_point> heard_;  // guarded by mutex_: address -> last heard
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace

std::shared_ptr<Discovery> multicast_discovery(std::string group, unsigned short port) {
  return std::make_shared<MulticastDiscovery>(std::move(group), port);
}

}  // namespace mesh

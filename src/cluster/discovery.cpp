#include "mesh/discovery.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "cluster/address.hpp"

namespace mesh {
namespace {

class StaticDiscovery final : public Discovery {
 public:
  explicit StaticDiscovery(std::vector<std::string> addresses) : addresses_(std::move(addresses)) {}
  std::vector<std::string> addresses() override { return addresses_; }

 private:
  const std::vector<std::string> addresses_;
};

// The A records of `name` from the system resolver.
std::vector<std::string> system_lookup(const std::string& name) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::vector<std::string> ips;
  if (::getaddrinfo(name.c_str(), nullptr, &hints, &found) != 0) return ips;
  for (addrinfo* a = found; a; a = a->ai_next) {
    char text[INET_ADDRSTRLEN];
    const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
    if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text)) ips.emplace_back(text);
  }
  ::freeaddrinfo(found);
  return ips;
}

// One DNS query for the A records of `name`, sent over UDP to `server` ("ip:port").
// Minimal RFC 1035 client: it checks the id, skips the question, reads type-A answers.
std::vector<std::string> udp_lookup(const std::string& name, const std::string& server,
                                    std::chrono::milliseconds timeout) {
  std::vector<std::string> ips;
  const auto target = detail::split_address(server);
  if (!target) return ips;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(std::stoi(target->port)));
  if (::inet_pton(AF_INET, target->host.c_str(), &to.sin_addr) != 1) return ips;

  static thread_local std::mt19937 random(std::random_device{}());
  const auto id = static_cast<std::uint16_t>(random());
  std::string query{static_cast<char>(id >> 8), static_cast<char>(id & 0xff), 0x01, 0x00, 0, 1,
                    0, 0, 0, 0, 0, 0};
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    if (dot - start > 63) return ips;
    if (dot > start) {
      query.push_back(static_cast<char>(dot - start));
      query.append(name, start, dot - start);
    }
    start = dot + 1;
  }
  query.append({0, 0, 1, 0, 1});  // root, QTYPE A, QCLASS IN

  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return ips;
  unsigned char answer[1500];
  ssize_t got = -1;
  if (::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
      static_cast<ssize_t>(query.size())) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) got = ::recv(fd, answer, sizeof answer, 0);
  }
  ::close(fd);
  if (got < 12 || answer[0] != (id >> 8) || answer[1] != (id & 0xff)) return ips;
  const std::size_t size = static_cast<std::size_t>(got);
  auto skip_name = [&](std::size_t at) -> std::size_t {
    while (at < size) {
      if (answer[at] == 0) return at + 1;
      if ((answer[at] & 0xC0) == 0xC0) return at + 2;
      at += answer[at] + 1;
    }
    return size + 1;
  };
  const unsigned questions = (answer[4] << 8) | answer[5];
  const unsigned answers = (answer[6] << 8) | answer[7];
  std::size_t at = 12;
  for (unsigned q = 0; q < questions; ++q) at = skip_name(at) + 4;
  for (unsigned a = 0; a < answers && at < size; ++a) {
    at = skip_name(at);
    if (at + 10 > size) break;
    const unsigned type = (answer[at] << 8) | answer[at + 1];
    const unsigned length = (answer[at + 8] << 8) | answer[at + 9];
    at += 10;
    if (at + length > size) break;
    if (type == 1 && length == 4) {
      char text[INET_ADDRSTRLEN];
      if (::inet_ntop(AF_INET, answer + at, text, sizeof text)) ips.emplace_back(text);
    }
    at += length;
  }
  return ips;
}

class DnsDiscovery final : public Discovery {
 public:
  DnsDiscovery(std::string name, unsigned short port, std::string resolver,
               std::chrono::milliseconds timeout)
      : name_(std::move(name)), port_(port), resolver_(std::move(resolver)), timeout_(timeout) {}

  std::vector<std::string> addresses() override {
    std::vector<std::string> ips =
        resolver_.empty() ? system_lookup(name_) : udp_lookup(name_, resolver_, timeout_);
    std::sort(ips.begin(), ips.end());
    ips.erase(std::unique(ips.begin(), ips.end()), ips.end());
    std::vector<std::string> out;
    for (const std::string& ip : ips) out.push_back(detail::join_address(ip, port_));
    return out;
  }

 private:
  const std::string name_;
  const unsigned short port_;
  const std::string resolver_;
  const std::chrono::milliseconds timeout_;
};

}  // namespace

std::shared_ptr<Discovery> static_discovery(std::vector<std::string> addresses) {
  return std::make_shared<StaticDiscovery>(std::move(addresses));
}

std::shared_ptr<Discovery> dns_discovery(std::string name, unsigned short port,
                                         std::string resolver, std::chrono::milliseconds timeout) {
  return std::make_shared<DnsDiscovery>(std::move(name), port, std::move(resolver), timeout);
}

}  // namespace mesh

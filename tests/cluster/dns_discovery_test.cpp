// DNS discovery against a real DNS server (dnsmasq) that the test starts on 127.0.0.1, answering
// several A records for one name, as a Kubernetes headless service does.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "node_process.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

const char* kDnsmasq = "/usr/sbin/dnsmasq";

// A port that is free for `type` on every one of `ips` right now.
unsigned short free_port(int type, const std::vector<std::string>& ips) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int probe = ::socket(AF_INET, type, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    ::inet_pton(AF_INET, ips.front().c_str(), &address.sin_addr);
    ::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    ::getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(probe);
    const unsigned short port = ntohs(address.sin_port);
    bool free_everywhere = true;
    for (const std::string& ip : ips) {
      const int fd = ::socket(AF_INET, type, 0);
      sockaddr_in at{};
      at.sin_family = AF_INET;
      at.sin_port = htons(port);
      ::inet_pton(AF_INET, ip.c_str(), &at.sin_addr);
      free_everywhere = free_everywhere && ::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0;
      ::close(fd);
    }
    if (free_everywhere) return port;
  }
  return 0;
}

bool bindable(int type, unsigned short port) {
  const int fd = ::socket(AF_INET, type, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &at.sin_addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0;
  ::close(fd);
  return ok;
}

// dnsmasq serving name -> ips on 127.0.0.1:port, stopped (by its PID) when destroyed. It binds
// the port for UDP and TCP; another test may take the port between the probe and dnsmasq's
// bind (seen in a parallel run: "Address already in use"), so a dnsmasq that exits at once is
// started again on another port. It is up once the UDP port can no longer be bound.
class DnsServer {
 public:
  DnsServer(const std::string& name, const std::vector<std::string>& ips) {
    for (int attempt = 0; attempt < 10; ++attempt) {
      port_ = free_port(SOCK_DGRAM, {"127.0.0.1"});
      if (!bindable(SOCK_STREAM, port_)) continue;
      start(name, ips);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
          pid_ = -1;  // exited: the port was taken meanwhile
          break;
        }
        if (!bindable(SOCK_DGRAM, port_)) return;  // dnsmasq holds it
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (pid_ > 0) return;  // still running: let the test's own wait decide
    }
  }
  void start(const std::string& name, const std::vector<std::string>& ips) {
    std::vector<std::string> args{kDnsmasq, "--keep-in-foreground", "--conf-file=/dev/null",
                                  "--no-resolv", "--no-hosts", "--bind-interfaces",
                                  "--listen-address=127.0.0.1", "--port=" + std::to_string(port_),
                                  "--user=root", "--log-facility=/dev/null"};
    for (const std::string& ip : ips) args.push_back("--host-record=" + name + "," + ip);
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(kDnsmasq, argv.data());
      std::_Exit(127);
    }
  }
  ~DnsServer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  unsigned short port_ = 0;
};

const std::vector<std::string> kIps{"127.0.0.2", "127.0.0.3", "127.0.0.4"};

TEST(DnsDiscoveryTest, ResolvesEveryARecord) {
  ASSERT_EQ(::access(kDnsmasq, X_OK), 0) << "dnsmasq is missing: run scripts/install-deps.sh";
  DnsServer dns("mesh.test", kIps);
  auto discovery = dns_discovery("mesh.test", 4000, dns.address(), 200ms);
  std::vector<std::string> found;
  ASSERT_TRUE(eventually([&] {
    found = discovery->addresses();
    return found.size() == 3;
  }, 3000ms)) << "dnsmasq did not answer";
  EXPECT_EQ(found, (std::vector<std::string>{"127.0.0.2:4000", "127.0.0.3:4000", "127.0.0.4:4000"}));
  EXPECT_TRUE(dns_discovery("nope.test", 4000, dns.address(), 200ms)->addresses().empty());
  EXPECT_TRUE(dns_discovery("mesh.test", 4000, "127.0.0.1:1", 100ms)->addresses().empty())
      << "no server there: an empty answer within the timeout, not a hang";
}

TEST(DnsDiscoveryTest, NodesFindEachOtherThroughDnsAlone) {
  ASSERT_EQ(::access(kDnsmasq, X_OK), 0) << "dnsmasq is missing: run scripts/install-deps.sh";
  DnsServer dns("mesh.test", kIps);
  const unsigned short port = free_port(SOCK_STREAM, kIps);
  ASSERT_NE(port, 0);
  std::vector<std::unique_ptr<tools::NodeProcess>> nodes;
  for (const std::string& ip : kIps) {
    nodes.push_back(std::make_unique<tools::NodeProcess>(
        MESH_NODE_BINARY,
        std::vector<std::string>{"--listen", ip + ":" + std::to_string(port), "--cookie", "dns",
                                 "--capabilities", "game", "--dns", "mesh.test", "--dns-port",
                                 std::to_string(port), "--dns-server", dns.address()}));
  }
  for (auto& node : nodes) {
    EXPECT_EQ(node->command("wait-nodes game 3 5000"), "ok") << node->name() << node->log();
  }
  const std::string first = nodes[0]->command("call GameActor p1 game {\"action\":\"increment_score\"}");
  const std::string second = nodes[2]->command("call GameActor p1 game {\"action\":\"increment_score\"}");
  EXPECT_EQ(first.substr(0, first.rfind(' ')), second.substr(0, second.rfind(' ')));
  EXPECT_EQ(second.substr(second.rfind(' ') + 1), "2");
}

}  // namespace
}  // namespace mesh::test

// Multicast gossip discovery in network namespaces that this test creates (three hosts behind
// a bridge, support/netns_testbed.hpp): nodes with no seeds form one cluster; a node with
// another cookie is ignored; forged and malformed datagrams are dropped and counted, and a
// forged one makes no node dial the address it names. Needs root and iproute2 (skipped, with
// the reason, where namespaces cannot be created).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <functional>
#include <memory>
#include <thread>

#include "node_process.hpp"
#include "support/netns_testbed.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

using tools::NodeProcess;

const std::string kGroup = "230.1.1.251";
constexpr unsigned short kPort = 45892;

std::unique_ptr<NodeProcess> node(Testbed& bed, int i, const std::string& cookie) {
  return std::make_unique<NodeProcess>(
      MESH_NODE_BINARY,
      std::vector<std::string>{"--name", "node-" + std::to_string(i), "--listen",
                               bed.address(i) + ":4000", "--cookie", cookie, "--capabilities",
                               "game", "--multicast", "--discovery-ms", "200"},
      std::chrono::seconds(10), std::vector<std::string>{ip_binary(), "netns", "exec", bed.host(i)});
}

std::uint64_t dropped(NodeProcess& n) {
  const std::string answer = n.command("status");
  if (answer.rfind("status ", 0) != 0) return 0;
  return Value::parse(answer.substr(7))["discovery_dropped"].get<std::uint64_t>();
}

// Runs `work` on a thread that has entered the namespace `name` (sockets it opens live there).
void in_namespace(const std::string& name, const std::function<void()>& work) {
  std::thread([&] {
    const int ns = ::open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(ns, 0);
    ASSERT_EQ(::setns(ns, CLONE_NEWNET), 0);
    ::close(ns);
    work();
  }).join();
}

// An announcement in the format of src/cluster/multicast_discovery.cpp, signed with `cookie`.
std::string announcement(const std::string& name, const std::string& listen, const std::string& cookie) {
  std::string out = "MESHGSP1";
  for (const std::string& field : {name, listen}) {
    out.push_back(static_cast<char>(field.size() >> 8));
    out.push_back(static_cast<char>(field.size() & 0xff));
    out += field;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), cookie.data(), static_cast<int>(cookie.size()),
       reinterpret_cast<const unsigned char*>(out.data()), out.size(), mac, &length);
  out.append(reinterpret_cast<const char*>(mac), length);
  return out;
}

void send_to_group(int fd, const std::string& datagram) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(kPort);
  ::inet_pton(AF_INET, kGroup.c_str(), &to.sin_addr);
  ::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
}

class MulticastDiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!bed.ok()) GTEST_SKIP() << "cannot create network namespaces here (needs root and iproute2)";
    // Flood the group to every port, as a switch without IGMP snooping does.
    ASSERT_EQ(ip({"netns", "exec", bed.bridge(), "ip", "link", "set", "br0", "type", "bridge",
                  "mcast_snooping", "0"}), 0);
  }
  Testbed bed;
};

TEST_F(MulticastDiscoveryTest, ThreeNodesWithoutSeedsFormOneCluster) {
  std::vector<std::unique_ptr<NodeProcess>> nodes;
  for (int i = 1; i <= 3; ++i) nodes.push_back(node(bed, i, "gossip"));
  for (auto& n : nodes) ASSERT_EQ(n->command("wait-nodes game 3 5000"), "ok") << n->log();
  for (int i = 0; i < 20; ++i) {
    const std::string call = "call GameActor p" + std::to_string(i) + " game {\"action\":\"increment_score\"}";
    EXPECT_EQ(nodes[i % 3]->command(call).rfind("ok ", 0), 0u);
  }
  for (auto& n : nodes) EXPECT_EQ(dropped(*n), 0u);
  for (auto& n : nodes) EXPECT_EQ(n->terminate(), 0);
}

TEST_F(MulticastDiscoveryTest, ANodeWithAnotherCookieIsIgnored) {
  auto one = node(bed, 1, "gossip");
  auto two = node(bed, 2, "gossip");
  auto other = node(bed, 3, "another cookie");
  ASSERT_EQ(one->command("wait-nodes game 2 5000"), "ok") << one->log();
  ASSERT_EQ(two->command("wait-nodes game 2 5000"), "ok") << two->log();
  EXPECT_TRUE(eventually([&] { return dropped(*one) >= 3 && dropped(*other) >= 3; }, 3000ms))
      << dropped(*one) << " " << dropped(*other);
  // Never dialed: not even a failed cookie handshake shows in anyone's log.
  EXPECT_EQ(other->command("wait-nodes game 1 3000"), "ok");  // alone, after join_timeout
  for (auto* n : {one.get(), two.get(), other.get()}) {
    EXPECT_EQ(n->log().find("authentication failed"), std::string::npos) << n->log();
  }
  EXPECT_EQ(one->command("wait-nodes game 2 100"), "ok");
}

TEST_F(MulticastDiscoveryTest, ForgedAndMalformedDatagramsAreDroppedAndCounted) {
  auto one = node(bed, 1, "gossip");
  const std::string bait = bed.address(3) + ":4100";
  // A TCP listener at the address the datagrams name, on host 3: whoever believes one dials it.
  auto dialed_within = [&](const std::vector<std::string>& datagrams, std::chrono::milliseconds wait) {
    bool dialed = false;
    in_namespace(bed.host(3), [&] {
      const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const int one_flag = 1;
      ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one_flag, sizeof one_flag);
      sockaddr_in at{};
      at.sin_family = AF_INET;
      at.sin_port = htons(4100);
      ::inet_pton(AF_INET, bed.address(3).c_str(), &at.sin_addr);
      ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
      ASSERT_EQ(::listen(listener, 16), 0);
      const int sender = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      in_addr interface{};
      ::inet_pton(AF_INET, bed.address(3).c_str(), &interface);
      ::setsockopt(sender, IPPROTO_IP, IP_MULTICAST_IF, &interface, sizeof interface);
      const auto until = std::chrono::steady_clock::now() + wait;
      while (!dialed && std::chrono::steady_clock::now() < until) {
        for (const std::string& d : datagrams) send_to_group(sender, d);
        pollfd p{listener, POLLIN, 0};
        dialed = ::poll(&p, 1, 200) == 1;
      }
      ::close(sender);
      ::close(listener);
    });
    return dialed;
  };

  std::string truncated = announcement("bait", bait, "gossip");
  truncated.resize(truncated.size() - 5);
  std::string flipped = announcement("bait", bait, "gossip");
  flipped[12] ^= 1;
  const std::vector<std::string> forged{
      announcement("bait", bait, "not the cookie"),  // a stranger's signature
      flipped,                                       // tampered after signing
      truncated,
      "MESHGSP1",
      std::string(1400, '\xff'),
      announcement("bait", "no port here", "gossip"),
  };
  EXPECT_FALSE(dialed_within(forged, 1500ms)) << "a forged announcement was believed";
  const std::uint64_t counted = dropped(*one);
  EXPECT_GE(counted, forged.size()) << one->log();
  // Control: the same listener does get dialed once an announcement is signed with the cookie.
  EXPECT_TRUE(dialed_within({announcement("bait", bait, "gossip")}, 3000ms));
  EXPECT_EQ(one->command("status").rfind("status ", 0), 0u) << "the node survived the datagrams";
}

}  // namespace
}  // namespace mesh::test

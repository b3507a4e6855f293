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

namespace mesh::test {
namespace {

// The provider alone, on the loopback interface of this host (TTL 1, a random port of an
// administratively scoped group): its bounds on work and memory per round.
class MulticastProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port = static_cast<unsigned short>(40000 + ::getpid() % 20000);
    provider = multicast_discovery("239.255.42.42", port);
    provider->announce_as(DiscoveryIdentity{"self", "127.0.0.1:4000", "cookie", {}});
    sender = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    in_addr loopback{};
    ::inet_pton(AF_INET, "127.0.0.1", &loopback);
    ::setsockopt(sender, IPPROTO_IP, IP_MULTICAST_IF, &loopback, sizeof loopback);
  }
  void TearDown() override { ::close(sender); }

  void send(const std::string& datagram) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    ::inet_pton(AF_INET, "239.255.42.42", &to.sin_addr);
    ::sendto(sender, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  // Sends signed announcements of `count` distinct addresses, starting at port `first`.
  void announce(int first, int count) {
    for (int i = first; i < first + count; ++i) {
      send(announcement("n" + std::to_string(i), "127.0.0.1:" + std::to_string(i), "cookie"));
      if (i % 100 == 99) std::this_thread::sleep_for(2ms);  // stay within the socket buffer
    }
  }

  unsigned short port = 0;
  std::shared_ptr<Discovery> provider;
  int sender = -1;
};

TEST_F(MulticastProviderTest, ReadsAtMost256DatagramsARoundAndRemembersAtMost1024Addresses) {
  EXPECT_TRUE(provider->addresses().empty());
  announce(1000, 300);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(provider->addresses().size(), 256u) << "one round reads at most 256 datagrams";
  EXPECT_EQ(provider->addresses().size(), 300u) << "the rest waited for the next round";
  for (int batch = 0; batch < 4; ++batch) {
    announce(2000 + batch * 250, 250);
    std::this_thread::sleep_for(50ms);
    (void)provider->addresses();
  }
  EXPECT_EQ(provider->addresses().size(), 1024u) << "at most 1024 addresses are remembered";
  EXPECT_EQ(provider->dropped(), 0u);
}

TEST_F(MulticastProviderTest, OwnAnnouncementIsNotAnAddressAndOversizeDatagramsAreDropped) {
  (void)provider->addresses();  // sends "self", which loops back
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(provider->addresses().empty());
  std::string big = announcement("big", "127.0.0.1:9", "cookie");
  big.insert(10, std::string(1100, 'x'));
  send(big);
  send(announcement("zero", "0.0.0.0:4321", "cookie"));  // a wildcard host: the sender's address
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(provider->addresses(), std::vector<std::string>{"127.0.0.1:4321"});
  EXPECT_EQ(provider->dropped(), 1u);
}

TEST(MulticastDiscovery, SaysWhyWhenItCannotJoinTheGroup) {
  auto provider = multicast_discovery("239.255.42.43", 45893);
  std::string warning;
  // 192.0.2.1 (TEST-NET-1) is on no interface here, so the group cannot be joined there.
  provider->announce_as(DiscoveryIdentity{"self", "192.0.2.1:4000", "cookie",
                                          [&](std::string_view line) { warning = line; }});
  EXPECT_NE(warning.find("multicast discovery on 239.255.42.43:45893 is off: "), std::string::npos)
      << warning;
  EXPECT_TRUE(provider->addresses().empty());
}

TEST(MulticastDiscovery, RefusesAGroupThatIsNotMulticast) {
  EXPECT_THROW(multicast_discovery("10.0.0.1", 45892), std::invalid_argument);
  EXPECT_THROW(multicast_discovery("not an address", 45892), std::invalid_argument);
  EXPECT_NO_THROW(multicast_discovery());
}

}  // namespace
}  // namespace mesh::test

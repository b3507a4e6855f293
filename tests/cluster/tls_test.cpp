// TLS between node processes: certificates made by the openssl command in a temporary
// directory (support/test_certs.hpp); a cluster serves calls over TLS, and a peer whose
// certificate another CA signed, a plaintext peer and an expired certificate are each refused
// with the reason logged, quickly, and no call crosses the refused link.
#include <gtest/gtest.h>

#include <memory>

#include "mesh/node.hpp"
#include "node_process.hpp"
#include "support/test_actors.hpp"
#include "support/test_certs.hpp"

namespace mesh::test {
namespace {

using tools::NodeProcess;

const std::string kCall = "call GameActor p1 game {\"action\":\"increment_score\"}";

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs.make_ca("ca");
    certs.make_ca("other-ca");
    for (const char* name : {"a", "b"}) certs.make_node(name, "ca");
    certs.make_node("stranger", "other-ca");
    certs.make_node("expired", "ca", -1);
  }

  // A node process; `cert` empty = plaintext. Capabilities "game" for the first, "chat" else.
  std::unique_ptr<NodeProcess> node(const std::string& name, const std::string& cert,
                                    const std::string& capabilities,
                                    const std::string& seed = "", const std::string& ca = "ca") {
    std::vector<std::string> args{"--name", name, "--listen", "127.0.0.1:0", "--cookie", "tls",
                                  "--capabilities", capabilities};
    if (!seed.empty()) args.insert(args.end(), {"--seed", seed});
    if (!cert.empty()) {
      args.insert(args.end(), {"--tls-cert", certs.path(cert + ".pem"), "--tls-key",
                               certs.path(cert + ".key"), "--tls-ca", certs.path(ca + ".pem")});
    }
    return std::make_unique<NodeProcess>(MESH_NODE_BINARY, args);
  }

  // Whether `text` shows up in the node's log within `limit`.
  static bool logs(NodeProcess& n, const std::string& text, std::chrono::milliseconds limit = 2000ms) {
    return eventually([&] { return n.log().find(text) != std::string::npos; }, limit);
  }

  // Neither side ever admitted the other: each still sees only itself, and a call for the
  // other's capability fails.
  static void expect_apart(NodeProcess& game_node, NodeProcess& chat_node) {
    EXPECT_NE(game_node.command("wait-nodes chat 1 500"), "ok");
    EXPECT_NE(chat_node.command("wait-nodes game 1 500"), "ok");
    EXPECT_EQ(chat_node.command(kCall).rfind("ok", 0), std::string::npos);
    EXPECT_EQ(game_node.command("call ChatActor room chat {}").rfind("ok", 0), std::string::npos);
    EXPECT_EQ(game_node.log().find("connected to " + chat_node.name()), std::string::npos);
  }

  TestCerts certs;
};

TEST_F(TlsTest, ClusterServesCallsOverTls) {
  // Certificates' names need not match node names: the CA and the cookie decide.
  certs.make_node("some-other-name", "ca");
  auto a = node("a", "a", "game");
  auto b = node("b", "some-other-name", "chat", a->listen());
  ASSERT_EQ(b->command("wait-nodes game 1 5000"), "ok") << a->log() << b->log();
  ASSERT_EQ(a->command("wait-nodes chat 1 5000"), "ok");
  for (int i = 0; i < 20; ++i) {
    const std::string call = "call GameActor p" + std::to_string(i) + " game {\"action\":\"increment_score\"}";
    EXPECT_EQ(b->command(call).rfind("ok ", 0), 0u);  // served by a, across the TLS link
  }
  EXPECT_EQ(a->log().find("TLS"), std::string::npos) << a->log();
  EXPECT_EQ(a->terminate(), 0);
  EXPECT_EQ(b->terminate(), 0);
}

TEST_F(TlsTest, PeerWithACertificateFromAnotherCaIsRefused) {
  auto a = node("a", "a", "game");
  // The stranger trusts a's CA, so only a's check of the stranger's certificate can stop it.
  auto stranger = node("stranger", "stranger", "chat", a->listen(), "ca");
  EXPECT_TRUE(logs(*a, "the peer's certificate is refused: unable to get local issuer certificate"))
      << a->log();
  EXPECT_TRUE(logs(*stranger, "TLS read failed: tlsv1 alert unknown ca")) << stranger->log();
  expect_apart(*a, *stranger);
}

TEST_F(TlsTest, ExpiredCertificateIsRefused) {
  auto a = node("a", "a", "game");
  auto expired = node("expired", "expired", "chat", a->listen());
  EXPECT_TRUE(logs(*a, "the peer's certificate is refused: certificate has expired")) << a->log();
  EXPECT_TRUE(logs(*expired, "certificate expired")) << expired->log();
  expect_apart(*a, *expired);
}

TEST_F(TlsTest, PlaintextPeerIsRefusedBothWays) {
  const auto started = std::chrono::steady_clock::now();
  auto a = node("a", "a", "game");
  // A plaintext node dials the TLS node: the TLS node recognises plaintext and says so, in
  // plaintext, to the dialer.
  auto plain = node("plain", "", "chat", a->listen());
  EXPECT_TRUE(logs(*a, "this node requires TLS (NodeOptions::tls) and the peer spoke plaintext"))
      << a->log();
  EXPECT_TRUE(logs(*plain, "refused by peer: this node requires TLS")) << plain->log();
  // A TLS node dials a plaintext node: the plaintext node recognises the ClientHello.
  auto b = node("b", "b", "game", plain->listen());
  EXPECT_TRUE(logs(*plain, "the peer speaks TLS and this node has no NodeOptions::tls")) << plain->log();
  EXPECT_TRUE(logs(*b, "this node requires TLS (NodeOptions::tls) and the peer spoke plaintext"))
      << b->log();
  // Refused at once, not by the 5 s handshake timeout.
  EXPECT_EQ(plain->log().find("handshake timed out"), std::string::npos) << plain->log();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4500ms);
  expect_apart(*a, *plain);
}

TEST_F(TlsTest, FilesThatCannotBeUsedAreRefusedWhenTheNodeStarts) {
  auto start = [](TlsOptions tls) {
    Node node(NodeOptions{.listen = "127.0.0.1:0", .cookie = "tls", .tls = std::move(tls)});
  };
  auto message = [&](TlsOptions tls) {
    try {
      start(std::move(tls));
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  EXPECT_NO_THROW(start(certs.options("a", "ca")));
  TlsOptions missing = certs.options("a", "ca");
  missing.certificate_chain = certs.path("nope.pem");
  EXPECT_NE(message(missing).find("certificate_chain '" + certs.path("nope.pem") + "' cannot be used"),
            std::string::npos) << message(missing);
  TlsOptions wrong_key = certs.options("a", "ca");
  wrong_key.private_key = certs.path("b.key");  // not a.pem's key
  EXPECT_NE(message(wrong_key).find("private_key"), std::string::npos) << message(wrong_key);
  TlsOptions not_pem = certs.options("a", "ca");
  not_pem.ca = certs.path("a.csr");
  EXPECT_NE(message(not_pem).find("ca '"), std::string::npos) << message(not_pem);
  EXPECT_NE(message(TlsOptions{.ca = certs.path("ca.pem")}).find("needs certificate_chain"),
            std::string::npos);
}

}  // namespace
}  // namespace mesh::test

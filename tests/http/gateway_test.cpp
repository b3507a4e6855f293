// The /v1 routes of one node: every route, every error status, auth and path decoding.
#include <gtest/gtest.h>

#include <memory>
#include <mesh/mesh.hpp>
#include <string>
#include <vector>

#include "actors/game_actor.hpp"
#include "http_test_client.hpp"
#include "node/http_gateway.hpp"
#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

NodeOptions http_node(std::string token = "") {
  NodeOptions options = small_node();
  options.http_listen = "127.0.0.1:0";
  options.http_token = std::move(token);
  options.http_max_body = 4096;
  return options;
}

std::unique_ptr<Node> start(NodeOptions options) {
  auto node = std::make_unique<Node>(std::move(options));
  register_all(*node);
  node->register_actor<examples::GameActor>("GameActor");
  ActorOptions one_waiting;
  one_waiting.max_queue = 1;
  node->register_actor<Sleeper>("NarrowSleeper", one_waiting);
  node->register_capabilities({"test", "game"});
  return node;
}

class GatewayTest : public ::testing::Test {
 protected:
  std::unique_ptr<Node> node = start(http_node());
  HttpClient client{node->http_address()};

  HttpResult call(const std::string& path, const std::string& body) {
    return client.request("POST", path, body);
  }
  // Expects the JSON error body of the API with this status and name.
  void expect_error(const HttpResult& result, int status, const std::string& name) {
    EXPECT_EQ(result.status, status) << result.body;
    const Value body = result.json();
    ASSERT_TRUE(body.is_object()) << result.body;
    EXPECT_EQ(body.value("error", ""), name) << result.body;
    EXPECT_TRUE(body.contains("message")) << result.body;
    EXPECT_EQ(result.headers.at("content-type"), "application/json");
  }
};

TEST_F(GatewayTest, AddressIsTheBoundPortAndEmptyWhenOff) {
  EXPECT_NE(node->http_address(), "127.0.0.1:0");
  EXPECT_EQ(node->http_address().rfind("127.0.0.1:", 0), 0u);
  Node off(small_node());
  EXPECT_EQ(off.http_address(), "");
}

TEST(GatewayOptionsTest, UnusableOptionsAreRefusedByTheConstructor) {
  auto with = [](auto change) {
    NodeOptions options = http_node();
    change(options);
    return options;
  };
  EXPECT_THROW(Node(with([](NodeOptions& o) { o.http_listen = "nonsense"; })),
               std::invalid_argument);
  EXPECT_THROW(Node(with([](NodeOptions& o) { o.http_listen = "127.0.0.1:99999"; })),
               std::invalid_argument);
  EXPECT_THROW(Node(with([](NodeOptions& o) { o.http_listen = "example.com:80"; })),
               std::invalid_argument);
  EXPECT_THROW(Node(with([](NodeOptions& o) { o.http_threads = 0; })), std::invalid_argument);
  EXPECT_THROW(Node(with([](NodeOptions& o) { o.http_max_connections = 0; })),
               std::invalid_argument);
  EXPECT_THROW(Node(with([](NodeOptions& o) { o.http_read_timeout = 0ms; })),
               std::invalid_argument);
  EXPECT_THROW(Node(with([](NodeOptions& o) { o.http_max_header_bytes = 100; })),
               std::invalid_argument);
  // A port already taken.
  Node first(http_node());
  EXPECT_THROW(Node(with([&](NodeOptions& o) { o.http_listen = first.http_address(); })),
               std::system_error);
}

TEST(GatewayOptionsTest, ModuleNamesStartingWithDollarAreReserved) {
  Node node(small_node());
  EXPECT_THROW(node.register_actor<Counter>("$where"), std::invalid_argument);
}

TEST_F(GatewayTest, CallAnswersPidNodeAndValue) {
  const HttpResult result =
      call("/v1/actors/game/GameActor/p1/call", R"({"payload": {"action": "increment_score"}})");
  ASSERT_EQ(result.status, 200) << result.body;
  const Value body = result.json();
  EXPECT_EQ(body["value"], 1);
  EXPECT_EQ(body["node"], "n1");
  const auto activations = node->activations();
  ASSERT_EQ(activations.size(), 1u);
  EXPECT_EQ(body["pid"], "n1." + std::to_string(activations[0].pid.serial));
  EXPECT_EQ(call("/v1/actors/game/GameActor/p1/call", R"({"payload":{"action":"get_stats"}})")
                .json()["value"],
            (Value{{"score", 1}, {"level", 1}}));
}

TEST_F(GatewayTest, CallPassesInitArgToTheNewActivation) {
  const HttpResult result =
      call("/v1/actors/game/GameActor/p2/call",
           R"({"payload": {"action": "get_stats"}, "init_arg": {"starting_level": 7}})");
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(result.json()["value"]["level"], 7);
}

TEST_F(GatewayTest, CastAnswers202WithAnEmptyObjectAndReachesTheActor) {
  const HttpResult result = call("/v1/actors/test/Counter/c1/cast", R"({"payload": {}})");
  EXPECT_EQ(result.status, 202) << result.body;
  EXPECT_EQ(result.json(), Value::object());
  EXPECT_TRUE(eventually([&] {
    return call("/v1/actors/test/Counter/c1/call", R"({"payload": {"op": "get"}})")
               .json()["value"] == 1;
  }));
}

TEST_F(GatewayTest, WhereReportsShardOwnerAndWhetherActive) {
  HttpResult result = client.request("GET", "/v1/actors/game/GameActor/w1");
  ASSERT_EQ(result.status, 200) << result.body;
  Value body = result.json();
  EXPECT_EQ(body["shard"], node->shard_for("w1"));
  EXPECT_EQ(body["owner"], "n1");
  EXPECT_EQ(body["active"], false);
  EXPECT_TRUE(body["pid"].is_null());

  const Value reply =
      call("/v1/actors/game/GameActor/w1/call", R"({"payload": {"action": "get_stats"}})").json();
  body = client.request("GET", "/v1/actors/game/GameActor/w1").json();
  EXPECT_EQ(body["active"], true);
  EXPECT_EQ(body["pid"], reply["pid"]);
}

TEST_F(GatewayTest, NodesAndCapabilitiesListTheMembers) {
  HttpResult nodes = client.request("GET", "/v1/nodes");
  ASSERT_EQ(nodes.status, 200);
  EXPECT_EQ(nodes.json(),
            (Value{{"nodes", {{{"name", "n1"}, {"capabilities", {"game", "test"}}}}}}));
  HttpResult capabilities = client.request("GET", "/v1/capabilities");
  ASSERT_EQ(capabilities.status, 200);
  EXPECT_EQ(capabilities.json(), (Value{{"capabilities", {{"game", {"n1"}}, {"test", {"n1"}}}}}));
}

TEST_F(GatewayTest, KeepAliveServesManyRequestsOnOneConnection) {
  for (int i = 1; i <= 50; ++i) {
    const HttpResult result =
        call("/v1/actors/game/GameActor/k/call", R"({"payload": {"action": "increment_score"}})");
    ASSERT_EQ(result.status, 200);
    EXPECT_EQ(result.json()["value"], i);
    EXPECT_EQ(result.headers.count("connection"), 0u);  // kept open
  }
}

TEST_F(GatewayTest, PipelinedRequestsAreAnsweredInOrder) {
  // A slow request first: the fast ones behind it on the same connection still answer after it.
  auto post = [](const std::string& path, const std::string& body) {
    return "POST " + path +
           " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
           body;
  };
  std::string batch = post("/v1/actors/test/Sleeper/slow/call", R"({"payload": {"ms": 150}})");
  for (int i = 0; i < 4; ++i) {
    batch += post("/v1/actors/game/GameActor/g" + std::to_string(i) + "/call",
                  R"({"payload": {"action": "get_state"}})");
  }
  batch += "GET /v1/nodes HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_TRUE(client.send_raw(batch));
  const auto slow = client.receive();
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->json()["value"], 1) << slow->body;
  for (int i = 0; i < 4; ++i) {
    const auto result = client.receive();
    ASSERT_TRUE(result);
    ASSERT_EQ(result->status, 200) << result->body;
    EXPECT_EQ(result->json()["value"]["id"], "g" + std::to_string(i)) << result->body;
  }
  const auto last = client.receive();
  ASSERT_TRUE(last);
  EXPECT_TRUE(last->json().contains("nodes"));
}

TEST_F(GatewayTest, PercentEncodedIdsAreDecodedWithSlashSpacesAndUtf8) {
  // "room/1 é☃" : a slash, a space and two multi-byte characters.
  const std::string id = "room/1 \xC3\xA9\xE2\x98\x83";
  const std::string path = "/v1/actors/game/GameActor/room%2F1%20%C3%A9%E2%98%83";
  ASSERT_EQ(call(path + "/call", R"({"payload": {"action": "get_state"}})").json()["value"]["id"],
            id);
  const auto activations = node->activations();
  ASSERT_EQ(activations.size(), 1u);
  EXPECT_EQ(activations[0].id, id);
  const Value where = client.request("GET", path).json();
  EXPECT_EQ(where["active"], true);
  EXPECT_EQ(where["shard"], node->shard_for(id));
}

TEST_F(GatewayTest, MalformedPercentEscapeIs400) {
  expect_error(call("/v1/actors/game/GameActor/bad%zz/call", R"({"payload": 1})"), 400,
               "invalid_request");
  expect_error(call("/v1/actors/game/GameActor/bad%2/call", R"({"payload": 1})"), 400,
               "invalid_request");
}

TEST_F(GatewayTest, UnknownPathIs404NotFound) {
  expect_error(client.request("GET", "/v2/nodes"), 404, "not_found");
  expect_error(client.request("GET", "/v1/actors/game/GameActor"), 404, "not_found");
  expect_error(call("/v1/actors/game/GameActor//call", R"({"payload": 1})"), 404, "not_found");
}

TEST_F(GatewayTest, WrongMethodIs405WithAllow) {
  HttpResult result = client.request("GET", "/v1/actors/game/GameActor/x/call");
  expect_error(result, 405, "method_not_allowed");
  EXPECT_EQ(result.headers.at("allow"), "POST");
  result = client.request("DELETE", "/v1/nodes");
  expect_error(result, 405, "method_not_allowed");
  EXPECT_EQ(result.headers.at("allow"), "GET");
}

TEST_F(GatewayTest, MalformedJsonIs400) {
  expect_error(call("/v1/actors/game/GameActor/x/call", R"({"payload": )"), 400, "invalid_request");
  expect_error(call("/v1/actors/game/GameActor/x/cast", "not json"), 400, "invalid_request");
}

TEST_F(GatewayTest, BodyThatIsNotAnObjectIs400) {
  for (const char* body : {"[1,2]", "\"text\"", "42", "null"}) {
    expect_error(call("/v1/actors/game/GameActor/x/call", body), 400, "invalid_request");
    expect_error(call("/v1/actors/game/GameActor/x/cast", body), 400, "invalid_request");
  }
  expect_error(call("/v1/actors/game/GameActor/x/call", "{}"), 400, "invalid_request");
}

TEST_F(GatewayTest, BodyNestedWithoutBoundIs400AndTheNodeLivesOn) {
  // 2,000 levels (within the 4 KiB body limit); far deeper ones would overflow a stack.
  const std::string deep =
      R"({"payload": )" + std::string(2000, '[') + std::string(2000, ']') + "}";
  expect_error(call("/v1/actors/test/Recorder/deep/call", deep), 400, "invalid_request");
  // Brackets inside strings do not count; 128 levels are accepted.
  const std::string quoted = R"({"payload": ")" + std::string(4000, '[') + R"("})";
  EXPECT_EQ(call("/v1/actors/test/Recorder/deep/call", quoted).status, 200);
  const std::string at_limit =
      R"({"payload": )" + std::string(127, '[') + std::string(127, ']') + "}";
  EXPECT_EQ(call("/v1/actors/test/Recorder/deep/call", at_limit).status, 200);
}

TEST_F(GatewayTest, BadTimeoutIs400) {
  for (const char* timeout : {"0", "-5", "1.5", "\"10\"", "3600001"}) {
    expect_error(call("/v1/actors/game/GameActor/x/call",
                      std::string(R"({"payload": {}, "timeout_ms": )") + timeout + "}"),
                 400, "invalid_request");
  }
}

TEST_F(GatewayTest, UnknownModuleIs404) {
  expect_error(call("/v1/actors/test/NoSuchModule/x/call", R"({"payload": {}})"), 404,
               "unknown_module");
  expect_error(client.request("GET", "/v1/actors/test/NoSuchModule/x"), 404, "unknown_module");
}

TEST_F(GatewayTest, InternalModulesAreNotReachable) {
  for (const char* module : {"$where", "%24where", "mesh.reminders"}) {
    const std::string path = std::string("/v1/actors/test/") + module + "/x";
    expect_error(call(path + "/call", R"({"payload": "Counter"})"), 404, "unknown_module");
    expect_error(call(path + "/cast", R"({"payload": "Counter"})"), 404, "unknown_module");
    expect_error(client.request("GET", path), 404, "unknown_module");
  }
}

TEST_F(GatewayTest, UnknownCapabilityIs503NoNodes) {
  expect_error(call("/v1/actors/nobody/GameActor/x/call", R"({"payload": {}})"), 503, "no_nodes");
  expect_error(call("/v1/actors/nobody/GameActor/x/cast", R"({"payload": {}})"), 503, "no_nodes");
  expect_error(client.request("GET", "/v1/actors/nobody/GameActor/x"), 503, "no_nodes");
}

TEST_F(GatewayTest, HandlerThatThrowsIs500ActorCrashed) {
  const HttpResult result =
      call("/v1/actors/test/Crasher/x/call", R"({"payload": {"op": "crash", "why": "kaboom"}})");
  expect_error(result, 500, "actor_crashed");
  EXPECT_NE(result.json()["message"].get<std::string>().find("kaboom"), std::string::npos);
}

TEST_F(GatewayTest, ConstructorThatThrowsIs500ActivationFailed) {
  expect_error(call("/v1/actors/test/FailingInit/bad1/call", R"({"payload": {}})"), 500,
               "activation_failed");
}

TEST_F(GatewayTest, SlowReplyIs504Timeout) {
  expect_error(
      call("/v1/actors/test/Sleeper/slow/call", R"({"payload": {"ms": 500}, "timeout_ms": 50})"),
      504, "timeout");
}

TEST_F(GatewayTest, FullMailboxIs429Overloaded) {
  HttpClient first(node->http_address()), second(node->http_address());
  first.send("POST", "/v1/actors/test/NarrowSleeper/z/call", R"({"payload": {"ms": 800}})");
  std::this_thread::sleep_for(150ms);  // the first is running, the mailbox is empty
  second.send("POST", "/v1/actors/test/NarrowSleeper/z/call", R"({"payload": {"ms": 0}})");
  std::this_thread::sleep_for(100ms);  // the second waits in the mailbox (max_queue 1)
  expect_error(call("/v1/actors/test/NarrowSleeper/z/call", R"({"payload": {"ms": 0}})"), 429,
               "overloaded");
  EXPECT_EQ(first.receive()->status, 200);
  EXPECT_EQ(second.receive()->status, 200);
}

// The codes no single healthy node can be driven into (fenced, store_unavailable, ...) are
// pinned here; the routes map every error through this one function.
TEST(HttpStatusTest, EveryErrorCodeHasItsStatus) {
  using detail::http_status;
  EXPECT_EQ(http_status(Errc::invalid_request), 400);
  EXPECT_EQ(http_status(Errc::unknown_module), 404);
  EXPECT_EQ(http_status(Errc::deadlock), 409);
  EXPECT_EQ(http_status(Errc::fenced), 409);
  EXPECT_EQ(http_status(Errc::overloaded), 429);
  EXPECT_EQ(http_status(Errc::actor_crashed), 500);
  EXPECT_EQ(http_status(Errc::activation_failed), 500);
  EXPECT_EQ(http_status(Errc::node_unreachable), 502);
  EXPECT_EQ(http_status(Errc::no_nodes), 503);
  EXPECT_EQ(http_status(Errc::shutting_down), 503);
  EXPECT_EQ(http_status(Errc::store_unavailable), 503);
  EXPECT_EQ(http_status(Errc::timeout), 504);
}

class AuthTest : public ::testing::Test {
 protected:
  std::unique_ptr<Node> node = start(http_node("s3cret"));
  HttpClient client{node->http_address()};
};

TEST_F(AuthTest, MissingTokenIs401) {
  for (const char* path :
       {"/v1/nodes", "/v1/capabilities", "/v1/actors/game/GameActor/a", "/nowhere"}) {
    const HttpResult result = client.request("GET", path);
    EXPECT_EQ(result.status, 401) << path;
    EXPECT_EQ(result.json()["error"], "unauthorized");
    EXPECT_EQ(result.headers.at("www-authenticate"), "Bearer");
  }
  EXPECT_EQ(client.request("POST", "/v1/actors/game/GameActor/a/call", R"({"payload":{}})").status,
            401);
  EXPECT_TRUE(node->activations().empty());  // refused before it reached any actor
}

TEST_F(AuthTest, WrongTokenIs401) {
  for (const char* header : {"Authorization: Bearer wrong\r\n", "Authorization: Bearer s3cre\r\n",
                             "Authorization: Bearer s3cret2\r\n", "Authorization: s3cret\r\n",
                             "Authorization: Basic czNjcmV0\r\n"}) {
    EXPECT_EQ(client.request("GET", "/v1/nodes", "", header).status, 401) << header;
  }
}

TEST_F(AuthTest, RightTokenIsServed) {
  const std::string header = "Authorization: Bearer s3cret\r\n";
  EXPECT_EQ(client.request("GET", "/v1/nodes", "", header).status, 200);
  const HttpResult result = client.request("POST", "/v1/actors/game/GameActor/a/call",
                                           R"({"payload":{"action":"increment_score"}})", header);
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.json()["value"], 1);
}

// The dashboard's login: a browser cannot send the Bearer header, so the form trades the token
// for a session cookie (docs/operations.md, "Authentication").
constexpr const char* kSessionCookie =  // HMAC-SHA256(key "s3cret", "mesh dashboard session")
    "mesh_session=e35320f002685a895e4d7dff5953110f3c39619c107bc45e1fa0f32d9f98ed06";

bool is_login_form(const HttpResult& result) {
  return result.headers.at("content-type") == "text/html; charset=utf-8" &&
         result.body.find(R"(<form method="post" action="/login">)") != std::string::npos &&
         result.body.find(R"(id="shard-grid")") == std::string::npos;
}

bool is_dashboard(const HttpResult& result) {
  return result.status == 200 && result.headers.at("content-type") == "text/html; charset=utf-8" &&
         result.body.find(R"(id="shard-grid")") != std::string::npos;
}

TEST_F(AuthTest, DashboardWithoutTheTokenIsTheLoginForm) {
  for (const char* path : {"/", "/login"}) {
    const HttpResult result = client.request("GET", path);
    EXPECT_EQ(result.status, 200) << path;
    EXPECT_TRUE(is_login_form(result)) << path << result.body;
    EXPECT_EQ(result.headers.count("set-cookie"), 0u);
    EXPECT_EQ(result.headers.at("cache-control"), "no-store");
  }
}

TEST_F(AuthTest, LoginWithTheTokenSetsTheSessionCookieAndSendsToTheDashboard) {
  const HttpResult login = client.request("POST", "/login", "token=s3cret",
                                          "Content-Type: application/x-www-form-urlencoded\r\n");
  EXPECT_EQ(login.status, 303) << login.body;
  EXPECT_EQ(login.headers.at("location"), "/");
  EXPECT_EQ(login.headers.at("set-cookie"),
            std::string(kSessionCookie) + "; HttpOnly; SameSite=Strict; Path=/");
  const std::string cookie = "Cookie: " + std::string(kSessionCookie) + "\r\n";
  EXPECT_TRUE(is_dashboard(client.request("GET", "/", "", cookie)));
  EXPECT_EQ(client.request("GET", "/v1/nodes", "", cookie).status, 200);
  EXPECT_EQ(client
                .request("GET", "/v1/nodes", "",
                         "Cookie: theme=dark; " + std::string(kSessionCookie) + "\r\n")
                .status,
            200);
  const HttpResult call = client.request("POST", "/v1/actors/game/GameActor/a/call",
                                         R"({"payload":{"action":"increment_score"}})", cookie);
  EXPECT_EQ(call.status, 200) << call.body;
  // An escaped token is read as the form sends it.
  EXPECT_EQ(client.request("POST", "/login", "token=s3cre%74").status, 303);
}

TEST_F(AuthTest, WrongTokenAtLoginIs401WithTheFormAgain) {
  for (const char* body : {"token=wrong", "token=s3cre", "token=s3cret+", "token=", "",
                           "other=s3cret", "token=%zz", "tokens=s3cret"}) {
    const HttpResult result = client.request("POST", "/login", body);
    EXPECT_EQ(result.status, 401) << body;
    EXPECT_TRUE(is_login_form(result)) << body;
    EXPECT_NE(result.body.find("Wrong token."), std::string::npos) << body;
    EXPECT_EQ(result.headers.count("set-cookie"), 0u) << body;
  }
}

TEST_F(AuthTest, WrongCookieIsRefusedLikeAWrongToken) {
  for (const std::string& cookie : std::vector<std::string>{
           "Cookie: mesh_session=0123\r\n", "Cookie: mesh_session=s3cret\r\n",
           "Cookie: other=" + std::string(kSessionCookie).substr(13) + "\r\n"}) {
    const HttpResult refused = client.request("GET", "/v1/nodes", "", cookie);
    EXPECT_EQ(refused.status, 401) << cookie;
    EXPECT_EQ(refused.json()["error"], "unauthorized");
    EXPECT_TRUE(is_login_form(client.request("GET", "/", "", cookie))) << cookie;
  }
}

TEST_F(AuthTest, BearerTokenOpensTheDashboardToo) {
  const HttpResult page = client.request("GET", "/", "", "Authorization: Bearer s3cret\r\n");
  EXPECT_TRUE(is_dashboard(page));
  EXPECT_NE(page.body.find(R"(<form class="signout" method="post" action="/logout">)"),
            std::string::npos);
}

TEST_F(AuthTest, TokenInTheUrlLogsNothingIn) {
  for (const char* path : {"/?token=s3cret", "/login?token=s3cret"}) {
    const HttpResult result = client.request("GET", path);
    EXPECT_TRUE(is_login_form(result)) << path;
    EXPECT_EQ(result.headers.count("set-cookie"), 0u);
  }
  EXPECT_EQ(client.request("POST", "/login?token=s3cret", "").status, 401);
  EXPECT_EQ(client.request("GET", "/v1/nodes?token=s3cret").status, 401);
}

TEST_F(AuthTest, LogoutExpiresTheCookieWithOrWithoutIt) {
  for (const std::string& cookie :
       {std::string(), "Cookie: " + std::string(kSessionCookie) + "\r\n"}) {
    const HttpResult result = client.request("POST", "/logout", "", cookie);
    EXPECT_EQ(result.status, 303);
    EXPECT_EQ(result.headers.at("location"), "/");
    EXPECT_EQ(result.headers.at("set-cookie"),
              "mesh_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
  }
}

TEST_F(AuthTest, OnlyTheLoginRoutesAreOpen) {
  EXPECT_EQ(client.request("PUT", "/login").status, 401);
  EXPECT_EQ(client.request("GET", "/index.html").status, 401);
  EXPECT_EQ(client.request("DELETE", "/").status, 401);
  EXPECT_EQ(client.request("GET", "/logout").status, 401);
}

TEST_F(GatewayTest, WithoutATokenTheDashboardIsOpen) {
  const HttpResult page = client.request("GET", "/");
  EXPECT_TRUE(is_dashboard(page)) << page.body;
  EXPECT_EQ(page.body.find("/logout"), std::string::npos);  // nothing to sign out of
  EXPECT_NE(page.headers.at("content-security-policy").find("default-src 'none'"),
            std::string::npos);
  EXPECT_EQ(client.request("GET", "/v1/nodes").status, 200);
  const HttpResult login = client.request("POST", "/login", "token=anything");
  EXPECT_EQ(login.status, 303);  // nothing to check: on to the dashboard, no cookie needed
  EXPECT_EQ(login.headers.count("set-cookie"), 0u);
  EXPECT_EQ(client.request("DELETE", "/").status, 405);
}

}  // namespace
}  // namespace mesh::test

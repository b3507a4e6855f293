// Router and percent-decoding, without a server.
#include "http/router.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace mesh::detail::http {
namespace {

TEST(PercentDecodeTest, DecodesEscapesAndKeepsTheRest) {
  EXPECT_EQ(percent_decode("a%2Fb"), "a/b");
  EXPECT_EQ(percent_decode("a%2fb%20c+d"), "a/b c+d");
  EXPECT_EQ(percent_decode("%C3%A9"), "\xC3\xA9");
  EXPECT_EQ(percent_decode("plain"), "plain");
}

TEST(PercentDecodeTest, RefusesMalformedEscapesAndNul) {
  EXPECT_EQ(percent_decode("%"), std::nullopt);
  EXPECT_EQ(percent_decode("%2"), std::nullopt);
  EXPECT_EQ(percent_decode("ab%"), std::nullopt);
  EXPECT_EQ(percent_decode("%zz"), std::nullopt);
  EXPECT_EQ(percent_decode("a%00b"), std::nullopt);
}

struct Answer {
  std::optional<HttpResponse> response;
  Respond respond() {
    return [this](HttpResponse r) { response = std::move(r); };
  }
};

HttpRequest request(std::string method, std::string path, bool authorized = true) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.authorized = authorized;
  return r;
}

TEST(RouterTest, CapturesDecodedSegments) {
  Router router;
  PathParams seen;
  router.add("POST", "/v1/actors/{capability}/{module}/{id}/call",
             [&](HttpRequest&&, PathParams&& params, Respond respond) {
               seen = params;
               respond(HttpResponse{});
             });
  Answer answer;
  router.dispatch(request("POST", "/v1/actors/game/Game%41ctor/a%2Fb%20c/call"), answer.respond());
  ASSERT_TRUE(answer.response);
  EXPECT_EQ(answer.response->status, 200);
  EXPECT_EQ(seen.at("capability"), "game");
  EXPECT_EQ(seen.at("module"), "GameActor");
  EXPECT_EQ(seen.at("id"), "a/b c");
}

TEST(RouterTest, UnmatchedPathIs404AndWrongMethodIs405WithEveryAllowedMethod) {
  Router router;
  auto ok = [](HttpRequest&&, PathParams&&, Respond respond) { respond(HttpResponse{}); };
  router.add("GET", "/v1/things/{id}", ok);
  router.add("PUT", "/v1/things/{id}", ok);
  Answer missing, wrong, empty;
  router.dispatch(request("GET", "/v1/other/1"), missing.respond());
  router.dispatch(request("POST", "/v1/things/1"), wrong.respond());
  router.dispatch(request("GET", "/v1/things/"), empty.respond());
  EXPECT_EQ(missing.response->status, 404);
  EXPECT_EQ(missing.response->body.find(R"("error":"not_found")"), 1u);
  EXPECT_EQ(wrong.response->status, 405);
  ASSERT_EQ(wrong.response->headers.size(), 1u);
  EXPECT_EQ(wrong.response->headers[0].second, "GET, PUT");
  EXPECT_EQ(empty.response->status, 404);  // a capture never matches an empty segment
}

TEST(RouterTest, RouteThatThrowsAnswers500) {
  Router router;
  router.add("GET", "/boom", [](HttpRequest&&, PathParams&&, Respond) -> void {
    throw std::runtime_error("bad route");
  });
  Answer answer;
  router.dispatch(request("GET", "/boom"), answer.respond());
  ASSERT_TRUE(answer.response);
  EXPECT_EQ(answer.response->status, 500);
}

TEST(RouterTest, UnauthorizedRequestReachesOnlyOpenRoutes) {
  Router router;
  std::vector<bool> seen;  // `authorized` as each route saw it
  auto route = [&](int status) {
    return [&seen, status](HttpRequest&& r, PathParams&&, Respond respond) {
      seen.push_back(r.authorized);
      HttpResponse response;
      response.status = status;
      respond(std::move(response));
    };
  };
  router.add("GET", "/", route(200), Access::open);
  router.add("POST", "/login", route(303), Access::open);
  router.add("GET", "/v1/things/{id}", route(201));
  Answer page, login, closed, unknown, wrong_method, closed_ok;
  router.dispatch(request("GET", "/", false), page.respond());
  router.dispatch(request("POST", "/login", false), login.respond());
  router.dispatch(request("GET", "/v1/things/1", false), closed.respond());
  router.dispatch(request("GET", "/nowhere", false), unknown.respond());
  router.dispatch(request("PUT", "/v1/things/1", false), wrong_method.respond());
  router.dispatch(request("GET", "/v1/things/1"), closed_ok.respond());
  EXPECT_EQ(page.response->status, 200);
  EXPECT_EQ(login.response->status, 303);
  EXPECT_EQ(closed_ok.response->status, 201);
  // Neither 404 nor 405: without the token nothing tells which routes exist.
  for (Answer* refused : {&closed, &unknown, &wrong_method}) {
    ASSERT_TRUE(refused->response);
    EXPECT_EQ(refused->response->status, 401);
    EXPECT_EQ(refused->response->body.find(R"("error":"unauthorized")"), 1u);
    ASSERT_EQ(refused->response->headers.size(), 1u);
    EXPECT_EQ(refused->response->headers[0],
              (std::pair<std::string, std::string>("WWW-Authenticate", "Bearer")));
  }
  EXPECT_EQ(seen, (std::vector<bool>{false, false, true}));  // the open routes see who asked
}

TEST(RouterTest, UncheckedRequestIsNotAuthorized) {
  EXPECT_FALSE(HttpRequest{}.authorized);  // only the server's check lets a request in
}

TEST(RouterTest, PatternMustStartWithSlash) {
  Router router;
  EXPECT_THROW(router.add("GET", "v1/x", [](HttpRequest&&, PathParams&&, Respond) {}),
               std::invalid_argument);
}

TEST(HttpResponseTest, ErrorBodyEscapesItsMessage) {
  const HttpResponse response = HttpResponse::error(400, "invalid_request", "a \"quote\"\n");
  EXPECT_EQ(response.body, R"({"error":"invalid_request","message":"a \"quote\"\n"})");
}

TEST(HttpResponseTest, ReasonPhrasesOfTheLoginAnswers) {
  EXPECT_EQ(reason_phrase(303), "See Other");  // POST /login sends the browser to the dashboard
  EXPECT_EQ(reason_phrase(401), "Unauthorized");
}

}  // namespace
}  // namespace mesh::detail::http

// Router and percent-decoding, without a server.
#include "http/router.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>

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

HttpRequest request(std::string method, std::string path) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
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

TEST(RouterTest, PatternMustStartWithSlash) {
  Router router;
  EXPECT_THROW(router.add("GET", "v1/x", [](HttpRequest&&, PathParams&&, Respond) {}),
               std::invalid_argument);
}

TEST(HttpResponseTest, ErrorBodyEscapesItsMessage) {
  const HttpResponse response = HttpResponse::error(400, "invalid_request", "a \"quote\"\n");
  EXPECT_EQ(response.body, R"({"error":"invalid_request","message":"a \"quote\"\n"})");
}

}  // namespace
}  // namespace mesh::detail::http

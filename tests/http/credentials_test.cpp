// Who the HTTP server lets in (Bearer token, session cookie) and the login form's body, without
// a server.
#include "http/credentials.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/form.hpp"

namespace mesh::detail::http {
namespace {

// HMAC-SHA256(key "s3cret", "mesh dashboard session"), as `openssl dgst -sha256 -hmac s3cret`
// prints it: the cookie's value is fixed by docs/operations.md, not by this code.
constexpr std::string_view kSession =
    "e35320f002685a895e4d7dff5953110f3c39619c107bc45e1fa0f32d9f98ed06";

HttpRequest with_headers(std::vector<std::pair<std::string, std::string>> headers) {
  HttpRequest request;
  request.method = "GET";
  request.path = "/";
  request.headers = std::move(headers);
  return request;
}

TEST(CredentialsTest, SessionValueIsTheHmacOfTheToken) {
  EXPECT_EQ(session_value("s3cret"), kSession);
  EXPECT_NE(session_value("s3cret2"), kSession);
}

TEST(CredentialsTest, NoTokenLetsEveryoneIn) {
  const Credentials open("");
  EXPECT_FALSE(open.required());
  EXPECT_TRUE(open.accepts(with_headers({})));
  EXPECT_TRUE(open.accepts(with_headers({{"authorization", "Bearer anything"}})));
  EXPECT_FALSE(open.is_token(""));  // no token: nothing is the token, the login form says so
}

TEST(CredentialsTest, BearerHeaderIsAccepted) {
  const Credentials credentials("s3cret");
  EXPECT_TRUE(credentials.required());
  EXPECT_TRUE(credentials.accepts(with_headers({{"authorization", "Bearer s3cret"}})));
  for (const char* wrong : {"Bearer wrong", "Bearer s3cre", "Bearer s3cret2", "s3cret",
                            "Basic czNjcmV0", "bearer s3cret", ""}) {
    EXPECT_FALSE(credentials.accepts(with_headers({{"authorization", wrong}}))) << wrong;
  }
  EXPECT_FALSE(credentials.accepts(with_headers({})));
}

TEST(CredentialsTest, SessionCookieIsAcceptedAmongOtherCookies) {
  const Credentials credentials("s3cret");
  const std::string session(kSession);
  for (const std::string& cookie : std::vector<std::string>{
           "mesh_session=" + session, "a=1; mesh_session=" + session + "; b=2",
           "  mesh_session = " + session + " ", "mesh_session=stale; mesh_session=" + session}) {
    EXPECT_TRUE(credentials.accepts(with_headers({{"cookie", cookie}}))) << cookie;
  }
  // A second Cookie header counts too (HTTP/1.1 clients may split them).
  EXPECT_TRUE(credentials.accepts(
      with_headers({{"cookie", "a=1"}, {"cookie", "mesh_session=" + session}})));
}

TEST(CredentialsTest, WrongOrMisnamedCookieIsRefused) {
  const Credentials credentials("s3cret");
  const std::string session(kSession);
  for (const std::string& cookie : std::vector<std::string>{
           "mesh_session=wrong", "mesh_session=" + session.substr(1),
           "mesh_session=" + session + "0", "mesh_session=" + session_value("other"),
           "other_session=" + session, "mesh_session", "mesh_session=s3cret",
           "mesh_session=", ""}) {
    EXPECT_FALSE(credentials.accepts(with_headers({{"cookie", cookie}}))) << cookie;
  }
  // The cookie is no Authorization header, and the token is no cookie.
  EXPECT_FALSE(credentials.accepts(with_headers({{"authorization", "Bearer " + session}})));
}

TEST(CredentialsTest, LoginChecksTheTokenAndSetsAnHttpOnlyStrictCookie) {
  const Credentials credentials("s3cret");
  EXPECT_TRUE(credentials.is_token("s3cret"));
  EXPECT_FALSE(credentials.is_token("s3cre"));
  EXPECT_FALSE(credentials.is_token("s3cret "));
  EXPECT_FALSE(credentials.is_token(""));
  EXPECT_EQ(credentials.session_cookie(),
            "mesh_session=" + std::string(kSession) + "; HttpOnly; SameSite=Strict; Path=/");
}

TEST(CredentialsTest, LogoutCookieExpiresTheSameCookie) {
  EXPECT_EQ(Credentials::expired_cookie(),
            "mesh_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
}

TEST(CredentialsTest, SameSecretComparesWholeStrings) {
  EXPECT_TRUE(same_secret("abc", "abc"));
  EXPECT_TRUE(same_secret("", ""));
  EXPECT_FALSE(same_secret("abc", "abd"));
  EXPECT_FALSE(same_secret("ab", "abc"));
  EXPECT_FALSE(same_secret("abcd", "abc"));
  EXPECT_FALSE(same_secret("", "abc"));
  EXPECT_FALSE(same_secret(std::string_view("ab\0", 3), "ab"));
}

TEST(FormFieldTest, DecodesPlusAndEscapes) {
  EXPECT_EQ(form_field("token=s3cret", "token"), "s3cret");
  EXPECT_EQ(form_field("a=1&token=x%2By+z%26&b=2", "token"), "x+y z&");
  EXPECT_EQ(form_field("tokens=no&token=yes", "token"), "yes");
  EXPECT_EQ(form_field("token=", "token"), "");
  EXPECT_EQ(form_field("token", "token"), "");
  EXPECT_EQ(form_field("a=1", "token"), std::nullopt);
  EXPECT_EQ(form_field("", "token"), std::nullopt);
  EXPECT_EQ(form_field("token=%zz", "token"), std::nullopt);
  EXPECT_EQ(form_field("token=a%00b", "token"), std::nullopt);
}

}  // namespace
}  // namespace mesh::detail::http

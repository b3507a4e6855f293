#include "http/credentials.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

namespace mesh::detail::http {
namespace {

constexpr std::string_view kSessionMessage = "mesh dashboard session";

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Whether a Cookie header ("a=1; mesh_session=...") holds `name` with value `expected`. Every
// pair is compared, so that a second cookie of the same name (set for another path) cannot hide
// the right one.
bool has_cookie(std::string_view header, std::string_view name, std::string_view expected) {
  bool found = false;
  while (!header.empty()) {
    const std::size_t semicolon = header.find(';');
    const std::string_view pair = trim(header.substr(0, semicolon));
    header =
        semicolon == std::string_view::npos ? std::string_view{} : header.substr(semicolon + 1);
    const std::size_t equals = pair.find('=');
    if (equals == std::string_view::npos || trim(pair.substr(0, equals)) != name) continue;
    found |= same_secret(trim(pair.substr(equals + 1)), expected);
  }
  return found;
}

}  // namespace

std::string session_value(std::string_view token) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), token.data(), static_cast<int>(token.size()),
            reinterpret_cast<const unsigned char*>(kSessionMessage.data()), kSessionMessage.size(),
            mac, &length)) {
    throw std::runtime_error("mesh: OpenSSL HMAC failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[mac[i] >> 4];
    hex += kHex[mac[i] & 0xf];
  }
  return hex;
}

bool same_secret(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ (i < expected.size() ? expected[i] : 0));
  }
  return diff == 0;
}

Credentials::Credentials(std::string_view token) : token_(token) {
  if (token.empty()) return;
  bearer_ = "Bearer " + token_;
  session_ = session_value(token_);
}

bool Credentials::accepts(const HttpRequest& request) const {
  if (!required()) return true;
  bool accepted = same_secret(request.header("authorization"), bearer_);
  for (const auto& [name, value] : request.headers) {
    if (name == "cookie") accepted |= has_cookie(value, kCookieName, session_);
  }
  return accepted;
}

bool Credentials::is_token(std::string_view candidate) const {
  return required() && same_secret(candidate, token_);
}

std::string Credentials::session_cookie() const {
  return std::string(kCookieName) + "=" + session_ + "; HttpOnly; SameSite=Strict; Path=/";
}

std::string Credentials::expired_cookie() {
  return std::string(kCookieName) + "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0";
}

}  // namespace mesh::detail::http

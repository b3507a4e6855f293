#include "cluster/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <climits>
#include <stdexcept>

namespace mesh::detail {
namespace {

// The reason of OpenSSL's most recent error on this thread ("tlsv1 alert unknown ca"), and
// clears the queue so that the next failure is not blamed on this one.
std::string openssl_reason() {
  std::string reason;
  while (const unsigned long code = ERR_get_error()) {
    if (!reason.empty()) continue;  // the first error is the cause; later ones are follow-ups
    const char* text = ERR_reason_error_string(code);
    reason = text ? text : "OpenSSL error " + std::to_string(code);
  }
  return reason.empty() ? "unknown TLS error" : reason;
}

[[noreturn]] void refuse_file(std::string_view what, const std::string& path) {
  throw std::invalid_argument("mesh: NodeOptions::tls " + std::string(what) + " '" + path +
                              "' cannot be used: " + openssl_reason());
}

}  // namespace

TlsContext::TlsContext(const TlsOptions& options) {
  if (options.certificate_chain.empty() || options.private_key.empty() || options.ca.empty()) {
    throw std::invalid_argument(
        "mesh: NodeOptions::tls needs certificate_chain, private_key and ca (or none of them)");
  }
  ERR_clear_error();
  ctx_ = SSL_CTX_new(TLS_method());
  if (!ctx_) throw std::runtime_error("mesh: SSL_CTX_new failed: " + openssl_reason());
  // Nodes are peers of one deployment, upgraded together: nothing older than 1.3 to negotiate.
  SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx_, TLS1_3_VERSION);
  // Links live as long as the nodes do: tickets for resumption would only cost bytes.
  SSL_CTX_set_num_tickets(ctx_, 0);
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
  // Mutual authentication: both ends ask for the other's certificate and refuse without one.
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  try {
    if (SSL_CTX_use_certificate_chain_file(ctx_, options.certificate_chain.c_str()) != 1) {
      refuse_file("certificate_chain", options.certificate_chain);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx_, options.private_key.c_str(), SSL_FILETYPE_PEM) != 1) {
      refuse_file("private_key", options.private_key);
    }
    if (SSL_CTX_check_private_key(ctx_) != 1) refuse_file("private_key", options.private_key);
    if (SSL_CTX_load_verify_locations(ctx_, options.ca.c_str(), nullptr) != 1) {
      refuse_file("ca", options.ca);
    }
  } catch (...) {
    SSL_CTX_free(ctx_);
    throw;
  }
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

TlsSession::TlsSession(const TlsContext& context, bool server) {
  ssl_ = SSL_new(context.get());
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  if (!ssl_ || !in_ || !out_) {
    BIO_free(in_);
    BIO_free(out_);
    SSL_free(ssl_);
    throw std::bad_alloc();
  }
  BIO_set_mem_eof_return(in_, -1);  // empty means "wait for more", not end of stream
  SSL_set_bio(ssl_, in_, out_);
  if (server) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
  }
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

void TlsSession::feed(const char* data, std::size_t size) {
  while (size > 0) {
    const int chunk = static_cast<int>(std::min<std::size_t>(size, INT_MAX));
    BIO_write(in_, data, chunk);
    data += chunk;
    size -= static_cast<std::size_t>(chunk);
  }
}

void TlsSession::drain(std::string& out) {
  const std::size_t pending = BIO_ctrl_pending(out_);
  if (pending == 0) return;
  const std::size_t at = out.size();
  out.resize(at + pending);
  const int got = BIO_read(out_, out.data() + at, static_cast<int>(pending));
  out.resize(at + static_cast<std::size_t>(std::max(got, 0)));
}

bool TlsSession::fail(int result, std::string_view during) {
  const int code = SSL_get_error(ssl_, result);
  if (code == SSL_ERROR_WANT_READ) return true;
  if (code == SSL_ERROR_ZERO_RETURN) {
    error_ = "the peer closed its TLS session";
    return false;
  }
  const long verified = SSL_get_verify_result(ssl_);
  if (verified != X509_V_OK) {
    ERR_clear_error();
    error_ = "TLS " + std::string(during) + " failed: the peer's certificate is refused: " +
             X509_verify_cert_error_string(verified);
  } else {
    error_ = "TLS " + std::string(during) + " failed: " + openssl_reason();
  }
  return false;
}

bool TlsSession::handshake(std::string& out) {
  ERR_clear_error();
  const int result = SSL_do_handshake(ssl_);
  const bool ok = result == 1 || fail(result, "handshake");
  established_ = result == 1;
  drain(out);  // a failed handshake still owes the peer its alert
  return ok;
}

bool TlsSession::read(std::string& plain, std::string& out) {
  char chunk[16 * 1024];
  bool ok = true;
  for (;;) {
    ERR_clear_error();
    const int got = SSL_read(ssl_, chunk, sizeof chunk);
    if (got > 0) {
      plain.append(chunk, static_cast<std::size_t>(got));
      continue;
    }
    ok = fail(got, "read");
    break;
  }
  drain(out);
  return ok;
}

bool TlsSession::write(std::string_view plain, std::string& out) {
  while (!plain.empty()) {
    ERR_clear_error();
    const int chunk = static_cast<int>(std::min<std::size_t>(plain.size(), INT_MAX / 2));
    const int wrote = SSL_write(ssl_, plain.data(), chunk);
    if (wrote <= 0) {
      fail(wrote, "write");
      drain(out);
      return false;
    }
    plain.remove_prefix(static_cast<std::size_t>(wrote));
  }
  drain(out);
  return true;
}

}  // namespace mesh::detail

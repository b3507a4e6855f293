// TLS 1.3 on node links, over memory BIOs: the connection keeps its own socket and write path
// (docs/tls.md), and this only turns plaintext into records and back.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "mesh/node_options.hpp"

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;

namespace mesh::detail {

// One node's certificate, key and trusted CA, loaded once. Immutable after construction, so
// any thread may create sessions from it.
class TlsContext {
 public:
  // Throws std::invalid_argument naming the file and OpenSSL's reason when one cannot be used.
  explicit TlsContext(const TlsOptions& options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  ssl_ctx_st* get() const { return ctx_; }

 private:
  ssl_ctx_st* ctx_ = nullptr;
};

// One link's TLS state. Not thread-safe: the connection serializes every call (it holds its
// write mutex around them).
class TlsSession {
 public:
  TlsSession(const TlsContext& context, bool server);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  bool established() const { return established_; }
  // Starts or continues the handshake (the client's first call produces its ClientHello).
  // Records to send are appended to `out`. False when the handshake failed: error() says why.
  bool handshake(std::string& out);
  // Records received from the peer.
  void feed(const char* data, std::size_t size);
  // Decrypts what was fed into `plain`; records the session owes the peer go to `out`. False
  // on a protocol error or a close_notify (error() says which).
  bool read(std::string& plain, std::string& out);
  // Encrypts `plain` into records appended to `out`. Only once established.
  bool write(std::string_view plain, std::string& out);
  const std::string& error() const { return error_; }

 private:
  void drain(std::string& out);
  bool fail(int result, std::string_view during);

  ssl_st* ssl_ = nullptr;
  bio_st* in_ = nullptr;   // owned by ssl_
  bio_st* out_ = nullptr;  // owned by ssl_
  bool established_ = false;
  std::string error_;
};

// Whether the first bytes a peer sent look like a TLS handshake record (0x16 0x03 ...).
inline bool looks_like_tls(const char* data, std::size_t size) {
  return size >= 1 && static_cast<unsigned char>(data[0]) == 0x16 &&
         (size < 2 || static_cast<unsigned char>(data[1]) == 0x03);
}

}  // namespace mesh::detail

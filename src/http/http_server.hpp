// HttpServer: HTTP/1.1 over Asio, parsed by http-parser, answering through a Router.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "http/credentials.hpp"
#include "http/router.hpp"

namespace mesh::detail::http {

struct HttpServerOptions {
  std::string listen;  // "host:port"; port 0 picks one
  // Non-empty: every request needs "Authorization: Bearer <token>" or the session cookie
  // (Credentials), except on the router's open routes.
  std::string token;
  std::size_t max_body = 1u << 20;           // larger bodies get 413
  std::size_t max_header_bytes = 16u << 10;  // request line and headers; more gets 431
  std::size_t max_connections = 1024;        // more are answered 503 and closed
  // A request must arrive whole within this long of its first byte, and an idle keep-alive
  // connection is closed after it (slow or silent clients cannot hold a connection).
  std::chrono::milliseconds read_timeout{10'000};
  std::uint32_t threads = 1;                            // IO threads, each with its own connections
  std::function<void(const std::string&)> log_warning;  // may be null
};

// Keep-alive and pipelining: a connection's requests are answered one at a time in arrival
// order; the next pipelined request is parsed only once the previous answer is written. Routes
// answer through Respond from any thread: the answer is written by the connection's IO thread.
// The IO threads never wait for a route's answer, and run with mesh::NoInlineHandlers so that
// an actor call made by a route never runs a handler on them. Thread-safe.
class HttpServer {
 public:
  // Binds the listen address: throws std::invalid_argument (unparsable address) or
  // std::system_error (cannot bind). The router must outlive the server.
  HttpServer(HttpServerOptions options, const Router& router);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void start();
  // Closes the listener and joins the IO threads. Idempotent. Connections close when the server
  // is destroyed; answers given after stop() are dropped. Every Respond handed to a route must
  // be called or destroyed before the server is destroyed (its connection lives on the
  // server's IO contexts).
  void stop();
  // "host:port" with the real port.
  const std::string& address() const { return address_; }

  class Connection;

 private:
  void accept_next();

  const HttpServerOptions options_;
  const Credentials credentials_;
  const Router& router_;
  std::vector<std::unique_ptr<asio::io_context>> ios_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  std::string address_;
  std::vector<std::thread> threads_;
  std::size_t next_io_ = 0;  // acceptor's thread only
  std::shared_ptr<std::atomic<std::size_t>> open_connections_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace mesh::detail::http

#include "http/http_server.hpp"

#include <http_parser.h>
#include <pthread.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <stdexcept>

#include "mesh/no_inline_handlers.hpp"

namespace mesh::detail::http {
namespace {

using asio::ip::tcp;

asio::ip::tcp::endpoint parse_endpoint(const std::string& listen) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw std::invalid_argument("mesh: http_listen must be host:port, not '" + listen + "'");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    throw std::invalid_argument("mesh: http_listen has a bad port: '" + listen + "'");
  }
  asio::error_code ec;
  const asio::ip::address address =
      host == "localhost" ? asio::ip::address_v4::loopback() : asio::ip::make_address(host, ec);
  if (ec) throw std::invalid_argument("mesh: http_listen needs an IP address, not '" + host + "'");
  return {address, static_cast<unsigned short>(port)};
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

// One client connection, owned by shared pointers: its pending reads, writes, timer and the
// Respond of the request in flight. Touched only by its IO thread.
class HttpServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Clock = asio::steady_timer::clock_type;

  Connection(tcp::socket socket, const HttpServerOptions& options, const Credentials& credentials,
             const Router& router, std::shared_ptr<std::atomic<std::size_t>> open)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        options_(options),
        credentials_(credentials),
        router_(router),
        open_(std::move(open)) {
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
  }
  ~Connection() { open_->fetch_sub(1, std::memory_order_relaxed); }

  asio::any_io_executor executor() { return socket_.get_executor(); }

  void start() {
    arm_timer();
    read_more();
  }

  // Answers 503 and closes: the server is at its connection limit.
  void refuse() { write(HttpResponse::error(503, "overloaded", "too many connections"), true); }

 private:
  static const http_parser_settings& settings() {
    static const http_parser_settings s = [] {
      http_parser_settings out{};
      out.on_message_begin = [](http_parser* p) { return self(p).on_begin(); };
      out.on_url = [](http_parser* p, const char* at, std::size_t n) {
        return self(p).on_header_bytes(n, [&](Connection& c) { c.url_.append(at, n); });
      };
      out.on_header_field = [](http_parser* p, const char* at, std::size_t n) {
        return self(p).on_header_bytes(n, [&](Connection& c) {
          if (!c.in_field_) c.request_.headers.emplace_back();
          c.in_field_ = true;
          c.request_.headers.back().first.append(at, n);
        });
      };
      out.on_header_value = [](http_parser* p, const char* at, std::size_t n) {
        return self(p).on_header_bytes(n, [&](Connection& c) {
          c.in_field_ = false;
          if (!c.request_.headers.empty()) c.request_.headers.back().second.append(at, n);
        });
      };
      out.on_headers_complete = [](http_parser* p) { return self(p).on_headers_complete(); };
      out.on_body = [](http_parser* p, const char* at, std::size_t n) {
        return self(p).on_body(at, n);
      };
      out.on_message_complete = [](http_parser* p) { return self(p).on_complete(); };
      return out;
    }();
    return s;
  }
  static Connection& self(http_parser* p) { return *static_cast<Connection*>(p->data); }

  int on_begin() {
    request_ = HttpRequest{};
    url_.clear();
    header_bytes_ = 0;
    in_field_ = false;
    expect_continue_ = false;
    return 0;
  }

  template <class F>
  int on_header_bytes(std::size_t n, F&& take) {
    header_bytes_ += n;
    if (header_bytes_ > options_.max_header_bytes) {
      reject_ = 431;
      return 1;
    }
    take(*this);
    return 0;
  }

  int on_headers_complete() {
    if (parser_.http_major != 1) {  // HTTP/0.9 and 2+ are not spoken here
      reject_ = 400;
      return -1;
    }
    request_.method = http_method_str(static_cast<http_method>(parser_.method));
    const std::size_t question = url_.find('?');
    request_.path = url_.substr(0, question);
    if (question != std::string::npos) request_.query = url_.substr(question + 1);
    for (auto& header : request_.headers) header.first = lower(std::move(header.first));
    if (!(parser_.flags & F_CHUNKED) && parser_.content_length != ULLONG_MAX &&
        parser_.content_length > options_.max_body) {
      reject_ = 413;
      return -1;
    }
    expect_continue_ = lower(std::string(request_.header("expect"))) == "100-continue";
    return 0;
  }

  int on_body(const char* at, std::size_t n) {
    if (request_.body.size() + n > options_.max_body) {
      reject_ = 413;
      return 1;
    }
    request_.body.append(at, n);
    return 0;
  }

  int on_complete() {
    keep_alive_ = http_should_keep_alive(&parser_) != 0;
    http10_ = parser_.http_major == 1 && parser_.http_minor == 0;
    complete_ = true;
    http_parser_pause(&parser_, 1);  // the next pipelined request waits for this answer
    return 0;
  }

  void read_more() {
    socket_.async_read_some(asio::buffer(read_buffer_),
                            [self = shared_from_this()](asio::error_code ec, std::size_t n) {
                              if (ec || self->closed_) return self->close();
                              self->input_.append(self->read_buffer_, n);
                              self->parse();
                            });
  }

  // Parses what has arrived; answers the request it completes, or reads on.
  void parse() {
    if (closed_) return;
    if (offset_ == input_.size()) return read_more();  // a zero-length execute means EOF
    const std::size_t used = http_parser_execute(&parser_, &settings(), input_.data() + offset_,
                                                 input_.size() - offset_);
    offset_ += used;
    const auto error = HTTP_PARSER_ERRNO(&parser_);
    if (reject_ != 0) return write(rejection(), true);
    if (complete_) {
      http_parser_pause(&parser_, 0);
      complete_ = false;
      input_.erase(0, offset_);
      offset_ = 0;
      return answer();
    }
    if (error != HPE_OK) {
      return write(
          HttpResponse::error(400, "invalid_request",
                              std::string("malformed HTTP: ") + http_errno_description(error)),
          true);
    }
    input_.erase(0, offset_);
    offset_ = 0;
    if (expect_continue_) {
      expect_continue_ = false;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return asio::async_write(socket_, asio::buffer(kContinue),
                               [self = shared_from_this()](asio::error_code ec, std::size_t) {
                                 if (ec) return self->close();
                                 self->read_more();
                               });
    }
    read_more();
  }

  HttpResponse rejection() const {
    switch (reject_) {
      case 413:
        return HttpResponse::error(413, "payload_too_large",
                                   "body over " + std::to_string(options_.max_body) + " bytes");
      case 431:
        return HttpResponse::error(431, "headers_too_large",
                                   "request line and headers over " +
                                       std::to_string(options_.max_header_bytes) + " bytes");
      default:
        return HttpResponse::error(400, "invalid_request", "only HTTP/1.x is served");
    }
  }

  void answer() {
    disarm_timer();  // the request is in: the call's own timeout bounds it from now
    request_.authorized = credentials_.accepts(request_);  // the router refuses the rest
    auto answered = std::make_shared<std::atomic<bool>>(false);
    Respond respond = [self = shared_from_this(), answered](HttpResponse response) {
      if (answered->exchange(true)) return;
      asio::dispatch(self->socket_.get_executor(),
                     [self, response = std::move(response)]() mutable {
                       self->write(std::move(response), false);
                     });
    };
    router_.dispatch(std::move(request_), respond);
  }

  void write(HttpResponse response, bool close_after) {
    if (closed_) return;
    close_after_ = close_after || response.close || !keep_alive_;
    output_.clear();
    output_ += "HTTP/1.1 ";
    output_ += std::to_string(response.status);
    output_ += ' ';
    output_ += reason_phrase(response.status);
    output_ += "\r\nContent-Type: ";
    output_ += response.content_type;
    output_ += "\r\nContent-Length: ";
    output_ += std::to_string(response.body.size());
    for (const auto& [name, value] : response.headers) {
      output_ += "\r\n" + name + ": " + value;
    }
    if (close_after_) {
      output_ += "\r\nConnection: close";
    } else if (http10_) {
      output_ += "\r\nConnection: keep-alive";
    }
    output_ += "\r\n\r\n";
    output_ += response.body;
    asio::async_write(socket_, asio::buffer(output_),
                      [self = shared_from_this()](asio::error_code ec, std::size_t) {
                        if (ec || self->close_after_) return self->close();
                        self->arm_timer();
                        self->parse();
                      });
  }

  // The read deadline moves with every request, but the timer is re-armed only when it fires
  // (at most once per read_timeout): re-arming it per request would cost timer-queue work and
  // often a timerfd system call on the hot path.
  void arm_timer() {
    deadline_ = Clock::now() + options_.read_timeout;
    if (!timer_waiting_) wait_timer(deadline_);
  }
  void disarm_timer() { deadline_ = Clock::time_point::max(); }

  void wait_timer(Clock::time_point at) {
    timer_waiting_ = true;
    timer_.expires_at(at);
    timer_.async_wait([self = shared_from_this()](asio::error_code ec) {
      self->timer_waiting_ = false;
      if (ec || self->closed_ || self->deadline_ == Clock::time_point::max()) return;
      if (self->deadline_ <= Clock::now()) return self->close();
      self->wait_timer(self->deadline_);
    });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ignored;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  const HttpServerOptions& options_;
  const Credentials& credentials_;
  const Router& router_;
  std::shared_ptr<std::atomic<std::size_t>> open_;

  http_parser parser_{};
  char read_buffer_[16384];
  std::string input_;
  std::size_t offset_ = 0;
  HttpRequest request_;
  std::string url_;
  std::size_t header_bytes_ = 0;
  bool in_field_ = false;
  bool expect_continue_ = false;
  bool complete_ = false;
  bool keep_alive_ = true;
  bool http10_ = false;
  int reject_ = 0;  // 400, 413 or 431: refuse the request and close

  std::string output_;
  bool close_after_ = false;
  bool closed_ = false;
  Clock::time_point deadline_ = Clock::time_point::max();  // max: no read in progress
  bool timer_waiting_ = false;
};

HttpServer::HttpServer(HttpServerOptions options, const Router& router)
    : options_(std::move(options)),
      credentials_(options_.token),
      router_(router),
      ios_([&] {
        std::vector<std::unique_ptr<asio::io_context>> ios;
        for (std::uint32_t i = 0; i < std::max<std::uint32_t>(1, options_.threads); ++i) {
          ios.push_back(std::make_unique<asio::io_context>(1));
        }
        return ios;
      }()),
      acceptor_(*ios_.front()),
      accept_retry_(*ios_.front()),
      open_connections_(std::make_shared<std::atomic<std::size_t>>(0)) {
  const tcp::endpoint endpoint = parse_endpoint(options_.listen);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
  const tcp::endpoint bound = acceptor_.local_endpoint();
  const std::string host = bound.address().to_string();
  address_ =
      (bound.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(bound.port());
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  if (started_) return;
  started_ = true;
  for (auto& io : ios_) work_.push_back(asio::make_work_guard(*io));
  accept_next();
  for (std::size_t i = 0; i < ios_.size(); ++i) {
    threads_.emplace_back([io = ios_[i].get()] {
      pthread_setname_np(pthread_self(), "mesh-http");
      const NoInlineHandlers no_handlers_here;
      io->run();
    });
  }
}

void HttpServer::accept_next() {
  asio::io_context& io = *ios_[next_io_];
  next_io_ = (next_io_ + 1) % ios_.size();
  acceptor_.async_accept(io, [this](asio::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      const std::size_t open = open_connections_->fetch_add(1, std::memory_order_relaxed);
      auto connection = std::make_shared<Connection>(std::move(socket), options_, credentials_,
                                                     router_, open_connections_);
      const bool refuse = open >= options_.max_connections;
      asio::post(connection->executor(),
                 [connection, refuse] { refuse ? connection->refuse() : connection->start(); });
    } else {
      // Out of descriptors, say: try again shortly rather than spin.
      if (options_.log_warning) options_.log_warning("http: accept failed: " + ec.message());
      accept_retry_.expires_after(std::chrono::milliseconds(50));
      accept_retry_.async_wait([this](asio::error_code wait_ec) {
        if (!wait_ec && acceptor_.is_open()) accept_next();
      });
      return;
    }
    accept_next();
  });
}

void HttpServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  work_.clear();
  for (auto& io : ios_) io->stop();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  asio::error_code ignored;
  accept_retry_.cancel();
  acceptor_.close(ignored);
}

}  // namespace mesh::detail::http

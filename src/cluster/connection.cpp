#include "cluster/connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "core/batch_flush.hpp"

namespace mesh::detail {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
// Until a peer is admitted it is a stranger: its link holds a small buffer and may send only
// small frames (HELLO, AUTH and REFUSE are well under this), so that thousands of idle or
// garbage-sending connections cost little (NodeOptions::max_handshakes).
constexpr std::size_t kHandshakeReadChunk = 512;
constexpr std::size_t kHandshakeFrameBytes = 4096;

}  // namespace

Connection::Connection(asio::io_context& io, asio::ip::tcp::socket socket,
                       const LocalIdentity& self, ConnectionOwner& owner,
                       std::string dialed_address)
    : io_(io),
      socket_(std::move(socket)),
      fd_(socket_->native_handle()),
      self_(self),
      owner_(owner),
      dialed_(std::move(dialed_address)),
      last_received_(Clock::now().time_since_epoch().count()),
      my_nonce_(auth::random_nonce()),
      parser_(std::min<std::size_t>(self.max_frame_bytes, kHandshakeFrameBytes)),
      read_buffer_(kHandshakeReadChunk) {
  asio::error_code ignored;
  const auto endpoint = socket_->remote_endpoint(ignored);
  remote_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  socket_->set_option(asio::ip::tcp::no_delay(true), ignored);
  socket_->non_blocking(true, ignored);
}

Connection::~Connection() = default;


void Connection::start() {
  if (self_.tls && !dialed_.empty()) {
    // The dialer speaks first: its ClientHello. HELLO waits in tls_pending_ for the session.
    std::unique_lock lock(write_mutex_);
    tls_ = std::make_unique<TlsSession>(*self_.tls, false);
    if (!tls_->handshake(out_)) {
      asio::post(io_, [self = shared_from_this(), why = tls_->error()] { self->do_close(why); });
      return;
    }
    write_locked(lock);
  }
  send(wire::encode_frame(wire::Type::hello,
                          Value{{"name", self_.name},
                                {"incarnation", self_.incarnation},
                                {"listen", self_.listen},
                                {"nonce", Value::binary(my_nonce_)}}),
       Urgency::now);
  read_more();
}

void Connection::read_more() {
  if (!socket_) return;
  if (read_buffer_.size() < kReadChunk && admitted()) read_buffer_.assign(kReadChunk, 0);
  socket_->async_read_some(asio::buffer(read_buffer_),
                          [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                            if (ec) {
                              self->do_close(ec == asio::error::eof ? "peer closed the connection"
                                                                    : "read failed: " + ec.message());
                              return;
                            }
                            self->on_bytes(n);
                          });
}

void Connection::on_bytes(std::size_t size) {
  if (closed()) return;
  // While this thread delivers what arrived, requests and replies queued on the link (by the
  // callers its replies wake, or by callbacks on this thread) wait in out_; they leave in one
  // write when the delivery ends instead of one write each.
  {
    std::lock_guard lock(write_mutex_);
    reading_ = true;
  }
  struct EndDelivery {
    Connection& self;
    ~EndDelivery() {
      std::unique_lock lock(self.write_mutex_);
      self.reading_ = false;
      if (!self.out_.empty() && !self.flush_posted_ && !self.waiting_writable_ && !self.writing_ &&
          !self.write_closed_) {
        self.write_locked(lock);
      }
    }
  } end_delivery{*this};
  last_received_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  bytes_received_.store(bytes_received_.load(std::memory_order_relaxed) + size,
                        std::memory_order_relaxed);
  const char* data = read_buffer_.data();
  if (first_read_) {
    first_read_ = false;
    if (!first_bytes(data, size)) return;
  }
  if (self_.tls) {
    if (!on_tls_bytes(data, size)) return;
  } else {
    parser_.feed(data, size);
  }
  for (;;) {
    auto next = parser_.next();
    if (!next) {
      refuse("malformed", "malformed frame: " + next.error().message);
      return;
    }
    if (!next->has_value()) break;
    if (!handle(std::move(**next)) || closed()) return;
  }
  read_more();
}

// TLS and plaintext nodes do not mix; each recognises the other from its first bytes and says
// so, instead of failing on "malformed" bytes or waiting for a handshake that never comes.
bool Connection::first_bytes(const char* data, std::size_t size) {
  const bool tls = looks_like_tls(data, size);
  if (self_.tls && !tls) {
    // Most likely a plaintext mesh node: tell it why in its own framing, outside TLS.
    const std::string reason =
        "this node requires TLS (NodeOptions::tls) and the peer spoke plaintext";
    {
      std::unique_lock lock(write_mutex_);
      if (!write_closed_ && out_.empty() && !writing_) {
        wire::append_frame(out_, wire::Type::refuse, Value{{"code", "tls"}, {"reason", reason}});
        write_locked(lock);
      }
    }
    do_close(reason);
    return false;
  }
  if (!self_.tls && tls) {
    do_close("the peer speaks TLS and this node has no NodeOptions::tls: refused");
    return false;
  }
  return true;
}

// Decrypts what arrived (driving the TLS handshake first) into the frame parser.
bool Connection::on_tls_bytes(const char* data, std::size_t size) {
  std::string failure;
  plain_.clear();
  {
    std::unique_lock lock(write_mutex_);
    if (write_closed_) return false;
    if (!tls_) tls_ = std::make_unique<TlsSession>(*self_.tls, true);
    tls_->feed(data, size);
    bool ok = true;
    if (!tls_->established()) {
      ok = tls_->handshake(out_);
      if (ok && tls_->established() && !tls_pending_.empty()) {
        ok = tls_->write(tls_pending_, out_);
        std::string().swap(tls_pending_);
      }
    }
    if (ok && tls_->established()) ok = tls_->read(plain_, out_);
    if (!out_.empty() && !flush_posted_ && !waiting_writable_ && !writing_) write_locked(lock);
    if (!ok) failure = tls_->error();
  }
  if (!failure.empty()) {
    do_close(failure);
    return false;
  }
  parser_.feed(plain_.data(), plain_.size());
  return true;
}

bool Connection::handle(wire::Frame&& frame) {
  if (frame.version != wire::kVersion) {
    refuse("version", "peer speaks protocol version " + std::to_string(frame.version) +
                          ", this node speaks " + std::to_string(wire::kVersion));
    return false;
  }
  try {
    if (frame.type == wire::Type::refuse) {
      do_close("refused by peer: " + wire::get_string(frame.body, "reason"));
      return false;
    }
    switch (state_.load()) {
      case State::hello:
        if (frame.type != wire::Type::hello) break;
        return on_hello(frame);
      case State::auth:
        if (frame.type != wire::Type::auth) break;
        return on_auth(frame);
      case State::ready:
        if (frame.type == wire::Type::hello || frame.type == wire::Type::auth) break;
        owner_.on_frame(shared_from_this(), std::move(frame));
        return true;
      case State::closed:
        return false;
    }
    refuse("protocol", "unexpected " + std::string(wire::type_name(frame.type)) +
                           " frame during the handshake");
  } catch (const std::exception& e) {
    refuse("malformed", std::string("malformed ") + std::string(wire::type_name(frame.type)) +
                            " frame: " + e.what());
  }
  return false;
}

bool Connection::on_hello(const wire::Frame& frame) {
  peer_name_ = wire::get_string(frame.body, "name");
  peer_incarnation_ = wire::get_u64(frame.body, "incarnation");
  peer_listen_ = wire::get_string(frame.body, "listen");
  peer_nonce_ = wire::get_binary(frame.body, "nonce");
  if (peer_name_.empty() || peer_nonce_.size() < 16) {
    refuse("malformed", "HELLO without a name or a nonce");
    return false;
  }
  if (peer_name_ == self_.name && peer_incarnation_ == self_.incarnation) {
    do_close("connected to itself");
    return false;
  }
  state_.store(State::auth);
  const auth::Bytes mac = auth::proof(self_.cookie, peer_nonce_, my_nonce_, self_.name, peer_name_);
  send(wire::encode_frame(wire::Type::auth, Value{{"mac", Value::binary(mac)}}), Urgency::now);
  return true;
}

bool Connection::on_auth(const wire::Frame& frame) {
  const auth::Bytes expected =
      auth::proof(self_.cookie, my_nonce_, peer_nonce_, peer_name_, self_.name);
  if (!auth::equal(wire::get_binary(frame.body, "mac"), expected)) {
    refuse("auth", "authentication failed: the peer's cookie differs");
    return false;
  }
  const std::string why_not = owner_.admit(shared_from_this());
  if (!why_not.empty()) {
    refuse("admit", why_not);
    return false;
  }
  admitted_.store(true);
  parser_.set_max_frame_bytes(self_.max_frame_bytes);
  state_.store(State::ready);
  owner_.on_ready(shared_from_this());
  return true;
}

void Connection::refuse(std::string_view code, const std::string& reason) {
  owner_.on_refused(code);
  send(wire::encode_frame(wire::Type::refuse, Value{{"code", code}, {"reason", reason}}), Urgency::now);
  do_close(reason);
}

bool Connection::send(std::string_view frame, Urgency urgency) {
  std::unique_lock lock(write_mutex_);
  if (write_closed_) return false;
  send_locked(lock, frame, urgency);
  return true;
}

Connection::Sent Connection::send_bounded(std::string_view frame, Urgency urgency) {
  std::unique_lock lock(write_mutex_);
  if (write_closed_) return Sent::closed;
  // Once full, the link stays refused until half of the bound has drained: a small frame must
  // not slip into the last bytes of room and then wait behind a peer that reads nothing.
  const std::size_t bound = self_.max_send_queue_bytes;
  if (congested_ && out_.size() > bound / 2) return Sent::full;
  congested_ = out_.size() + frame.size() > bound;
  if (congested_) return Sent::full;
  if (reading_ && urgency != Urgency::background) urgency = Urgency::after_delivery;
  send_locked(lock, frame, urgency);
  return Sent::queued;
}

void Connection::send_locked(std::unique_lock<std::mutex>& lock, std::string_view frame,
                             Urgency urgency) {
  // Not idle: a writer, a posted flush or the wait for a writable socket will take the frame.
  const bool idle = out_.empty() && !flush_posted_ && !waiting_writable_ && !writing_;
  if (self_.tls) {
    append_out_locked(frame);
  } else {
    out_.append(frame);
  }
  if (!idle || out_.empty() || urgency == Urgency::after_delivery) return;
  if (urgency == Urgency::batch && BatchFlush::active()) {
    // A pool worker: write when its batch ends, together with the replies that follow.
    flush_posted_ = true;
    BatchFlush::defer(this, [self = shared_from_this()] { self->flush_posted(); });
  } else if (urgency != Urgency::background) {
    write_locked(lock);
  } else {
    flush_posted_ = true;
    asio::post(io_, [self = shared_from_this()] { self->flush_posted(); });
  }
}

void Connection::flush_posted() {
  std::unique_lock lock(write_mutex_);
  flush_posted_ = false;
  if (!waiting_writable_ && !write_closed_ && !writing_) write_locked(lock);
}

// With TLS: encrypts into out_, or keeps the frame until the session is established.
void Connection::append_out_locked(std::string_view frame) {
  if (!tls_ || !tls_->established()) {
    tls_pending_.append(frame);
    return;
  }
  if (!tls_->write(frame, out_)) {
    write_closed_ = true;
    out_.clear();
    asio::post(io_, [self = shared_from_this(), why = tls_->error()] { self->do_close(why); });
  }
}

// Writes what it can without blocking; the rest waits for the socket to become writable.
// The socket write runs outside the lock, one writer at a time: senders that come meanwhile
// append to out_ and return, and the writer takes all they appended in its next round, so many
// callers' frames leave in one write and no sender waits for another's system call.
void Connection::write_locked(std::unique_lock<std::mutex>& lock) {
  writing_ = true;
  while (!out_.empty() && !write_closed_) {
    sending_.swap(out_);
    lock.unlock();
    std::size_t written = 0;
    int error = 0;
    bool again = false;
    while (written < sending_.size()) {
      const ssize_t n = ::send(fd_, sending_.data() + written, sending_.size() - written,
                               MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        written += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        again = true;
        break;
      } else {
        error = n < 0 ? errno : EPIPE;
        break;
      }
    }
    lock.lock();
    bytes_sent_.store(bytes_sent_.load(std::memory_order_relaxed) + written,
                      std::memory_order_relaxed);
    if (written < sending_.size() && error == 0) {
      // What the socket did not take goes back in front of what was appended meanwhile.
      sending_.erase(0, written);
      sending_.append(out_);
      out_.swap(sending_);
    }
    sending_.clear();
    if (error != 0) {
      write_closed_ = true;
      out_.clear();
      asio::post(io_, [self = shared_from_this(), why = std::string(std::strerror(error))] {
        self->do_close("write failed: " + why);
      });
      break;
    }
    if (again) {
      waiting_writable_ = true;
      asio::post(io_, [self = shared_from_this()] { self->arm_write_wait(); });
      break;
    }
  }
  writing_ = false;
}

void Connection::arm_write_wait() {
  if (!socket_) return;
  socket_->async_wait(asio::ip::tcp::socket::wait_write,
                      [self = shared_from_this()](const asio::error_code& ec) {
                        std::unique_lock lock(self->write_mutex_);
                        self->waiting_writable_ = false;
                        if (!ec && !self->write_closed_ && !self->writing_)
                          self->write_locked(lock);
                      });
}

std::size_t Connection::unsent_bytes() {
  std::lock_guard lock(write_mutex_);
  return write_closed_ ? 0 : out_.size();
}

void Connection::close(std::string reason) {
  asio::post(io_, [self = shared_from_this(), reason = std::move(reason)] {
    self->do_close(reason);
  });
}

void Connection::do_close(const std::string& reason) {
  if (state_.exchange(State::closed) == State::closed) return;
  {
    // A writer on another thread may be inside ::send on fd_, outside the lock: the socket is
    // shut down at once (its send fails), but closed, which frees fd_ for reuse, only once the
    // writer has left.
    std::unique_lock lock(write_mutex_);
    write_closed_ = true;
    asio::error_code ignored;
    socket_->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    while (writing_) {
      lock.unlock();
      std::this_thread::yield();
      lock.lock();
    }
    socket_->close(ignored);
    socket_.reset();
  }
  fail_calls("connection to " + (peer_name_.empty() ? dialed_ : peer_name_) + " lost: " + reason);
  owner_.on_closed(shared_from_this(), reason);
}

std::uint64_t Connection::add_call(RefPtr<CallState> state) {
  std::lock_guard lock(calls_mutex_);
  if (calls_closed_) return 0;
  const std::uint64_t id = next_call_++;
  calls_.emplace(id, std::move(state));
  return id;
}

RefPtr<CallState> Connection::take_call(std::uint64_t id) {
  std::lock_guard lock(calls_mutex_);
  const auto it = calls_.find(id);
  if (it == calls_.end()) return {};
  RefPtr<CallState> state = std::move(it->second);
  calls_.erase(it);
  return state;
}

std::size_t Connection::pending_calls() {
  std::lock_guard lock(calls_mutex_);
  return calls_.size();
}

void Connection::expire_calls(Clock::time_point now) {
  std::vector<RefPtr<CallState>> expired;
  {
    std::lock_guard lock(calls_mutex_);
    for (auto it = calls_.begin(); it != calls_.end();) {
      if (it->second->completed() || it->second->deadline() <= now) {
        expired.push_back(std::move(it->second));
        it = calls_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& state : expired) {
    state->complete(std::unexpected(Error{Errc::timeout, "no reply within the request's timeout"}));
  }
}

void Connection::fail_calls(const std::string& reason) {
  std::vector<RefPtr<CallState>> calls;
  {
    std::lock_guard lock(calls_mutex_);
    calls_closed_ = true;
    calls.reserve(calls_.size());
    for (auto& [id, state] : calls_) calls.push_back(std::move(state));
    calls_.clear();
  }
  for (auto& state : calls) {
    state->complete(std::unexpected(Error{Errc::node_unreachable, reason}));
  }
}

}  // namespace mesh::detail

// Connection: one authenticated TCP link to a peer node.
#pragma once

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <memory_resource>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster/auth.hpp"
#include "cluster/tls.hpp"
#include "cluster/wire.hpp"
#include "core/call_state.hpp"

namespace mesh::detail {

// Who this node is, as its connections present it.
struct LocalIdentity {
  std::string name;
  std::uint64_t incarnation;
  std::string listen;  // the address peers can reach this node at
  std::string cookie;
  std::size_t max_frame_bytes;
  std::size_t max_send_queue_bytes;
  const TlsContext* tls = nullptr;  // null: plaintext links
};

class Connection;
using ConnectionPtr = std::shared_ptr<Connection>;

// What a connection reports to its owner. Called on the IO thread only.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  // The peer proved it knows the cookie. Returns an empty string to accept, or why not.
  virtual std::string admit(const ConnectionPtr& connection) = 0;
  virtual void on_ready(const ConnectionPtr& connection) = 0;
  virtual void on_frame(const ConnectionPtr& connection, wire::Frame&& frame) = 0;
  // Called once, for every connection that started, ready or not.
  virtual void on_closed(const ConnectionPtr& connection, const std::string& reason) = 0;
  // This end refused the peer (a REFUSE frame with `code`: malformed, version, protocol, auth,
  // admit, tls) and closes the connection.
  virtual void on_refused(std::string_view code) = 0;
};

// Runs the handshake (with TLS first the TLS handshake, then HELLO, AUTH inside it, see
// docs/wire-protocol.md), then frames both ways. Reads and
// state changes happen on the IO thread; send() and close() may be called from any thread.
// Writes go straight to the socket from the sending thread when nothing is queued (no hand-off
// on an idle link); otherwise they are appended to the queue, so one write carries many frames.
// One thread writes at a time, outside the write lock; while the IO thread delivers a read's
// frames, requests and replies queued on the link wait until it is done (one write for all).
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Clock = std::chrono::steady_clock;

  Connection(asio::io_context& io, asio::ip::tcp::socket socket, const LocalIdentity& self,
             ConnectionOwner& owner, std::string dialed_address);
  ~Connection();

  void start();  // IO thread
  enum class Urgency : std::uint8_t {
    now,             // write on this thread if nothing is queued (a caller about to wait)
    batch,           // like now, but a pool worker holds it until its batch ends (replies)
    background,      // leave it to the IO thread, which writes everything queued at once
    after_delivery,  // internal: the IO thread is delivering this link's frames and writes
                     // what was queued when it is done (send_bounded picks it)
  };
  // Queues one encoded frame. Returns false once the connection is closed. For frames whose
  // number the protocol bounds (handshake, membership, heartbeats, handoffs).
  bool send(std::string_view frame, Urgency urgency);
  // For requests and replies, whose number the peer's reading bounds: refused (`full`) when
  // more than LocalIdentity::max_send_queue_bytes would wait unwritten, and from then on until
  // half of that has drained, so a peer that stops reading cannot make this node buffer
  // without limit.
  enum class Sent : std::uint8_t { queued, closed, full };
  Sent send_bounded(std::string_view frame, Urgency urgency);
  void close(std::string reason);  // any thread; the owner hears of it on the IO thread
  std::size_t unsent_bytes();      // queued but not yet written

  bool ready() const { return state_.load() == State::ready; }
  bool closed() const { return state_.load() == State::closed; }
  bool admitted() const { return admitted_.load(); }  // got past the handshake, even if closed since
  const std::string& peer_name() const { return peer_name_; }
  std::uint64_t peer_incarnation() const { return peer_incarnation_; }
  const std::string& peer_listen() const { return peer_listen_; }
  const std::string& dialed_address() const { return dialed_; }  // empty when accepted
  // Which node opened this link, and the nonce it chose: both ends know both, so both can rank
  // two links between the same pair of nodes the same way (valid once the HELLO arrived).
  const std::string& dialer_name() const { return dialed_.empty() ? peer_name_ : self_.name; }
  const auth::Bytes& dialer_nonce() const { return dialed_.empty() ? peer_nonce_ : my_nonce_; }
  const std::string& remote_endpoint() const { return remote_; }
  Clock::time_point last_received() const { return Clock::time_point(Clock::duration(last_received_.load())); }
  Clock::time_point opened_at() const { return opened_at_; }
  // Bytes written to and read from the socket so far (TLS records included). Any thread.
  std::uint64_t bytes_sent() const { return bytes_sent_.load(std::memory_order_relaxed); }
  std::uint64_t bytes_received() const { return bytes_received_.load(std::memory_order_relaxed); }

  // Requests received on this link whose replies are not yet queued: a retired link closes
  // only once none is left. Any thread.
  void begin_serving() noexcept { serving_.fetch_add(1, std::memory_order_relaxed); }
  void end_serving() noexcept { serving_.fetch_sub(1, std::memory_order_release); }
  std::uint32_t serving() const noexcept { return serving_.load(std::memory_order_acquire); }

  // Outstanding calls sent on this connection, by request id. Thread-safe.
  std::uint64_t add_call(RefPtr<CallState> state);  // 0 when already closed
  RefPtr<CallState> take_call(std::uint64_t id);
  void expire_calls(Clock::time_point now);          // times out calls past their deadline
  std::size_t pending_calls();                       // calls sent here still waiting for replies

 private:
  enum class State : std::uint8_t { hello, auth, ready, closed };

  void read_more();
  void on_bytes(std::size_t size);
  bool first_bytes(const char* data, std::size_t size);
  bool on_tls_bytes(const char* data, std::size_t size);
  void append_out_locked(std::string_view frame);  // caller holds write_mutex_
  bool handle(wire::Frame&& frame);
  bool on_hello(const wire::Frame& frame);
  bool on_auth(const wire::Frame& frame);
  void refuse(std::string_view code, const std::string& reason);
  // The caller holds write_mutex_ in `lock`; write_locked releases it while it writes.
  void send_locked(std::unique_lock<std::mutex>& lock, std::string_view frame, Urgency urgency);
  void write_locked(std::unique_lock<std::mutex>& lock);
  void flush_posted();  // a deferred or posted flush: writes unless a writer already does
  void arm_write_wait();
  void do_close(const std::string& reason);
  void fail_calls(const std::string& reason);

  asio::io_context& io_;
  // Reset when the connection closes, so that a Connection kept alive elsewhere (a thread's
  // cached peer map) holds no Asio object and may be destroyed after its io_context.
  std::optional<asio::ip::tcp::socket> socket_;
  const int fd_;
  const LocalIdentity& self_;
  ConnectionOwner& owner_;
  const std::string dialed_;
  std::string remote_;  // "ip:port" of the other end, for log lines
  const Clock::time_point opened_at_ = Clock::now();

  std::atomic<State> state_{State::hello};
  std::atomic<Clock::rep> last_received_;
  std::atomic<bool> admitted_{false};
  // One writer each (senders under write_mutex_; the IO thread), so no read-modify-write.
  std::atomic<std::uint64_t> bytes_sent_{0};
  std::atomic<std::uint64_t> bytes_received_{0};
  auth::Bytes my_nonce_;
  auth::Bytes peer_nonce_;
  std::string peer_name_;
  std::uint64_t peer_incarnation_ = 0;
  std::string peer_listen_;
  wire::FrameParser parser_;
  std::vector<char> read_buffer_;  // small until the peer is admitted (NodeOptions::max_handshakes)
  bool first_read_ = true;         // IO thread
  std::string plain_;              // IO thread: what the last TLS read decrypted

  std::mutex write_mutex_;
  std::string out_;           // guarded by write_mutex_: bytes not yet written
  std::string sending_;       // the writer's: the bytes it writes outside the lock
  bool writing_ = false;      // guarded by write_mutex_: a thread writes sending_ to fd_
  bool reading_ = false;      // guarded by write_mutex_: the IO thread delivers frames (on_bytes)
  bool flush_posted_ = false; // guarded by write_mutex_
  bool waiting_writable_ = false;  // guarded by write_mutex_
  bool write_closed_ = false; // guarded by write_mutex_
  bool congested_ = false;    // guarded by write_mutex_: send_bounded refused, not drained yet
  // With TLS: the session (every call under write_mutex_, since senders encrypt on their own
  // threads), created when the handshake starts (an accepted link: its first bytes), and the
  // frames queued before it was established.
  std::unique_ptr<TlsSession> tls_;  // guarded by write_mutex_
  std::string tls_pending_;          // guarded by write_mutex_

  std::atomic<std::uint32_t> serving_{0};

  std::mutex calls_mutex_;
  // The map's nodes come from a pool owned by the connection: a call is added on the caller's
  // thread and removed on the IO thread, and with malloc that free would contend for the
  // caller's arena on every reply.
  std::pmr::unsynchronized_pool_resource calls_pool_;  // guarded by calls_mutex_
  std::pmr::unordered_map<std::uint64_t, RefPtr<CallState>> calls_{&calls_pool_};  // same
  std::uint64_t next_call_ = 1;                                 // guarded by calls_mutex_
  bool calls_closed_ = false;                                   // guarded by calls_mutex_
};

}  // namespace mesh::detail

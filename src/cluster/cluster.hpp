// Cluster: this node's links to its peers, its view of the membership, and remote calls.
#pragma once

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <optional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cluster/connection.hpp"
#include "cluster/control_codec.hpp"
#include "core/snapshot_cell.hpp"
#include "core/string_map.hpp"
#include "mesh/node_options.hpp"
#include "mesh/request.hpp"
#include "placement/routing_table.hpp"
#include "core/call_chain.hpp"
#include "core/log_event.hpp"

namespace mesh::detail {

// What the cluster hands up to its node: membership changes, requests from peers, and the
// control messages it carries without acting on them. Called on the IO thread.
class ClusterHost {
 public:
  virtual ~ClusterHost() = default;
  // The peers this node is connected to now, with their capabilities (self excluded).
  virtual void on_peers_changed(std::vector<MemberInfo> peers) = 0;
  // A request that arrived from peer `from`. `done` may run on any thread. Its payload is
  // `encoded_payload`, the MessagePack it arrived in (request.payload is null), checked by
  // msgpack::Reader::encoded_value(); the view lasts only until this returns.
  virtual void serve_call(Request&& request, std::string_view encoded_payload, ChainPtr chain,
                          std::uint32_t hops, const std::string& from,
                          CallState::Callback done) = 0;
  // A cast from peer `from`, its payload encoded as for serve_call.
  virtual void serve_cast(Request&& request, std::string_view encoded_payload, std::uint32_t hops,
                          const std::string& from) = 0;
  virtual void log(LogEvent&& event) = 0;
  // This node has met the cluster (or found nobody within join_timeout): its own capabilities
  // may take effect now without stealing shards from members it has not met yet.
  virtual void on_synced() = 0;
  // A HANDOFF, RELEASE or ASK_RELEASE from peer `from`, decoded and checked for form only.
  virtual void on_control(const std::string& from, ControlMessage&& message) = 0;
};

struct ClusterOptions {
  std::string name;  // empty: the bound listen address
  std::string listen;
  std::vector<std::string> seeds;
  std::string cookie;
  std::chrono::milliseconds heartbeat_interval;
  std::chrono::milliseconds failure_timeout;
  std::uint32_t max_frame_bytes;
  std::shared_ptr<Discovery> discovery;
  std::chrono::milliseconds discovery_interval;
  std::chrono::milliseconds join_timeout;
  std::size_t max_send_queue_bytes;
  TlsOptions tls;
  std::uint32_t max_handshakes;
};

// Full mesh: every node keeps one connection to every other node; of two nodes that learn of
// each other, the one with the smaller name dials (seeds are dialed by whoever lists them).
// Membership state lives on the IO thread; the call path reads an immutable peer map.
// Thread-safe.
class Cluster final : public ConnectionOwner {
 public:
  // Binds the listen address (throws std::invalid_argument / std::system_error when it cannot).
  Cluster(ClusterOptions options, ClusterHost& host);
  ~Cluster() override;

  const std::string& name() const { return self_.name; }
  const std::string& listen_address() const { return self_.listen; }

  // Starts accepting, dialing seeds and heartbeating. The host must be ready for callbacks.
  void start(std::vector<std::string> capabilities);
  void set_capabilities(std::vector<std::string> capabilities);
  // Announces LEAVE to every peer, closes every connection and joins the IO thread. Idempotent.
  void stop();

  [[nodiscard]] Result<Reply> call(const std::string& owner, Request&& request,
                                   const ChainPtr& chain, std::uint32_t hops);
  [[nodiscard]] Result<void> cast(const std::string& owner, Request&& request, std::uint32_t hops);
  void async_call(const std::string& owner, Request&& request, const ChainPtr& chain,
                  std::uint32_t hops, CallState::Callback done);
  // Sends a control message to peer `to` (dropped when not connected). It keeps its order with
  // everything else this node sends `to`. Any thread.
  void send(const std::string& to, const ControlMessage& message);
  // Several, in this order, in one write on one link: none can overtake another even while a
  // second link to `to` replaces the first.
  void send(const std::string& to, std::span<const ControlMessage> messages);
  bool connected(const std::string& name) const { return peer(name) != nullptr; }
  // Accepted connections closed at once because max_handshakes were in progress. Any thread.
  std::uint64_t handshakes_refused() const { return handshakes_refused_.load(std::memory_order_relaxed); }
  // Sends peer `name` this node's MEMBERS (its members and capabilities), at most every 100 ms:
  // for a peer that sent a request here by a view older than this node's. IO thread only (it
  // is called while serving a peer's request, so forwarding posts nothing per request).
  void share_view(const std::string& name);

  // Bytes on the links to each peer this node has been connected to since it started (links
  // that closed included), by peer name. Any thread.
  struct Traffic {
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
  };
  std::map<std::string, Traffic> traffic() const;
  // Peers this node refused, by REFUSE code (Connection::refuse), plus "handshake_limit" for
  // connections closed at once because max_handshakes were in progress. Any thread.
  std::map<std::string, std::uint64_t> refusals() const;

  // ConnectionOwner (IO thread).
  std::string admit(const ConnectionPtr& connection) override;
  void on_ready(const ConnectionPtr& connection) override;
  void on_frame(const ConnectionPtr& connection, wire::Frame&& frame) override;
  void on_closed(const ConnectionPtr& connection, const std::string& reason) override;
  void on_refused(std::string_view code) override;

 private:
  // What this node knows of one link besides the transport. IO thread only.
  struct Link {
    // The peer's capabilities as it last announced them, and whether it has (its first
    // MEMBERS): only then does the peer enter this node's view.
    std::vector<std::string> capabilities;
    bool introduced = false;
    // A link replaced by another to the same node retires instead of closing at once, so that
    // calls already sent on it in either direction still get their replies.
    bool retiring = false;      // this node sent RETIRE: it sends only replies on it now
    bool peer_retired = false;  // the peer sent RETIRE: no more requests will arrive on it
    std::chrono::steady_clock::time_point retired_at{};
  };
  struct Known {
    std::string listen;
    std::uint64_t incarnation = 0;
    std::chrono::steady_clock::time_point last_seen;
  };
  using PeerMap = StringMap<ConnectionPtr>;

  void accept_next();
  bool room_for_handshake(const asio::ip::tcp::socket& socket);
  void dial(const std::string& address);
  void back_off(const std::string& address);
  Link& link_of(const ConnectionPtr& connection);
  void retire(const ConnectionPtr& connection, Link& link);
  static bool retired(Connection& connection, const Link& link,
                      std::chrono::steady_clock::time_point now);
  void tick();
  void dial_missing();
  void publish_peers();
  void send_members(const ConnectionPtr& to);
  void handle_members(const ConnectionPtr& from, const MembersMessage& message);
  void handle_call(const ConnectionPtr& from, std::string_view body);
  void handle_cast(const ConnectionPtr& from, std::string_view body);
  void handle_reply(const ConnectionPtr& from, std::string_view body);
  ConnectionPtr peer(const std::string& name) const;
  void discovery_loop();
  void check_synced();
  void close_when_flushed(std::chrono::steady_clock::time_point give_up, std::promise<void>* done);

  const ClusterOptions options_;
  ClusterHost& host_;
  std::unique_ptr<TlsContext> tls_;  // null: plaintext
  LocalIdentity self_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer ticker_;
  std::thread io_thread_;
  std::once_flag stopped_;

  // IO thread only.
  std::vector<std::string> capabilities_;
  std::map<ConnectionPtr, Link> connections_;  // every connection, ready or not
  std::map<std::string, ConnectionPtr> ready_;
  std::set<std::string> dialing_;
  std::map<std::string, Known> known_;
  std::map<std::string, std::uint64_t> left_;  // name -> incarnation that left gracefully
  std::vector<std::string> discovered_;
  std::chrono::steady_clock::time_point last_heartbeat_{};
  struct Backoff {
    std::chrono::steady_clock::duration delay{};
    std::chrono::steady_clock::time_point next{};
  };
  std::map<std::string, Backoff> backoff_;  // failed dials by address
  std::map<std::string, std::chrono::steady_clock::time_point> view_shared_;  // by peer name
  bool stopping_ = false;
  bool synced_ = false;
  std::chrono::steady_clock::time_point started_{};

  SnapshotCell<PeerMap> peers_;
  std::atomic<std::uint64_t> handshakes_refused_{0};

  // Metrics: links are added when ready and folded into closed totals when they close.
  mutable std::mutex figures_mutex_;
  std::map<std::string, std::vector<ConnectionPtr>> live_links_;  // guarded by figures_mutex_
  std::map<std::string, Traffic> closed_traffic_;                 // guarded by figures_mutex_
  std::map<std::string, std::uint64_t, std::less<>> refusals_;    // guarded by figures_mutex_
  std::chrono::steady_clock::time_point refusal_logged_{};  // IO thread only
  std::uint64_t refusals_unlogged_ = 0;                      // IO thread only

  std::mutex discovery_mutex_;
  std::condition_variable discovery_cv_;
  bool discovery_stop_ = false;  // guarded by discovery_mutex_
  std::thread discovery_thread_;
};

}  // namespace mesh::detail

// Cluster: this node's links to its peers, its view of the membership, and remote calls.
#pragma once

#include <asio.hpp>

#include <chrono>
#include <condition_variable>
#include <future>
#include <optional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/connection.hpp"
#include "core/snapshot_cell.hpp"
#include "core/string_map.hpp"
#include "mesh/node_options.hpp"
#include "mesh/request.hpp"
#include "placement/routing_table.hpp"
#include "runtime/call_chain.hpp"

namespace mesh::detail {

// What the cluster needs from its node. Called on the IO thread.
class ClusterHost {
 public:
  virtual ~ClusterHost() = default;
  // The peers this node is connected to now, with their capabilities (self excluded).
  virtual void on_peers_changed(std::vector<MemberInfo> peers) = 0;
  // A request that arrived from peer `from`. `done` may run on any thread.
  virtual void serve_call(Request&& request, ChainPtr chain, std::uint32_t hops,
                          const std::string& from, CallState::Callback done) = 0;
  virtual void serve_cast(Request&& request, std::uint32_t hops, const std::string& from) = 0;
  virtual void log(LogLevel level, const std::string& message) = 0;
  // This node has met the cluster (or found nobody within join_timeout): its own capabilities
  // may take effect now without stealing shards from members it has not met yet.
  virtual void on_synced() = 0;
  // A peer hands over an actor of a shard it no longer owns / releases shards.
  virtual void on_handoff(const std::string& from, const std::string& capability,
                          std::uint32_t shard, std::string module, std::string id,
                          std::optional<Value> state) = 0;
  // `answer`: sent in answer to this node's ASK_RELEASE.
  virtual void on_release(const std::string& from, const std::string& capability,
                          std::vector<std::uint32_t> shards, bool answer) = 0;
  // A peer still waits for this node to release these shards.
  virtual void on_ask_release(const std::string& from, const std::string& capability,
                              std::vector<std::uint32_t> shards) = 0;
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
  // Handoff messages; both keep their order with everything else sent to `to`.
  void send_handoff(const std::string& to, const std::string& capability, std::uint32_t shard,
                    const std::string& module, const std::string& id,
                    const std::optional<Value>& state);
  void send_release(const std::string& to, const std::string& capability,
                    const std::vector<std::uint32_t>& shards, bool answer = false);
  void send_ask_release(const std::string& to, const std::string& capability,
                        const std::vector<std::uint32_t>& shards);
  bool connected(const std::string& name) const { return peer(name) != nullptr; }
  // Sends peer `name` this node's MEMBERS (its members and capabilities), at most every 100 ms:
  // for a peer that sent a request here by a view older than this node's. IO thread only (it
  // is called while serving a peer's request, so forwarding posts nothing per request).
  void share_view(const std::string& name);

  // ConnectionOwner (IO thread).
  std::string admit(const ConnectionPtr& connection) override;
  void on_ready(const ConnectionPtr& connection) override;
  void on_frame(const ConnectionPtr& connection, wire::Frame&& frame) override;
  void on_closed(const ConnectionPtr& connection, const std::string& reason) override;

 private:
  struct Known {
    std::string listen;
    std::uint64_t incarnation = 0;
    std::chrono::steady_clock::time_point last_seen;
  };
  using PeerMap = StringMap<ConnectionPtr>;

  void accept_next();
  void dial(const std::string& address);
  void back_off(const std::string& address);
  void retire(const ConnectionPtr& link);
  static bool retired(Connection& link, std::chrono::steady_clock::time_point now);
  void tick();
  void dial_missing();
  void publish_peers();
  void send_members(const ConnectionPtr& to);
  void handle_members(const ConnectionPtr& from, const Value& body);
  void handle_call(const ConnectionPtr& from, std::string_view body);
  void handle_cast(const ConnectionPtr& from, std::string_view body);
  void handle_reply(const ConnectionPtr& from, std::string_view body);
  ConnectionPtr peer(const std::string& name) const;
  void discovery_loop();
  void check_synced();
  void close_when_flushed(std::chrono::steady_clock::time_point give_up, std::promise<void>* done);

  const ClusterOptions options_;
  ClusterHost& host_;
  LocalIdentity self_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer ticker_;
  std::thread io_thread_;
  std::once_flag stopped_;

  // IO thread only.
  std::vector<std::string> capabilities_;
  std::set<ConnectionPtr> connections_;
  std::map<std::string, ConnectionPtr> ready_;
  std::set<std::string> dialing_;
  std::map<std::string, Known> known_;
  std::set<std::string> left_;  // names that left gracefully and are not redialed
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

  std::mutex discovery_mutex_;
  std::condition_variable discovery_cv_;
  bool discovery_stop_ = false;  // guarded by discovery_mutex_
  std::thread discovery_thread_;
};

}  // namespace mesh::detail

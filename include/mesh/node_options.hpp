// NodeOptions: how a Node is started.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <memory>
#include <string>
#include <vector>

#include "mesh/discovery.hpp"
#include "mesh/placement.hpp"
#include "mesh/state_store.hpp"

namespace mesh {

enum class LogLevel : std::uint8_t { debug, info, warning, error };

// Receives the node's log lines (membership changes, refused peers, ...). Called from node
// threads, possibly concurrently: it must be thread-safe and quick.
using LogSink = std::function<void(LogLevel level, std::string_view message)>;

// What a LogSink receives (docs/operations.md, "Logs").
enum class LogFormat : std::uint8_t {
  text,  // the message alone: "connected to b (127.0.0.1:7001)"
  // One JSON object per line, for log collectors: {"time": RFC 3339 UTC with milliseconds,
  // "level", "node", "event" (a stable snake_case name such as "peer_connected"), "message",
  // "fields" (the event's parts as strings, e.g. {"peer": "b", "address": "127.0.0.1:7001"})}.
  json,
};

// TLS 1.3 on the links between nodes (docs/tls.md): PEM file paths, all three or none. With
// them, a node accepts and dials only TLS links whose peer presents a certificate signed by
// `ca` (and presents its own), and still requires the cookie inside. Nodes with and without TLS
// refuse each other. Node's constructor throws std::invalid_argument when a file cannot be used.
struct TlsOptions {
  std::string certificate_chain;  // this node's certificate, then any intermediates
  std::string private_key;        // the key of that certificate (unencrypted PEM)
  std::string ca;                 // the CA certificate(s) a peer's certificate must chain to
  bool enabled() const { return !certificate_chain.empty() || !private_key.empty() || !ca.empty(); }
};

// Built with designated initializers, so the field order is part of the API: new fields go at
// the end. Node's constructor throws std::invalid_argument for values it cannot use.
struct NodeOptions {
  std::string name;                // unique in the cluster; empty = derived from host (and port)
  std::string listen;              // "host:port"; empty = standalone node, no network
  std::vector<std::string> seeds;  // "host:port" of nodes to join through
  std::string cookie;              // shared cluster secret; peers without it are refused
  std::uint32_t shard_count = 4096;                // 1 .. 1'048'576, the same on every node
  std::shared_ptr<PlacementStrategy> strategy;    // null = rendezvous_strategy()

  // Threads that run queued actor messages. 0 = one per hardware thread (at least 2). A call to
  // an idle actor runs on the caller's own thread instead, with no hand-off.
  std::uint32_t worker_threads = 0;
  // Extra threads the pool may add while its workers are blocked (a handler waiting on another
  // actor, or a handler running far longer than inline_limit), so that queued work for other
  // actors never waits behind them. Extra threads retire after a second without work.
  std::uint32_t max_extra_workers = 64;
  // A handler run longer than this is slow (ActorOptions::handlers): an adaptive module whose
  // handler ran slow stops running on callers' threads; its calls go through the pool, where a
  // caller's timeout cuts the wait short.
  std::chrono::microseconds inline_limit{1000};

  // Cluster (used when `listen` is set).
  std::chrono::milliseconds heartbeat_interval{200};  // a heartbeat to every peer this often
  std::chrono::milliseconds failure_timeout{1500};    // silence after which a peer is dead
  std::uint32_t max_frame_bytes = 16u << 20;           // larger frames close the connection
  // More seed addresses, looked up periodically (e.g. dns_discovery for a Kubernetes
  // headless service). Seeds and discovered addresses are treated alike.
  std::shared_ptr<Discovery> discovery;
  std::chrono::milliseconds discovery_interval{1000};
  // Null: warnings and errors go to stderr, prefixed with the node's name.
  LogSink log;
  // How often the reconciler stops activations on shards this node does not own (left behind
  // by a partition or a race with a view change). 0 = only when Node::reconcile() is called.
  std::chrono::milliseconds reconcile_interval{5000};
  // A joining node keeps its capabilities out of placement until it has met every member it
  // hears of, or this long; so it never serves a shard whose owner it has not met yet.
  std::chrono::milliseconds join_timeout{2000};
  // How long a node that gained a shard waits for the previous owner to release it (calls for
  // the shard wait meanwhile) before serving it anyway.
  std::chrono::milliseconds handoff_timeout{3000};

  // Limits (docs/runtime.md, "Overload"). Activations this node may hold, 0 = no limit: at the
  // limit, a new activation first passivates the least recently used idle ones
  // (on_deactivate(idle)), and fails with Errc::overloaded only when none is idle.
  std::size_t max_activations = 0;
  // Bytes queued for one peer that it has not read yet: beyond it, calls and casts to that peer
  // fail at once with Errc::overloaded (replies to it are dropped; its callers time out) instead
  // of buffering without limit. At least max_frame_bytes.
  std::size_t max_send_queue_bytes = 64u << 20;

  // Where persistent actors (ActorOptions::persistence) keep their state: sqlite_store(path),
  // postgres_store(conninfo), memory_store() or your own. Null = none (no persistent modules).
  // Nodes of one cluster that host persistent actors must share one store.
  std::shared_ptr<StateStore> state_store;

  // The HTTP/JSON gateway (docs/http-api.md): "host:port" to serve it on, empty = off, port 0
  // picks one (Node::http_address() tells which). Any node serves any actor.
  std::string http_listen;
  // Non-empty: every HTTP request needs "Authorization: Bearer <http_token>" (or the session
  // cookie the dashboard's login form sets, docs/operations.md), else 401.
  std::string http_token;
  std::size_t http_max_body = 1u << 20;  // larger request bodies are refused with 413
  // Request line and headers together, at least 1024; more is refused with 431.
  std::size_t http_max_header_bytes = 16u << 10;
  // Open HTTP connections; more are answered 503 and closed at once.
  std::size_t http_max_connections = 1024;
  // A request must arrive whole within this long of its first byte, and an idle keep-alive
  // connection is closed after it: a slow or silent client cannot hold a connection.
  std::chrono::milliseconds http_read_timeout{10'000};
  // The gateway's IO threads, 1..64 (they parse, route and write; handlers never run on them).
  // Two beat one even on 2 cores: less CPU per call and more calls/s (docs/benchmarks.md).
  std::uint32_t http_threads = 2;
  // Empty: plaintext links. See TlsOptions.
  TlsOptions tls;
  // Accepted connections that have not finished the handshake yet (TLS and cookie), at most.
  // One more is closed at once, logged (at most once a second) and counted in
  // NodeStatus::handshakes_refused; a handshake not finished within 5 s is closed. Until a peer
  // is admitted its connection holds a 512-byte read buffer, not the 64 KiB of a ready link, and
  // may send frames of at most 4096 bytes. At least 1 (docs/wire-protocol.md, "Before admission").
  std::uint32_t max_handshakes = 256;
  // The form of every line the node logs, to NodeOptions::log or to stderr when it is null.
  LogFormat log_format = LogFormat::text;
};

}  // namespace mesh

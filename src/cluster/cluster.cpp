#include "cluster/cluster.hpp"

#include <algorithm>
#include <future>
#include <limits>
#include <random>
#include <stdexcept>

#include "cluster/address.hpp"
#include "core/thread_name.hpp"
#include "mesh/no_inline_handlers.hpp"

namespace mesh::detail {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTick = std::chrono::milliseconds(25);
constexpr auto kHandshakeTimeout = std::chrono::seconds(5);
constexpr auto kForgetAfter = std::chrono::seconds(60);

std::uint64_t new_incarnation() {
  return static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
}

asio::ip::tcp::endpoint listen_endpoint(asio::io_context& io, const std::string& listen) {
  const auto parts = split_address(listen);
  if (!parts) throw std::invalid_argument("mesh: listen address '" + listen + "' is not host:port");
  asio::ip::tcp::resolver resolver(io);
  asio::error_code ec;
  auto results = resolver.resolve(parts->host, parts->port, asio::ip::tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    throw std::invalid_argument("mesh: cannot resolve listen address '" + listen + "': " +
                                ec.message());
  }
  return results.begin()->endpoint();
}

}  // namespace

Cluster::Cluster(ClusterOptions options, ClusterHost& host)
    : options_(std::move(options)),
      host_(host),
      acceptor_(io_),
      ticker_(io_),
      peers_(std::make_shared<const PeerMap>()) {
  if (options_.tls.enabled()) tls_ = std::make_unique<TlsContext>(options_.tls);
  if (options_.max_handshakes == 0) {
    throw std::invalid_argument("mesh: max_handshakes must be at least 1");
  }
  const auto endpoint = listen_endpoint(io_, options_.listen);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);  // throws std::system_error, e.g. when the port is taken
  acceptor_.listen();
  const auto bound = acceptor_.local_endpoint();
  const std::string host_part = split_address(options_.listen)->host;
  self_ = LocalIdentity{options_.name, new_incarnation(), join_address(host_part, bound.port()),
                        options_.cookie, options_.max_frame_bytes,
                        options_.max_send_queue_bytes, tls_.get()};
  if (self_.name.empty()) self_.name = self_.listen;
}

Cluster::~Cluster() { stop(); }

void Cluster::start(std::vector<std::string> capabilities) {
  capabilities_ = std::move(capabilities);
  started_ = Clock::now();
  accept_next();
  ticker_.expires_after(kTick);
  ticker_.async_wait([this](const asio::error_code& ec) {
    if (!ec) tick();
  });
  asio::post(io_, [this] {
    dial_missing();
    check_synced();
  });
  io_thread_ = std::thread([this] {
    name_this_thread("mesh-io");
    const NoInlineHandlers no_handlers_on_the_io_thread;
    io_.run();
  });
  if (options_.discovery) {
    discovery_thread_ = std::thread([this] {
      name_this_thread("mesh-discovery");
      options_.discovery->announce_as(DiscoveryIdentity{
          self_.name, self_.listen, self_.cookie,
          [this](std::string_view line) {
            host_.log({LogLevel::warning, "discovery_warning", std::string(line), {}});
          }});
      discovery_loop();
    });
  }
}

void Cluster::stop() {
  std::call_once(stopped_, [this] {
    {
      std::lock_guard lock(discovery_mutex_);
      discovery_stop_ = true;
    }
    discovery_cv_.notify_all();
    if (discovery_thread_.joinable()) discovery_thread_.join();
    if (!io_thread_.joinable()) return;
    std::promise<void> closed;
    asio::post(io_, [this, &closed] {
      stopping_ = true;
      asio::error_code ignored;
      acceptor_.close(ignored);
      ticker_.cancel();
      // LEAVE goes after whatever is queued (handoffs, releases, replies) on each connection;
      // connections close once that has been written, or after a bounded wait.
      const std::string leave = wire::encode_frame(wire::Type::leave, Value::object());
      for (auto& [name, connection] : ready_) connection->send(leave, Connection::Urgency::now);
      close_when_flushed(Clock::now() + std::chrono::milliseconds(500), &closed);
    });
    closed.get_future().wait();
    // Let the closes posted above run, then stop.
    asio::post(io_, [this] { io_.stop(); });
    io_thread_.join();
  });
}

void Cluster::close_when_flushed(Clock::time_point give_up, std::promise<void>* done) {
  bool flushed = true;
  for (const auto& [connection, link] : connections_) {
    flushed = flushed && connection->unsent_bytes() == 0;
  }
  if (!flushed && Clock::now() < give_up) {
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(1));
    timer->async_wait([this, timer, give_up, done](const asio::error_code&) {
      close_when_flushed(give_up, done);
    });
    return;
  }
  std::vector<ConnectionPtr> all;
  for (const auto& [connection, link] : connections_) all.push_back(connection);
  for (const ConnectionPtr& connection : all) connection->close("this node is leaving");
  done->set_value();
}

void Cluster::accept_next() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        host_.log({LogLevel::warning, "accept_failed", "accept failed: " + ec.message(),
                   {{"reason", ec.message()}}});
        accept_next();
      }
      return;
    }
    if (stopping_) return;
    if (!room_for_handshake(socket)) {
      asio::error_code ignored;
      socket.close(ignored);
      accept_next();
      return;
    }
    auto connection = std::make_shared<Connection>(io_, std::move(socket), self_, *this, "");
    connections_.emplace(connection, Link{});
    connection->start();
    accept_next();
  });
}

// Strangers may hold at most max_handshakes connections at once (each until its handshake
// ends or times out): beyond that a connection is closed unread, so a flood of idle or garbage
// connections costs a bounded amount whatever its size. Logged at most once a second.
bool Cluster::room_for_handshake(const asio::ip::tcp::socket& socket) {
  std::size_t in_handshake = 0;
  for (const auto& [connection, link] : connections_) {
    in_handshake += connection->dialed_address().empty() && !connection->admitted();
  }
  if (in_handshake < options_.max_handshakes) return true;
  handshakes_refused_.fetch_add(1, std::memory_order_relaxed);
  ++refusals_unlogged_;
  const auto now = Clock::now();
  if (now - refusal_logged_ >= std::chrono::seconds(1)) {
    asio::error_code ignored;
    const auto from = socket.remote_endpoint(ignored);
    const std::string address = from.address().to_string() + ":" + std::to_string(from.port());
    host_.log({LogLevel::warning, "handshakes_refused",
               "refused " + std::to_string(refusals_unlogged_) + " connection(s) (the last from " +
                   address + "): " + std::to_string(in_handshake) +
                   " handshakes in progress, NodeOptions::max_handshakes is " +
                   std::to_string(options_.max_handshakes),
               {{"refused", std::to_string(refusals_unlogged_)},
                {"last_from", address},
                {"in_handshake", std::to_string(in_handshake)}}});
    refusal_logged_ = now;
    refusals_unlogged_ = 0;
  }
  return false;
}

void Cluster::dial(const std::string& address) {
  if (stopping_ || address == self_.listen || dialing_.contains(address)) return;
  if (const auto it = backoff_.find(address); it != backoff_.end() && Clock::now() < it->second.next) {
    return;
  }
  for (const auto& [name, connection] : ready_) {
    if (connection->peer_listen() == address) return;
  }
  const auto parts = split_address(address);
  if (!parts) {
    host_.log({LogLevel::warning, "bad_seed", "ignoring seed '" + address + "': not host:port",
               {{"address", address}}});
    return;
  }
  dialing_.insert(address);
  auto resolver = std::make_shared<asio::ip::tcp::resolver>(io_);
  resolver->async_resolve(
      parts->host, parts->port,
      [this, address, resolver](const asio::error_code& ec,
                                asio::ip::tcp::resolver::results_type results) {
        if (ec || stopping_) {
          dialing_.erase(address);
          back_off(address);
          return;
        }
        auto socket = std::make_shared<asio::ip::tcp::socket>(io_);
        asio::async_connect(*socket, results,
                            [this, address, socket](const asio::error_code& ec2, const auto&) {
                              if (ec2 || stopping_) {
                                dialing_.erase(address);
                                back_off(address);
                                return;
                              }
                              auto connection = std::make_shared<Connection>(
                                  io_, std::move(*socket), self_, *this, address);
                              connections_.emplace(connection, Link{});
                              connection->start();
                            });
      });
}

// A failed dial waits before the next attempt at that address: 50 ms, doubling up to the
// discovery interval, with +-20% jitter so that many nodes do not retry in step.
void Cluster::back_off(const std::string& address) {
  static thread_local std::mt19937 random(std::random_device{}());
  Backoff& b = backoff_[address];
  b.delay = std::min<Clock::duration>(std::max<Clock::duration>(b.delay * 2, std::chrono::milliseconds(50)),
                                      options_.discovery_interval);
  const double jitter = std::uniform_real_distribution<double>(0.8, 1.2)(random);
  b.next = Clock::now() + std::chrono::duration_cast<Clock::duration>(b.delay * jitter);
}

// Dials seeds and discovered addresses we have no link to, and known members we should dial.
void Cluster::dial_missing() {
  for (const std::string& seed : options_.seeds) dial(seed);
  for (const std::string& address : discovered_) dial(address);
  const auto now = Clock::now();
  for (auto it = known_.begin(); it != known_.end();) {
    const auto& [name, known] = *it;
    if (ready_.contains(name)) {
      ++it;
      continue;
    }
    if (now - known.last_seen > kForgetAfter) {
      it = known_.erase(it);
      continue;
    }
    const auto gone = left_.find(name);  // an incarnation that left is not redialed
    if (self_.name < name && (gone == left_.end() || known.incarnation > gone->second)) {
      dial(known.listen);
    }
    ++it;
  }
}

void Cluster::tick() {
  const auto now = Clock::now();
  for (const auto& [connection, link] : connections_) {
    connection->expire_calls(now);
    if (!connection->ready() && now - connection->opened_at() > kHandshakeTimeout) {
      connection->close("handshake timed out");
    }
    if (link.retiring && connection->ready() && retired(*connection, link, now)) {
      connection->close("replaced by a second link");
    }
  }
  if (now - last_heartbeat_ >= options_.heartbeat_interval) {
    last_heartbeat_ = now;
    const std::string heartbeat = wire::encode_frame(wire::Type::heartbeat, Value::object());
    for (auto& [name, connection] : ready_) {
      if (now - connection->last_received() > options_.failure_timeout) {
        connection->close("no heartbeat for " +
                          std::to_string(options_.failure_timeout.count()) + " ms");
      } else {
        connection->send(heartbeat, Connection::Urgency::background);
        known_[name].last_seen = now;
      }
    }
  }
  dial_missing();  // each address keeps to its own backoff
  check_synced();
  ticker_.expires_after(kTick);
  ticker_.async_wait([this](const asio::error_code& ec) {
    if (!ec) tick();
  });
}

// Two links to the same incarnation of a peer arise when both nodes dial at once (a restart,
// a healed partition, mutual seeds). Each end decides alone, so the rule must give the same
// answer at both ends whatever order the handshakes finish in: keep the link opened by the
// node with the smaller name, and between two links from the same node the one with the
// smaller nonce. An existing link that has been silent past the failure timeout is dead on
// the other side already (the peer would not dial otherwise) and gives way at once.
namespace {
bool preferred(const Connection& a, const Connection& b) {
  if (a.dialer_name() != b.dialer_name()) return a.dialer_name() < b.dialer_name();
  return a.dialer_nonce() < b.dialer_nonce();
}
}  // namespace

std::string Cluster::admit(const ConnectionPtr& connection) {
  const std::string& name = connection->peer_name();
  if (stopping_) return "node " + self_.name + " is leaving";
  if (name == self_.name) return "duplicate node name " + name + " (the name of this node)";
  const auto it = ready_.find(name);
  if (it == ready_.end()) return "";
  const ConnectionPtr existing = it->second;
  const auto silent = Clock::now() - existing->last_received();
  if (existing->peer_incarnation() == connection->peer_incarnation()) {
    if (silent <= options_.failure_timeout && !preferred(*connection, *existing)) {
      return "already connected to " + name;
    }
    // The peer is the same node with the same capabilities: it stays in the view throughout.
    Link& old_link = link_of(existing);
    Link& new_link = link_of(connection);
    new_link.capabilities = old_link.capabilities;
    new_link.introduced = old_link.introduced;
    retire(existing, old_link);
    return "";
  }
  if (silent < options_.failure_timeout / 2) {
    return "duplicate node name " + name + ": a live node already uses it";
  }
  existing->close("replaced by a new incarnation of " + name);
  return "";
}

Cluster::Link& Cluster::link_of(const ConnectionPtr& connection) {
  const auto it = connections_.find(connection);
  // Every connection is in connections_ from its start until on_closed, and only then.
  if (it == connections_.end()) throw std::logic_error("mesh: a connection outside the cluster");
  return it->second;
}

// The peer decides the same way and retires its end too (see admit).
void Cluster::retire(const ConnectionPtr& connection, Link& link) {
  link.retiring = true;
  link.retired_at = Clock::now();
  connection->send(wire::encode_frame(wire::Type::retire, Value::object()),
                   Connection::Urgency::now);
  host_.log({LogLevel::debug, "link_retiring", "retiring a second link to " + connection->peer_name(),
             {{"peer", connection->peer_name()}}});
}

// A retired link closes once nothing can be in flight on it: the peer has retired it too (so
// no request of its can follow), every call this node sent on it has its reply, every request
// it received is answered and written, and a grace period has passed for a caller that took
// the link just before it retired. Calls that take longer than kRetireLimit give way.
bool Cluster::retired(Connection& connection, const Link& link, Clock::time_point now) {
  constexpr auto kGrace = std::chrono::milliseconds(100);
  constexpr auto kRetireLimit = std::chrono::seconds(10);
  if (now - link.retired_at >= kRetireLimit) return true;
  return link.peer_retired && now - link.retired_at >= kGrace &&
         connection.pending_calls() == 0 && connection.serving() == 0 &&
         connection.unsent_bytes() == 0;
}

void Cluster::on_ready(const ConnectionPtr& connection) {
  const std::string& name = connection->peer_name();
  ready_[name] = connection;
  {
    std::lock_guard lock(figures_mutex_);
    live_links_[name].push_back(connection);
  }
  if (!connection->dialed_address().empty()) {
    dialing_.erase(connection->dialed_address());
    backoff_.erase(connection->dialed_address());
  }
  backoff_.erase(connection->peer_listen());
  known_[name] = Known{connection->peer_listen(), connection->peer_incarnation(), Clock::now()};
  left_.erase(name);
  view_shared_.erase(name);
  host_.log({LogLevel::info, "peer_connected",
             "connected to " + name + " (" + connection->peer_listen() + ")",
             {{"peer", name}, {"address", connection->peer_listen()}}});
  publish_peers();
  // Everyone learns of the newcomer (and the newcomer of everyone) at once.
  for (auto& [peer_name, peer] : ready_) send_members(peer);
  check_synced();
}

// Synced: every node this one has heard of is connected (or join_timeout passed, or it has
// nobody to join). Until then its own capabilities stay out of placement, here and at peers.
void Cluster::check_synced() {
  if (synced_ || stopping_) return;
  const bool alone = options_.seeds.empty() && !options_.discovery;
  bool met_everyone = !ready_.empty() && dialing_.empty();
  for (const auto& [connection, link] : connections_) {
    met_everyone = met_everyone && connection->ready();
  }
  for (const auto& [name, known] : known_) met_everyone = met_everyone && ready_.contains(name);
  for (const auto& [name, connection] : ready_) {
    met_everyone = met_everyone && link_of(connection).introduced;
  }
  if (alone || met_everyone || Clock::now() - started_ >= options_.join_timeout) {
    synced_ = true;
    host_.on_synced();
  }
}

void Cluster::on_closed(const ConnectionPtr& connection, const std::string& reason) {
  if (connection->admitted()) {
    std::lock_guard lock(figures_mutex_);
    const auto live = live_links_.find(connection->peer_name());
    if (live != live_links_.end() && std::erase(live->second, connection) != 0) {
      Traffic& closed = closed_traffic_[connection->peer_name()];
      closed.sent += connection->bytes_sent();
      closed.received += connection->bytes_received();
      if (live->second.empty()) live_links_.erase(live);
    }
  }
  const auto node = connections_.extract(connection);
  const bool was_retiring = !node.empty() && node.mapped().retiring;
  if (!connection->dialed_address().empty()) {
    dialing_.erase(connection->dialed_address());
    if (!connection->admitted()) back_off(connection->dialed_address());
  }
  const std::string& name = connection->peer_name();
  const auto it = ready_.find(name);
  if (it != ready_.end() && it->second == connection) {
    ready_.erase(it);
    host_.log({LogLevel::info, "peer_lost", "lost " + name + ": " + reason,
               {{"peer", name}, {"reason", reason}}});
    publish_peers();
    check_synced();
  } else if (!connection->admitted() && !stopping_) {
    // A second link to a peer we already have is routine (both sides dialed); anything else
    // (wrong cookie, garbage, another version) is worth a warning.
    const bool routine = reason.find("already connected") != std::string::npos;
    const bool accepted = connection->dialed_address().empty();
    const std::string& address =
        accepted ? connection->remote_endpoint() : connection->dialed_address();
    host_.log({routine ? LogLevel::debug : LogLevel::warning, "handshake_failed",
               "connection " + std::string(accepted ? "from " : "to ") + address +
                   " closed during the handshake: " + reason,
               {{accepted ? "from" : "to", address}, {"reason", reason}}});
  } else if (was_retiring) {
    host_.log({LogLevel::debug, "link_retired", "closed the retired link to " + name + ": " + reason,
               {{"peer", name}, {"reason", reason}}});
  }
}

void Cluster::publish_peers() {
  auto peers = std::make_shared<PeerMap>();
  std::vector<MemberInfo> members;
  for (auto& [name, connection] : ready_) {
    // A peer enters the view with its capabilities, never before them: a view that showed it
    // without them would briefly hand its shards to others. Its MEMBERS also proves it admitted
    // the link, so no call goes out on a link the peer is about to refuse.
    const Link& link = link_of(connection);
    if (!link.introduced) continue;
    peers->emplace(name, connection);
    members.push_back(MemberInfo{name, link.capabilities});
  }
  peers_.publish(std::move(peers));
  host_.on_peers_changed(std::move(members));
}

void Cluster::send_members(const ConnectionPtr& to) {
  MembersMessage message{capabilities_, {{self_.name, self_.listen, self_.incarnation}}};
  for (auto& [name, connection] : ready_) {
    message.members.push_back(
        MemberAddress{name, connection->peer_listen(), connection->peer_incarnation()});
  }
  to->send(encode_members(message), Connection::Urgency::background);
}

void Cluster::send(const std::string& to, const ControlMessage& message) {
  if (const ConnectionPtr connection = peer(to)) {
    connection->send(encode_control(message), Connection::Urgency::background);
  }
}

void Cluster::send(const std::string& to, std::span<const ControlMessage> messages) {
  const ConnectionPtr connection = peer(to);
  if (!connection || messages.empty()) return;
  std::string frames;
  for (const ControlMessage& message : messages) frames += encode_control(message);
  connection->send(frames, Connection::Urgency::background);
}

void Cluster::share_view(const std::string& name) {
  const auto now = Clock::now();
  auto& last = view_shared_[name];
  if (now - last < std::chrono::milliseconds(100)) return;
  const auto it = ready_.find(name);
  if (it == ready_.end() || !link_of(it->second).introduced) return;
  last = now;
  send_members(it->second);
  host_.log({LogLevel::debug, "view_shared",
             "sent " + name + " this node's view: it sent a request by an older one",
             {{"peer", name}}});
}

void Cluster::set_capabilities(std::vector<std::string> capabilities) {
  asio::post(io_, [this, capabilities = std::move(capabilities)]() mutable {
    capabilities_ = std::move(capabilities);
    const std::string frame = encode_capabilities(CapabilitiesMessage{capabilities_});
    for (auto& [name, connection] : ready_) connection->send(frame, Connection::Urgency::background);
  });
}

void Cluster::on_frame(const ConnectionPtr& from, wire::Frame&& frame) {
  try {
    Link& link = link_of(from);
    if (link.retiring && (frame.type == wire::Type::members ||
                          frame.type == wire::Type::capabilities)) {
      return;  // the peer's MEMBERS on the link that replaced this one supersedes it
    }
    if (is_control(frame.type)) {
      host_.on_control(from->peer_name(), decode_control(frame.type, std::move(frame.body)));
      return;
    }
    switch (frame.type) {
      case wire::Type::retire:
        link.peer_retired = true;
        return;
      case wire::Type::members: {
        MembersMessage members = decode_members(frame.body);
        link.capabilities = std::move(members.capabilities);
        link.introduced = true;
        handle_members(from, members);
        publish_peers();
        check_synced();
        return;
      }
      case wire::Type::capabilities:
        link.capabilities = decode_capabilities(frame.body).capabilities;
        host_.log({LogLevel::info, "peer_capabilities",
                   from->peer_name() + " now serves " + Value(link.capabilities).dump(),
                   {{"peer", from->peer_name()},
                    {"capabilities", Value(link.capabilities).dump()}}});
        publish_peers();
        return;
      case wire::Type::heartbeat:
        return;
      case wire::Type::leave: {
        left_[from->peer_name()] = from->peer_incarnation();
        known_.erase(from->peer_name());
        host_.log({LogLevel::info, "peer_leaving", from->peer_name() + " is leaving the cluster",
                   {{"peer", from->peer_name()}}});
        // It may have said so on a link this node has just replaced: drop the current one too.
        const auto current = ready_.find(from->peer_name());
        if (current != ready_.end() && current->second != from &&
            current->second->peer_incarnation() == from->peer_incarnation()) {
          current->second->close("left the cluster");
        }
        from->close("left the cluster");
        return;
      }
      case wire::Type::call:
        handle_call(from, frame.raw);
        return;
      case wire::Type::cast:
        handle_cast(from, frame.raw);
        return;
      case wire::Type::reply:
        handle_reply(from, frame.raw);
        return;
      default:
        break;
    }
    from->close("unexpected " + std::string(wire::type_name(frame.type)) + " frame");
  } catch (const std::exception& e) {
    host_.log({LogLevel::warning, "malformed_frame",
               "malformed " + std::string(wire::type_name(frame.type)) + " from " +
                   from->peer_name() + ": " + e.what(),
               {{"peer", from->peer_name()},
                {"frame", std::string(wire::type_name(frame.type))},
                {"reason", e.what()}}});
    from->close(std::string("malformed frame: ") + e.what());
  }
}

void Cluster::handle_members(const ConnectionPtr& from, const MembersMessage& message) {
  const auto now = Clock::now();
  for (const MemberAddress& member : message.members) {
    const std::string& name = member.name;
    if (name == self_.name || name.empty() || ready_.contains(name)) continue;
    if (const auto gone = left_.find(name);
        gone != left_.end() && member.incarnation <= gone->second && name != from->peer_name()) {
      continue;  // the incarnation that left; a newer one (a restart) is welcome
    }
    Known& known = known_[name];
    if (member.incarnation >= known.incarnation) {
      known = Known{member.listen, member.incarnation, now};
    }
    if (self_.name < name) dial(member.listen);
  }
}

ConnectionPtr Cluster::peer(const std::string& name) const {
  const PeerMap& peers = peers_.read();
  const auto it = peers.find(name);
  return it == peers.end() ? nullptr : it->second;
}

void Cluster::discovery_loop() {
  std::unique_lock lock(discovery_mutex_);
  while (!discovery_stop_) {
    lock.unlock();
    std::vector<std::string> found = options_.discovery->addresses();
    asio::post(io_, [this, found = std::move(found)]() mutable {
      discovered_ = std::move(found);
      dial_missing();
    });
    lock.lock();
    discovery_cv_.wait_for(lock, options_.discovery_interval, [this] { return discovery_stop_; });
  }
}

void Cluster::on_refused(std::string_view code) {
  std::lock_guard lock(figures_mutex_);
  const auto it = refusals_.find(code);
  if (it != refusals_.end()) {
    ++it->second;
  } else {
    refusals_.emplace(std::string(code), 1);
  }
}

std::map<std::string, Cluster::Traffic> Cluster::traffic() const {
  std::lock_guard lock(figures_mutex_);
  std::map<std::string, Traffic> out = closed_traffic_;
  for (const auto& [name, links] : live_links_) {
    Traffic& total = out[name];
    for (const ConnectionPtr& link : links) {
      total.sent += link->bytes_sent();
      total.received += link->bytes_received();
    }
  }
  return out;
}

std::map<std::string, std::uint64_t> Cluster::refusals() const {
  std::map<std::string, std::uint64_t> out;
  {
    std::lock_guard lock(figures_mutex_);
    out.insert(refusals_.begin(), refusals_.end());
  }
  out["handshake_limit"] += handshakes_refused();
  return out;
}

}  // namespace mesh::detail

// Remote calls: sending requests and matching replies to the callers waiting for them.
#include <memory>

#include "cluster/call_codec.hpp"
#include "cluster/cluster.hpp"

namespace mesh::detail {
namespace {

using Clock = std::chrono::steady_clock;

Error unreachable(const std::string& owner) {
  return Error{Errc::node_unreachable, "no connection to node " + owner};
}

Error not_reading(const std::string& owner) {
  return Error{Errc::overloaded, "node " + owner +
                                     " is not reading: max_send_queue_bytes are waiting for it"};
}

// Frames are encoded into a buffer each thread keeps, then copied into the connection's queue:
// no allocation per frame once the buffer has grown to the largest frame this thread sent.
std::string& scratch() {
  thread_local std::string buffer;
  buffer.clear();
  return buffer;
}

std::string_view request_frame(wire::Type type, std::uint64_t id, const Request& request,
                               const ChainPtr& chain, std::uint32_t hops) {
  std::string& out = scratch();
  append_request(out, type, id, request, chain, hops);
  return out;
}

}  // namespace

Result<Reply> Cluster::call(const std::string& owner, Request&& request, const ChainPtr& chain,
                            std::uint32_t hops) {
  const ConnectionPtr connection = peer(owner);
  if (!connection) return std::unexpected(unreachable(owner));
  RefPtr<CallState> state(new CallState(Clock::now() + request.timeout));
  const std::uint64_t id = connection->add_call(state);
  if (id == 0) return std::unexpected(unreachable(owner));
  switch (connection->send_bounded(request_frame(wire::Type::call, id, request, chain, hops),
                                   Connection::Urgency::now)) {
    case Connection::Sent::queued:
      break;
    case Connection::Sent::full:
      connection->take_call(id);
      return std::unexpected(not_reading(owner));
    case Connection::Sent::closed:
      break;  // the connection fails its calls as it closes
  }
  Result<Reply> result = state->wait();
  if (!result && result.error().code == Errc::timeout) connection->take_call(id);
  return result;
}

void Cluster::async_call(const std::string& owner, Request&& request, const ChainPtr& chain,
                         std::uint32_t hops, CallState::Callback done) {
  const ConnectionPtr connection = peer(owner);
  if (!connection) {
    done(std::unexpected(unreachable(owner)));
    return;
  }
  RefPtr<CallState> state(new CallState(Clock::now() + request.timeout, std::move(done)));
  const std::uint64_t id = connection->add_call(state);
  if (id == 0) {
    state->complete(std::unexpected(unreachable(owner)));
    return;
  }
  // Not urgent: pipelined calls pile up and leave in one write from the IO thread.
  if (connection->send_bounded(request_frame(wire::Type::call, id, request, chain, hops),
                               Connection::Urgency::background) == Connection::Sent::full) {
    if (RefPtr<CallState> mine = connection->take_call(id)) {
      mine->complete(std::unexpected(not_reading(owner)));
    }
  }
}

Result<void> Cluster::cast(const std::string& owner, Request&& request, std::uint32_t hops) {
  const ConnectionPtr connection = peer(owner);
  if (!connection) return std::unexpected(unreachable(owner));
  switch (connection->send_bounded(request_frame(wire::Type::cast, 0, request, nullptr, hops),
                                   Connection::Urgency::background)) {
    case Connection::Sent::queued:
      return {};
    case Connection::Sent::full:
      return std::unexpected(not_reading(owner));
    case Connection::Sent::closed:
      break;
  }
  return std::unexpected(unreachable(owner));
}

void Cluster::handle_call(const ConnectionPtr& from, std::string_view body) {
  // The payload stays encoded: the worker that runs the handler decodes it.
  IncomingRequest in = decode_request(body, PayloadDecoding::deferred);
  std::weak_ptr<Connection> back = from;
  const std::uint64_t id = in.id;
  from->begin_serving();
  host_.serve_call(std::move(in.request), in.encoded_payload, std::move(in.chain), in.hops,
                   from->peer_name(), [back, id](Result<Reply> result) {
                     if (const ConnectionPtr connection = back.lock()) {
                       std::string& frame = scratch();
                       append_reply(frame, id, result);
                       // A reply to a peer that does not read is dropped: its caller times out.
                       (void)connection->send_bounded(frame, Connection::Urgency::batch);
                       // After the reply is queued: a retiring link may close once this is 0.
                       connection->end_serving();
                     }
                   });
}

void Cluster::handle_cast(const ConnectionPtr& from, std::string_view body) {
  IncomingRequest in = decode_request(body, PayloadDecoding::deferred);
  host_.serve_cast(std::move(in.request), in.encoded_payload, in.hops, from->peer_name());
}

void Cluster::handle_reply(const ConnectionPtr& from, std::string_view body) {
  auto [id, result] = decode_reply(body);
  // A reply nobody waits for any more (timed out) is dropped here.
  if (RefPtr<CallState> state = from->take_call(id)) state->complete(std::move(result));
}

}  // namespace mesh::detail

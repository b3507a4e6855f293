// Requests that arrived from peers: served by this node's own view, forwarded when their shard
// is not this node's (the sender's view was older), a bounded number of times.
#include <algorithm>
#include <memory>

#include "core/msgpack_codec.hpp"
#include "node/node_core.hpp"
#include "node/request_deadline.hpp"

namespace mesh::detail {
namespace {

// Only a peer's request queued here at once keeps its payload encoded: any other way (parked,
// delayed, routed again, forwarded, answered by the node itself) needs it as a Value. The IO
// thread checked the bytes on arrival (msgpack::Reader::encoded_value()), so decoding them
// cannot fail but for memory. Does nothing once `encoded` is empty.
void decode_payload(Request& request, std::string_view& encoded) {
  if (encoded.empty()) return;
  request.payload = msgpack::Reader(encoded).value();
  encoded = {};
}

// How many times a request may be passed on by nodes that are not its owner.
constexpr std::uint32_t kMaxForwards = 8;

// A node that receives a forwarded request its view sends on again disagrees with the sender's
// view for a moment (one of them has not seen the latest change yet); it waits this long, which
// doubles with each hop, for the views to settle before it forwards.
std::chrono::milliseconds settle_delay(std::uint32_t hops) {
  return std::chrono::milliseconds(1u << std::min<std::uint32_t>(hops - 1, 6));
}

}  // namespace

void NodeCore::serve_call(Request&& request, std::string_view encoded_payload, ChainPtr chain,
                          std::uint32_t hops, const std::string& from, CallState::Callback done) {
  if (request.module == kLocateModule || request.module == kStatusModule) {
    decode_payload(request, encoded_payload);
    if (request.module == kLocateModule) return serve_locate(std::move(request), done);
    return serve_status(std::move(done));
  }
  const auto deadline = Clock::now() + request.timeout;
  serve_call_settled(std::move(request), std::move(chain), hops, std::move(done), &from, deadline,
                     0, encoded_payload);
}

void NodeCore::serve_call_settled(Request&& request, ChainPtr chain, std::uint32_t hops,
                                  CallState::Callback done, const std::string* from,
                                  Clock::time_point deadline, std::uint32_t attempt,
                                  std::string_view encoded_payload) {
  rebalancer_.note_peer_request();
  Result<Route> route = resolve(request);
  if (!route) {
    done(std::unexpected(std::move(route.error())));
    return;
  }
  if (from == nullptr && !with_time_left(request, deadline)) {
    done(std::unexpected(timed_out("while it was being routed")));
    return;
  }
  if (const Target* local = std::get_if<Target>(&*route)) {
    if (rebalancer_.handoffs().waiting(local->shard_ref())) {
      decode_payload(request, encoded_payload);
      auto parked = std::make_shared<ParkedCall>(std::move(request), std::move(done));
      if (rebalancer_.handoffs().park(
              local->shard_ref(), [this, parked, chain, hops, deadline, attempt] {
                serve_call_settled(std::move(parked->request), chain, hops,
                                   std::move(parked->done), nullptr, deadline, attempt + 1);
              })) {
        return;
      }
      request = std::move(parked->request);
      done = std::move(parked->done);
    }
    if (host_.async_call(*local, request, chain, done, ActorHost::AsyncOrigin::from_peer,
                         encoded_payload)) {
      return;
    }
    if (attempt >= kMaxReroutes) {
      done(std::unexpected(unsettled()));
      return;
    }
    decode_payload(request, encoded_payload);
    // The view changed after resolve: this node's newer view decides, without waiting to settle.
    serve_call_settled(std::move(request), std::move(chain), hops, std::move(done), nullptr,
                       deadline, attempt + 1);
  } else if (hops >= kMaxForwards) {
    done(std::unexpected(Error{Errc::node_unreachable,
                               "request forwarded " + std::to_string(hops) +
                                   " times without reaching its owner"}));
  } else if (hops > 0 && from != nullptr) {
    decode_payload(request, encoded_payload);
    auto parked = std::make_shared<ParkedCall>(std::move(request), std::move(done));
    host_.after(settle_delay(hops), [this, parked, chain, hops, deadline, attempt] {
      serve_call_settled(std::move(parked->request), chain, hops, std::move(parked->done),
                         nullptr, deadline, attempt);
    });
  } else {
    // Straight from the sender, which took this node for the owner: its view is older than
    // this node's, so it hears this node's view too.
    if (hops == 0 && from) cluster_->share_view(*from);
    forwarded_.fetch_add(1, std::memory_order_relaxed);  // views disagree: rare, not per call
    decode_payload(request, encoded_payload);
    cluster_->async_call(std::get<std::string>(*route), std::move(request), chain, hops + 1,
                         std::move(done));
  }
}

void NodeCore::serve_cast(Request&& request, std::string_view encoded_payload, std::uint32_t hops,
                          const std::string& from) {
  serve_cast_settled(std::move(request), hops, &from, 0, encoded_payload);
}

void NodeCore::serve_cast_settled(Request&& request, std::uint32_t hops, const std::string* from,
                                  std::uint32_t attempt, std::string_view encoded_payload) {
  Result<Route> route = resolve(request);
  if (!route) {
    log({LogLevel::debug, "cast_dropped", "dropped a cast from a peer: " + to_string(route.error()),
         {{"module", request.module}, {"error", std::string(to_string(route.error().code))}}});
  } else if (const Target* local = std::get_if<Target>(&*route)) {
    if (rebalancer_.handoffs().waiting(local->shard_ref())) {
      decode_payload(request, encoded_payload);
      auto parked = std::make_shared<Request>(std::move(request));
      if (rebalancer_.handoffs().park(local->shard_ref(), [this, parked, hops, attempt] {
            serve_cast_settled(std::move(*parked), hops, nullptr, attempt + 1);
          })) {
        return;
      }
      request = std::move(*parked);
    }
    if (host_.cast(*local, request, encoded_payload)) return;
    decode_payload(request, encoded_payload);
    if (attempt < kMaxReroutes) serve_cast_settled(std::move(request), hops, nullptr, attempt + 1);
  } else if (hops > 0 && from != nullptr && hops < kMaxForwards) {
    decode_payload(request, encoded_payload);
    auto parked = std::make_shared<Request>(std::move(request));
    host_.after(settle_delay(hops), [this, parked, hops, attempt] {
      serve_cast_settled(std::move(*parked), hops, nullptr, attempt);
    });
  } else if (hops < kMaxForwards) {
    if (hops == 0 && from) cluster_->share_view(*from);
    forwarded_.fetch_add(1, std::memory_order_relaxed);
    decode_payload(request, encoded_payload);
    (void)cluster_->cast(std::get<std::string>(*route), std::move(request), hops + 1);
  }
}

}  // namespace mesh::detail

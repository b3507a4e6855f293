// Remote calls: encoding requests and replies, and matching replies to waiting callers.
#include <memory>

#include "cluster/cluster.hpp"
#include "runtime/scheduler.hpp"

namespace mesh::detail {
namespace {

using Clock = std::chrono::steady_clock;

Error unreachable(const std::string& owner) {
  return Error{Errc::node_unreachable, "no connection to node " + owner};
}

Value encode_chain(const ChainPtr& chain) {
  Value links = Value::array();
  for (const CallChain* link = chain.get(); link; link = link->parent.get()) {
    links.push_back(Value::array({link->node, link->serial}));
  }
  return links;
}

ChainPtr decode_chain(const Value& links) {
  if (!links.is_array()) throw std::invalid_argument("field 'chain' is not a list");
  ChainPtr chain;
  for (auto it = links.rbegin(); it != links.rend(); ++it) {
    if (!it->is_array() || it->size() != 2 || !(*it)[0].is_string() ||
        !(*it)[1].is_number_unsigned()) {
      throw std::invalid_argument("field 'chain' holds a malformed link");
    }
    chain = std::make_shared<const CallChain>(CallChain{(*it)[0].get<std::string>(),
                                                        (*it)[1].get<std::uint64_t>(), chain,
                                                        chain_depth(chain) + 1});
  }
  return chain;
}

std::string encode_request(wire::Type type, std::uint64_t id, Request& request,
                           const ChainPtr& chain, std::uint32_t hops) {
  Value body{{"module", std::move(request.module)},
             {"id", std::move(request.id)},
             {"capability", std::move(request.capability)},
             {"payload", std::move(request.payload)},
             {"hops", hops}};
  if (request.init_arg) body["init"] = std::move(*request.init_arg);
  if (type == wire::Type::call) {
    body["rid"] = id;
    body["timeout_ms"] = static_cast<std::uint64_t>(request.timeout.count());
    if (chain) body["chain"] = encode_chain(chain);
  }
  return wire::encode_frame(type, body);
}

Request decode_request(Value& body) {
  Request request{.module = wire::get_string(body, "module"),
                  .id = wire::get_string(body, "id"),
                  .payload = std::move(body["payload"]),
                  .capability = wire::get_string(body, "capability")};
  if (const auto it = body.find("init"); it != body.end()) request.init_arg = std::move(*it);
  if (const auto it = body.find("timeout_ms"); it != body.end()) {
    if (!it->is_number_unsigned()) throw std::invalid_argument("field 'timeout_ms' is not a number");
    request.timeout = std::chrono::milliseconds(std::max<std::uint64_t>(1, it->get<std::uint64_t>()));
  }
  return request;
}

std::string encode_reply(std::uint64_t id, Result<Reply>&& result) {
  Value body{{"rid", id}, {"ok", result.has_value()}};
  if (result) {
    body["node"] = std::move(result->pid.node);
    body["serial"] = result->pid.serial;
    body["value"] = std::move(result->value);
  } else {
    body["code"] = static_cast<std::uint64_t>(result.error().code);
    body["message"] = std::move(result.error().message);
  }
  return wire::encode_frame(wire::Type::reply, body);
}

Result<Reply> decode_reply(Value& body) {
  const Value& ok = wire::get_field(body, "ok");
  if (!ok.is_boolean()) throw std::invalid_argument("field 'ok' is not a boolean");
  if (ok.get<bool>()) {
    return Reply{Pid{wire::get_string(body, "node"), wire::get_u64(body, "serial")},
                 std::move(body["value"])};
  }
  const std::uint64_t code = wire::get_u64(body, "code");
  if (code < 1 || code > static_cast<std::uint64_t>(Errc::shutting_down)) {
    throw std::invalid_argument("field 'code' is not an error code");
  }
  return std::unexpected(Error{static_cast<Errc>(code), wire::get_string(body, "message")});
}

}  // namespace

Result<Reply> Cluster::call(const std::string& owner, Request&& request, const ChainPtr& chain,
                            std::uint32_t hops) {
  const ConnectionPtr connection = peer(owner);
  if (!connection) return std::unexpected(unreachable(owner));
  RefPtr<CallState> state(new CallState(Clock::now() + request.timeout));
  const std::uint64_t id = connection->add_call(state);
  if (id == 0) return std::unexpected(unreachable(owner));
  connection->send(encode_request(wire::Type::call, id, request, chain, hops), true);
  Scheduler::BlockingScope blocked;
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
  connection->send(encode_request(wire::Type::call, id, request, chain, hops), false);
}

Result<void> Cluster::cast(const std::string& owner, Request&& request, std::uint32_t hops) {
  const ConnectionPtr connection = peer(owner);
  if (!connection ||
      !connection->send(encode_request(wire::Type::cast, 0, request, nullptr, hops), false)) {
    return std::unexpected(unreachable(owner));
  }
  return {};
}

void Cluster::handle_call(const ConnectionPtr& from, Value& body) {
  const std::uint64_t id = wire::get_u64(body, "rid");
  const std::uint64_t hops = wire::get_u64(body, "hops");
  ChainPtr chain;
  if (const auto it = body.find("chain"); it != body.end()) chain = decode_chain(*it);
  Request request = decode_request(body);
  std::weak_ptr<Connection> back = from;
  host_.serve_call(std::move(request), std::move(chain), static_cast<std::uint32_t>(hops),
                   [back, id](Result<Reply> result) {
                     if (const ConnectionPtr connection = back.lock()) {
                       connection->send(encode_reply(id, std::move(result)), true);
                     }
                   });
}

void Cluster::handle_cast(Value& body) {
  const std::uint64_t hops = wire::get_u64(body, "hops");
  host_.serve_cast(decode_request(body), static_cast<std::uint32_t>(hops));
}

void Cluster::handle_reply(const ConnectionPtr& from, Value& body) {
  const std::uint64_t id = wire::get_u64(body, "rid");
  Result<Reply> result = decode_reply(body);
  // A reply nobody waits for any more (timed out) is dropped here.
  if (RefPtr<CallState> state = from->take_call(id)) state->complete(std::move(result));
}

}  // namespace mesh::detail

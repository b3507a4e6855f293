#include "cluster/call_codec.hpp"

#include <algorithm>
#include <memory>
#include <vector>

#include "core/msgpack_codec.hpp"

namespace mesh::detail {

// CALL and CAST bodies: a map of module, id, capability, payload, hops, and optionally init;
// CALL adds rid, timeout_ms and, for calls made inside a handler, chain ([[node, serial], ...],
// newest first). See docs/wire-protocol.md.
void append_request(std::string& out, wire::Type type, std::uint64_t id, const Request& request,
                    const ChainPtr& chain, std::uint32_t hops) {
  const std::size_t start = wire::start_frame(out);
  msgpack::Writer w(out);
  const bool call = type == wire::Type::call;
  w.map(5 + (request.init_arg ? 1 : 0) + (call ? 2 : 0) + (call && chain ? 1 : 0));
  w.str("module"); w.str(request.module);
  w.str("id"); w.str(request.id);
  w.str("capability"); w.str(request.capability);
  w.str("hops"); w.uint(hops);
  w.str("payload"); w.value(request.payload);
  if (request.init_arg) {
    w.str("init");
    w.value(*request.init_arg);
  }
  if (call) {
    w.str("rid"); w.uint(id);
    w.str("timeout_ms"); w.uint(static_cast<std::uint64_t>(request.timeout.count()));
    if (chain) {
      w.str("chain");
      w.array(chain->depth);
      for (const CallChain* link = chain.get(); link; link = link->parent.get()) {
        w.array(2);
        w.str(link->node);
        w.uint(link->serial);
      }
    }
  }
  wire::finish_frame(out, start, type);
}

std::string encode_request(wire::Type type, std::uint64_t id, const Request& request,
                           const ChainPtr& chain, std::uint32_t hops) {
  std::string out;
  append_request(out, type, id, request, chain, hops);
  return out;
}

namespace {

ChainPtr read_chain(msgpack::Reader& r) {
  const std::uint32_t links = r.array();
  if (links > 4096) throw std::invalid_argument("field 'chain' is too long");
  std::vector<std::pair<std::string, std::uint64_t>> newest_first;
  for (std::uint32_t i = 0; i < links; ++i) {
    if (r.array() != 2) throw std::invalid_argument("field 'chain' holds a malformed link");
    std::string node(r.str());
    newest_first.emplace_back(std::move(node), r.uint());
  }
  ChainPtr chain;
  for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it) {
    chain = std::make_shared<const CallChain>(
        CallChain{std::move(it->first), it->second, chain, chain_depth(chain) + 1});
  }
  return chain;
}

}  // namespace

IncomingRequest decode_request(std::string_view body, PayloadDecoding payload) {
  msgpack::Reader r(body);
  IncomingRequest in;
  bool has_module = false, has_id = false, has_capability = false, has_payload = false;
  for (std::uint32_t fields = r.map(); fields > 0; --fields) {
    const std::string_view key = r.str();
    if (key == "module") {
      in.request.module = r.str();
      has_module = true;
    } else if (key == "id") {
      in.request.id = r.str();
      has_id = true;
    } else if (key == "capability") {
      in.request.capability = r.str();
      has_capability = true;
    } else if (key == "payload") {
      if (payload == PayloadDecoding::deferred) {
        in.encoded_payload = r.encoded_value();
      } else {
        in.request.payload = r.value();
      }
      has_payload = true;
    } else if (key == "init") {
      in.request.init_arg = r.value();
    } else if (key == "hops") {
      in.hops = static_cast<std::uint32_t>(std::min<std::uint64_t>(r.uint(), 1000));
    } else if (key == "rid") {
      in.id = r.uint();
    } else if (key == "timeout_ms") {
      in.request.timeout = std::chrono::milliseconds(std::clamp<std::uint64_t>(r.uint(), 1, 86'400'000));
    } else if (key == "chain") {
      in.chain = read_chain(r);
    } else {
      r.skip();  // a field from a newer minor version
    }
  }
  if (!has_module || !has_id || !has_capability || !has_payload) {
    throw std::invalid_argument("request lacks module, id, capability or payload");
  }
  return in;
}

// REPLY: {rid, ok: true, node, serial, value} or {rid, ok: false, code, message}.
void append_reply(std::string& out, std::uint64_t id, const Result<Reply>& result) {
  const std::size_t start = wire::start_frame(out);
  msgpack::Writer w(out);
  w.map(result ? 5 : 4);
  w.str("rid"); w.uint(id);
  w.str("ok"); w.boolean(result.has_value());
  if (result) {
    w.str("node"); w.str(result->pid.node);
    w.str("serial"); w.uint(result->pid.serial);
    w.str("value"); w.value(result->value);
  } else {
    w.str("code"); w.uint(static_cast<std::uint64_t>(result.error().code));
    w.str("message"); w.str(result.error().message);
  }
  wire::finish_frame(out, start, wire::Type::reply);
}

std::string encode_reply(std::uint64_t id, const Result<Reply>& result) {
  std::string out;
  append_reply(out, id, result);
  return out;
}

std::pair<std::uint64_t, Result<Reply>> decode_reply(std::string_view body) {
  msgpack::Reader r(body);
  std::uint64_t id = 0, serial = 0, code = 0;
  bool ok = false, has_id = false, has_ok = false;
  std::string node, message;
  Value value;
  for (std::uint32_t fields = r.map(); fields > 0; --fields) {
    const std::string_view key = r.str();
    if (key == "rid") {
      id = r.uint();
      has_id = true;
    } else if (key == "ok") {
      ok = r.boolean();
      has_ok = true;
    } else if (key == "node") {
      node = r.str();
    } else if (key == "serial") {
      serial = r.uint();
    } else if (key == "value") {
      value = r.value();
    } else if (key == "code") {
      code = r.uint();
    } else if (key == "message") {
      message = r.str();
    } else {
      r.skip();
    }
  }
  if (!has_id || !has_ok) throw std::invalid_argument("reply lacks rid or ok");
  if (ok) {
    if (node.empty()) throw std::invalid_argument("reply lacks the node of its pid");
    return {id, Reply{Pid{std::move(node), serial}, std::move(value)}};
  }
  if (code < 1 || code > static_cast<std::uint64_t>(Errc::store_unavailable)) {
    throw std::invalid_argument("reply carries an unknown error code");
  }
  return {id, std::unexpected(Error{static_cast<Errc>(code), std::move(message)})};
}

}  // namespace mesh::detail

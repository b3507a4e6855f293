#include "node_commands.hpp"

#include <sstream>
#include <thread>

namespace tools {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

std::string error_line(const mesh::Error& error) {
  return "error " + std::string(mesh::to_string(error.code)) + " " + error.message;
}

}  // namespace

std::string run_command(mesh::Node& node, const std::string& line) {
  std::istringstream in(line);
  std::string verb;
  in >> verb;
  if (verb == "call" || verb == "cast") {
    mesh::Request request;
    in >> request.module >> request.id >> request.capability;
    std::string json;
    std::getline(in, json);
    request.payload = mesh::Value::parse(json, nullptr, false);
    if (request.payload.is_discarded()) return "error invalid_request payload is not JSON";
    if (verb == "cast") {
      auto sent = node.cast(std::move(request));
      return sent ? "ok" : error_line(sent.error());
    }
    auto reply = node.call(std::move(request));
    if (!reply) return error_line(reply.error());
    return "ok " + reply->pid.to_string() + " " + reply->value.dump();
  }
  if (verb == "nodes") {
    std::string capability;
    in >> capability;
    return "nodes " + join(node.nodes_for(capability));
  }
  if (verb == "capabilities") return "capabilities " + join(node.all_capabilities());
  if (verb == "shard") {
    std::string id;
    in >> id;
    return "shard " + std::to_string(node.shard_for(id));
  }
  if (verb == "owner") {
    std::uint32_t shard = 0;
    std::string capability;
    in >> shard >> capability;
    auto owner = node.owner_node(shard, capability);
    return owner ? "owner " + *owner : error_line(owner.error());
  }
  if (verb == "status") {
    const mesh::NodeStatus status = node.status();
    mesh::Value owned = mesh::Value::object();
    for (const auto& [capability, shards] : status.owned_shards) owned[capability] = shards.size();
    return "status " + mesh::Value{{"name", status.name},
                                   {"view_epoch", status.view_epoch},
                                   {"members", status.members},
                                   {"owned_shards", owned},
                                   {"activations", status.activations},
                                   {"handoffs_in_progress", status.handoffs_in_progress},
                                   {"reconciler_runs", status.reconciler_runs},
                                   {"reconciler_stopped", status.reconciler_stopped}}
                           .dump();
  }
  if (verb == "activations") {
    mesh::Value list = mesh::Value::array();
    for (const mesh::ActivationInfo& a : node.activations()) {
      list.push_back({{"module", a.module}, {"id", a.id}, {"capability", a.capability},
                      {"shard", a.shard}, {"pid", a.pid.to_string()}});
    }
    return "activations " + list.dump();
  }
  if (verb == "reconcile") return "reconciled " + std::to_string(node.reconcile());
  if (verb == "wait-nodes") {
    std::string capability;
    std::size_t count = 0;
    long ms = 0;
    in >> capability >> count >> ms;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (node.nodes_for(capability).size() != count) {
      if (std::chrono::steady_clock::now() > until) {
        return "error timeout nodes_for(" + capability + ") = " + join(node.nodes_for(capability));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return "ok";
  }
  return "error invalid_request unknown command '" + verb + "'";
}

}  // namespace tools

#include "node_commands.hpp"

#include <atomic>
#include <mutex>
#include <sstream>
#include <thread>

namespace tools {
namespace {

// `load start PREFIX N` / `load stop`: one background caller that increments GameActors
// PREFIX0..PREFIX(N-1) round-robin and records, per actor, every score a call acknowledged and
// how many calls failed (a failed call may still have counted: its reply was lost). Tests use
// them to check that no acknowledged increment was lost or counted twice.
class LoadRunner {
 public:
  std::string start(mesh::Node& node, std::string prefix, int actors) {
    if (thread_.joinable()) return "error invalid_request a load is already running";
    stop_ = false;
    calls_ = 0;
    failures_.clear();
    const auto n = static_cast<std::size_t>(std::max(actors, 1));
    acked_.assign(n, {});
    failed_.assign(n, 0);
    thread_ = std::thread([this, &node, prefix = std::move(prefix)] {
      for (std::size_t i = 0; !stop_; ++i) {
        const std::size_t actor = i % acked_.size();
        auto reply = node.call(mesh::Request{.module = "GameActor",
                                             .id = prefix + std::to_string(actor),
                                             .payload = {{"action", "increment_score"}},
                                             .capability = "game"});
        std::lock_guard lock(mutex_);
        ++calls_;
        if (reply) {
          acked_[actor].add(reply->value.is_number_integer() ? reply->value.get<long>() : -1);
        } else {
          ++failed_[actor];
          failures_.push_back(mesh::to_string(reply.error()));
        }
      }
    });
    return "ok";
  }
  std::string stop(const std::string& prefix) {
    if (!thread_.joinable()) return "error invalid_request no load is running";
    stop_ = true;
    thread_.join();
    mesh::Value acked = mesh::Value::object();
    mesh::Value values = mesh::Value::object();
    mesh::Value failed = mesh::Value::object();
    for (std::size_t i = 0; i < acked_.size(); ++i) {
      const std::string id = prefix + std::to_string(i);
      acked[id] = acked_[i].count;
      values[id] = acked_[i].values();
      failed[id] = failed_[i];
    }
    return "load " + mesh::Value{{"calls", calls_}, {"failures", failures_}, {"acked", acked},
                                 {"values", values}, {"failed", failed}}
                         .dump();
  }
  std::string progress() {
    std::lock_guard lock(mutex_);
    return "load " + mesh::Value{{"calls", calls_}, {"failures", failures_.size()}}.dump();
  }

 private:
  std::mutex mutex_;
  std::atomic<bool> stop_{false};
  long calls_ = 0;
  std::vector<std::string> failures_;
  // The scores one actor's calls acknowledged, in order. Kept as runs of consecutive values
  // (an actor counting up gives one run), so that a long load does not make the node program
  // grow by 8 bytes per call: the soak measures the node's memory, not its load generator's.
  struct Acked {
    std::vector<std::pair<long, long>> runs;  // [first, last]
    long count = 0;
    void add(long value) {
      ++count;
      if (!runs.empty() && runs.back().second != -1 && runs.back().second + 1 == value) {
        runs.back().second = value;
      } else {
        runs.emplace_back(value, value);
      }
    }
    std::vector<long> values() const {
      std::vector<long> out;
      out.reserve(static_cast<std::size_t>(count));
      for (const auto& [first, last] : runs) {
        for (long v = first; v <= last; ++v) out.push_back(v);
      }
      return out;
    }
  };
  std::vector<Acked> acked_;  // per actor
  std::vector<long> failed_;              // per actor: calls that failed
  std::thread thread_;
};

LoadRunner& load_runner() {
  static LoadRunner runner;
  return runner;
}
std::string load_prefix;

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
                                   {"reconciler_stopped", status.reconciler_stopped},
                                   {"timers", status.timers},
                                   {"reminders_held", status.reminders_held},
                                   {"reminders_due", status.reminders_due},
                                   {"reminders_fired", status.reminders_fired},
                                   {"handshakes_refused", status.handshakes_refused},
                                   {"discovery_dropped", status.discovery_dropped}}
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
  if (verb == "set-capabilities") {
    std::string list;
    in >> list;
    std::vector<std::string> capabilities;
    std::istringstream items(list);
    for (std::string item; std::getline(items, item, ',');) {
      if (!item.empty()) capabilities.push_back(item);
    }
    node.register_capabilities(std::move(capabilities));
    return "ok";
  }
  if (verb == "load") {
    std::string action;
    in >> action;
    if (action == "start") {
      int actors = 0;
      in >> load_prefix >> actors;
      return load_runner().start(node, load_prefix, actors);
    }
    if (action == "stop") return load_runner().stop(load_prefix);
    return load_runner().progress();
  }
  if (verb == "reminder") {
    std::string action;
    mesh::ActorAddress actor;
    in >> action >> actor.module >> actor.id >> actor.capability;
    if (action == "set") {
      std::string name, period;
      long long due = -1;
      in >> name >> due >> period;
      if (!in || name.empty()) {
        return "error invalid_request usage: reminder set MODULE ID CAPABILITY NAME DUE_MS "
               "PERIOD_MS|once [JSON]";
      }
      std::optional<std::chrono::milliseconds> every;
      if (period != "once") {
        try {
          every = std::chrono::milliseconds(std::stoll(period));
        } catch (const std::exception&) {
          return "error invalid_request the period is a number of milliseconds or 'once'";
        }
      }
      std::string json;
      std::getline(in, json);
      mesh::Value payload;
      if (json.find_first_not_of(' ') != std::string::npos) {
        payload = mesh::Value::parse(json, nullptr, false);
        if (payload.is_discarded()) return "error invalid_request payload is not JSON";
      }
      auto set = node.set_reminder(actor, name, std::chrono::milliseconds(due), every,
                                   std::move(payload));
      return set ? "ok" : error_line(set.error());
    }
    if (action == "remove") {
      std::string name;
      in >> name;
      auto removed = node.remove_reminder(actor, name);
      return removed ? "ok" : error_line(removed.error());
    }
    if (action == "list") {
      auto listed = node.reminders(actor);
      if (!listed) return error_line(listed.error());
      mesh::Value list = mesh::Value::array();
      for (const mesh::ReminderInfo& r : *listed) {
        list.push_back({{"name", r.name},
                        {"due_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                       r.due.time_since_epoch())
                                       .count()},
                        {"period_ms", r.period ? mesh::Value(r.period->count()) : mesh::Value()},
                        {"payload", r.payload}});
      }
      return "reminders " + list.dump();
    }
    return "error invalid_request reminder set|remove|list";
  }
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

// meshctl: the operator's command line for a mesh cluster. It talks to any node's HTTP listener
// (the node program's --http); docs/operations.md ("meshctl") is its reference.
//
//   meshctl [--node HOST:PORT] [--token TOKEN] [--json] COMMAND ...
//     members | capabilities | shards CAP [--all] | where CAP MODULE ID
//     call CAP MODULE ID JSON [--timeout-ms N] [--init-arg JSON] | cast CAP MODULE ID JSON
//     status [--cluster] | reconcile
//
// Exit codes: 0 ok, 1 the node answered an error, 2 usage, 3 no answer, 4 unauthorized.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "meshctl_http.hpp"

namespace {

using Json = nlohmann::json;

// What failed, for scripts (docs/operations.md lists them).
enum Exit : int { kOk = 0, kNodeError = 1, kUsage = 2, kNoAnswer = 3, kUnauthorized = 4 };

// How long a request may take once connected, unless a call asks for longer.
constexpr std::chrono::milliseconds kReadTimeout{10'000};

struct Context {
  tools::HttpTarget target;
  bool json = false;
};

struct Outcome {
  int exit = kOk;
  Json body;
};

// Sends one request. Failures are told on stderr and in the exit code; with --json the node's
// body goes to stdout whatever its status, so a script sees the error object too.
Outcome ask(const Context& context, const std::string& method, const std::string& path,
            const std::string& body = "", std::chrono::milliseconds read_timeout = kReadTimeout) {
  const auto answer = tools::http_request(context.target, method, path, body, read_timeout);
  if (!answer) {
    std::cerr << "meshctl: " << answer.error() << "\n";
    return {kNoAnswer, {}};
  }
  if (context.json) std::cout << answer->body << "\n";
  Json parsed = Json::parse(answer->body, nullptr, /*allow_exceptions=*/false);
  if (answer->status >= 300) {
    const bool described = parsed.is_object() && parsed.contains("error");
    std::cerr << "meshctl: "
              << (described ? parsed.value("error", "") + ": " + parsed.value("message", "")
                            : "HTTP " + std::to_string(answer->status) + ": " + answer->body)
              << "\n";
    return {answer->status == 401 ? kUnauthorized : kNodeError, std::move(parsed)};
  }
  if (parsed.is_discarded()) {
    std::cerr << "meshctl: the node's answer is not JSON: " << answer->body << "\n";
    return {kNodeError, {}};
  }
  return {kOk, std::move(parsed)};
}

// A JSON value as a table cell: strings bare, lists comma-separated, objects as key=value.
std::string cell(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "-";
  if (value.is_array()) {
    if (value.empty()) return "-";
    std::string out;
    for (const Json& item : value) out += (out.empty() ? "" : ",") + cell(item);
    return out;
  }
  if (value.is_object()) {
    if (value.empty()) return "-";
    std::string out;
    for (const auto& [key, item] : value.items())
      out += (out.empty() ? "" : ",") + key + "=" + cell(item);
    return out;
  }
  return value.dump();
}

// Rows with columns aligned by two spaces; the last column is not padded.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

std::string actor_path(const std::string& capability, const std::string& module,
                       const std::string& id) {
  return "/v1/actors/" + tools::encode_segment(capability) + "/" + tools::encode_segment(module) +
         "/" + tools::encode_segment(id);
}

int members(const Context& context) {
  const Outcome out = ask(context, "GET", "/v1/nodes");
  if (out.exit != kOk || context.json) return out.exit;
  std::vector<std::vector<std::string>> rows{{"NAME", "CAPABILITIES"}};
  for (const Json& node : out.body.value("nodes", Json::array())) {
    rows.push_back({cell(node.value("name", Json())), cell(node.value("capabilities", Json()))});
  }
  print_table(rows);
  return kOk;
}

int capabilities(const Context& context) {
  const Outcome out = ask(context, "GET", "/v1/capabilities");
  if (out.exit != kOk || context.json) return out.exit;
  std::vector<std::vector<std::string>> rows{{"CAPABILITY", "NODES"}};
  const Json listed = out.body.value("capabilities", Json::object());
  for (const auto& [name, nodes] : listed.items()) {
    rows.push_back({name, cell(nodes)});
  }
  print_table(rows);
  return kOk;
}

int shards(const Context& context, const std::string& capability, bool all) {
  const Outcome out = ask(context, "GET", "/v1/shards/" + tools::encode_segment(capability));
  if (out.exit != kOk || context.json) return out.exit;
  const Json nodes = out.body.value("nodes", Json::array());
  const Json owners = out.body.value("owners", Json::array());
  std::vector<std::vector<std::string>> rows;
  if (all) {
    rows.push_back({"SHARD", "OWNER"});
    for (std::size_t shard = 0; shard < owners.size(); ++shard) {
      rows.push_back({std::to_string(shard), cell(nodes.at(owners[shard].get<std::size_t>()))});
    }
    print_table(rows);
    return kOk;
  }
  const std::size_t shard_count = out.body.value("shard_count", std::size_t{0});
  std::cout << capability << ": " << shard_count << " shards over " << nodes.size()
            << (nodes.size() == 1 ? " node" : " nodes") << " (view epoch "
            << out.body.value("view_epoch", 0) << ")\n";
  rows.push_back({"NODE", "SHARDS", "SHARE"});
  const Json counts = out.body.value("counts", Json::object());
  for (const Json& node : nodes) {
    const std::size_t count = counts.value(node.get<std::string>(), std::size_t{0});
    char share[16];
    std::snprintf(
        share, sizeof share, "%.1f%%",
        shard_count ? 100.0 * static_cast<double>(count) / static_cast<double>(shard_count) : 0.0);
    rows.push_back({node.get<std::string>(), std::to_string(count), share});
  }
  print_table(rows);
  return kOk;
}

int where(const Context& context, const std::string& capability, const std::string& module,
          const std::string& id) {
  const Outcome out = ask(context, "GET", actor_path(capability, module, id));
  if (out.exit != kOk || context.json) return out.exit;
  print_table({{"shard", cell(out.body.value("shard", Json()))},
               {"owner", cell(out.body.value("owner", Json()))},
               {"active", cell(out.body.value("active", Json()))},
               {"pid", cell(out.body.value("pid", Json()))}});
  return kOk;
}

// The request body of a call or cast; nullopt (and a usage message) when an argument is not JSON.
std::optional<Json> message_body(const std::string& payload, const std::string& init_arg,
                                 std::optional<std::int64_t> timeout_ms) {
  Json body = Json::object();
  body["payload"] = Json::parse(payload, nullptr, false);
  if (body["payload"].is_discarded()) {
    std::cerr << "meshctl: the payload is not valid JSON: " << payload << "\n";
    return std::nullopt;
  }
  if (!init_arg.empty()) {
    body["init_arg"] = Json::parse(init_arg, nullptr, false);
    if (body["init_arg"].is_discarded()) {
      std::cerr << "meshctl: --init-arg is not valid JSON: " << init_arg << "\n";
      return std::nullopt;
    }
  }
  if (timeout_ms) body["timeout_ms"] = *timeout_ms;
  return body;
}

int call(const Context& context, const std::string& capability, const std::string& module,
         const std::string& id, const std::string& payload, const std::string& init_arg,
         std::optional<std::int64_t> timeout_ms) {
  const std::optional<Json> body = message_body(payload, init_arg, timeout_ms);
  if (!body) return kUsage;
  // The node answers timeout itself once the call's time is up: wait a little longer than that.
  const auto wait = std::chrono::milliseconds(timeout_ms.value_or(5000)) + kReadTimeout;
  const Outcome out =
      ask(context, "POST", actor_path(capability, module, id) + "/call", body->dump(), wait);
  if (out.exit != kOk || context.json) return out.exit;
  print_table({{"pid", cell(out.body.value("pid", Json()))},
               {"value", out.body.value("value", Json()).dump()}});
  return kOk;
}

int cast(const Context& context, const std::string& capability, const std::string& module,
         const std::string& id, const std::string& payload) {
  const std::optional<Json> body = message_body(payload, "", std::nullopt);
  if (!body) return kUsage;
  const Outcome out =
      ask(context, "POST", actor_path(capability, module, id) + "/cast", body->dump());
  if (out.exit != kOk || context.json) return out.exit;
  std::cout << "routed\n";
  return kOk;
}

// One node's status as "key value" rows: its identity first, then every figure by name (so
// figures a newer node adds are shown too).
void print_status(const Json& status) {
  static const std::vector<std::string> kFirst{
      "name", "listen", "http", "view_epoch", "members", "capabilities", "owned_shards"};
  std::vector<std::vector<std::string>> rows;
  for (const std::string& key : kFirst) {
    if (status.contains(key)) rows.push_back({key, cell(status[key])});
  }
  for (const auto& [key, value] : status.items()) {
    if (std::find(kFirst.begin(), kFirst.end(), key) == kFirst.end()) {
      rows.push_back({key, cell(value)});
    }
  }
  print_table(rows);
}

int status(const Context& context, bool cluster) {
  const Outcome out = ask(context, "GET", cluster ? "/v1/cluster" : "/v1/status");
  if (out.exit != kOk || context.json) return out.exit;
  if (!cluster) {
    print_status(out.body);
    return kOk;
  }
  std::vector<std::vector<std::string>> rows{
      {"NODE", "CAPABILITIES", "EPOCH", "ACTIVATIONS", "OWNED_SHARDS", "HANDOFFS", "STATUS"}};
  for (const Json& node : out.body.value("nodes", Json::array())) {
    std::vector<std::string> row{cell(node.value("name", Json())),
                                 cell(node.value("capabilities", Json()))};
    if (const auto s = node.find("status"); s != node.end()) {
      row.insert(row.end(),
                 {cell(s->value("view_epoch", Json())), cell(s->value("activations", Json())),
                  cell(s->value("owned_shards", Json())),
                  cell(s->value("handoffs_in_progress", Json())), "ok"});
    } else {
      row.insert(row.end(),
                 {"-", "-", "-", "-", node.value("error", "") + ": " + node.value("message", "")});
    }
    rows.push_back(std::move(row));
  }
  print_table(rows);
  return kOk;
}

int reconcile(const Context& context) {
  const Outcome out = ask(context, "POST", "/v1/reconcile");
  if (out.exit != kOk || context.json) return out.exit;
  std::cout << "stopped " << out.body.value("stopped", 0)
            << " activations on shards this node does not own\n";
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"meshctl: look at and operate a mesh cluster through any node's HTTP listener"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the command too
  app.footer(
      "Exit codes: 0 ok, 1 the node answered an error, 2 usage, 3 no answer from the node, "
      "4 unauthorized.");
  Context context;
  app.add_option("--node", context.target.address, "the node's HTTP listener, HOST:PORT")
      ->envname("MESH_NODE");
  app.add_option("--token", context.target.token, "the node's http_token")
      ->envname("MESH_HTTP_TOKEN");
  app.add_flag("--json", context.json, "print the node's JSON answer instead of a table");

  std::string capability, module, id, payload, init_arg;
  std::optional<std::int64_t> timeout_ms;
  bool all = false, cluster = false;
  CLI::App* members_cmd = app.add_subcommand("members", "the members this node sees");
  CLI::App* capabilities_cmd =
      app.add_subcommand("capabilities", "every capability and the nodes that have it");
  CLI::App* shards_cmd = app.add_subcommand("shards", "who owns the shards of a capability");
  shards_cmd->add_option("capability", capability, "the capability")->required();
  shards_cmd->add_flag("--all", all, "list every shard and its owner");
  CLI::App* where_cmd =
      app.add_subcommand("where", "where an actor lives and whether it is active");
  CLI::App* call_cmd = app.add_subcommand("call", "call an actor and print its reply");
  CLI::App* cast_cmd = app.add_subcommand("cast", "send an actor a message without a reply");
  for (CLI::App* command : {where_cmd, call_cmd, cast_cmd}) {
    command->add_option("capability", capability, "the routing capability")->required();
    command->add_option("module", module, "the actor type")->required();
    command->add_option("id", id, "the actor id")->required();
  }
  for (CLI::App* command : {call_cmd, cast_cmd}) {
    command->add_option("payload", payload, "the message, as JSON")->required();
  }
  call_cmd->add_option("--timeout-ms", timeout_ms, "how long the call may take (default 5000)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}));
  call_cmd->add_option("--init-arg", init_arg, "JSON for the activation this call may create");
  CLI::App* status_cmd = app.add_subcommand("status", "this node's status");
  status_cmd->add_flag("--cluster", cluster, "every member's status, asked through this node");
  CLI::App* reconcile_cmd =
      app.add_subcommand("reconcile", "stop activations on shards this node does not own");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  }
  if (context.target.address.empty()) {
    std::cerr << "meshctl: which node? give --node HOST:PORT or set MESH_NODE\n";
    return kUsage;
  }
  if (const std::size_t colon = context.target.address.rfind(':');
      colon == std::string::npos || colon == 0 || colon + 1 == context.target.address.size()) {
    std::cerr << "meshctl: the node must be HOST:PORT, not '" << context.target.address << "'\n";
    return kUsage;
  }
  try {
    if (*members_cmd) return members(context);
    if (*capabilities_cmd) return capabilities(context);
    if (*shards_cmd) return shards(context, capability, all);
    if (*where_cmd) return where(context, capability, module, id);
    if (*call_cmd) return call(context, capability, module, id, payload, init_arg, timeout_ms);
    if (*cast_cmd) return cast(context, capability, module, id, payload);
    if (*status_cmd) return status(context, cluster);
    if (*reconcile_cmd) return reconcile(context);
  } catch (const nlohmann::json::exception& e) {
    // JSON of another shape than this meshctl knows (another version of the node).
    std::cerr << "meshctl: unexpected answer from the node: " << e.what() << "\n";
    return kNodeError;
  }
  return kUsage;
}

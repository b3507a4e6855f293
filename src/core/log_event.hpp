// LogEvent: one thing a node logs, with its parts kept apart for machines
// (NodeOptions::log_format, docs/operations.md "Logs").
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mesh/node_options.hpp"

namespace mesh::detail {

struct LogEvent {
  LogLevel level;
  std::string_view event;  // what happened: a stable snake_case name, e.g. "peer_connected"
  std::string message;     // the line for people: what a LogSink receives in the text format
  std::vector<std::pair<std::string_view, std::string>> fields;  // its parts: "peer", "shard"...
};

// Where the parts of a node send what they log (the node formats and filters).
using Logger = std::function<void(LogEvent&&)>;

}  // namespace mesh::detail

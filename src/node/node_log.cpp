// What the node logs, in the form NodeOptions::log_format asks for (docs/operations.md, "Logs").
#include <time.h>

#include <chrono>
#include <cstdio>

#include "node/node_core.hpp"

namespace mesh::detail {
namespace {

std::string_view level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warning:
      return "warning";
    case LogLevel::error:
      return "error";
  }
  return "unknown";
}

// RFC 3339 in UTC with milliseconds: "2026-12-02T01:02:03.456Z".
std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm parts{};
  ::gmtime_r(&seconds, &parts);
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                static_cast<int>(millis));
  return text;
}

}  // namespace

void NodeCore::log(LogEvent&& event) {
  // The default sink (stderr) keeps to warnings and errors, as it always has.
  if (!options_.log && event.level < LogLevel::warning) return;
  std::string line;
  if (options_.log_format == LogFormat::json) {
    Value fields = Value::object();
    for (auto& [name, value] : event.fields) fields[std::string(name)] = std::move(value);
    const Value record{{"time", utc_now()},
                       {"level", level_name(event.level)},
                       {"node", options_.name},
                       {"event", event.event},
                       {"message", std::move(event.message)},
                       {"fields", std::move(fields)}};
    // Bytes that are not UTF-8 (a peer's name, an actor id) must not cost the line.
    line = record.dump(-1, ' ', false, Value::error_handler_t::replace);
  } else {
    line = std::move(event.message);
  }
  if (options_.log) {
    options_.log(event.level, line);
  } else if (options_.log_format == LogFormat::json) {
    std::fprintf(stderr, "%s\n", line.c_str());
  } else {
    std::fprintf(stderr, "[mesh %s] %s\n", options_.name.c_str(), line.c_str());
  }
}

}  // namespace mesh::detail

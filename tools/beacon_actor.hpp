// Beacon: the node program's reminder actor. Each reminder it receives is one line appended to
// the file given with --reminder-log ("NODE ID NAME UNIX_MS"), so that tests and operators see
// which node delivered which reminder when, across kill -9 and restarts.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <string_view>

#include <mesh/mesh.hpp>

namespace tools {

// The log's descriptor, opened once by main (O_APPEND: each line is one write(), so lines of
// several node processes sharing the file never interleave). -1: no log.
inline int& beacon_log_fd() {
  static int fd = -1;
  return fd;
}

class Beacon {
 public:
  explicit Beacon(std::string id) : id_(std::move(id)) {}

  // Any call answers how many reminders this activation received.
  mesh::Value handle_call(const mesh::Value&) { return received_; }

  void handle_reminder(std::string_view name, const mesh::Value&, mesh::ActorContext& context) {
    ++received_;
    if (beacon_log_fd() < 0) return;
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::string line = context.node().name() + " " + id_ + " " + std::string(name) + " " +
                             std::to_string(now) + "\n";
    (void)::write(beacon_log_fd(), line.data(), line.size());
  }

 private:
  std::string id_;
  long received_ = 0;
};

}  // namespace tools

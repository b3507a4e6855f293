// Options of a cluster member with an HTTP listener, for the in-process HTTP tests.
#pragma once

#include <chrono>
#include <mesh/mesh.hpp>
#include <string>
#include <vector>

namespace mesh::test {

// Loopback listeners on any port, a fast failure detector, two workers.
inline NodeOptions http_member(std::string name, std::vector<std::string> seeds = {}) {
  using namespace std::chrono_literals;
  return NodeOptions{.name = std::move(name),
                     .listen = "127.0.0.1:0",
                     .seeds = std::move(seeds),
                     .cookie = "secret",
                     .worker_threads = 2,
                     .heartbeat_interval = 50ms,
                     .failure_timeout = 400ms,
                     .http_listen = "127.0.0.1:0"};
}

}  // namespace mesh::test

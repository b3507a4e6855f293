// Crasher from the Elixir Mesh Implementing Processes guide: {"action":"crash"} throws.
#pragma once

#include <stdexcept>
#include <string>

#include <mesh/mesh.hpp>

namespace examples {

class Crasher {
 public:
  explicit Crasher(std::string id) : id_(std::move(id)) {}
  mesh::Value handle_call(const mesh::Value& payload) {
    if (payload.value("action", "") == "crash") throw std::runtime_error("boom!");
    return crashes_;  // a fresh activation always starts from 0
  }

 private:
  std::string id_;
  int crashes_ = 0;
};

}  // namespace examples

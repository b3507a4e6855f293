// Counter from the Elixir Mesh Implementing Processes guide: every call increments.
#pragma once

#include <string>

#include <mesh/mesh.hpp>

namespace examples {

class Counter {
 public:
  explicit Counter(std::string id) : id_(std::move(id)) {}
  mesh::Value handle_call(const mesh::Value& /*payload*/) { return ++count_; }
  void handle_cast(const mesh::Value& payload) {
    if (payload.value("action", "") == "reset") count_ = 0;
  }

 private:
  std::string id_;
  int count_ = 0;
};

}  // namespace examples

// Pid: the identity of one activation of an actor.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

namespace mesh {

// One activation. A crash, a stop, a passivation or a move ends it; the next call to the same
// actor gets a new Pid. Plain value type: copy freely, compare with ==.
struct Pid {
  std::string node;          // name of the hosting node
  std::uint64_t serial = 0;  // unique among that node's activations

  friend bool operator==(const Pid&, const Pid&) = default;
  std::string to_string() const;  // "<node1.42>"
};

std::ostream& operator<<(std::ostream& out, const Pid& pid);

}  // namespace mesh

template <>
struct std::hash<mesh::Pid> {
  std::size_t operator()(const mesh::Pid& pid) const noexcept {
    return std::hash<std::string>{}(pid.node) ^ (pid.serial * 0x9E3779B97F4A7C15ull);
  }
};

#include "mesh/pid.hpp"

#include <ostream>

namespace mesh {

std::string Pid::to_string() const {
  std::string text;
  text.reserve(node.size() + 24);
  text += '<';
  text += node;
  text += '.';
  text += std::to_string(serial);
  text += '>';
  return text;
}

std::ostream& operator<<(std::ostream& out, const Pid& pid) { return out << pid.to_string(); }

}  // namespace mesh

#include "mesh/error.hpp"

#include <ostream>

namespace mesh {

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_request: return "invalid_request";
    case Errc::no_nodes: return "no_nodes";
    case Errc::unknown_module: return "unknown_module";
    case Errc::activation_failed: return "activation_failed";
    case Errc::actor_crashed: return "actor_crashed";
    case Errc::timeout: return "timeout";
    case Errc::node_unreachable: return "node_unreachable";
    case Errc::deadlock: return "deadlock";
    case Errc::overloaded: return "overloaded";
    case Errc::shutting_down: return "shutting_down";
    case Errc::fenced: return "fenced";
    case Errc::store_unavailable: return "store_unavailable";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& out, Errc code) { return out << to_string(code); }

std::string to_string(const Error& error) {
  std::string text(to_string(error.code));
  if (!error.message.empty()) {
    text += ": ";
    text += error.message;
  }
  return text;
}

std::ostream& operator<<(std::ostream& out, const Error& error) { return out << to_string(error); }

}  // namespace mesh

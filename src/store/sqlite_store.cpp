// sqlite_store(): placeholder until the SQLite store lands (this commit's work in progress).
#include <stdexcept>

#include "mesh/state_store.hpp"

namespace mesh {
std::shared_ptr<StateStore> sqlite_store(std::string) {
  throw std::runtime_error("sqlite_store: not built yet");
}
}  // namespace mesh

// postgres_store(): placeholder until the PostgreSQL store lands (this commit's work in progress).
#include <stdexcept>

#include "mesh/state_store.hpp"

namespace mesh {
std::shared_ptr<StateStore> postgres_store(std::string) {
  throw std::runtime_error("postgres_store: not built yet");
}
}  // namespace mesh

#include "mesh/no_inline_handlers.hpp"

namespace mesh {
namespace {
thread_local unsigned scopes = 0;
}  // namespace

NoInlineHandlers::NoInlineHandlers() noexcept { ++scopes; }
NoInlineHandlers::~NoInlineHandlers() { --scopes; }
bool NoInlineHandlers::active() noexcept { return scopes != 0; }

}  // namespace mesh

#include "core/blocking.hpp"

namespace mesh::detail {
namespace {
thread_local BlockingListener* current_listener = nullptr;
}  // namespace

BlockingListener* blocking_listener() noexcept { return current_listener; }
void set_blocking_listener(BlockingListener* listener) noexcept { current_listener = listener; }

}  // namespace mesh::detail

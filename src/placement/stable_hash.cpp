#include "mesh/placement.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace mesh {

std::uint64_t stable_hash(std::string_view id) noexcept {
  return XXH3_64bits(id.data(), id.size());
}

std::uint32_t shard_of(std::string_view id, std::uint32_t shard_count) noexcept {
  return static_cast<std::uint32_t>(stable_hash(id) % shard_count);
}

}  // namespace mesh

// ActivationTable: the activations of one shard, found by (capability, type, id).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "runtime/activation.hpp"

namespace mesh::detail {

// Open addressing with linear probing over activation pointers; the key lives in the activation,
// so a slot costs 8 bytes. Deletion shifts later entries back (no tombstones). Not thread-safe:
// the shard's mutex guards it.
class ActivationTable {
 public:
  Activation* find(std::uint32_t key_hash, std::uint32_t capability, const ActorType* type,
                   std::string_view id) const noexcept;
  void insert(Activation* activation);  // its key must not be present
  void erase(Activation* activation) noexcept;
  std::size_t size() const noexcept { return size_; }

  template <class F>
  void for_each(F&& visit) const {
    for (Activation* a : slots_) {
      if (a) visit(a);
    }
  }

 private:
  std::size_t mask() const noexcept { return slots_.size() - 1; }
  void rehash(std::size_t capacity);

  std::vector<Activation*> slots_;
  std::size_t size_ = 0;
};

}  // namespace mesh::detail

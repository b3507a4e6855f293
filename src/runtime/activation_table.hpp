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
//
// A slot keeps the low 16 bits of the activation's key hash in the 16 high bits of its address,
// which user-space addresses leave free on 64-bit Linux (the kernel maps above 2^47 only when
// mmap is handed such an address). A probe then passes other keys, and a rehash places entries,
// without reading the activations: at millions of actors each of those reads is a cache miss.
class ActivationTable {
 public:
  Activation* find(std::uint32_t key_hash, std::uint32_t capability, const ActorType* type,
                   std::string_view id) const noexcept;
  void insert(Activation* activation);  // its key must not be present
  void erase(Activation* activation) noexcept;
  std::size_t size() const noexcept { return size_; }

  template <class F>
  void for_each(F&& visit) const {
    for (const Slot slot : slots_) {
      if (slot) visit(pointer(slot));
    }
  }

 private:
  using Slot = std::uint64_t;
  static_assert(sizeof(Activation*) == sizeof(Slot), "tagged slots need 64-bit pointers");
  static constexpr int kTagShift = 48;
  static constexpr Slot kAddressMask = (Slot{1} << kTagShift) - 1;
  static constexpr std::size_t kTagBits = 0xFFFF;

  static Slot slot_of(const Activation* activation) noexcept;
  static Activation* pointer(Slot slot) noexcept {
    return reinterpret_cast<Activation*>(slot & kAddressMask);
  }
  std::size_t mask() const noexcept { return slots_.size() - 1; }
  // Where the slot's entry would sit with no collisions: from its tag while the table's mask
  // fits the tag's 16 bits, else from the activation.
  std::size_t home(Slot slot) const noexcept {
    return (mask() <= kTagBits ? (slot >> kTagShift) : pointer(slot)->key_hash) & mask();
  }
  void rehash(std::size_t capacity);

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace mesh::detail

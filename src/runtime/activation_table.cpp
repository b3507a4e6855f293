#include "runtime/activation_table.hpp"

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace mesh::detail {

ActivationTable::Slot ActivationTable::slot_of(const Activation* activation) noexcept {
  const auto address = reinterpret_cast<Slot>(activation);
  if ((address & ~kAddressMask) != 0) {
    // Only an allocator that asks mmap for addresses above 2^48 gets here; a tag there would
    // lose the activation, so stop rather than corrupt the table.
    std::fprintf(stderr, "mesh: an activation at %p is above the 48-bit address space\n",
                 static_cast<const void*>(activation));
    std::abort();
  }
  return address | (Slot{activation->key_hash & kTagBits} << kTagShift);
}

Activation* ActivationTable::find(std::uint32_t key_hash, std::uint32_t capability,
                                  const ActorType* type, std::string_view id) const noexcept {
  if (size_ == 0) return nullptr;
  const Slot tag = key_hash & kTagBits;
  for (std::size_t i = key_hash & mask();; i = (i + 1) & mask()) {
    const Slot slot = slots_[i];
    if (!slot) return nullptr;
    if ((slot >> kTagShift) != tag) continue;
    Activation* a = pointer(slot);
    if (a->key_hash == key_hash && a->capability == capability && a->type == type &&
        a->id() == id) {
      return a;
    }
  }
}

void ActivationTable::insert(Activation* activation) {
  if ((size_ + 1) * 4 > slots_.size() * 3) rehash(slots_.empty() ? 8 : slots_.size() * 2);
  std::size_t i = activation->key_hash & mask();
  while (slots_[i]) i = (i + 1) & mask();
  slots_[i] = slot_of(activation);
  ++size_;
}

void ActivationTable::erase(Activation* activation) noexcept {
  const Slot erased = slot_of(activation);
  std::size_t hole = activation->key_hash & mask();
  while (slots_[hole] != erased) hole = (hole + 1) & mask();
  slots_[hole] = 0;
  --size_;
  // Move back any later entry of the same probe run whose home is not between hole and it.
  for (std::size_t i = (hole + 1) & mask(); slots_[i]; i = (i + 1) & mask()) {
    const std::size_t at = home(slots_[i]);
    const bool stays = hole <= i ? (hole < at && at <= i) : (hole < at || at <= i);
    if (!stays) {
      slots_[hole] = std::exchange(slots_[i], 0);
      hole = i;
    }
  }
  if (slots_.size() > 64 && size_ * 8 < slots_.size()) rehash(slots_.size() / 2);
}

void ActivationTable::rehash(std::size_t capacity) {
  std::vector<Slot> old(capacity, 0);
  old.swap(slots_);
  for (const Slot slot : old) {
    if (slot) {
      std::size_t i = home(slot);
      while (slots_[i]) i = (i + 1) & mask();
      slots_[i] = slot;
    }
  }
}

}  // namespace mesh::detail

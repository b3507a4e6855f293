#include "runtime/activation_table.hpp"

#include <utility>

namespace mesh::detail {

Activation* ActivationTable::find(std::uint32_t key_hash, std::uint32_t capability,
                                  const ActorType* type, std::string_view id) const noexcept {
  if (size_ == 0) return nullptr;
  for (std::size_t i = key_hash & mask();; i = (i + 1) & mask()) {
    Activation* a = slots_[i];
    if (!a) return nullptr;
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
  slots_[i] = activation;
  ++size_;
}

void ActivationTable::erase(Activation* activation) noexcept {
  std::size_t hole = activation->key_hash & mask();
  while (slots_[hole] != activation) hole = (hole + 1) & mask();
  slots_[hole] = nullptr;
  --size_;
  // Move back any later entry of the same probe run whose home is not between hole and it.
  for (std::size_t i = (hole + 1) & mask(); slots_[i]; i = (i + 1) & mask()) {
    const std::size_t home = slots_[i]->key_hash & mask();
    const bool stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
    if (!stays) {
      slots_[hole] = std::exchange(slots_[i], nullptr);
      hole = i;
    }
  }
  if (slots_.size() > 64 && size_ * 8 < slots_.size()) rehash(slots_.size() / 2);
}

void ActivationTable::rehash(std::size_t capacity) {
  std::vector<Activation*> old(capacity, nullptr);
  old.swap(slots_);
  size_ = 0;
  for (Activation* a : old) {
    if (a) {
      std::size_t i = a->key_hash & mask();
      while (slots_[i]) i = (i + 1) & mask();
      slots_[i] = a;
      ++size_;
    }
  }
}

}  // namespace mesh::detail

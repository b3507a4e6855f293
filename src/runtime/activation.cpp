#include "runtime/activation.hpp"

#include <algorithm>
#include <new>

namespace mesh::detail {

// Memory per idle actor is a figure we promise (docs/benchmarks.md): an 80-byte header plus a
// one-byte actor is one 96-byte malloc chunk; one byte more in the header costs 16 per actor.
static_assert(sizeof(Activation) <= 80, "the activation header grew past 80 bytes");
namespace {

std::size_t alignment_of(const ActorType& type) noexcept {
  return std::max(alignof(Activation), type.vtable->align);
}

}  // namespace

std::size_t Activation::actor_offset(const ActorType& type) noexcept {
  const std::size_t align = type.vtable->align;
  return (sizeof(Activation) + align - 1) / align * align;
}

Activation* Activation::create(const ActorType& type, std::uint32_t capability, std::string id,
                               std::uint64_t serial, std::uint32_t key_hash) {
  const std::size_t size = actor_offset(type) + type.vtable->size;
  void* memory = ::operator new(size, std::align_val_t{alignment_of(type)});
  return ::new (memory) Activation(type, capability, std::move(id), serial, key_hash);
}

void Activation::destroy(Activation* activation, std::optional<DeactivateReason> reason) noexcept {
  const ActorType& type = *activation->type;
  if (activation->constructed && reason && type.vtable->on_deactivate) {
    try {
      type.vtable->on_deactivate(activation->actor(), *reason);
    } catch (...) {
      // The activation is going either way; a failing farewell must not stop that.
    }
  }
  if (activation->constructed) type.vtable->destroy(activation->actor());
  for (Message* m = activation->take_all(); m;) delete std::exchange(m, m->next);
  activation->~Activation();
  ::operator delete(activation, std::align_val_t{alignment_of(type)});
}

void Activation::push(Message* message) noexcept {
  message->next = nullptr;
  if (tail_) {
    tail_->next = message;
  } else {
    head_ = message;
  }
  tail_ = message;
}

Message* Activation::pop() noexcept {
  Message* message = head_;
  if (message) {
    head_ = message->next;
    if (!head_) tail_ = nullptr;
    message->next = nullptr;
  }
  return message;
}

Message* Activation::take_all() noexcept {
  tail_ = nullptr;
  return std::exchange(head_, nullptr);
}

}  // namespace mesh::detail

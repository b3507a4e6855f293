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

std::size_t Activation::persisted_offset(const ActorType& type) noexcept {
  const std::size_t end = actor_offset(type) + type.vtable->size;
  return (end + alignof(Persisted) - 1) / alignof(Persisted) * alignof(Persisted);
}

Activation* Activation::create(const ActorType& type, std::uint32_t capability, std::string id,
                               std::uint64_t serial, std::uint32_t key_hash) {
  const bool persistent = type.options.persistence != Persistence::none;
  const std::size_t size =
      persistent ? persisted_offset(type) + sizeof(Persisted) : actor_offset(type) + type.vtable->size;
  void* memory = ::operator new(size, std::align_val_t{alignment_of(type)});
  auto* activation = ::new (memory) Activation(type, capability, std::move(id), serial, key_hash);
  if (persistent) ::new (&activation->persisted()) Persisted{};
  host_metrics::started(type, capability);
  return activation;
}

void Activation::destroy(Activation* activation, std::optional<DeactivateReason> reason,
                         bool run_hook) noexcept {
  const ActorType& type = *activation->type;
  host_metrics::ended(type, activation->capability, reason);
  if (activation->constructed && reason && run_hook && type.vtable->on_deactivate) {
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

// The mailbox is a circular list reached through its tail (tail_->next is the head): one
// pointer instead of two keeps room in the 80-byte header for the queue length.
void Activation::push(Message* message) noexcept {
  if (tail_) {
    message->next = tail_->next;
    tail_->next = message;
  } else {
    message->next = message;
  }
  tail_ = message;
  ++queued_;
}

Message* Activation::pop() noexcept {
  if (!tail_) return nullptr;
  Message* head = tail_->next;
  if (head == tail_) {
    tail_ = nullptr;
  } else {
    tail_->next = head->next;
  }
  head->next = nullptr;
  --queued_;
  return head;
}

Message* Activation::take_all() noexcept {
  if (!tail_) return nullptr;
  Message* head = tail_->next;
  tail_->next = nullptr;
  tail_ = nullptr;
  queued_ = 0;
  return head;
}

}  // namespace mesh::detail

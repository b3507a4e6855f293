#include "runtime/activation.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace mesh::detail {

// Memory per idle actor is a figure we promise (docs/benchmarks.md): a 48-byte header, a
// one-byte actor and an id of up to 7 bytes are one 64-byte malloc chunk (56 usable bytes);
// every 16 bytes more cost 16 per actor. The id used to be a std::string in the header (32 bytes,
// and a second allocation past 15 characters).
static_assert(sizeof(Activation) <= 48, "the activation header grew past 48 bytes");
namespace {

std::size_t alignment_of(const ActorType& type) noexcept {
  return std::max(alignof(Activation), type.vtable->align);
}

}  // namespace

Activation* Activation::create(const ActorType& type, std::uint32_t capability, std::string_view id,
                               std::uint64_t serial, std::uint32_t key_hash) {
  const bool persistent = type.options.persistence != Persistence::none;
  const std::size_t size = id_offset(type) + id.size();
  void* memory = ::operator new(size, std::align_val_t{alignment_of(type)});
  std::memcpy(static_cast<char*>(memory) + id_offset(type), id.data(), id.size());
  auto* activation = ::new (memory)
      Activation(type, capability, static_cast<std::uint32_t>(id.size()), serial, key_hash);
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
// pointer instead of two keeps room in the 48-byte header for the queue length.
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

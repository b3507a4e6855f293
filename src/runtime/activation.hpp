// Activation: one live instance of an actor, with its mailbox.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/actor_type.hpp"
#include "runtime/message.hpp"

namespace mesh::detail {

struct SavedMessage;

// The actor object lives in the same allocation, right after this header, and the actor's id
// after the actor (after Persisted for persistent types), so an idle actor costs one
// allocation plus a table slot. Fields marked "shard" are guarded by the mutex of the
// activation's shard; fields marked "runner" belong to the one thread that holds the activation
// busy (claimed inline or draining it on the pool).
class Activation {
 public:
  // Allocates an activation with room for the type's actor object (not yet constructed).
  static Activation* create(const ActorType& type, std::uint32_t capability, std::string_view id,
                            std::uint64_t serial, std::uint32_t key_hash);
  // Destroys the actor object (if constructed) and frees the allocation. With a reason, the
  // actor's on_deactivate hook runs first (no reason: it crashed, no hook) unless the caller
  // ran it already (`run_hook` false). Both are counted in host_metrics.
  static void destroy(Activation* activation,
                      std::optional<DeactivateReason> reason = std::nullopt,
                      bool run_hook = true) noexcept;

  void* actor() noexcept { return reinterpret_cast<char*>(this) + actor_offset(*type); }

  // What a persistent actor (ActorOptions::persistence) keeps besides its object, in the same
  // allocation after it: the other types do not pay for it. Runner-owned.
  struct Persisted {
    std::uint64_t fence = 0;           // the shard claim its state was loaded under
    SavedMessage* saving = nullptr;  // a message whose state is being committed
  };
  Persisted& persisted() noexcept {
    return *reinterpret_cast<Persisted*>(reinterpret_cast<char*>(this) + persisted_offset(*type));
  }

  // Mailbox (shard).
  void push(Message* message) noexcept;
  Message* pop() noexcept;
  Message* take_all() noexcept;  // empties the mailbox, returns the old list (null-terminated)
  bool has_messages() const noexcept { return tail_ != nullptr; }
  std::uint32_t queued() const noexcept { return queued_; }

  // The actor's id; valid as long as the activation.
  std::string_view id() const noexcept {
    return {reinterpret_cast<const char*>(this) + id_offset(*type), id_size_};
  }

  const ActorType* const type;
  const std::uint64_t serial;
  const std::uint32_t key_hash;
  const std::uint32_t capability;
  std::uint32_t last_active_ms = 0;  // runner writes, then releases busy under the shard mutex
  bool busy = false;                 // shard: a thread runs or has scheduled this activation
  // shard: why it ends once its mailbox is empty (its shard moved away), or kNotEvicting. One
  // byte, not a flag and a reason: the header stays at 48 bytes (see activation.cpp).
  static constexpr DeactivateReason kNotEvicting = static_cast<DeactivateReason>(0xff);
  DeactivateReason evict_reason = kNotEvicting;
  bool evicting() const noexcept { return evict_reason != kNotEvicting; }
  bool constructed = false;          // runner
  bool stop_requested = false;       // runner

 private:
  Activation(const ActorType& t, std::uint32_t cap, std::uint32_t id_size, std::uint64_t s,
             std::uint32_t h)
      : type(&t), serial(s), key_hash(h), capability(cap), id_size_(id_size) {}
  static std::size_t actor_offset(const ActorType& type) noexcept;
  static std::size_t persisted_offset(const ActorType& type) noexcept;
  static std::size_t id_offset(const ActorType& type) noexcept;

  Message* tail_ = nullptr;   // shard; circular: tail_->next is the head
  std::uint32_t queued_ = 0;  // shard: messages in the mailbox
  const std::uint32_t id_size_;
};

// Inline: id() and actor() run on every lookup and call. Alignments are powers of two.
inline std::size_t Activation::actor_offset(const ActorType& type) noexcept {
  const std::size_t align = type.vtable->align;
  return (sizeof(Activation) + align - 1) & ~(align - 1);
}

inline std::size_t Activation::persisted_offset(const ActorType& type) noexcept {
  const std::size_t end = actor_offset(type) + type.vtable->size;
  return (end + alignof(Persisted) - 1) & ~(alignof(Persisted) - 1);
}

inline std::size_t Activation::id_offset(const ActorType& type) noexcept {
  return type.options.persistence != Persistence::none ? persisted_offset(type) + sizeof(Persisted)
                                                       : actor_offset(type) + type.vtable->size;
}

}  // namespace mesh::detail

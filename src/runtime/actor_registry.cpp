#include "runtime/actor_registry.hpp"

#include <stdexcept>

namespace mesh::detail {

ActorRegistry::ActorRegistry() : index_(std::make_shared<const Index>()) {}

const ActorType& ActorRegistry::add(std::string module, const ActorVTable& vtable,
                                    ActorOptions options) {
  if (module.empty()) throw std::invalid_argument("mesh: register_actor needs a module name");
  if (options.idle_timeout < std::chrono::milliseconds::zero()) {
    throw std::invalid_argument("mesh: idle_timeout of " + module + " is negative");
  }
  if (options.max_queue == 0) {
    throw std::invalid_argument("mesh: max_queue of " + module + " must be at least 1");
  }
  if (options.handlers != HandlerMode::adaptive && options.handlers != HandlerMode::non_blocking &&
      options.handlers != HandlerMode::blocking) {
    throw std::invalid_argument("mesh: handlers of " + module + " is not a HandlerMode");
  }
  if (options.persistence != Persistence::none && options.persistence != Persistence::on_deactivate &&
      options.persistence != Persistence::after_each_message) {
    throw std::invalid_argument("mesh: persistence of " + module + " is not a Persistence");
  }
  if (options.persistence != Persistence::none && (!vtable.snapshot || !vtable.restore)) {
    throw std::invalid_argument("mesh: " + module +
                                " is persistent but has no snapshot()/restore() pair to save and "
                                "load its state with");
  }
  std::lock_guard lock(mutex_);
  auto next = std::make_shared<Index>(*index_.load());
  if (next->contains(module)) {
    throw std::logic_error("mesh: actor module " + module + " is already registered");
  }
  auto type = std::make_unique<ActorType>();
  type->module = std::move(module);
  type->vtable = &vtable;
  type->options = options;
  type->inline_allowed.store(options.handlers == HandlerMode::non_blocking,
                             std::memory_order_relaxed);
  const ActorType& added = *types_.emplace_back(std::move(type));
  next->emplace(added.module, &added);
  index_.publish(std::move(next));
  return added;
}

const ActorType* ActorRegistry::find(std::string_view module) const {
  const Index& index = index_.read();
  const auto it = index.find(module);
  return it == index.end() ? nullptr : it->second;
}

std::vector<const ActorType*> ActorRegistry::all() const {
  std::lock_guard lock(mutex_);
  std::vector<const ActorType*> out;
  out.reserve(types_.size());
  for (const auto& type : types_) out.push_back(type.get());
  return out;
}

}  // namespace mesh::detail

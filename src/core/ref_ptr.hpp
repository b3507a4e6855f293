// RefPtr: an intrusive reference-counted pointer for objects shared by a caller and a runner.
#pragma once

#include <atomic>
#include <utility>

namespace mesh::detail {

// Base for RefPtr targets. The count starts at 0; RefPtr owns the object from its first copy.
class RefCounted {
 public:
  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  bool release() noexcept { return refs_.fetch_sub(1, std::memory_order_acq_rel) == 1; }

 private:
  std::atomic<int> refs_{0};
};

template <class T>
class RefPtr {
 public:
  RefPtr() = default;
  explicit RefPtr(T* p) noexcept : p_(p) {
    if (p_) p_->add_ref();
  }
  RefPtr(const RefPtr& other) noexcept : RefPtr(other.p_) {}
  RefPtr(RefPtr&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  RefPtr& operator=(RefPtr other) noexcept {
    std::swap(p_, other.p_);
    return *this;
  }
  ~RefPtr() {
    if (p_ && p_->release()) delete p_;
  }
  T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  T* p_ = nullptr;
};

}  // namespace mesh::detail

// Names the calling thread (as top -H, perf and gdb show it), so that operators and profiles
// can tell mesh's IO, worker and timer threads from the application's.
#pragma once

#include <pthread.h>

namespace mesh::detail {

// `name`: at most 15 characters (the kernel's limit); a longer one is refused and the thread
// keeps its old name.
inline void name_this_thread(const char* name) noexcept {
  (void)::pthread_setname_np(::pthread_self(), name);
}

}  // namespace mesh::detail

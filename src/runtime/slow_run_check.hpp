// Telling a slow handler from a preempted one.
#pragma once

#include <sys/resource.h>

namespace mesh::detail {

// A handler's wall time also counts time its thread spent preempted, which with many more
// threads than cores (64 callers on 2 cores) can be tens of milliseconds for a 100 ns handler.
// So a run that took too long counts as slow only when its thread had no involuntary context
// switch since the thread's previous check (or its first handler run). Blocking handlers (sleep,
// I/O, waiting on a lock) switch voluntarily and are still caught. Per thread; no shared state.
class SlowRunCheck {
 public:
  // Call at the start of each run: sets the thread's baseline once, on its first run.
  static void arm() noexcept { (void)baseline(); }

  // Call only after a run that exceeded the limit: whether the thread ran without being
  // preempted since the baseline. Moves the baseline to now.
  static bool confirm() noexcept {
    long& last = baseline();
    const long now = involuntary_switches();
    const bool slow = now == last;
    last = now;
    return slow;
  }

 private:
  static long involuntary_switches() noexcept {
    rusage usage{};
    ::getrusage(RUSAGE_THREAD, &usage);
    return usage.ru_nivcsw;
  }
  static long& baseline() noexcept {
    thread_local long value = involuntary_switches();
    return value;
  }
};

}  // namespace mesh::detail

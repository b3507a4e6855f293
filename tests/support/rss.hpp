// The test process's resident memory, for tests that check a flood stays bounded.
#pragma once

#include <cstddef>
#include <fstream>
#include <string>

namespace mesh::test {

// AddressSanitizer keeps freed memory in quarantine (256 MiB by default), so under it the RSS
// says nothing about what a test holds: RSS bounds are checked only without it (the figure is
// printed either way).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kRssBoundsHold = false;
#else
inline constexpr bool kRssBoundsHold = true;
#endif

// VmRSS of this process in KiB (0 if /proc cannot be read).
inline std::size_t rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

}  // namespace mesh::test

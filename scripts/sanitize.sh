#!/usr/bin/env bash
# Builds and runs the tests under a sanitizer: scripts/sanitize.sh thread|address
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-thread}
case "$kind" in
  thread) flags=thread; export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ;;
  address) flags=address,undefined
           export UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1"
           export ASAN_OPTIONS="detect_leaks=1" ;;
  *) echo "usage: $0 thread|address" >&2; exit 2 ;;
esac
scripts/install-deps.sh
MESH_BUILD_DIR="build-$kind" MESH_BUILD_TYPE=RelWithDebInfo scripts/build.sh \
  -DMESH_SANITIZE="$flags" -DMESH_BUILD_BENCHMARKS=OFF -DMESH_BUILD_EXAMPLES=ON
ctest --test-dir "build-$kind" -j "$(nproc)" --output-on-failure --timeout 300 --no-tests=error

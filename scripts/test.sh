#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Explicit every time: the demo builds into the same directory with tests switched off.
scripts/build.sh -DMESH_BUILD_TESTS=ON -DBUILD_TESTING=ON -DMESH_BUILD_TOOLS=ON -DMESH_BUILD_EXAMPLES=ON
ctest --test-dir "${MESH_BUILD_DIR:-build}" -j "$(nproc)" --output-on-failure --timeout 120 \
  --no-tests=error

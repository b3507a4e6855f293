#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds, and runs the quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DMESH_BUILD_TESTS=OFF -DMESH_BUILD_BENCHMARKS=OFF
dir=${MESH_BUILD_DIR:-build}
for example in quickstart counter crasher init_arg; do
  echo "== examples/${example}.cpp"
  "$dir/examples/example_${example}"
  echo
done

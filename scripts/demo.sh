#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds, and runs a local 3-node cluster
# (game / chat / game+chat+payment) through the Quickstart workload, a node leaving, a node
# killed with kill -9 and restarted (GameActor state kept in SQLite), and shutdown.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DMESH_BUILD_TESTS=OFF -DMESH_BUILD_BENCHMARKS=OFF
"${MESH_BUILD_DIR:-build}/tools/mesh_demo"

#!/usr/bin/env bash
# Installs mesh into a temporary prefix and builds a project against it with
# find_package(mesh CONFIG), then one that uses add_subdirectory with BUILD_TESTING off.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake -S . -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
  -DMESH_BUILD_EXAMPLES=OFF -DMESH_BUILD_BENCHMARKS=OFF -DCMAKE_INSTALL_PREFIX="$tmp/prefix" >/dev/null
cmake --build "$tmp/build" -j "$(nproc)" >/dev/null
cmake --install "$tmp/build" >/dev/null

mkdir -p "$tmp/user"
cp examples/quickstart.cpp "$tmp/user/main.cpp"
cp -r examples/actors "$tmp/user/actors"
cat > "$tmp/user/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(user CXX)
set(CMAKE_CXX_STANDARD 23)
if(USE_SUBDIRECTORY)
  set(BUILD_TESTING OFF)
  add_subdirectory(${MESH_SOURCE} mesh)
else()
  find_package(mesh CONFIG REQUIRED)
endif()
add_executable(user main.cpp)
target_include_directories(user PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(user PRIVATE mesh::mesh)
CM
cmake -S "$tmp/user" -B "$tmp/user/b1" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/user/b1" >"$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
"$tmp/user/b1/user" >/dev/null
echo "find_package(mesh CONFIG): ok"

cmake -S "$tmp/user" -B "$tmp/user/b2" -G Ninja -DUSE_SUBDIRECTORY=ON -DMESH_SOURCE="$root" >/dev/null
cmake --build "$tmp/user/b2" >"$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
targets=$(cmake --build "$tmp/user/b2" --target help | grep -cE '(_test|benchmark|example_)' || true)
[ "$targets" -eq 0 ] || { echo "add_subdirectory built more than the library"; exit 1; }
"$tmp/user/b2/user" >/dev/null
echo "add_subdirectory(mesh): ok (library only)"

#!/usr/bin/env bash
# Builds the frame/message fuzzer with clang and libFuzzer and runs it for a bounded time:
#   scripts/fuzz.sh [seconds]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
scripts/install-deps.sh fuzz
out=build-fuzz
mkdir -p "$out/corpus"
# libstdc++ 12 hides std::expected from clang 16 (its __cpp_concepts is older); the library only
# needs the C++20 concepts clang has, so announce them.
clang++-16 -std=c++2b -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Wno-macro-redefined -D__cpp_concepts=202002L \
  -Iinclude -Isrc \
  tests/fuzz/frame_fuzzer.cpp src/cluster/wire.cpp src/core/msgpack_codec.cpp \
  src/cluster/call_codec.cpp src/cluster/control_codec.cpp src/core/error.cpp src/core/pid.cpp \
  -o "$out/frame_fuzzer"
# Seeds: the example frames of docs/wire-protocol.md, so the fuzzer starts from the real format.
"$out/frame_fuzzer" -runs=0 "$out/corpus" >/dev/null 2>&1 || true
awk -v out="$out/corpus" '
  /^<!-- example: / { name = $3; next }
  /^```text$/       { if (name != "") { grab = 1; hex = "" }; next }
  /^```$/           { if (grab) { print hex > (out "/" name ".hex"); grab = 0; name = "" }; next }
  grab              { hex = hex " " $0 }' docs/wire-protocol.md
for hex in "$out"/corpus/*.hex; do
  printf "$(sed 's/ *\([0-9a-f][0-9a-f]\)/\\x\1/g' "$hex")" > "${hex%.hex}"
  rm "$hex"
done
printf '\x00\x00\x00\x03\x01\x06\x80' > "$out/corpus/heartbeat"
"$out/frame_fuzzer" -max_total_time="$seconds" -max_len=4096 -timeout=5 -rss_limit_mb=2048 \
  -print_final_stats=1 "$out/corpus" 2>&1 | tail -n 12

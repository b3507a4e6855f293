#!/usr/bin/env bash
# A newcomer's path: the README's two commands, scripts/demo.sh then scripts/test.sh, one after
# the other in a clean clone of this repository. Fails if either fails, or if the second one ran
# no test (it once reused the demo's build directory, with tests switched off, and passed).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if git -C "$root" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  git clone --quiet --no-hardlinks "$root" "$tmp/mesh"
else
  # A checkout without git metadata: the tree as it is, minus build directories.
  mkdir "$tmp/mesh"
  tar -C "$root" --exclude='./build*' -cf - . | tar -C "$tmp/mesh" -xf -
fi
cd "$tmp/mesh"
echo "-- scripts/demo.sh"
scripts/demo.sh > "$tmp/demo.log" 2>&1 || { tail -40 "$tmp/demo.log"; echo "demo.sh failed"; exit 1; }
tail -1 "$tmp/demo.log"
echo "-- scripts/test.sh"
scripts/test.sh > "$tmp/test.log" 2>&1 || { tail -60 "$tmp/test.log"; echo "test.sh failed"; exit 1; }
# ctest's summary: "100% tests passed, 0 tests failed out of N".
summary=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$tmp/test.log" | tail -1)
count=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<< "$summary")
echo "$summary"
if [ -z "$count" ] || [ "$count" -eq 0 ]; then
  echo "scripts/test.sh after scripts/demo.sh ran no test"
  exit 1
fi

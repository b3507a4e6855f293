#!/usr/bin/env bash
# Installs the Debian 12 packages mesh builds with, if any are missing. Needs root or sudo.
set -euo pipefail

packages=(g++ cmake ninja-build pkg-config nlohmann-json3-dev libxxhash-dev libasio-dev
          libssl-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev dnsmasq-base
          iproute2 libsqlite3-dev libpq-dev postgresql-15 openssl libhttp-parser-dev python3 nodejs wrk
          prometheus-cpp-dev prometheus chromium)
# scripts/install-deps.sh fuzz: also the clang that builds the libFuzzer target
if [ "${1:-}" = "fuzz" ]; then packages+=(clang-16 libclang-rt-16-dev); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

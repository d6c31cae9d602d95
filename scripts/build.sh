#!/usr/bin/env bash
# Configures and builds hearth. Usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
# BUILD_DIR defaults to build/; the binary lands at BUILD_DIR/hearth.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build}"
shift || true
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "$@" > /dev/null
ninja -C "$dir" -j"${JOBS:-$(nproc)}"

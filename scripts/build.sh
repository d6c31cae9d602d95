#!/usr/bin/env bash
# Configures and builds hearth. Usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
# BUILD_DIR defaults to build/; the binary lands at BUILD_DIR/hearth. TARGETS="a b" builds only
# those targets. With ccache installed (scripts/install-deps.sh installs it), compilations are
# cached under paths relative to the checkout, so a fresh clone of the same sources, anywhere,
# reuses them: CI's three builds (Release, sanitizers, fuzzers) take minutes, not half an hour.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build}"
shift || true
launcher=()
if command -v ccache >/dev/null 2>&1 && [ "${HEARTH_CCACHE:-1}" != 0 ]; then
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
  # Objects with debug info (-g) would otherwise be keyed by the build directory's absolute path.
  export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "${launcher[@]}" "$@" > /dev/null
# shellcheck disable=SC2086  # TARGETS is a list
ninja -C "$dir" -j"${JOBS:-$(nproc)}" ${TARGETS:-}

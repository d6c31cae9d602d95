#!/usr/bin/env bash
# Installs the Debian 12 packages hearth builds and tests with, and the web UI's npm packages.
# Safe to run again: it only calls apt-get (and npm) when something is missing.
#   scripts/install-deps.sh           everything: the build, the tests, CI (scripts/test.sh)
#   scripts/install-deps.sh --serve   only what building and serving hearth needs (the
#                                     quickstart and the setup script: fewer, faster installs;
#                                     the web UI is built when npm is already there)
set -euo pipefail

SERVE_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git curl ca-certificates
  libcli11-dev libspdlog-dev nlohmann-json3-dev libcpp-httplib-dev libboost-dev libyaml-cpp-dev
  libpcre2-dev libutf8proc-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev zlib1g-dev libedit-dev
)
# Only the tests need these: gtest, the fuzzers' clang, the reference renderers, the browser of
# tests/browser, lintian for the .deb, the metrics exposition parser.
TEST_PACKAGES=(
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  python3 python3-jinja2 python3-numpy python3-jsonschema python3-prometheus-client
  chromium lintian
)
serve_only=0
[ "${1:-}" = "--serve" ] && serve_only=1
PACKAGES=("${SERVE_PACKAGES[@]}")
[ $serve_only -eq 1 ] || PACKAGES+=("${TEST_PACKAGES[@]}")

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node + npm build the web UI and run the client SDK tests; take Debian's only when none is
# installed (and not for --serve: hearth builds without its UI then).
if [ $serve_only -eq 0 ]; then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
else
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The web UI's npm packages (web/package-lock.json), bundled into the binary at build time.
# Without npm, or offline, the build still succeeds and hearth's / says the UI was not built.
web="$(cd "$(dirname "$0")/.." && pwd)/web"
if ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: no npm: hearth will build without its web UI (scripts/install-deps.sh installs it)"
elif [ ! -f "$web/node_modules/.package-lock.json" ] ||
     [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
  echo "install-deps: npm ci in web/ (the web UI's libraries)"
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error) ||
    echo "install-deps: npm ci in web/ failed: hearth will build without its web UI" >&2
fi

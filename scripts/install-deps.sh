#!/usr/bin/env bash
# Installs the Debian 12 packages hearth builds and tests with. Safe to run again: it only
# calls apt-get when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git curl ca-certificates
  libcli11-dev libspdlog-dev nlohmann-json3-dev libcpp-httplib-dev libboost-dev libyaml-cpp-dev
  libpcre2-dev libutf8proc-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev zlib1g-dev libedit-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  python3 python3-jinja2 python3-numpy python3-jsonschema
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node + npm run the OpenAI SDK client tests; take Debian's only when none is installed.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

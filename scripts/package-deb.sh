#!/usr/bin/env bash
# Builds the Debian package of hearth: scripts/package-deb.sh [OUT_DIR] (default: dist/).
# It holds /usr/bin/hearth, the systemd unit (/lib/systemd/system/hearth.service), the docs,
# and maintainer scripts that create the `hearth` user, /var/lib/hearth and
# /etc/hearth/hearth.env with an admin key (deploy/debian/). Checked with lintian when it is
# installed (the CI does; tests/ops/test-deb.sh installs the package into a throwaway root).
#   sudo apt install ./dist/hearth_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
dir="${HEARTH_DEB_BUILD_DIR:-build-deb}"

# Only the binary: CPack's install step must not build the tests or benchmarks first.
TARGETS=hearth scripts/build.sh "$dir" -DHEARTH_TESTS=OFF -DHEARTH_DEB=ON \
  -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON
(cd "$dir" && cpack -G DEB -B "$out" > cpack.log) || { cat "$dir/cpack.log" >&2; exit 1; }
rm -rf "$out/_CPack_Packages"
deb=$(ls -t "$out"/hearth_*.deb | head -1)
echo "package-deb: $deb"
if command -v lintian >/dev/null 2>&1; then
  # Errors fail; warnings and notes are printed for whoever reads the log.
  lintian --fail-on error --tag-display-limit 0 "$deb" 2> >(grep -v "root privileges" >&2)
  echo "package-deb: lintian found no errors"
else
  echo "package-deb: lintian is not installed (apt-get install lintian); not checked"
fi

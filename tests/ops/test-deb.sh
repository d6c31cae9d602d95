#!/usr/bin/env bash
# Checks the Debian package (scripts/package-deb.sh): lintian finds no errors, it installs into
# a throw-away root with dpkg (its maintainer scripts create the hearth user, the state
# directories and an env file holding a key), the installed binary runs, the installed unit
# passes systemd-analyze verify, an upgrade keeps the key, and a purge removes what it should.
#
#   tests/ops/test-deb.sh [PACKAGE.deb]     (default: build one with scripts/package-deb.sh)
#
# Nothing outside a temporary directory is touched: dpkg --root with --force-script-chrootless
# runs the maintainer scripts with DPKG_ROOT set, and they write only under it.
# shellcheck disable=SC2015  # `ok` never fails, so `test && ok || fail` is an if/else
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
need=()
command -v lintian >/dev/null || need+=(lintian)
command -v systemd-analyze >/dev/null || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
T=$(mktemp -d /tmp/hearth-deb.XXXXXX)
trap 'rm -rf "$T"' EXIT
FAILS=0
ok()   { echo "  ok   $*"; }
fail() { echo "  FAIL $*"; FAILS=$((FAILS + 1)); }

echo "== package: build and lintian =="
if [ $# -ge 1 ]; then
  DEB=$1
  lintian --fail-on error "$DEB" 2>/dev/null && ok "lintian: no errors" || fail "lintian reported errors"
else
  if "$SRC/scripts/package-deb.sh" "$T/out" > "$T/package.log" 2>&1; then
    ok "scripts/package-deb.sh built it and lintian found no errors"
  else
    cat "$T/package.log"; fail "scripts/package-deb.sh failed"; exit 1
  fi
  grep -E '^[EW]: ' "$T/package.log" | sed 's/^/       /' || true
  DEB=$(ls "$T"/out/hearth_*.deb)
fi
fields=$(dpkg-deb -f "$DEB")
for want in "Package: hearth" "Depends: passwd" "libsqlite3-0" "libcurl4"; do
  grep -qF "$want" <<<"$fields" && ok "control has $want" || fail "control lacks $want"
done

echo "== install into a throw-away root =="
R=$T/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/etc" "$R/usr/sbin"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
# The user database the postinst adds to: root and nogroup, as on a fresh system.
printf 'root:x:0:0:root:/root:/bin/bash\n' > "$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"
printf 'root:*:19000:0:99999:7:::\n' > "$R/etc/shadow"
printf 'root:*::\nnogroup:*::\n' > "$R/etc/gshadow"
cp /etc/login.defs "$R/etc/login.defs"
DPKG=(dpkg --root="$R" --force-script-chrootless --force-depends --log=/dev/null)
if "${DPKG[@]}" -i "$DEB" > "$T/dpkg.log" 2>&1; then ok "dpkg -i succeeded"; else cat "$T/dpkg.log"; fail "dpkg -i failed"; fi
"$R/usr/bin/hearth" --version | grep -q '^hearth ' && ok "installed binary runs: $("$R/usr/bin/hearth" --version)" \
  || fail "installed binary does not run"
entry=$(grep '^hearth:' "$R/etc/passwd" || true)
[ -n "$entry" ] && ok "postinst created the user: $entry" || fail "no hearth user in $R/etc/passwd"
IFS=: read -r _ _ uid gid _ home shell <<<"$entry"
[ "$home" = /var/lib/hearth ] && [ "$shell" = /usr/sbin/nologin ] && [ "$uid" -lt 1000 ] \
  && ok "system user, home /var/lib/hearth, no login shell" || fail "user entry not as expected"
for d in var/lib/hearth var/lib/hearth/models; do
  [ "$(stat -c '%u:%g %a' "$R/$d")" = "$uid:$gid 750" ] && ok "/$d owned by hearth, mode 750" \
    || fail "/$d is $(stat -c '%u:%g %a' "$R/$d")"
done
ENV=$R/etc/hearth/hearth.env
[ "$(stat -c %a "$ENV")" = 600 ] && ok "env file mode 600" || fail "env file mode $(stat -c %a "$ENV")"
KEY=$(sed -n 's/^HEARTH_API_KEYS=//p' "$ENV")
[[ "$KEY" =~ ^[0-9a-f]{64}$ ]] && ok "env file holds a 256-bit key" || fail "env file key is '$KEY'"
UNIT=$R/lib/systemd/system/hearth.service
grep -q '@[A-Z_]*@' "$UNIT" && fail "unit has unrendered placeholders" || ok "unit fully rendered"
for want in "User=hearth" "ExecStart=/usr/bin/hearth serve" "EnvironmentFile=/etc/hearth/hearth.env"; do
  grep -qxF "$want" "$UNIT" && ok "unit has $want" || fail "unit lacks $want"
done
# verify resolves the unit's binary, user and env file inside the root, and the units it
# orders itself against (network-online.target, ...) from the host's, copied in beside it.
cp -rn /lib/systemd/system/. "$R/lib/systemd/system/"
if va=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --root="$R" /lib/systemd/system/hearth.service 2>&1) \
   && ! grep -qi "hearth.service" <<<"$va"; then
  ok "systemd-analyze verify: clean"
else
  printf '       %s\n' "$va"; fail "systemd-analyze verify complained about the installed unit"
fi

echo "== upgrade keeps the key; purge =="
"${DPKG[@]}" -i "$DEB" > "$T/dpkg.log" 2>&1 && ok "reinstall succeeded" || { cat "$T/dpkg.log"; fail "reinstall failed"; }
[ "$(sed -n 's/^HEARTH_API_KEYS=//p' "$ENV")" = "$KEY" ] && ok "reinstall kept the key" || fail "reinstall changed the key"
[ "$(grep -c '^hearth:' "$R/etc/passwd")" = 1 ] && ok "reinstall added no second user" || fail "duplicate users"
touch "$R/var/lib/hearth/models/user-model.gguf"
"${DPKG[@]}" -P hearth > "$T/dpkg.log" 2>&1 && ok "purge succeeded" || { cat "$T/dpkg.log"; fail "purge failed"; }
[ ! -e "$R/usr/bin/hearth" ] && [ ! -e "$UNIT" ] && [ ! -e "$R/usr/share/doc/hearth" ] && ok "binary and unit removed" || fail "files left after purge"
[ ! -e "$ENV" ] && ok "env file (with the install-time key) removed" || fail "env file left after purge"
[ -e "$R/var/lib/hearth/models/user-model.gguf" ] && ok "the user's models stay" || fail "purge deleted the user's models"

[ $FAILS -eq 0 ] && echo "deb package: all passed" || { echo "deb package: $FAILS failed"; exit 1; }

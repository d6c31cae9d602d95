#!/usr/bin/env bash
# Checks scripts/setup-hearth.sh (dry run, staged install into a temporary root, idempotence,
# uninstall), the rendered systemd unit (systemd-analyze verify) and the backup/restore round trip.
#
#   tests/ops/test-setup-script.sh [HEARTH_BINARY]     (default build/hearth, else a stand-in)
#
# Creates a throw-away system user (hearth-test-PID) when run as root and removes it again;
# everything else lives in a temporary directory. Exit code 0 = all passed.
# shellcheck disable=SC2015  # `ok` never fails, so `test && ok || fail` is an if/else
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
need=()
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v sqlite3 >/dev/null || need+=(sqlite3)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || true
fi

T=$(mktemp -d /tmp/hearth-setup.XXXXXX)
TEST_USER=hearth-test-$$
MADE_USER=0
cleanup() {
  if [ $MADE_USER -eq 1 ] && getent passwd "$TEST_USER" >/dev/null; then userdel "$TEST_USER" 2>/dev/null || true; fi
  getent group "$TEST_USER" >/dev/null 2>&1 && groupdel "$TEST_USER" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
FAILS=0
ok()   { echo "  ok   $*"; }
fail() { echo "  FAIL $*"; FAILS=$((FAILS + 1)); }
mode() { stat -c %a "$1"; }

BIN=${1:-$ROOT/build/hearth}
REAL_HEARTH=1
if [ ! -x "$BIN" ]; then
  REAL_HEARTH=0
  BIN=$T/stand-in-hearth
  printf '#!/bin/sh\necho "hearth stand-in $*"\n' > "$BIN"; chmod 755 "$BIN"
fi
R=$T/root
SETUP=("$ROOT/scripts/setup-hearth.sh" --prefix "$R" --binary "$BIN" --user "$TEST_USER")

echo "== setup: dry run =="
out=$("${SETUP[@]}" --dry-run 2>&1)
[ ! -e "$R" ] && ok "--dry-run created nothing" || fail "--dry-run created files under $R"
for want in "would run: install -D -m 755" "would create: $R/etc/hearth (mode 750" "would create: $R/var/lib/hearth/models" \
            "would write: $R/etc/hearth/hearth.env (mode 600" "would write: $R/etc/systemd/system/hearth.service"; do
  grep -qF "$want" <<<"$out" && ok "dry run announces: $want" || fail "dry run lacks: $want"
done

echo "== setup: staged install =="
EXTRA=()
if [ "$(id -u)" -eq 0 ]; then EXTRA=(--create-user); MADE_USER=1; fi
out=$("${SETUP[@]}" "${EXTRA[@]}" 2>&1) || { echo "$out"; fail "setup-hearth.sh failed"; }
ENV=$R/etc/hearth/hearth.env
UNIT=$R/etc/systemd/system/hearth.service
[ "$(mode "$R/usr/local/bin/hearth")" = 755 ] && ok "binary installed, mode 755" || fail "binary mode $(mode "$R/usr/local/bin/hearth")"
[ "$(mode "$ENV")" = 600 ] && ok "env file mode 600" || fail "env file mode $(mode "$ENV")"
KEY=$(sed -n 's/^HEARTH_API_KEYS=//p' "$ENV")
[[ "$KEY" =~ ^[0-9a-f]{64}$ ]] && ok "env file holds a 256-bit key (64 hex characters)" || fail "key looks wrong: ${#KEY} characters"
grep -qF "$KEY" <<<"$out" && fail "the API key was printed in the setup output" || ok "the API key is not in the setup output"
grep -qx 'HEARTH_HOST=127.0.0.1' "$ENV" && ok "binds 127.0.0.1 by default" || fail "HEARTH_HOST is not 127.0.0.1"
[ "$(mode "$R/etc/hearth")" = 750 ] && ok "config dir mode 750" || fail "config dir mode $(mode "$R/etc/hearth")"
for d in var/lib/hearth var/lib/hearth/models; do
  [ "$(mode "$R/$d")" = 750 ] && ok "$d mode 750" || fail "$d mode $(mode "$R/$d")"
done
if [ $MADE_USER -eq 1 ]; then
  getent passwd "$TEST_USER" | grep -q nologin && ok "system user $TEST_USER created with no login shell" || fail "user not created"
  [ "$(stat -c %U "$R/var/lib/hearth/models")" = "$TEST_USER" ] && ok "models dir owned by $TEST_USER" || fail "models dir owner $(stat -c %U "$R/var/lib/hearth/models")"
  [ "$(stat -c %U:%G "$ENV")" = root:root ] && ok "env file owned by root:root" || fail "env file owner $(stat -c %U:%G "$ENV")"
else
  echo "  skip user creation and ownership (not root)"
fi
for want in "User=$TEST_USER" "NoNewPrivileges=yes" "ProtectSystem=strict" "PrivateTmp=yes" \
            "ReadWritePaths=$R/var/lib/hearth $R/var/lib/hearth/models" "Restart=on-failure" \
            "EnvironmentFile=$ENV" "ExecStart=$R/usr/local/bin/hearth serve" "MemoryMax=" "CPUQuota="; do
  grep -qF "$want" "$UNIT" && ok "unit has $want" || fail "unit lacks $want"
done
grep -q '@[A-Z_]*@' "$UNIT" && fail "unit has unrendered placeholders" || ok "unit fully rendered"
if command -v systemd-analyze >/dev/null; then
  # verify wants the unit's user to exist; without root the unit names a user that may not.
  if va=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$UNIT" 2>&1) && ! grep -qi "hearth.service" <<<"$va"; then
    ok "systemd-analyze verify: clean"
  else
    printf '       %s\n' "$va"; fail "systemd-analyze verify complained about the unit"
  fi
else
  echo "  skip systemd-analyze (not installed)"
fi

echo "== setup: idempotent =="
out2=$("${SETUP[@]}" "${EXTRA[@]}" 2>&1)
[ "$(sed -n 's/^HEARTH_API_KEYS=//p' "$ENV")" = "$KEY" ] && ok "second run kept the key" || fail "second run changed the key"
grep -q "unchanged $UNIT" <<<"$out2" && grep -q "unchanged $R/usr/local/bin/hearth" <<<"$out2" && \
  ok "second run left unit and binary unchanged" || { echo "$out2"; fail "second run rewrote files"; }

if [ $REAL_HEARTH -eq 1 ] && "$BIN" doctor --help >/dev/null 2>&1; then
  echo "== doctor on the installed config =="
  cp "$ROOT/tests/data/models/stories260K.gguf" "$R/var/lib/hearth/models/"
  dj=$("$BIN" doctor --env-file "$ENV" --models-dir "$R/var/lib/hearth/models" --port 1 --json || true)
  python3 - "$dj" <<'PY' && ok "doctor: env file, key and model check out" || fail "doctor on the installed config: $dj"
import json, sys
checks = {c["name"]: c["status"] for c in json.loads(sys.argv[1])["checks"]}
sys.exit(0 if checks.get("config") == "ok" and checks.get("api-keys") == "ok" and checks.get("model stories260K.gguf") == "ok" else 1)
PY
  rm -f "$R/var/lib/hearth/models/stories260K.gguf"
fi

echo "== backup and restore =="
S=$R/var/lib/hearth
printf 'name: tiny\nfile: tiny.gguf\naliases: [gpt-4o-mini]\n' > "$S/models/tiny.yaml"
head -c 4096 /dev/urandom > "$S/models/tiny.gguf"
sqlite3 "$S/keys.db" "create table keys(hash text); insert into keys values('abc');"
chmod 600 "$S/keys.db"
(cd "$T" && "$ROOT/scripts/backup-hearth.sh" --prefix "$R" -o "$T/b.tar.gz" >/dev/null)
[ "$(mode "$T/b.tar.gz")" = 600 ] && ok "backup archive mode 600" || fail "archive mode $(mode "$T/b.tar.gz")"
list=$(tar -tzf "$T/b.tar.gz")
for want in ./etc/hearth/hearth.env ./etc/systemd/system/hearth.service ./var/lib/hearth/keys.db \
            ./var/lib/hearth/models/tiny.yaml ./MANIFEST.sha256; do
  grep -qxF "$want" <<<"$list" && ok "backup has $want" || fail "backup lacks $want"
done
grep -q 'tiny.gguf' <<<"$list" && fail "backup holds model weights without --with-models" || ok "weights left out by default"
"$ROOT/scripts/backup-hearth.sh" --prefix "$R" --with-models -o "$T/bm.tar.gz" >/dev/null
grep -q 'models/tiny.gguf' <<<"$(tar -tzf "$T/bm.tar.gz")" && ok "--with-models includes the weights" || fail "--with-models lacks the weights"
R2=$T/restored
"$ROOT/scripts/restore-hearth.sh" "$T/bm.tar.gz" --prefix "$R2" >/dev/null
if diff -r "$R/etc/hearth" "$R2/etc/hearth" >/dev/null && cmp -s "$S/models/tiny.gguf" "$R2/var/lib/hearth/models/tiny.gguf" \
   && [ "$(sqlite3 "$R2/var/lib/hearth/keys.db" 'select hash from keys')" = abc ]; then
  ok "restore reproduces config, key store and models"
else
  fail "restored files differ"
fi
[ "$(mode "$R2/etc/hearth/hearth.env")" = 600 ] && ok "restored env file keeps mode 600" || fail "restored env mode $(mode "$R2/etc/hearth/hearth.env")"
# A damaged archive is refused before anything is written.
mkdir "$T/x" && tar -C "$T/x" -xzf "$T/b.tar.gz" && echo tampered >> "$T/x/etc/hearth/hearth.env" && \
  tar -C "$T/x" -czf "$T/bad.tar.gz" .
if "$ROOT/scripts/restore-hearth.sh" "$T/bad.tar.gz" --prefix "$T/r3" >/dev/null 2>&1 || [ -e "$T/r3/etc" ]; then
  fail "a tampered backup was restored"
else
  ok "a tampered backup is refused (checksum)"
fi

echo "== uninstall =="
"${SETUP[@]}" --uninstall >/dev/null
[ ! -e "$UNIT" ] && [ ! -e "$R/usr/local/bin/hearth" ] && [ -f "$ENV" ] && ok "--uninstall removes unit and binary, keeps config" \
  || fail "--uninstall left the wrong files"
"${SETUP[@]}" "${EXTRA[@]}" --uninstall --purge >/dev/null
[ ! -e "$R/etc/hearth" ] && [ ! -e "$R/var/lib/hearth" ] && ok "--purge removes config and state" || fail "--purge left files"
if [ $MADE_USER -eq 1 ]; then
  getent passwd "$TEST_USER" >/dev/null && fail "--purge kept the user" || ok "--purge removes the user"
fi

if [ "$FAILS" -eq 0 ]; then echo "test-setup-script: all passed"; else echo "test-setup-script: $FAILS failure(s)"; exit 1; fi

#!/usr/bin/env bash
# Backs up a hearth installation into one .tar.gz (restore with scripts/restore-hearth.sh).
#
#   sudo scripts/backup-hearth.sh [-o FILE.tar.gz] [--with-models] [--prefix DIR]
#
# What goes in (paths under --prefix, default /):
#   etc/hearth/                        hearth.env (settings + API keys), hearth.yaml, key files
#   etc/systemd/system/hearth.service  the unit as installed
#   etc/nginx/conf.d/hearth.conf, etc/nginx/hearth/   gateway config, aliases, gateway keys
#   etc/caddy/Caddyfile, etc/caddy/hearth/            when Caddy is the gateway
#   etc/ssl/hearth/                    TLS certificate and key (when not from Let's Encrypt)
#   var/lib/hearth/ without models/    the rest of the hearth user's home (hearth keeps no state
#                                      there today; a *.db goes through sqlite3 .backup when
#                                      sqlite3 is installed)
#   var/lib/hearth/models/*.yaml       one config per model (name, source, aliases, settings)
#   var/lib/hearth/models/*.gguf       only with --with-models (otherwise: `hearth pull` again)
# plus MANIFEST.sha256 (checksums of every file). The archive holds secrets: it is created
# mode 600; store it like a password.
set -euo pipefail
PREFIX=""
OUT=""
WITH_MODELS=0
while [ $# -gt 0 ]; do
  case "$1" in
    -o|--output) OUT=$2; shift ;;
    --with-models) WITH_MODELS=1 ;;
    --prefix) PREFIX=${2%/}; shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "backup-hearth: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
OUT=${OUT:-hearth-backup-$(hostname -s)-$(date -u +%Y%m%dT%H%M%SZ).tar.gz}
ROOTDIR=${PREFIX:-/}

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
umask 077
copy() {  # relative path (file or dir) -> stage, keeping modes and owners
  local rel=$1
  [ -e "$ROOTDIR/$rel" ] || return 0
  mkdir -p "$STAGE/$(dirname "$rel")"
  cp -a "$ROOTDIR/$rel" "$STAGE/$rel"
}
copy etc/hearth
copy etc/systemd/system/hearth.service
copy etc/nginx/conf.d/hearth.conf
copy etc/nginx/hearth
copy etc/caddy/Caddyfile
copy etc/caddy/hearth
copy etc/ssl/hearth
STATE=var/lib/hearth
if [ -d "$ROOTDIR/$STATE" ]; then
  mkdir -p "$STAGE/$STATE"
  # State except the models dir; databases through sqlite3 .backup (consistent while running).
  (cd "$ROOTDIR/$STATE" && find . -mindepth 1 -maxdepth 1 ! -name models -print0) | while IFS= read -r -d '' e; do
    e=${e#./}
    if [ "${e%.db}" != "$e" ] && command -v sqlite3 >/dev/null; then
      sqlite3 "$ROOTDIR/$STATE/$e" ".backup '$STAGE/$STATE/$e'"
      chmod --reference="$ROOTDIR/$STATE/$e" "$STAGE/$STATE/$e"
    else
      cp -a "$ROOTDIR/$STATE/$e" "$STAGE/$STATE/$e"
    fi
  done
  if [ -d "$ROOTDIR/$STATE/models" ]; then
    mkdir -p "$STAGE/$STATE/models"
    (cd "$ROOTDIR/$STATE/models" && find . -type f \( -name '*.yaml' -o -name '*.yml' \) \
      -exec cp -a --parents {} "$STAGE/$STATE/models" \;)
    if [ $WITH_MODELS -eq 1 ]; then
      (cd "$ROOTDIR/$STATE/models" && find . -type f -name '*.gguf' -exec cp -a --parents {} "$STAGE/$STATE/models" \;)
    fi
  fi
fi
if [ -z "$(ls -A "$STAGE")" ]; then echo "backup-hearth: nothing to back up under $ROOTDIR" >&2; exit 1; fi
MANIFEST=$(mktemp)
(cd "$STAGE" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$MANIFEST"
mv "$MANIFEST" "$STAGE/MANIFEST.sha256"
tar -C "$STAGE" --numeric-owner -czpf "$OUT" .
chmod 600 "$OUT"
n=$(($(wc -l < "$STAGE/MANIFEST.sha256")))
echo "backup-hearth: $OUT ($n files$([ $WITH_MODELS -eq 1 ] && echo ", models included" || echo ", models not included: restore re-downloads them with hearth pull"))"

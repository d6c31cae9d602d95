#!/usr/bin/env bash
# Restores a backup made by scripts/backup-hearth.sh.
#
#   sudo scripts/restore-hearth.sh FILE.tar.gz [--prefix DIR] [--dry-run]
#
# Checks every file against MANIFEST.sha256 first, then puts the files back with their modes and
# owners (as root). Existing files are overwritten; nothing else is deleted. Afterwards:
#   systemctl daemon-reload && systemctl restart hearth && hearth doctor
# and, when the backup did not include models, fetch them again (each model YAML names its source):
#   sudo -u hearth hearth models list ; sudo -u hearth hearth pull REF
set -euo pipefail
ARCHIVE=""
PREFIX=""
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=${2%/}; shift ;;
    --dry-run) DRY=1 ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    -*) echo "restore-hearth: unknown option $1" >&2; exit 2 ;;
    *) ARCHIVE=$1 ;;
  esac
  shift
done
[ -f "$ARCHIVE" ] || { echo "usage: restore-hearth.sh FILE.tar.gz [--prefix DIR] [--dry-run]" >&2; exit 2; }
ROOTDIR=${PREFIX:-/}
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
tar -C "$STAGE" --numeric-owner -xzpf "$ARCHIVE"
[ -f "$STAGE/MANIFEST.sha256" ] || { echo "restore-hearth: $ARCHIVE has no MANIFEST.sha256: not a hearth backup" >&2; exit 1; }
(cd "$STAGE" && sha256sum --quiet -c MANIFEST.sha256) || { echo "restore-hearth: checksum mismatch, nothing restored" >&2; exit 1; }
if [ $DRY -eq 1 ]; then
  echo "restore-hearth: would restore into $ROOTDIR:"; sed 's/^[0-9a-f]*  \.\//  /' "$STAGE/MANIFEST.sha256"; exit 0
fi
rm -f "$STAGE/MANIFEST.sha256"
mkdir -p "$ROOTDIR"
tar -C "$STAGE" --numeric-owner -cpf - . | tar -C "$ROOTDIR" --numeric-owner --no-overwrite-dir -xpf -
echo "restore-hearth: restored $(find "$STAGE" -type f | wc -l) files into $ROOTDIR"
if [ -z "$PREFIX" ] && [ -d /run/systemd/system ]; then
  echo "restore-hearth: now run: systemctl daemon-reload && systemctl restart hearth && hearth doctor"
fi

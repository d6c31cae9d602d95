#!/usr/bin/env bash
# Downloads the catalog models that fit this machine: `hearth pull` of every entry that
# `hearth models catalog --fits` lists (RAM, disk and CPU taken into account by hearth).
#
#   scripts/download-cpu-optimized-models.sh [--dry-run] [--max N] [--hearth PATH]
#
# Models land in $HEARTH_MODELS_DIR (default ~/.local/share/hearth/models). For the service:
#   sudo -u hearth env HEARTH_MODELS_DIR=/var/lib/hearth/models scripts/download-cpu-optimized-models.sh
# Already downloaded models are skipped by hearth pull (resume + sha256 check).
set -euo pipefail
HEARTH=$(command -v hearth || echo /usr/local/bin/hearth)
DRY=0
MAX=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --max) MAX=$2; shift ;;
    --hearth) HEARTH=$2; shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "download-cpu-optimized-models: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$HEARTH" ] || { echo "download-cpu-optimized-models: hearth not found (install it or pass --hearth PATH)" >&2; exit 1; }

# The catalog as JSON when hearth offers it, else the first column of the table.
if json=$("$HEARTH" models catalog --fits --json 2>/dev/null) && [[ "$json" =~ ^[[:space:]]*[\[{] ]]; then
  mapfile -t refs < <(python3 -c '
import json, sys
data = json.loads(sys.stdin.read())
items = data.get("models", data) if isinstance(data, dict) else data
for m in items:
    ref = m.get("ref") or m.get("id") or m.get("name")
    if ref: print(ref)' <<<"$json")
else
  mapfile -t refs < <("$HEARTH" models catalog --fits | awk 'NR > 1 && NF && $1 !~ /^[-=#]/ {print $1}')
fi
if [ ${#refs[@]} -eq 0 ]; then
  echo "download-cpu-optimized-models: no catalog entry fits this machine (see: hearth doctor; hearth models catalog)"
  exit 1
fi
[ "$MAX" -eq 0 ] || refs=("${refs[@]:0:$MAX}")
echo "download-cpu-optimized-models: ${#refs[@]} model(s) fit: ${refs[*]}"
failed=0
for ref in "${refs[@]}"; do
  if [ $DRY -eq 1 ]; then echo "would run: $HEARTH pull $ref"; continue; fi
  echo "+ $HEARTH pull $ref"
  "$HEARTH" pull "$ref" || { echo "download-cpu-optimized-models: $ref failed" >&2; failed=$((failed + 1)); }
done
[ $DRY -eq 1 ] || "$HEARTH" models list || true
exit $((failed > 0))

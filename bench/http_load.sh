#!/usr/bin/env bash
# HTTP load on loopback with wrk (Debian's `wrk`): requests/s and latency percentiles of one or
# more hearth binaries, side by side, on the bundled stories260K model, 16 connections.
#   bench/http_load.sh build/hearth [OTHER_HEARTH ...]
# Env: SECONDS_EACH (10), CONNECTIONS (16), THREADS (2), PORT (18190).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
[ $# -ge 1 ] || { echo "usage: $0 HEARTH_BINARY [HEARTH_BINARY ...]" >&2; exit 2; }
SECONDS_EACH=${SECONDS_EACH:-10}
CONNECTIONS=${CONNECTIONS:-16}
PORT=${PORT:-18190}
MODEL=tests/data/models/stories260K.gguf
lua=$(mktemp --suffix=.lua)
trap 'rm -f "$lua"' EXIT
cat > "$lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0}'
LUA

run() {  # NAME URL [lua]
  local out
  out=$(wrk -t "${THREADS:-2}" -c "$CONNECTIONS" -d "${SECONDS_EACH}s" --latency ${3:+-s "$3"} "$2")
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  p50=$(awk '$1=="50%"{print $2}' <<<"$out")
  p99=$(awk '$1=="99%"{print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/{$1=$1; print}' <<<"$out" | paste -sd';' -)
  printf '| %s | %s | %s | %s | %s | %s |\n' "$binary" "$1" "$rps" "$p50" "$p99" "${errors:-none}"
}

echo "| binary | route | requests/s | p50 | p99 | errors |"
echo "|---|---|---:|---:|---:|---|"
for binary in "$@"; do
  PORT=$((PORT + 1))  # a port of its own: the last one's connections may linger
  "$binary" serve --model "$MODEL" --port "$PORT" --threads 1 --parallel 16 >"${LOG:-/dev/null}" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
  run "GET /v1/models" "http://127.0.0.1:$PORT/v1/models"
  run "POST /v1/completions (8 tokens)" "http://127.0.0.1:$PORT/v1/completions" "$lua"
  kill -TERM "$pid"; wait "$pid" || true
done

#!/usr/bin/env bash
# Runs the official client SDK tests (OpenAI, Anthropic, Ollama) (tests/clients) against a live `hearth serve`.
# Builds nothing. Usage: scripts/test-clients.sh path/to/hearth [model.gguf]
set -euo pipefail

hearth=${1:?usage: scripts/test-clients.sh path/to/hearth [model.gguf]}
hearth="$(cd "$(dirname "$hearth")" && pwd)/$(basename "$hearth")"  # the OIDC test starts its own
root=$(cd "$(dirname "$0")/.." && pwd)
model=${2:-$root/tests/data/models/stories260K.gguf}
key="test-key-$RANDOM$RANDOM"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
# Where the Ollama test's /api/pull installs (never the user's own models directory).
models=$(mktemp -d)
# The Responses API store of this run (never the user's own).
db=$(mktemp -u --suffix=.db)
# The key store and audit log of this run (never the user's own).
state=$(mktemp -d)

HEARTH_API_KEYS="$key" "$hearth" serve --model "$model" --models-dir "$models" --host 127.0.0.1 --port "$port" --threads 1 \
    --env-file /dev/null --responses-db "$db" --state-dir "$state" >"$log" 2>&1 &
server=$!
stop_server() {
    kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    rm -f "$log" "$db" "$db-wal" "$db-shm"
    rm -rf "$models" "$state"
}
trap stop_server EXIT

for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$log"; echo "hearth serve exited early" >&2; exit 1; }
    sleep 0.1
done

cd "$root/tests/clients"
npm ci --no-audit --no-fund --loglevel=error
status=0
HEARTH_BASE_URL="http://127.0.0.1:$port/v1" HEARTH_OLLAMA_HOST="http://127.0.0.1:$port" \
    HEARTH_MODEL_FILE="$model" HEARTH_API_KEY="$key" HEARTH_BIN="$hearth" \
    node --test ./*.test.mjs || status=$?
if [ "$status" -ne 0 ]; then echo "--- server log ---"; tail -50 "$log"; fi
exit "$status"

#!/usr/bin/env bash
# The web UI in a real browser: Debian's chromium, driven by playwright-core (package-lock.json
# pins it), against a live `hearth serve` with an API key and two models (the bundled one under
# two names), pulling from the fake hub models.test.mjs starts at HF_ENDPOINT. Runs every
# *.test.mjs here. Builds nothing. Usage: tests/browser/run.sh path/to/hearth
# UPDATE_SCREENSHOTS=1 also writes the pages' screenshots into docs/images/.
set -euo pipefail

hearth=${1:?usage: tests/browser/run.sh path/to/hearth}
hearth="$(cd "$(dirname "$hearth")" && pwd)/$(basename "$hearth")"
root=$(cd "$(dirname "$0")/../.." && pwd)
chromium=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$chromium" ]; then
    echo "browser tests: no chromium (scripts/install-deps.sh installs Debian's)" >&2
    exit 1
fi
work=$(mktemp -d)
key="ui-test-key-$RANDOM$RANDOM"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
hub_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cp "$root/tests/data/models/stories260K.gguf" "$work/tiny-a.gguf"
cp "$root/tests/data/models/stories260K.gguf" "$work/tiny-b.gguf"
mkdir "$work/state" "$work/models"

HF_ENDPOINT="http://127.0.0.1:$hub_port" HEARTH_API_KEYS="$key" "$hearth" serve --model "$work/tiny-a.gguf" --model "$work/tiny-b.gguf" \
    --models-dir "$work/models" --state-dir "$work/state" --responses-db "$work/responses.db" \
    --host 127.0.0.1 --port "$port" --threads 1 --env-file /dev/null >"$work/server.log" 2>&1 &
server=$!
stop_server() {
    kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap stop_server EXIT

for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; echo "hearth serve exited early" >&2; exit 1; }
    sleep 0.1
done

cd "$root/tests/browser"
npm ci --no-audit --no-fund --loglevel=error
status=0
# Tests that start servers of their own (OIDC login, --allowed-host) take the binary and model.
export HEARTH_BIN="$hearth" HEARTH_MODEL_FILE="$root/tests/data/models/stories260K.gguf"
HEARTH_URL="http://127.0.0.1:$port" HEARTH_API_KEY="$key" CHROMIUM="$chromium" \
    SCREENSHOT_DIR="${UPDATE_SCREENSHOTS:+$root/docs/images}" FAKE_HUB_PORT="$hub_port" \
    node --test --test-concurrency=1 ./*.test.mjs || status=$?
if [ "$status" -ne 0 ]; then echo "--- server log ---"; tail -40 "$work/server.log"; fi
exit "$status"

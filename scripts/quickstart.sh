#!/usr/bin/env bash
# The README's first command: installs dependencies, builds hearth, starts the OpenAI-compatible
# server on the bundled tiny model, and sends it one chat request. The server keeps running
# until Ctrl-C (pass --exit to stop after the request, e.g. in scripts).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --serve  # the tests' packages are the second README command's job
# Only the server binary: the tests are the second README command's job.
TARGETS=hearth scripts/build.sh build

port="${HEARTH_PORT:-8080}"
./build/hearth serve --model tests/data/models/stories260K.gguf --host 127.0.0.1 --port "$port" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "hearth serve did not start (is port $port free? set HEARTH_PORT)" >&2; exit 1; }
  sleep 0.1
done

echo "--- POST /v1/chat/completions"
curl -s "http://127.0.0.1:$port/v1/chat/completions" -H "Content-Type: application/json" \
  -d '{"model": "stories260K", "messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": 48, "temperature": 0}'
echo
[ "${1:-}" = "--exit" ] && exit 0
echo "--- hearth is serving http://127.0.0.1:$port/v1 (OpenAI API) and a chat page at http://127.0.0.1:$port/ . Ctrl-C stops it."
wait "$server"

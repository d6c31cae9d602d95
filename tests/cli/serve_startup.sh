#!/usr/bin/env bash
# `hearth serve` with nothing to serve yet: a models directory that does not exist is made, the
# server starts anyway (clients may pull through /api/pull), lists no models, and its log says
# the exact command to pull a first one. Usage: serve_startup.sh path/to/hearth
set -euo pipefail
hearth=$1
work=$(mktemp -d)
log="$work/log"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HOME="$work" HEARTH_API_KEYS= "$hearth" serve --models-dir "$work/not/made/yet" --port "$port" \
    --env-file /dev/null --responses-db :memory: >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat "$log"; echo "FAIL: hearth serve exited" >&2; exit 1; }
  sleep 0.1
done
fail() { echo "FAIL: $*" >&2; cat "$log" >&2; exit 1; }
[ -d "$work/not/made/yet" ] || fail "the models directory was not created"
models=$(curl -fs "http://127.0.0.1:$port/v1/models")
[ "$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["data"]))' "$models")" = 0 ] \
    || fail "expected no models, got $models"
grep -q 'hearth pull [a-z0-9.-]*`' "$log" || fail "the log does not say how to pull a first model"
grep -q "serving 0 model(s); pulls go to $work/not/made/yet" "$log" || fail "no serving line"
grep -q "compute threads per model: [0-9]* (" "$log" || fail "no threads line"
echo "ok: serve starts on an empty, new models directory and says what to do"

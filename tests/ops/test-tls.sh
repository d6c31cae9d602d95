#!/usr/bin/env bash
# Native TLS with real clients: `hearth serve --tls-cert --tls-key` on loopback with a
# self-signed certificate made by the openssl CLI, checked with curl --cacert (answers, a
# streamed chat completion, ALPN and protocol versions, plain HTTP refused, SIGHUP reload),
# with the OpenAI node SDK trusting the certificate through NODE_EXTRA_CA_CERTS (when node is
# installed), and the startup errors for unusable certificate files.
#
#   tests/ops/test-tls.sh path/to/hearth
#
# Exit code 0 = all passed.
# shellcheck disable=SC2015  # `ok` never fails, so `test && ok || fail` is an if/else
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(readlink -f "${1:?usage: tests/ops/test-tls.sh path/to/hearth}")
MODEL_FILE="$ROOT/tests/data/models/stories260K.gguf"
KEY="tls-test-key-$RANDOM$RANDOM"
TMP=$(mktemp -d)
SERVER=
cleanup() {
    [ -z "$SERVER" ] || { kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true; }
    rm -rf "$TMP"
}
trap cleanup EXIT
failures=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

make_cert() {  # DIR CN: DIR/cert.pem and DIR/key.pem for localhost and 127.0.0.1
    mkdir -p "$1"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$1/key.pem" -out "$1/cert.pem" -subj "/CN=$2" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
}
make_cert "$TMP/a" "hearth tls test a"
make_cert "$TMP/b" "hearth tls test b"
cp "$TMP/a/cert.pem" "$TMP/cert.pem"
cp "$TMP/a/key.pem" "$TMP/key.pem"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="https://localhost:$PORT"

# ---- startup errors -------------------------------------------------------------------------
startup_error() {  # EXPECTED ARGS...: the server must exit non-zero saying EXPECTED
    local expected=$1 out
    shift
    if out=$(timeout 20 env HEARTH_API_KEYS="$KEY" "$BIN" serve --model "$MODEL_FILE" \
            --port 0 --env-file /dev/null --state-dir :memory: --responses-db :memory: "$@" 2>&1); then
        fail "started with $*"
    elif grep -q -- "$expected" <<<"$out"; then
        ok "refused at startup: $(grep -- "$expected" <<<"$out" | head -1 | cut -c1-150)"
    else
        fail "startup with $* did not say '$expected': $out"
    fi
}
startup_error "does not belong to the certificate" --tls-cert "$TMP/a/cert.pem" --tls-key "$TMP/b/key.pem"
startup_error "cannot read the TLS certificate" --tls-cert "$TMP/missing.pem" --tls-key "$TMP/a/key.pem"
startup_error "go together" --tls-cert "$TMP/a/cert.pem"
startup_error "cannot use the TLS certificate" --tls-cert "$TMP/a/key.pem" --tls-key "$TMP/a/key.pem"

# ---- a live server --------------------------------------------------------------------------
HEARTH_API_KEYS="$KEY" HEARTH_TLS_CERT="$TMP/cert.pem" HEARTH_TLS_KEY="$TMP/key.pem" \
    "$BIN" serve --model "$MODEL_FILE" --host 127.0.0.1 --port "$PORT" --threads 1 \
    --env-file /dev/null --state-dir :memory: --responses-db :memory: >"$TMP/log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do
    curl -fs --cacert "$TMP/a/cert.pem" "$URL/health" >/dev/null 2>&1 && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$TMP/log"; echo "hearth serve exited early" >&2; exit 1; }
    sleep 0.1
done
grep -q "listening on https://" "$TMP/log" && ok "the log says https" || fail "no https in the log"

code=$(curl -s -o /dev/null -w '%{http_code} %{http_version}' --cacert "$TMP/a/cert.pem" "$URL/health" || true)
[ "$code" = "200 1.1" ] && ok "curl --cacert: /health 200 over HTTP/1.1" || fail "/health: $code"

rc=0
curl -s -o /dev/null "$URL/health" || rc=$?
[ "$rc" = 60 ] && ok "curl without the certificate refuses it (exit 60)" || fail "unverified curl exit $rc"

verbose=$(curl -sv -o /dev/null --cacert "$TMP/a/cert.pem" "$URL/health" 2>&1 || true)
grep -q "ALPN: server accepted http/1.1" <<<"$verbose" && ok "ALPN http/1.1" || fail "ALPN: $(grep ALPN <<<"$verbose")"

rc=0
curl -s -o /dev/null --cacert "$TMP/a/cert.pem" --tlsv1.0 --tls-max 1.1 --ciphers 'DEFAULT:@SECLEVEL=0' "$URL/health" || rc=$?
[ "$rc" = 35 ] && ok "TLS 1.1 refused (curl exit 35)" || fail "TLS 1.1: curl exit $rc"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TMP/a/cert.pem" --tlsv1.2 --tls-max 1.2 "$URL/health" || true)
[ "$code" = 200 ] && ok "TLS 1.2 accepted" || fail "TLS 1.2: $code"

plain=$(curl -s -m 10 -w ' %{http_code}' "http://127.0.0.1:$PORT/health" || true)
[[ "$plain" == *"https://"*" 400" ]] && ok "plain HTTP gets 400: ${plain:0:100}" || fail "plain HTTP: $plain"

models=$(curl -s --cacert "$TMP/a/cert.pem" -H "Authorization: Bearer $KEY" "$URL/v1/models" || true)
[[ "$models" == *stories260K* ]] && ok "/v1/models with a key" || fail "/v1/models: $models"

stream=$(curl -sN --cacert "$TMP/a/cert.pem" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"model":"stories260K","stream":true,"max_tokens":12,"messages":[{"role":"user","content":"Once upon a time"}]}' \
    "$URL/v1/chat/completions" || true)
events=$(grep -c '^data: {' <<<"$stream" || true)
[ "$events" -ge 3 ] && grep -q '^data: \[DONE\]' <<<"$stream" && ok "streamed chat completion: $events events and [DONE]" \
    || fail "stream: $stream"

doctor=$(HEARTH_TLS_CERT="$TMP/a/cert.pem" HEARTH_TLS_KEY="$TMP/a/key.pem" "$BIN" doctor --json \
    --port "$PORT" --env-file /dev/null --models-dir "$TMP" 2>/dev/null || true)
python3 - "$doctor" <<'PY' && ok "doctor: the TLS files load and the port is this hearth" || fail "doctor: $doctor"
import json, sys
checks = {c["name"]: c for c in json.loads(sys.argv[1])["checks"]}
assert checks["tls"]["status"] == "ok", checks["tls"]
assert "answering /health" in checks["port"]["detail"], checks["port"]
PY
doctor=$(HEARTH_TLS_CERT="$TMP/a/cert.pem" HEARTH_TLS_KEY="$TMP/b/key.pem" "$BIN" doctor --json \
    --port "$PORT" --env-file /dev/null --models-dir "$TMP" 2>/dev/null || true)
python3 - "$doctor" <<'PY' && ok "doctor: a key of another certificate fails" || fail "doctor (bad key): $doctor"
import json, sys
checks = {c["name"]: c for c in json.loads(sys.argv[1])["checks"]}
assert checks["tls"]["status"] == "fail" and "does not belong" in checks["tls"]["detail"], checks["tls"]
PY

# ---- the OpenAI node SDK trusting the certificate -------------------------------------------
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    (cd "$ROOT/tests/clients" && { [ -d node_modules/openai ] || npm ci --no-audit --no-fund --loglevel=error; })
    sdk() {
        (cd "$ROOT/tests/clients" && node --input-type=module -e '
import OpenAI from "openai";
const client = new OpenAI({ baseURL: process.env.BASE, apiKey: process.env.KEY, maxRetries: 0 });
try {
  const stream = await client.chat.completions.create({ model: "stories260K", max_tokens: 8, stream: true,
    messages: [{ role: "user", content: "Once upon a time" }] });
  let chunks = 0;
  for await (const c of stream) chunks++;
  console.log(`chunks ${chunks}`);
} catch (e) {
  const why = [];  // the TLS error code sits at the end of the cause chain
  for (let c = e; c; c = c.cause) why.push(c.code ?? c.message);
  console.log(`error ${why.join(" <- ")}`);
}
' 2>&1)
    }
    out=$(BASE="$URL/v1" KEY="$KEY" NODE_EXTRA_CA_CERTS="$TMP/a/cert.pem" sdk)
    [[ "$out" =~ ^chunks\ ([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 2 ] && ok "openai SDK with NODE_EXTRA_CA_CERTS: $out" \
        || fail "openai SDK: $out"
    out=$(BASE="$URL/v1" KEY="$KEY" sdk)
    [[ "$out" == *SELF_SIGNED* ]] && ok "openai SDK without the CA refuses the certificate: $out" || fail "SDK without CA: $out"
else
    echo "skip the OpenAI node SDK check (no node)"
fi

# ---- SIGHUP loads a new certificate ---------------------------------------------------------
cp "$TMP/b/cert.pem" "$TMP/cert.pem"
cp "$TMP/b/key.pem" "$TMP/key.pem"
kill -HUP "$SERVER"
for _ in $(seq 50); do grep -q "reloaded the TLS certificate" "$TMP/log" && break; sleep 0.1; done
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TMP/b/cert.pem" "$URL/health" || true)
[ "$code" = 200 ] && ok "after SIGHUP the new certificate is served" || fail "after SIGHUP: $code"
rc=0
curl -s -o /dev/null --cacert "$TMP/a/cert.pem" "$URL/health" || rc=$?
[ "$rc" = 60 ] && ok "the old certificate is gone" || fail "old certificate after SIGHUP: curl exit $rc"
echo "garbage" >"$TMP/cert.pem"
kill -HUP "$SERVER"
for _ in $(seq 50); do grep -q "still serving the previous certificate" "$TMP/log" && break; sleep 0.1; done
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TMP/b/cert.pem" "$URL/health" || true)
grep -q "still serving the previous certificate" "$TMP/log" && [ "$code" = 200 ] \
    && ok "an unusable new certificate is logged and the old one stays" || fail "bad reload: $code"
kill -0 "$SERVER" 2>/dev/null && ok "the server is still up" || fail "the server died"

if [ "$failures" -ne 0 ]; then
    echo "--- server log"
    cat "$TMP/log"
    echo "$failures check(s) failed"
    exit 1
fi
echo "all TLS checks passed"

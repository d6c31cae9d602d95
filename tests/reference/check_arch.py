#!/usr/bin/python3
"""Checks hearth's forward pass for one architecture against the numpy reference (models.py).

Runs `arch_tool check ARCH DIR N_CTX TYPE` (which synthesizes the model in that weight type and
writes hearth's logits or embeddings), computes the same from the GGUF file with the reference
(which dequantizes Q8_0 / Q4_K / Q6_K blocks itself, gguf_reader.py), and fails when the maximum
relative error (|difference| / max |reference|) exceeds the tolerance.

For a quantized TYPE it also reports how far hearth's quantized outputs are from hearth's F32
outputs of the same model (the "tracks F32" figure); that is reported, not checked.

--perturb changes one reference weight by 1% (--perturb-expert: layer 0's experts' down
projections; --flip-renormalisation: the top-k routing weights renormalised or not; gpt-oss:
--drop-sinks: the reference without attention sinks, --swiglu-limit X: its SwiGLU clamped at X
instead of 7; rerankers: --single-segment, segment B's token type ignored), --mutate NAME swaps in a broken dequantizer (see MUTATIONS); either then expects
the check to fail (exit 0 only if it does), to show that the comparison notices the difference.
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
import gguf_reader  # noqa: E402


def relative_error(got, want):
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


# Quantized weights: hearth converts activations to 8 bits (Q8_0 blocks for Q8_0 weights, Q8_K
# for Q4_K / Q6_K) before its integer dot products, the reference does not, so they cannot agree
# to 1e-4. Largest relative error measured over every output of the check (seed 42, the tiny
# preset) at HEARTH_CPU=scalar, avx2 and avx512; the spread between levels was under 15%. The
# tolerance is twice that, rounded up to two significant digits (tolerance()). A broken
# dequantizer (MUTATIONS) gives errors of 0.35 to 3.7. With the reference's activations quantized
# as hearth does (--model-activations) 7 of the 18 pairs agree to 3e-7; the others differ by an
# 8-bit activation rounding the other way at a tie, which these sharp random models amplify.
MEASURED = {
    ("llama", "Q8_0"): 0.0441, ("llama", "Q4_K_M"): 0.0462,
    ("qwen2", "Q8_0"): 0.0469, ("qwen2", "Q4_K_M"): 0.0594,
    ("qwen3", "Q8_0"): 0.0187, ("qwen3", "Q4_K_M"): 0.0290,
    ("phi3", "Q8_0"): 0.0341, ("phi3", "Q4_K_M"): 0.0485,
    ("gemma", "Q8_0"): 0.00412, ("gemma", "Q4_K_M"): 0.00463,
    ("gemma2", "Q8_0"): 0.0488, ("gemma2", "Q4_K_M"): 0.0659,
    ("gemma3", "Q8_0"): 0.00833, ("gemma3", "Q4_K_M"): 0.00709,
    ("bert", "Q8_0"): 0.0192, ("bert", "Q4_K_M"): 0.0253,
    ("nomic-bert", "Q8_0"): 0.0719, ("nomic-bert", "Q4_K_M"): 0.128,
    # A reranker's four scores (bert-reranker-tiny): each is one logit summed from many terms
    # that largely cancel, so the activations' 8-bit rounding weighs more than in a vector; the
    # same at all three levels.
    ("bert-reranker", "Q8_0"): 0.111, ("bert-reranker", "Q4_K_M"): 0.0748,
    # Mixture of experts, their tiny presets (rows of 32 / 64: Q8_0 only); the same at all
    # three levels. The router stays F32, so the experts chosen are the reference's.
    ("qwen3moe", "Q8_0"): 0.0151, ("qwen2moe", "Q8_0"): 0.0529,
    ("olmoe", "Q8_0"): 0.0237, ("mixtral", "Q8_0"): 0.0364,
    # gpt-oss-tiny (its gate and up cross the SwiGLU clamp): 0.0932 scalar, 0.092 AVX2 / AVX-512.
    ("gpt-oss", "Q8_0"): 0.0932,
    # llama.cpp's MXFP4_MOE recipe: experts MXFP4 (activations as Q8_0), the rest Q8_0; the
    # same at all three levels. (hearth MXFP4_MOE against hearth F32 differs by 0.34 / 0.45.)
    ("qwen3moe", "MXFP4_MOE"): 0.0148, ("gpt-oss", "MXFP4_MOE"): 0.0446,
}


def tolerance(arch, type_name):
    """Twice the measured error, rounded up to two significant digits (0.0882 -> 0.089)."""
    doubled = 2 * MEASURED[(arch, type_name)]
    unit = 10 ** (math.floor(math.log10(doubled)) - 1)
    return math.ceil(doubled / unit - 1e-9) * unit


# Plausible dequantization mistakes; each must make the check fail.
def _q4_k_scales_without_high_bits(packed):
    """Sub-blocks 4-7 lose the 2 high bits of their scales and mins."""
    scales = np.concatenate([packed[:, 0:4] & 63, packed[:, 8:12] & 15], axis=1)
    mins = np.concatenate([packed[:, 4:8] & 63, packed[:, 8:12] >> 4], axis=1)
    return scales.astype(np.float64), mins.astype(np.float64)


def _q4_k_nibbles_swapped(qs):
    groups = qs.reshape(-1, 4, 32)
    return np.stack([groups >> 4, groups & 15], axis=2).reshape(-1, 8, 32).astype(np.float64)


def _q6_k_scales_interleaved(raw):
    return np.tile(np.ascontiguousarray(raw).view(np.int8).astype(np.float64), 16)


def _mxfp4_nibbles_swapped(qs):
    return np.concatenate([qs >> 4, qs & 15], axis=1)


def _q8_0_unsigned(raw):
    blocks = raw.reshape(-1, 34)
    return (gguf_reader._f16(blocks[:, :2]) * blocks[:, 2:].astype(np.float64)).reshape(-1)


MUTATIONS = {
    "q4_k-scale-high-bits": ("q4_k_scales_mins", _q4_k_scales_without_high_bits),
    "q4_k-nibble-order": ("q4_k_quants", _q4_k_nibbles_swapped),
    "q6_k-scale-order": ("q6_k_scales", _q6_k_scales_interleaved),
    "q8_0-unsigned": ("dequantize_q8_0", _q8_0_unsigned),
    "mxfp4-nibble-order": ("mxfp4_codes", _mxfp4_nibbles_swapped),
}


def quantize_activations(x, block, scale_dtype):
    """What hearth's dot products see of an activation row: blocks of `block` values as
    d * round(x / d) with d = max |x| / 127 (rounded to scale_dtype) and 8-bit integers. Q8_0 for
    Q8_0 weights (32-blocks, f16 d), Q8_K for Q4_K / Q6_K (256-blocks, f32 d)."""
    blocks = x.astype(np.float32).reshape(-1, block)
    d = np.abs(blocks).max(axis=1, keepdims=True) / np.float32(127)
    inverse = np.divide(np.float32(1), d, out=np.zeros_like(d), where=d > 0)
    q = np.rint(blocks * inverse)  # ties are measure-zero for these random inputs
    return (q * d.astype(scale_dtype).astype(np.float64)).reshape(x.shape)


ACTIVATION_BLOCKS = {"Q8_0": (32, np.float16), "Q4_K": (256, np.float32), "Q6_K": (256, np.float32),
                     "MXFP4": (32, np.float16)}


def model_activation_quantization(config):
    """Makes models.linear quantize its input as hearth does for the weight's type."""
    weight_types = {id(config.g.tensors[name]): t for name, t in config.g.types.items()}
    plain_linear = models.linear

    def linear(x, w, b=None):
        block = ACTIVATION_BLOCKS.get(weight_types[id(w)])
        return plain_linear(quantize_activations(x, *block) if block else x, w, b)

    models.linear = linear


def hearth_outputs(args, type_name):
    """Runs arch_tool for the weight type; returns the path stem of its files."""
    subprocess.run([args.tool, "check", args.arch, args.dir, str(args.n_ctx), type_name], check=True)
    return os.path.join(args.dir, args.arch + ("" if type_name == "F32" else "-" + type_name))


def read_outputs(base, is_encoder, shape=None):
    if is_encoder == "reranker":
        return {"rerank scores": np.fromfile(base + ".rank.f32", dtype=np.float32)}
    if is_encoder:
        return {kind: np.fromfile(f"{base}.{kind}.f32", dtype=np.float32) for kind in ("mean", "cls")}
    logits = np.fromfile(base + ".logits.f32", dtype=np.float32)
    return {"logits": logits.reshape(shape) if shape else logits,
            "last-token embedding": np.fromfile(base + ".last.f32", dtype=np.float32)}


def type_mix(g):
    counts = {}
    for t in g.types.values():
        counts[t] = counts.get(t, 0) + 1
    return ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    parser.add_argument("--arch", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--n-ctx", type=int, default=0, help="context hearth loads the model for")
    parser.add_argument("--type", default="F32", help="weight type or recipe: F32, Q8_0, Q4_K_M")
    parser.add_argument("--tolerance", type=float,
                        help="default: 1e-4 for F32, tolerance(arch, type) for quantized types")
    parser.add_argument("--model-activations", action="store_true",
                        help="quantize the reference's activations as hearth does (8-bit blocks)")
    parser.add_argument("--perturb", action="store_true")
    parser.add_argument("--perturb-expert", action="store_true",
                        help="like --perturb, on layer 0's experts' down projections (MoE)")
    parser.add_argument("--flip-renormalisation", action="store_true",
                        help="the reference renormalises the top-k weights where hearth does not, "
                             "or the reverse; expects a failure (MoE)")
    parser.add_argument("--drop-sinks", action="store_true",
                        help="the reference ignores gpt-oss's attention sinks; expects a failure")
    parser.add_argument("--swiglu-limit", type=float,
                        help="the reference clamps gpt-oss's SwiGLU at this limit instead of 7; "
                             "expects a failure")
    parser.add_argument("--single-segment", action="store_true",
                        help="the reference gives a reranker's second text segment A's token "
                             "type; expects a failure")
    parser.add_argument("--mutate", choices=sorted(MUTATIONS))
    parser.add_argument("--hearth", help="also check `hearth embed --tokens` (encoders)")
    args = parser.parse_args()

    if args.tolerance is None:
        args.tolerance = 1e-4 if args.type == "F32" else tolerance(args.arch, args.type)
    os.makedirs(args.dir, exist_ok=True)
    base = hearth_outputs(args, args.type)
    if args.mutate:
        function, broken = MUTATIONS[args.mutate]
        setattr(gguf_reader, function, broken)
    config = models.Config(gguf_reader.GGUF(base + ".gguf"), n_ctx=args.n_ctx)
    print(f"{args.arch} {args.type}: tensors {type_mix(config.g)}")
    if args.model_activations:
        model_activation_quantization(config)
    if args.perturb:
        name = "blk.0.attn_v.weight" if config.has("blk.0.attn_v.weight") else "blk.0.attn_qkv.weight"
        config.g.tensors[name] = config.g.tensors[name] * 1.01
    if args.perturb_expert:
        name = "blk.0.ffn_down_exps.weight"
        config.g.tensors[name] = config.g.tensors[name] * 1.01
    if args.flip_renormalisation:
        renormalise = config("expert_weights_norm", models.NORM_TOPK_PROB[config.arch])
        config.g.metadata[f"{config.arch}.expert_weights_norm"] = not renormalise
    if args.drop_sinks:
        for name in [n for n in config.g.tensors if n.endswith("attn_sinks.weight")]:
            config.g.tensors[name] = np.full_like(config.g.tensors[name], -np.inf)
    if args.swiglu_limit is not None:
        models.SWIGLU_LIMIT = args.swiglu_limit
    models.SINGLE_SEGMENT = args.single_segment
    tokens = [int(t) for t in open(base + ".tokens.txt").read().split()]

    encoder = config.arch in ("bert", "nomic-bert")
    if encoder and config.has("cls.output.weight"):
        encoder = "reranker"
        seconds = [int(line) for line in open(base + ".pairs.txt").read().split()]
        want = np.array([models.rerank_score(config, tokens, second) for second in seconds])
        results = {"rerank scores": (read_outputs(base, encoder)["rerank scores"], want)}
        print(f"{args.arch}: reference scores {np.round(want, 4).tolist()}")
    elif encoder:
        want = models.embeddings(config, tokens)
        got = read_outputs(base, True)
        results = {kind: (got[kind], want[kind]) for kind in want}
        if args.hearth:
            ids = ",".join(str(t) for t in tokens)
            out = subprocess.run([args.hearth, "embed", base + ".gguf", "--tokens", ids, "--pooling", "mean"],
                                 check=True, capture_output=True, text=True).stdout
            results["cli mean"] = (np.array(json.loads(out.splitlines()[0])), want["mean"])
    else:
        want = models.logits(config, tokens)
        got = read_outputs(base, False, want.shape)
        results = {"logits": (got["logits"], want),
                   "last-token embedding": (got["last-token embedding"],
                                            models.last_token_embedding(config, tokens))}

    if args.type != "F32":
        f32 = read_outputs(hearth_outputs(args, "F32"), encoder)
        for kind, quantized in read_outputs(base, encoder).items():
            print(f"{args.arch} {kind}: hearth {args.type} vs hearth F32: max relative error "
                  f"{relative_error(quantized.reshape(-1), f32[kind]):.3g} (reported, not checked)")

    failed = False
    for kind, (got, want) in results.items():
        err = relative_error(got, want)
        ok = err <= args.tolerance
        failed |= not ok
        print(f"{args.arch} {args.type} {kind}: max relative error {err:.3g} vs reference "
              f"({'ok' if ok else 'FAIL'}, tolerance {args.tolerance:g})")
    changes = {"flipped renormalisation": args.flip_renormalisation, "dropped sinks": args.drop_sinks,
               f"SwiGLU limit {args.swiglu_limit}": args.swiglu_limit is not None,
               "perturbed weight": args.perturb or args.perturb_expert,
               "single segment": args.single_segment}
    if args.mutate or any(changes.values()):
        what = args.mutate or next(name for name, on in changes.items() if on)
        print(f"{what}: " + ("detected" if failed else "NOT detected"))
        return 0 if failed else 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

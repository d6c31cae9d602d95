#!/usr/bin/env python3
"""Writes a vocab-only GGUF (no tensors) from a Hugging Face tokenizer.json + tokenizer_config.json.

Written for hearth's tokenizer tests from the GGUF specification (little-endian, version 3) and
the tokenizer.ggml.* key meanings the reference engine's files use; it shares no code with hearth.

Two kinds of tokenizer.json are understood:
  --model gpt2   byte-level BPE (Llama 3, Qwen, o200k): tokens and merges are copied as they are.
  --model llama  SentencePiece BPE with byte fallback, as Hugging Face exports it (Gemma 3): the
                 GGUF wants a score per piece instead of a merge list; a piece's score is minus
                 the rank of the first merge that builds it, so "highest score merges first" picks
                 the same pair as "lowest merge rank first".

Usage: tokenizer_json_to_gguf.py --model gpt2 --pre llama-bpe [--added-tokens JSON] DIR OUT.gguf
DIR holds tokenizer.json and tokenizer_config.json; --added-tokens adds special tokens on top
(o200k_harmony's, to make gpt-oss's vocabulary from o200k_base's).
"""
import argparse
import json
import struct
import sys
from pathlib import Path

U8, I32, U32, F32, BOOL, STRING, ARRAY = 0, 5, 4, 6, 7, 8, 9
# tokenizer.ggml.token_type values
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def _string(s):
    raw = s.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _value(kind, value):
    if kind == STRING:
        return _string(value)
    if kind == BOOL:
        return struct.pack("<?", value)
    return struct.pack({U32: "<I", I32: "<i", F32: "<f"}[kind], value)


def write_gguf(path, metadata):
    """metadata: list of (key, kind, value); arrays are (key, (ARRAY, element kind), list)."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata)))
    for key, kind, value in metadata:
        out += _string(key)
        if isinstance(kind, tuple):
            element = kind[1]
            out += struct.pack("<IIQ", ARRAY, element, len(value))
            out += b"".join(_value(element, v) for v in value)
        else:
            out += struct.pack("<I", kind) + _value(kind, value)
    out += b"\0" * (-len(out) % 32)  # the (empty) data section starts aligned
    Path(path).write_bytes(out)


def looks_special(text):
    """Added tokens some models leave unmarked although they are control tokens."""
    return (text in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
            or (text.startswith("<|") and text.endswith("|>"))
            or (text.startswith("<\uff5c") and text.endswith("\uff5c>"))
            or (text.startswith("<unused") and text.endswith(">")))


def _merge_pair(merge):
    return merge if isinstance(merge, list) else merge.split(" ", 1)


def _special_id(config, tokens_by_text, name):
    token = config.get(name)
    if isinstance(token, dict):
        token = token.get("content")
    return tokens_by_text.get(token) if token else None


def convert(model, pre, directory, out, extra_added=()):
    tok = json.loads((directory / "tokenizer.json").read_text(encoding="utf-8"))
    config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    bpe = tok["model"]
    if bpe["type"] != "BPE":
        sys.exit(f"{directory}: model type {bpe['type']} is not BPE")

    texts = dict((i, t) for t, i in bpe["vocab"].items())
    types = dict((i, NORMAL) for i in texts)
    # Added tokens: tokenizer_config.json's list wins over tokenizer.json's, as in the reference
    # engine's files. Special ones (and ones that look special although a model forgot to mark
    # them) are control tokens; the others are user-defined, their "▁" stored as plain spaces.
    added_tokens = {a["id"]: a for a in tok["added_tokens"]}
    for i, a in config.get("added_tokens_decoder", {}).items():
        added_tokens[int(i)] = {"id": int(i), **a}
    for a in extra_added:
        added_tokens[a["id"]] = a
    scored_low = set()
    for i, added in added_tokens.items():
        content = added["content"]
        if added.get("special") or looks_special(content):
            texts[i], types[i] = content, CONTROL
        else:
            texts[i], types[i] = content.replace("\u2581", " "), USER_DEFINED
        scored_low.add(i)
    n = max(texts) + 1
    for i in range(n):  # ids the file leaves unassigned become unused placeholders
        if i not in texts:
            texts[i], types[i] = f"[PAD{i}]", UNUSED
    tokens = [texts[i] for i in range(n)]
    token_types = [types[i] for i in range(n)]
    tokens_by_text = {t: i for i, t in enumerate(tokens)}
    merges = [_merge_pair(m) for m in bpe.get("merges", [])]

    meta = [
        ("general.architecture", STRING, "llama"),
        ("general.name", STRING, directory.name),
        ("tokenizer.ggml.model", STRING, model),
    ]
    if pre:
        meta.append(("tokenizer.ggml.pre", STRING, pre))
    meta.append(("tokenizer.ggml.tokens", (ARRAY, STRING), tokens))

    if model == "gpt2":
        meta.append(("tokenizer.ggml.merges", (ARRAY, STRING), [f"{a} {b}" for a, b in merges]))
    elif model == "llama":
        scores = [-1000.0 if i in scored_low else 0.0 for i in range(n)]
        built = set(scored_low)
        for rank, (a, b) in enumerate(merges):
            i = tokens_by_text.get(a + b)
            if i is not None and i not in built:
                built.add(i)
                scores[i] = -float(rank)
        for i, t in enumerate(tokens):
            if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
                token_types[i] = BYTE
        unk = bpe.get("unk_token")
        if unk in tokens_by_text:
            token_types[tokens_by_text[unk]] = UNKNOWN
            meta.append(("tokenizer.ggml.unknown_token_id", U32, tokens_by_text[unk]))
        meta.append(("tokenizer.ggml.scores", (ARRAY, F32), scores))
        meta.append(("tokenizer.ggml.add_space_prefix", BOOL, False))
    else:
        sys.exit(f"unknown --model {model}")
    meta.append(("tokenizer.ggml.token_type", (ARRAY, I32), token_types))

    for key, name in (("bos", "bos_token"), ("eos", "eos_token"), ("padding", "pad_token")):
        i = _special_id(config, tokens_by_text, name)
        if i is not None:
            meta.append((f"tokenizer.ggml.{key}_token_id", U32, i))
    # Whether a BOS is added: the config says so, or the post-processor template starts with one.
    post = json.dumps(tok.get("post_processor") or {})
    add_bos = config.get("add_bos_token")
    if add_bos is None:
        add_bos = '"SpecialToken"' in post and model == "gpt2" and "bos_token" in config
    meta.append(("tokenizer.ggml.add_bos_token", BOOL, bool(add_bos)))
    meta.append(("tokenizer.ggml.add_eos_token", BOOL, bool(config.get("add_eos_token", False))))
    write_gguf(out, meta)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=["gpt2", "llama"])
    parser.add_argument("--pre", default="", help="tokenizer.ggml.pre (byte-level BPE only)")
    parser.add_argument("--added-tokens", type=Path,
                        help="JSON list of {id, content, special} added on top of tokenizer.json's")
    parser.add_argument("directory", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    extra = json.loads(args.added_tokens.read_text(encoding="utf-8")) if args.added_tokens else []
    convert(args.model, args.pre, args.directory, args.out, extra)


if __name__ == "__main__":
    main()

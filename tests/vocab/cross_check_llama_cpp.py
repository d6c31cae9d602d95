#!/usr/bin/env python3
"""By-hand cross-check (not part of ctest): tokenizes every case of a .inp file with the reference
engine's llama-tokenize and compares with the matching .out, reporting agreement counts.

Usage: cross_check_llama_cpp.py LLAMA_TOKENIZE VOCAB.gguf CASES.inp EXPECTED.out
"""
import ast
import subprocess
import sys

SEPARATOR = "\n__ggml_vocab_test__\n"


def read_cases(path):
    text = open(path, encoding="utf-8", newline="").read()
    cases = text.split(SEPARATOR)
    if cases and cases[-1] == "":
        cases.pop()
    return cases


def main():
    tool, gguf, inp, out = sys.argv[1:5]
    cases = read_cases(inp)
    expected = [[int(x) for x in line.split()] for line in open(out, encoding="utf-8").read().splitlines()]
    agree = 0
    for i, (text, want) in enumerate(zip(cases, expected)):
        run = subprocess.run([tool, "-m", gguf, "--stdin", "--ids", "--no-bos", "--no-escape",
                              "--no-parse-special", "--log-disable"],
                             input=text.encode("utf-8"), capture_output=True, check=True)
        got = ast.literal_eval(run.stdout.decode().strip().splitlines()[-1])
        if got == want:
            agree += 1
        else:
            print(f"case {i} {text!r}\n  llama.cpp {got}\n  expected  {want}")
    print(f"{gguf}: llama-tokenize agrees on {agree}/{len(cases)} cases")
    return 0 if agree == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Independent check of hearth's structured output: each line of the input file is a JSON
object {"schema": ..., "output": "<generated text>"}; the output must parse as JSON and be
valid under the schema according to python3-jsonschema (Draft 2020-12). Prints every failure
and exits 1 if there was one."""
import json
import sys

import jsonschema


def main(path):
    failures = 0
    count = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            case = json.loads(line)
            count += 1
            try:
                value = json.loads(case["output"])
            except ValueError as e:
                failures += 1
                print(f"not JSON: {case['output']!r}: {e}")
                continue
            validator = jsonschema.Draft202012Validator(case["schema"])
            errors = list(validator.iter_errors(value))
            if errors:
                failures += 1
                print(f"invalid: {case['output']!r}: {errors[0].message}")
    print(f"{count} outputs, {failures} failures")
    return 1 if failures or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

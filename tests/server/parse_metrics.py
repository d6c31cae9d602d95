#!/usr/bin/env python3
"""Reads a /metrics exposition with the Prometheus project's parser (prometheus_client) and
checks what the text format requires of histograms; with a second argument (docs/OPERATIONS.md),
also that every family is documented there; with a third (a Grafana dashboard JSON), that every
hearth_* series its queries use is one the exposition has. Prints a one-line summary; exits 1
on a problem.

Usage: parse_metrics.py METRICS_FILE [OPERATIONS_MD [DASHBOARD_JSON]]
"""
import json
import math
import re
import sys

from prometheus_client.parser import text_string_to_metric_families


def check_histogram(family, problems):
    series = {}
    for s in family.samples:
        labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        entry = series.setdefault(labels, {"buckets": [], "sum": None, "count": None})
        if s.name.endswith("_bucket"):
            entry["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_sum"):
            entry["sum"] = s.value
        elif s.name.endswith("_count"):
            entry["count"] = s.value
    for labels, e in series.items():
        where = f"{family.name}{dict(labels)}"
        buckets = sorted(e["buckets"])
        if not buckets or not math.isinf(buckets[-1][0]):
            problems.append(f"{where}: no +Inf bucket")
            continue
        counts = [c for _, c in buckets]
        if counts != sorted(counts):
            problems.append(f"{where}: buckets are not cumulative: {counts}")
        if e["count"] is None or e["sum"] is None:
            problems.append(f"{where}: _sum or _count missing")
        elif buckets[-1][1] != e["count"]:
            problems.append(f"{where}: +Inf bucket {buckets[-1][1]} != count {e['count']}")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    families = list(text_string_to_metric_families(text))
    problems = []
    names = set()
    for family in families:
        names.add(family.name)
        if not family.name.startswith("hearth_"):
            problems.append(f"{family.name}: not in the hearth_ namespace")
        if family.type == "histogram":
            check_histogram(family, problems)
        if family.type == "unknown":
            problems.append(f"{family.name}: no TYPE line")
    if len(sys.argv) > 2:
        with open(sys.argv[2], encoding="utf-8") as f:
            docs = f.read()
        for family in families:
            # Counters are documented by their sample name (the parser drops _total).
            shown = family.name + ("_total" if family.type == "counter" else "")
            if f"`{shown}`" not in docs:
                problems.append(f"{shown}: not documented in {sys.argv[2]}")
    if len(sys.argv) > 3:
        with open(sys.argv[3], encoding="utf-8") as f:
            dashboard = json.load(f)
        exposed = {s.name for f in families for s in f.samples}
        queries = []

        def walk(node):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k in ("expr", "definition") and isinstance(v, str):
                        queries.append(v)
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(dashboard)
        if not queries:
            problems.append(f"{sys.argv[3]}: no queries")
        used = {name for q in queries for name in re.findall(r"hearth_[a-z0-9_]+", q)}
        for name in sorted(used - exposed):
            problems.append(f"the dashboard queries {name}, which /metrics does not have")
    for p in problems:
        print(p)
    print(f"{len(families)} families, {sum(len(f.samples) for f in families)} samples, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes deploy/grafana/hearth.json, the Grafana dashboard of hearth's /metrics series
(docs/OPERATIONS.md lists them). Edit this script, not the JSON, and run it from the repository
root: python3 deploy/grafana/make-dashboard.py. tests/server/test_metrics checks that every
series the dashboard queries is one the server exposes."""
import json
DS = {"type": "prometheus", "uid": "${datasource}"}
R = "[$__rate_interval]"
M = '{model=~"$model"}'
panels = []
y = 0
def panel(title, targets, unit, x, w=12, h=8, kind="timeseries", desc="", stack=False):
    p = {
        "id": len(panels) + 1, "type": kind, "title": title, "description": desc,
        "datasource": DS, "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [{"refId": chr(65 + i), "datasource": DS, "expr": e, "legendFormat": l}
                    for i, (e, l) in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
    }
    if kind == "timeseries":
        p["options"] = {"legend": {"displayMode": "list", "placement": "bottom"},
                        "tooltip": {"mode": "multi", "sort": "desc"}}
        if stack:
            p["fieldConfig"]["defaults"]["custom"] = {"stacking": {"mode": "normal"}, "fillOpacity": 20}
    else:
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "textMode": "value_and_name", "colorMode": "none"}
    panels.append(p)
def row(title):
    global y
    panels.append({"id": len(panels) + 1, "type": "row", "title": title, "collapsed": False,
                   "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
    y += 1
def quantiles(metric, by="model"):
    return [(f'histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{M}{R})))',
             f"{{{{{by}}}}} p{int(q*100)}") for q in (0.5, 0.95, 0.99)]

row("Traffic")
panel("Requests/s by API and status",
      [(f'sum by (api, status) (rate(hearth_requests_total{{api!="ops"}}{R}))', "{{api}} {{status}}")],
      "reqps", 0, desc="Every HTTP request but /health, /readyz and /metrics.")
panel("Tokens/s in and out",
      [(f"sum by (model) (rate(hearth_prompt_tokens_total{M}{R}))", "{{model}} in (prompt)"),
       (f"sum by (model) (rate(hearth_cached_prompt_tokens_total{M}{R}))", "{{model}} in, from cache"),
       (f"sum by (model) (rate(hearth_completion_tokens_total{M}{R}))", "{{model}} out")],
      "short", 12, desc="Tokens per second of generation requests.")
y += 8
panel("Generation requests/s by model and API",
      [(f"sum by (model, api) (rate(hearth_e2e_request_latency_seconds_count{M}{R}))", "{{model}} {{api}}")],
      "reqps", 0)
panel("Errors/s (4xx and 5xx)",
      [(f'sum by (status) (rate(hearth_requests_total{{status=~"4..|5.."}}{R}))', "{{status}}"),
       (f"sum by (model) (rate(hearth_cancelled_generations_total{M}{R}))", "{{model}} cancelled")],
      "reqps", 12)
y += 8
row("Latency")
panel("Time to first token (from prefill) p50/p95/p99", quantiles("hearth_time_to_first_token_seconds"),
      "s", 0, desc="From the start of the prompt's evaluation to the first token; queueing and loading apart.")
panel("Inter-token latency p50/p95/p99", quantiles("hearth_inter_token_latency_seconds"), "s", 12)
y += 8
panel("Queue wait p50/p95/p99", quantiles("hearth_queue_wait_seconds"), "s", 0,
      desc="Waiting for a free slot and KV blocks.")
panel("End-to-end latency p50/p95/p99", quantiles("hearth_e2e_request_latency_seconds"), "s", 12)
y += 8
row("Load")
panel("Running and waiting sequences",
      [(f"sum by (model) (hearth_active_sequences{M})", "{{model}} running"),
       (f"sum by (model) (hearth_queue_depth{M})", "{{model}} waiting")], "short", 0)
panel("KV cache blocks",
      [(f"sum by (model) (hearth_kv_blocks_used{M})", "{{model}} used"),
       (f"sum by (model) (hearth_kv_blocks_cached{M})", "{{model}} cached prefixes"),
       (f"sum by (model) (hearth_kv_blocks_total{M})", "{{model}} total")], "short", 12,
      desc="32-token blocks: running sequences, idle slots' cached prefixes, and the pool.")
y += 8
row("Machine")
panel("Memory",
      [(f"sum by (model) (hearth_model_memory_bytes{M})", "{{model}} weights + KV"),
       ("hearth_process_resident_memory_bytes", "hearth resident"),
       ('hearth_host_memory_bytes{state="available"}', "host available")], "bytes", 0, w=8)
panel("CPU",
      [(f"rate(hearth_process_cpu_seconds_total{R})", "hearth (cores)"),
       (f'hearth_host_cpus - sum(rate(hearth_host_cpu_seconds_total{{mode=~"idle|iowait"}}{R}))', "host busy (cores)"),
       ("hearth_host_cpus", "host CPUs"), ("hearth_cpu_threads", "compute threads (budget)")],
      "short", 8, w=8)
panel("Threads", [("hearth_process_threads", "hearth threads")], "short", 16, w=8)
y += 8
panel("SIMD level", [("hearth_cpu_info", "{{simd}} (AMX {{amx}})")], "none", 0, w=6, h=4, kind="stat")
panel("Models loaded", [("hearth_models_loaded", "loaded")], "none", 6, w=6, h=4, kind="stat")
panel("Model idle", [(f"hearth_model_idle_seconds{M}", "{{model}}")], "s", 12, w=6, h=4, kind="stat")
panel("Model loads p95", [(f"histogram_quantile(0.95, sum by (le, model) (rate(hearth_model_load_seconds_bucket{M}[1h])))", "{{model}}")],
      "s", 18, w=6, h=4, kind="stat")

dash = {
    "title": "hearth", "uid": "hearth-overview", "description":
    "hearth LLM server: traffic, latency per model, load, machine (docs/OPERATIONS.md lists the series).",
    "tags": ["hearth", "llm"], "timezone": "browser", "editable": True, "graphTooltip": 1,
    "schemaVersion": 39, "version": 1, "refresh": "10s",
    "time": {"from": "now-1h", "to": "now"},
    "annotations": {"list": []},
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0},
        {"name": "model", "label": "Model", "type": "query", "datasource": DS,
         "query": {"query": "label_values(hearth_prompt_tokens_total, model)", "refId": "models"},
         "definition": "label_values(hearth_prompt_tokens_total, model)",
         "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*",
         "current": {"text": "All", "value": "$__all"}, "hide": 0, "sort": 1},
    ]},
    "panels": panels,
}
with open("deploy/grafana/hearth.json", "w") as f:
    json.dump(dash, f, indent=2)
    f.write("\n")
print(len(panels), "panels")

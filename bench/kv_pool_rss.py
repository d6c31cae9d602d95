#!/usr/bin/env python3
"""Resident memory of `hearth serve` against the tokens its KV pool holds (issue #19, item 1).

Starts `hearth serve` on MODEL with --parallel STREAMS, loads the model with a tiny request, then
sends STREAMS concurrent completions of distinct LONG-token prompts (token ids, so any model
works, random-weight `hearth synth` models included; no shared prefixes) generating TOKENS
each, and reads the server's VmRSS / VmHWM (/proc/PID/status) at each stage. The goal:
RSS <= weights + tokens held x KV bytes per token + 64 MiB. Weights and the pool's size come
from the server's load log line.

  bench/kv_pool_rss.py build/hearth MODEL.gguf [--long 8192] [--streams 8] [--kv-type f16]
                       [--kv-budget 8G] [--tokens 8] [--threads 2]
"""
import argparse, json, re, socket, subprocess, sys, tempfile, threading, time, http.client

MiB = 1048576.0


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


def post(port, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=7200)
    conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    res = conn.getresponse(); data = res.read(); conn.close()
    if res.status != 200: sys.exit(f"request failed: {res.status} {data[:300]}")
    return json.loads(data)


def memory(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"): fields[key] = int(value.split()[0]) * 1024
    return fields


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hearth"); ap.add_argument("model")
    ap.add_argument("--long", type=int, default=8192, help="prompt tokens per stream")
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=8, help="tokens each stream generates")
    ap.add_argument("--kv-type", default="f16")
    ap.add_argument("--kv-budget", default="", help="--kv-budget (default: the server's)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="kv_pool_rss", suffix=".log")
    cmd = [a.hearth, "serve", "--model", a.model, "--port", str(port), "--threads", str(a.threads),
           "--parallel", str(a.streams), "--ctx-size", str(a.long + a.tokens + 32), "--kv-type",
           a.kv_type, "--env-file", "/dev/null"]
    if a.kv_budget: cmd += ["--kv-budget", a.kv_budget]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    try:
        for _ in range(600):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1); c.request("GET", "/health")
                if c.getresponse().status == 200: break
            except OSError:
                time.sleep(0.1)
        start = memory(server.pid)
        post(port, {"prompt": [10, 11, 12], "max_tokens": 2})  # loads the model, touches the weights
        loaded = memory(server.pid)
        text = open(log.name).read()
        m = re.search(r"\(([\d.]+) MiB of weights; KV pool of (\d+) tokens, ([\d.]+) MiB", text)
        if not m: sys.exit("no load line in the server's log:\n" + text)
        weights, pool_tokens, pool_bytes = float(m[1]) * MiB, int(m[2]), float(m[3]) * MiB
        per_token = pool_bytes / pool_tokens

        t0 = time.perf_counter()
        def one(i):
            prompt = [(i * 7919 + k * 104729) % 30000 + 100 for k in range(a.long)]
            post(port, {"prompt": prompt, "max_tokens": a.tokens, "ignore_eos": True, "temperature": 0})
        threads = [threading.Thread(target=one, args=(i,)) for i in range(a.streams)]
        for t in threads: t.start()
        for t in threads: t.join()
        seconds = time.perf_counter() - t0
        after = memory(server.pid)
        held = a.streams * (a.long + a.tokens)  # the idle slots keep them as cached prefixes
        goal = weights + held * per_token + 64 * MiB
        print(f"model {a.model}, kv {a.kv_type}, {a.streams} x {a.long}-token prompts + {a.tokens} "
              f"generated ({seconds:.0f} s), {a.threads} threads")
        print(f"weights {weights/MiB:.1f} MiB; pool {pool_tokens} tokens = {pool_bytes/MiB:.1f} MiB "
              f"reserved; {per_token/1024:.1f} KiB per token; tokens held {held} = "
              f"{held*per_token/MiB:.1f} MiB")
        print("| stage | VmRSS (MiB) |")
        print("|---|---:|")
        print(f"| started | {start['VmRSS']/MiB:.1f} |")
        print(f"| model loaded (pool reserved, empty) | {loaded['VmRSS']/MiB:.1f} |")
        print(f"| after the requests (tokens held) | {after['VmRSS']/MiB:.1f} |")
        print(f"| peak (VmHWM) | {after['VmHWM']/MiB:.1f} |")
        print(f"goal: weights + tokens held x bytes per token + 64 MiB = {goal/MiB:.1f} MiB: "
              f"{'met' if after['VmHWM'] <= goal else 'NOT met'} by the peak "
              f"({(after['VmHWM'] - goal)/MiB:+.1f} MiB)")
    finally:
        server.terminate(); server.wait()


if __name__ == "__main__":
    sys.exit(main())

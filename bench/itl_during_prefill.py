#!/usr/bin/env python3
"""Inter-token latency of short streams while a long prompt is prefilled (issue #19, item 4).

Starts `hearth serve` on MODEL, then measures, for STREAMS concurrent streamed completions:
  1. during prefill: streams started just before a LONG-token prompt is sent, counting only
     the gaps that end while that prompt is still being evaluated;
  2. alone: the same streams with nothing else running, over the same token indices (a decode
     step's time grows with the tokens the streams already hold, so depths must match).
Prints p50 / p99 / max of both and their ratio (the goal: p99 during prefill < 2x alone).
Prompts are token ids, so any model works (random-weight `hearth synth` models included).

  bench/itl_during_prefill.py build/hearth MODEL.gguf [--long 8192] [--streams 4] [--threads 2]
                                [--kv-type f16]
"""
import argparse, json, os, socket, subprocess, sys, threading, time, http.client


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


def post(port, body, on_line=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    res = conn.getresponse()
    if on_line is None:
        data = res.read(); conn.close(); return json.loads(data)
    for raw in res:
        line = raw.decode().strip()
        if line.startswith("data: ") and line != "data: [DONE]":
            on_line(time.perf_counter())
    conn.close()


def stream_gaps(port, prompt, tokens, gaps, lock):
    times = []
    post(port, {"prompt": prompt, "max_tokens": tokens, "stream": True, "logprobs": 0,
                "ignore_eos": True, "temperature": 0}, on_line=times.append)
    with lock:
        # (when the gap ended, the index of the token it ended with, the gap)
        gaps.extend((b, i + 1, b - a) for i, (a, b) in enumerate(zip(times, times[1:])))


def run_streams(port, n, tokens, offset):
    gaps, lock, threads = [], threading.Lock(), []
    for i in range(n):
        prompt = [(offset + 17 * i + k) % 1000 + 10 for k in range(16)]
        t = threading.Thread(target=stream_gaps, args=(port, prompt, tokens, gaps, lock))
        t.start(); threads.append(t)
    return gaps, threads


def percentiles(values):
    v = sorted(values)
    pick = lambda q: v[min(len(v) - 1, int(q * len(v)))]
    return pick(0.5), pick(0.99), v[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hearth"); ap.add_argument("model")
    ap.add_argument("--long", type=int, default=8192)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--during-tokens", type=int, default=2048,
                    help="tokens each stream generates in the second run (must outlast the prefill)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kv-type", default="f16", help="the server's --kv-type")
    a = ap.parse_args()
    port = free_port()
    server = subprocess.Popen([a.hearth, "serve", "--model", a.model, "--port", str(port), "--threads",
                               str(a.threads), "--parallel", str(a.streams + 1), "--ctx-size",
                               str(max(a.long, a.during_tokens) + 64), "--kv-type", a.kv_type,
                               "--env-file", "/dev/null"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1); c.request("GET", "/health")
                if c.getresponse().status == 200: break
            except OSError:
                time.sleep(0.1)
        post(port, {"prompt": [10, 11, 12], "max_tokens": 2})  # loads the model

        # The streams start first; the long prompt arrives while they generate. Only the gaps
        # that end while it is being evaluated count.
        done = {}
        def long_prompt():
            done["start"] = time.perf_counter()
            post(port, {"prompt": [(k * 7919) % 1000 + 10 for k in range(a.long)], "max_tokens": 1})
            done["end"] = time.perf_counter(); done["seconds"] = done["end"] - done["start"]
        gaps, threads = run_streams(port, a.streams, a.during_tokens, 500)
        time.sleep(1.0)
        lt = threading.Thread(target=long_prompt); lt.start()
        lt.join()
        for t in threads: t.join()
        during_gaps = [(i, g) for at, i, g in gaps if done["start"] < at <= done["end"]]
        if not during_gaps:
            sys.exit("the streams ended before the long prompt: raise --during-tokens")
        during = [g for _, g in during_gaps]
        # Alone: the same streams without the long prompt, over the same token indices (a
        # token's gap grows with the tokens already cached before it, so the baseline must be
        # taken at the same depths).
        first = min(i for i, _ in during_gaps); last = max(i for i, _ in during_gaps)
        gaps, threads = run_streams(port, a.streams, last + 1, 500)
        for t in threads: t.join()
        alone = [g for _, i, g in gaps if first <= i <= last]
        p_alone, p_during = percentiles(alone), percentiles(during)
        print(f"model {os.path.basename(a.model)}, {a.threads} threads, {a.streams} streams, "
              f"prompt of {a.long} tokens prefilled in {done['seconds']:.1f} s; gaps of the "
              f"streams' tokens {first} to {last}")
        print("| ITL (ms) | p50 | p99 | max | gaps |")
        print("|---|---|---|---|---|")
        print(f"| alone | {p_alone[0]*1e3:.1f} | {p_alone[1]*1e3:.1f} | {p_alone[2]*1e3:.1f} | {len(alone)} |")
        print(f"| during the prefill | {p_during[0]*1e3:.1f} | {p_during[1]*1e3:.1f} | {p_during[2]*1e3:.1f} | {len(during)} |")
        print(f"p99 ratio during/alone: {p_during[1]/p_alone[1]:.2f}")
    finally:
        server.terminate(); server.wait()


if __name__ == "__main__":
    sys.exit(main())

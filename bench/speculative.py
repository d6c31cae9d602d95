#!/usr/bin/env python3
"""Speculative decoding speed-up (issue #19, item 6): greedy tokens/s with and without drafting.

Starts `hearth serve` on MODEL once per configuration (plain; each --config's extra serve
flags, e.g. "--draft-model DRAFT.gguf" or "--lookup-draft 8"), sends the same greedy completion
(streamed, ignore_eos) REPEAT times, and prints per configuration: decode tokens/s (first
streamed token to the last, so prompt evaluation is left out), drafted and kept tokens from
/metrics (hearth_draft_tokens_total) and the acceptance rate. It checks every configuration's
text equals the plain one's (speculation must not change greedy output).

  bench/speculative.py build/hearth MODEL.gguf --config "--draft-model DRAFT.gguf" \
      [--prompt TEXT] [--tokens 128] [--threads 2] [--repeat 3]
"""
import argparse, json, shlex, socket, subprocess, sys, time, http.client


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


def stream(port, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    res = conn.getresponse()
    if res.status != 200:
        raise SystemExit(f"HTTP {res.status}: {res.read().decode()}")
    times, text = [], ""
    for raw in res:
        line = raw.decode().strip()
        if line.startswith("data: ") and line != "data: [DONE]":
            chunk = json.loads(line[6:])
            if chunk["choices"] and chunk["choices"][0].get("text"):
                times.append(time.perf_counter())
                text += chunk["choices"][0]["text"]
    conn.close()
    return times, text


def draft_counts(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/metrics")
    counts = {"proposed": 0, "accepted": 0}
    for line in conn.getresponse().read().decode().splitlines():
        if line.startswith("hearth_draft_tokens_total{"):
            for outcome in counts:
                if f'outcome="{outcome}"' in line:
                    counts[outcome] += int(float(line.split()[-1]))
    conn.close()
    return counts


def run(args, extra):
    port = free_port()
    cmd = [args.hearth, "serve", "--model", args.model, "--port", str(port), "--parallel", "1",
           "--threads", str(args.threads), "--ctx-size", str(args.ctx)] + shlex.split(extra)
    server = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close(); break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"serve failed: {server.stderr.read().decode()}")
                time.sleep(0.1)
        body = {"prompt": args.prompt, "max_tokens": args.tokens, "temperature": 0,
                "stream": True, "ignore_eos": True}
        stream(port, dict(body, max_tokens=4))  # load the model, warm the caches
        before = draft_counts(port)
        rates, text = [], None
        for _ in range(args.repeat):
            times, text = stream(port, body)
            # Chunks are text pieces; tokens = max_tokens (ignore_eos), spread over the chunks.
            rates.append((args.tokens - 1) / (times[-1] - times[0]))
        after = draft_counts(port)
        counts = {k: after[k] - before[k] for k in after}
        return sorted(rates)[len(rates) // 2], counts, text
    finally:
        server.terminate(); server.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("hearth"); p.add_argument("model")
    p.add_argument("--config", action="append", default=[], help="extra `hearth serve` flags")
    p.add_argument("--prompt", default="Once upon a time, there was a little girl named Lily. "
                   "She loved to play in the park with her friends. One day, Lily and her friends")
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    base_rate, _, base_text = run(args, "")
    print(f"plain: {base_rate:.2f} tokens/s")
    for extra in args.config:
        rate, counts, text = run(args, extra)
        kept = counts["accepted"] / counts["proposed"] if counts["proposed"] else 0
        same = "same text" if text == base_text else "TEXT DIFFERS"
        print(f"{extra}: {rate:.2f} tokens/s ({rate / base_rate:.2f}x), drafted "
              f"{counts['proposed']}, kept {counts['accepted']} ({kept:.0%}), {same}")
        if text != base_text:
            sys.exit(1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Aggregate decode throughput of one `hearth serve` process against `--workers N` (issue #24).

Starts the server on MODEL as one process (--threads: the CPU budget) and then as N workers
(each with its share of the CPUs, the default), sends STREAMS concurrent streamed completions
of TOKENS tokens each (token-id prompts, ignore_eos, so any model works, `hearth synth` ones
included), after a warm-up round that loads the model in every worker, and prints the
aggregate completion tokens per second (from each stream's usage chunk) over ROUNDS rounds.

On one NUMA node, workers share the same cores and memory bandwidth: expect about the same
aggregate as one process (one process batches all streams in one forward pass per step, N
workers batch a share each and split the cores). Workers pay off on multi-socket machines
with --workers auto (docs/OPERATIONS.md, "Workers").

  build/hearth synth 135m /tmp/135m.gguf --type Q4_K_M --vocab tests/data/vocab/ggml-vocab-llama-spm.gguf
  bench/workers_tps.py build/hearth /tmp/135m.gguf [--workers 2] [--streams 8] [--tokens 64]
                       [--rounds 3]
"""
import argparse, json, os, re, shutil, socket, subprocess, sys, tempfile, threading, time, http.client


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


def stream(port, body, results, i):
    try:
        results[i] = stream_tokens(port, body, i)
    except Exception as e:  # reported by round_of: a thread cannot end the program
        results[i] = e


def stream_tokens(port, body, i):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    conn.request("POST", "/v1/completions", json.dumps(body),
                 {"Content-Type": "application/json", "Connection": "close"})
    res = conn.getresponse()
    tokens = 0
    for raw in res:
        line = raw.decode().strip()
        if line == "data: [DONE]": break
        if line.startswith("data: "):
            event = json.loads(line[6:])
            if "error" in event: raise RuntimeError(f"stream {i} failed: {event['error']}")
            if event.get("usage"): tokens = event["usage"]["completion_tokens"]
    if res.status != 200 or tokens == 0:
        raise RuntimeError(f"stream {i} failed: status {res.status} {res.read()[:300]!r}")
    return tokens


def round_of(port, streams, tokens, seed):
    results = [0] * streams
    bodies = [{"prompt": [(seed * 131 + i * 7919 + k * 104729) % 400 + 50 for k in range(16)],
               "max_tokens": tokens, "ignore_eos": True, "temperature": 0, "stream": True,
               "stream_options": {"include_usage": True}} for i in range(streams)]
    threads = [threading.Thread(target=stream, args=(port, bodies[i], results, i)) for i in range(streams)]
    t0 = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    seconds = time.perf_counter() - t0
    for r in results:
        if isinstance(r, Exception): sys.exit(str(r))
    return sum(results) / seconds


def measure(a, extra, label):
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="workers_tps", suffix=".log")
    home = tempfile.mkdtemp(prefix="workers_tps")
    cmd = [a.hearth, "serve", "--model", a.model, "--port", str(port), "--parallel", str(a.streams),
           "--env-file", "/dev/null", "--state-dir", ":memory:", "--responses-db", ":memory:", *extra]
    env = dict(os.environ, HOME=home, XDG_DATA_HOME=home)
    env.pop("HEARTH_THREADS", None)
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        for _ in range(600):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1); c.request("GET", "/health")
                if c.getresponse().status == 200: break
            except OSError:
                time.sleep(0.1)
        for w in range(3):  # warm-up: every worker loads the model
            round_of(port, a.streams, 4, 1000 + w)
        rates = [round_of(port, a.streams, a.tokens, r) for r in range(a.rounds)]
        threads = re.findall(r"compute threads per model: (\d+)", open(log.name).read())
        print(f"| {label} | {'+'.join(threads)} | " + " | ".join(f"{r:.1f}" for r in rates) +
              f" | {sorted(rates)[len(rates) // 2]:.1f} |", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=120)
        shutil.rmtree(home, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hearth"); ap.add_argument("model")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64, help="tokens each stream generates")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    print(f"{a.streams} concurrent streams x {a.tokens} tokens, {os.cpu_count()} CPUs; aggregate tokens/s")
    print("| server | compute threads | " + " | ".join(f"round {r + 1}" for r in range(a.rounds)) + " | median |")
    print("|---|---|" + "---:|" * (a.rounds + 1))
    measure(a, [], "1 process")
    measure(a, ["--workers", str(a.workers)], f"--workers {a.workers}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Federation across hosts, on one machine: network namespaces joined by veth pairs to a bridge,
one `hearth serve` per namespace with models of its own, all sharing a peer key.

    test_federation_netns.py path/to/hearth path/to/stories260K.gguf

Needs root and `ip netns` (CI runs as root); exits 77 (CTest: skipped) otherwise. Checks:
  - every instance answers for every model of the federation, and the answer is the owner's own
    greedy answer (same text, same model name; X-Hearth-Peer says which peer produced it);
  - streams through a peer (OpenAI SSE, Ollama NDJSON) give the owner's text, in several chunks;
  - /v1/models and /api/tags list the peers' models, marked as the peers';
  - peers with a wrong or no key are refused (401 on /federation/state and on relayed requests,
    and an instance with the wrong key sees none of the others' models, nor they its);
  - kill -9 of one instance while requests for a model it shares with another peer are running
    (a bounded loop): none of them fails; the dead peer is skipped (its own model then gets 503,
    not a wrong answer) and readmitted once restarted.
The outer process makes the namespaces and removes them; the checks run inside the bridge's
namespace (the same script with --inside), which is the "client host".
"""
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

PEER_KEY = "federation-test-peer-key-0123456789"
WRONG_KEY = "not-the-federation-peer-key-9876543210"
PORT = 8080
SUBNET = "10.77.0"
# name -> (models it serves, peer key)
INSTANCES = {
    "a": (["alpha"], PEER_KEY),
    "b": (["beta", "shared"], PEER_KEY),
    "c": (["gamma", "shared"], PEER_KEY),
    "d": (["delta"], WRONG_KEY),  # not one of them: the others must refuse it
}
PROMPT = "Once upon a time"
failures = []


def ok(msg):
    print("ok   " + msg, flush=True)


def fail(msg):
    print("FAIL " + msg, flush=True)
    failures.append(msg)


def check(cond, msg):
    (ok if cond else fail)(msg)
    return cond


def ip_of(name):
    return f"{SUBNET}.{ord(name) - ord('a') + 1}"


def url_of(name):
    return f"http://{ip_of(name)}:{PORT}"


def api_key(name):
    return f"api-key-of-{name}"


# ---- outer: the namespaces -------------------------------------------------------------------

def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def make_namespaces(tag):
    hub = f"hf{tag}hub"
    run("ip", "netns", "add", hub)
    run("ip", "-n", hub, "link", "set", "lo", "up")
    run("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
    run("ip", "-n", hub, "addr", "add", f"{SUBNET}.254/24", "dev", "br0")
    run("ip", "-n", hub, "link", "set", "br0", "up")
    namespaces = {}
    for i, name in enumerate(INSTANCES):
        ns = f"hf{tag}{name}"
        run("ip", "netns", "add", ns)
        namespaces[name] = ns
        run("ip", "-n", hub, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0",
            "netns", ns)
        run("ip", "-n", hub, "link", "set", f"v{i}", "master", "br0", "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "addr", "add", f"{ip_of(name)}/24", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
    return hub, namespaces


def remove_namespaces(names):
    for ns in names:
        # Only processes of our own namespaces: the servers the inner run may have left.
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
        for pid in pids.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def outer(hearth, model):
    if os.geteuid() != 0:
        print("skipped: needs root (network namespaces)")
        return 77
    tag = str(os.getpid())
    probe = f"hf{tag}probe"
    if subprocess.run(["ip", "netns", "add", probe], stderr=subprocess.DEVNULL).returncode != 0:
        print("skipped: `ip netns add` does not work here")
        return 77
    subprocess.run(["ip", "netns", "del", probe])
    hub, namespaces = None, {}
    try:
        hub, namespaces = make_namespaces(tag)
        inner = subprocess.run(["ip", "netns", "exec", hub, sys.executable, os.path.abspath(__file__),
                                "--inside", hearth, model, json.dumps(namespaces)])
        return inner.returncode
    finally:
        remove_namespaces(list(namespaces.values()) + ([hub] if hub else []))


# ---- inner: the servers and the checks --------------------------------------------------------

def request(method, url, body=None, headers=None, timeout=60):
    """(status, headers, body bytes); never raises on HTTP statuses."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def call(instance, method, path, body=None, key=None, extra=None):
    headers = {"Authorization": "Bearer " + (key or api_key(instance))}
    headers.update(extra or {})
    return request(method, url_of(instance) + path, body, headers)


def completion_body(model, stream=False, max_tokens=24):
    return {"model": model, "prompt": PROMPT, "max_tokens": max_tokens, "temperature": 0,
            "stream": stream}


class Servers:
    def __init__(self, hearth, namespaces, workdir):
        self.hearth, self.namespaces, self.workdir = hearth, namespaces, workdir
        self.procs = {}

    def start(self, name):
        models, peer_key = INSTANCES[name]
        args = ["ip", "netns", "exec", self.namespaces[name], self.hearth, "serve",
                "--host", "0.0.0.0", "--port", str(PORT), "--threads", "1",
                "--state-dir", ":memory:", "--responses-db", ":memory:",
                "--env-file", "/dev/null", "--peers-file", os.path.join(self.workdir, "peers")]
        for m in models:
            args += ["--model", os.path.join(self.workdir, m + ".gguf")]
        env = dict(os.environ, HEARTH_API_KEYS=api_key(name), HEARTH_PEER_KEY=peer_key)
        log = open(os.path.join(self.workdir, name + ".log"), "a")
        # `ip netns exec` execs hearth: the pid is the server's.
        self.procs[name] = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.workdir)

    def kill(self, name):
        p = self.procs.pop(name)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def stop_all(self):
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def dump_logs(self):
        for name in INSTANCES:
            path = os.path.join(self.workdir, name + ".log")
            if os.path.exists(path):
                print(f"---- log of {name} ----")
                print(open(path).read()[-4000:])


def wait_for(what, predicate, seconds=60):
    """A bounded wait for a condition the servers reach on their own (polls every 2 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OSError:
            pass
        time.sleep(0.2)
    fail("timed out waiting for " + what)
    return False


def listed_models(instance):
    status, _, body = call(instance, "GET", "/v1/models")
    if status != 200:
        return {}
    return {m["id"]: m for m in json.loads(body)["data"]}


def text_of(body):
    return json.loads(body)["choices"][0]["text"]


def sse_texts(raw):
    texts, done = [], False
    for line in raw.decode().splitlines():
        if not line.startswith("data: "):
            continue
        if line == "data: [DONE]":
            done = True
            continue
        texts.append(json.loads(line[6:])["choices"][0]["text"])
    return texts, done


def inside(hearth, model, namespaces):
    workdir = tempfile.mkdtemp(prefix="hearth-federation-")
    for models, _ in INSTANCES.values():
        for m in models:
            shutil.copyfile(model, os.path.join(workdir, m + ".gguf"))
    with open(os.path.join(workdir, "peers"), "w") as f:
        f.write("# every instance, itself included (it recognises itself)\n")
        for name in INSTANCES:
            f.write(url_of(name) + "\n")
    servers = Servers(hearth, namespaces, workdir)
    try:
        for name in INSTANCES:
            servers.start(name)
        checks(servers)
    finally:
        servers.stop_all()
        if failures:
            servers.dump_logs()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


def owner_of(model):
    return [n for n, (models, key) in INSTANCES.items() if model in models and key == PEER_KEY]


def checks(servers):
    members = [n for n in INSTANCES if INSTANCES[n][1] == PEER_KEY]
    federation_models = sorted({m for n in members for m in INSTANCES[n][0]})
    for name in INSTANCES:
        wait_for(f"{name} to answer /health",
                 lambda: request("GET", url_of(name) + "/health")[0] == 200)
    for name in members:
        wait_for(f"{name} to list the federation's models",
                 lambda: set(listed_models(name)) == set(federation_models))

    # ---- the answers: each model's own, from every instance ----
    direct = {}
    for m in federation_models:
        owner = owner_of(m)[0]
        status, headers, body = call(owner, "POST", "/v1/completions", completion_body(m))
        check(status == 200 and answered_locally(headers), f"{owner} answers {m} itself")
        direct[m] = text_of(body)
    for name in members:
        for m in federation_models:
            status, headers, body = call(name, "POST", "/v1/completions", completion_body(m))
            if not check(status == 200, f"{name} answers for {m} ({status})"):
                continue
            reply = json.loads(body)
            local = m in INSTANCES[name][0]
            served_by = headers.get("x-hearth-peer", "")
            check(reply["model"] == m and text_of(body) == direct[m],
                  f"{name} -> {m}: the owner's greedy text and model name")
            if local:
                check(served_by == "", f"{name} -> {m}: answered locally")
            else:
                check(served_by in [url_of(o) for o in owner_of(m)],
                      f"{name} -> {m}: relayed to {served_by}")

    # ---- streams through a peer ----
    status, headers, raw = call("a", "POST", "/v1/completions",
                                completion_body("beta", stream=True))
    texts, done = sse_texts(raw)
    check(status == 200 and headers.get("content-type", "").startswith("text/event-stream"),
          "a streams beta's SSE")
    check("".join(texts) == direct["beta"] and done and len(texts) > 2,
          f"a -> beta stream: {len(texts)} events, the owner's text, then [DONE]")
    status, _, raw = call("a", "POST", "/api/generate",
                          {"model": "gamma:latest", "prompt": PROMPT, "stream": True,
                           "options": {"temperature": 0, "num_predict": 24}})
    lines = [json.loads(l) for l in raw.decode().splitlines() if l.strip()]
    ollama_text = "".join(l.get("response", "") for l in lines)
    status_direct, _, raw_direct = call("c", "POST", "/api/generate",
                                        {"model": "gamma", "prompt": PROMPT, "stream": False,
                                         "options": {"temperature": 0, "num_predict": 24}})
    check(status == 200 and status_direct == 200 and len(lines) > 2 and lines[-1].get("done")
          and ollama_text == json.loads(raw_direct)["response"],
          f"a -> gamma:latest Ollama NDJSON stream: {len(lines)} lines, c's own text")

    # ---- the listings ----
    models = listed_models("a")
    check(models["alpha"]["owned_by"] == "hearth" and "served_by" not in models["alpha"],
          "a's /v1/models: alpha is a's own")
    check(models["beta"]["owned_by"] == "peer" and models["beta"]["served_by"] == [url_of("b")],
          "a's /v1/models: beta is served by b")
    check(sorted(models["shared"]["served_by"]) == [url_of("b"), url_of("c")],
          "a's /v1/models: shared is served by b and c")
    status, _, body = call("a", "GET", "/api/tags")
    tags = {m["name"]: m for m in json.loads(body)["models"]}
    check(status == 200 and tags.get("gamma", {}).get("remote_host") == url_of("c")
          and "remote_host" not in tags.get("alpha", {"remote_host": 1}),
          "a's /api/tags lists gamma with remote_host c, alpha as its own")

    # ---- keys ----
    state = url_of("a") + "/federation/state"
    check(request("GET", state)[0] == 401, "/federation/state without the peer key: 401")
    check(request("GET", state, headers={"X-Hearth-Peer-Key": WRONG_KEY})[0] == 401,
          "/federation/state with a wrong peer key: 401")
    check(request("GET", state, headers={"Authorization": "Bearer " + api_key("a")})[0] == 401,
          "/federation/state with an API key instead of the peer key: 401")
    status, _, body = request("GET", state, headers={"X-Hearth-Peer-Key": PEER_KEY})
    check(status == 200 and [m["name"] for m in json.loads(body)["models"]] == ["alpha"],
          "/federation/state with the peer key: a's models")
    status, _, _ = request("POST", url_of("a") + "/v1/completions", completion_body("alpha"),
                           {"X-Hearth-Peer-Key": WRONG_KEY, "X-Hearth-Hop": "1"})
    check(status == 401, "a relayed request with a wrong peer key: 401")
    status, _, _ = call("a", "POST", "/v1/completions", completion_body("beta"), key=api_key("b"))
    check(status == 401, "a checks its caller's key itself (b's key at a: 401, not relayed)")
    check("delta" not in listed_models("a"), "a does not list delta (d has the wrong key)")
    status, _, _ = call("a", "POST", "/v1/completions", completion_body("delta"))
    check(status == 404, f"a -> delta: 404, d is no peer ({status})")
    check(set(listed_models("d")) == {"delta"}, "d (wrong key) sees none of the others' models")
    status, _, _ = call("d", "POST", "/v1/completions", completion_body("alpha"))
    check(status == 404, f"d -> alpha: 404 ({status})")

    # ---- kill b while requests for `shared` run through a; bounded ----
    results = []

    def one(i):
        status, headers, body = call("a", "POST", "/v1/completions",
                                     completion_body("shared", max_tokens=48))
        return status, headers.get("x-hearth-peer", ""), body

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(one, i) for i in range(12)]
        concurrent.futures.wait(futures[:4])
        servers.kill("b")
        futures += [pool.submit(one, i) for i in range(12, 32)]
        for f in futures:
            results.append(f.result())
    long_direct = text_of(call("c", "POST", "/v1/completions",
                               completion_body("shared", max_tokens=48))[2])
    failed = [(s, b[:200]) for s, _, b in results if s != 200 or text_of(b) != long_direct]
    by = {}
    for _, peer, _ in results:
        by[peer] = by.get(peer, 0) + 1
    check(not failed, f"kill -9 b under load: {len(results)} requests for shared, none failed "
                      f"(served by {by}); failures: {failed[:3]}")
    check(by.get(url_of("b"), 0) > 0, "b served some of them before it died")
    log_a = open(os.path.join(servers.workdir, "a.log")).read()
    print("info relays a retried on another peer after b died: "
          f"{log_a.count('failed before its answer began')}", flush=True)
    wait_for("a to drop b from shared's peers",
             lambda: listed_models("a")["shared"]["served_by"] == [url_of("c")])
    status, _, _ = call("a", "POST", "/v1/completions", completion_body("beta"))
    check(status == 503, f"a -> beta while b is down: 503 ({status})")
    servers.start("b")
    wait_for("a to readmit b", lambda: "beta" in listed_models("a"))
    status, headers, body = call("a", "POST", "/v1/completions", completion_body("beta"))
    check(status == 200 and text_of(body) == direct["beta"]
          and headers.get("x-hearth-peer") == url_of("b"),
          "b readmitted after its restart: a -> beta answers again")


def answered_locally(headers):
    return "x-hearth-peer" not in headers


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--inside":
        return inside(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    return outer(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]))


if __name__ == "__main__":
    sys.exit(main())

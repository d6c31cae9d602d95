#!/usr/bin/env python3
"""`hearth serve --workers` with real processes on loopback (bounded loops, no timing checks).

Oracles: the kernel says which process holds each client's connection (/proc/net/tcp gives the
server side's socket inode, /proc/PID/fd who holds it) and what a worker is pinned to
(/proc/PID/status, /proc/PID/numa_maps); every answer's text is checked against the reference
engine's greedy continuation of "Once upon a time" (tests/data/reference).

  - --workers 2 serves from two distinct worker processes;
  - kill -9 of a worker under streaming load: the supervisor starts another, which serves;
    no request on the other worker fails, nor any started after the victim died;
  - SIGHUP under continuous load: every worker replaced, zero failed requests;
  - a worker that cannot start (a broken TLS key) makes the supervisor give up with an error;
  - --workers auto: one worker on this machine; on a made-up 2-node /sys (HEARTH_NUMA_ROOT),
    one worker per node pinned to its CPUs, memory bound to node 0 for the first;
  - SIGTERM stops the supervisor and every worker.

Usage: test_workers.py HEARTH_BINARY SOURCE_DIR
"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HEARTH = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/hearth"
SOURCE = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else "."
MODEL = os.path.join(SOURCE, "tests/data/models/stories260K.gguf")
with open(os.path.join(SOURCE, "tests/data/reference/stories260K-once-upon-a-time.json")) as f:
    REFERENCE = json.load(f)
GREEDY = REFERENCE["greedy_text"]  # 64 tokens without an end of text among them


def children_of(pid):
    """Live (not zombie) processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return sorted(found)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def holder_of(client_port, server_port, pids):
    """Which of `pids` holds the server side of the loopback connection from client_port."""
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1].endswith(":%04X" % server_port) and fields[2].endswith(":%04X" % client_port) \
                    and fields[9] != "0":
                inode = fields[9]
    if not inode or inode == "0":
        return None
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                        return pid
                except OSError:
                    pass
        except OSError:
            pass
    return None


class Supervisor:
    """`hearth serve --workers ...` with its log collected line by line."""

    def __init__(self, *args, env=None, state_dir=":memory:"):
        self.home = tempfile.mkdtemp(prefix="hearth-workers-")
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home,
                       "XDG_DATA_HOME": os.path.join(self.home, "data")}
        environment.update(env or {})
        self.proc = subprocess.Popen(
            [HEARTH, "serve", "--model", MODEL, "--port", "0", "--state-dir", state_dir,
             "--responses-db", ":memory:", "--env-file", "/nonexistent", *args],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=environment, text=True)
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.port = None

    def _read(self):
        for line in self.proc.stderr:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def log(self):
        with self.lock:
            return list(self.lines)

    def wait_for(self, pattern, count=1, timeout=60):
        """The first `count` matches of `pattern` in the log, waiting for them (bounded)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            matches = [m for m in (regex.search(l) for l in self.log()) if m]
            if len(matches) >= count:
                return matches
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"no {count} x /{pattern}/ in the log:\n" + "\n".join(self.log()))
            time.sleep(0.05)

    def start(self, workers):
        self.port = int(self.wait_for(r"\[supervisor\] listening on http://127\.0\.0\.1:(\d+)")[0].group(1))
        self.wait_for(r"\[supervisor\] worker \d+ \(pid \d+\) ready", count=workers)
        return self

    def workers(self):
        return children_of(self.proc.pid)

    def stop(self, test):
        pids = self.workers()
        self.proc.send_signal(signal.SIGTERM)
        test.assertEqual(self.proc.wait(timeout=60), 0, "\n".join(self.log()))
        self.reader.join(timeout=10)
        self.proc.stderr.close()
        shutil.rmtree(self.home, ignore_errors=True)
        test.assertTrue(any("every worker has stopped" in l for l in self.log()))
        for pid in pids:
            test.assertFalse(alive(pid), f"worker {pid} outlived its supervisor")


class Outcome:
    def __init__(self):
        self.start = time.monotonic()
        self.end = None
        self.ok = False
        self.pid = None
        self.status = None
        self.error = None


def completion(port, candidates, stream=True, max_tokens=64, key=None):
    """One completion on a fresh connection; which process served it, and whether it was whole
    and right (its text starts with the reference's greedy continuation)."""
    out = Outcome()
    conn = None
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.connect()
        client_port = conn.sock.getsockname()[1]
        body = {"model": "stories260K", "prompt": REFERENCE["prompt"], "max_tokens": max_tokens,
                "temperature": 0, "ignore_eos": True, "stream": stream}
        # Keep-alive: after its answer the server holds the connection open (idle), so the
        # kernel can still tell which process holds it; this client sends nothing more on it.
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = "Bearer " + key
        conn.request("POST", "/v1/completions", json.dumps(body), headers)
        response = conn.getresponse()
        out.pid = holder_of(client_port, port, candidates())
        out.status = response.status
        if response.status != 200:
            out.error = f"status {response.status}: {response.read()[:200]!r}"
            out.pid = out.pid or holder_of(client_port, port, candidates())
            return out
        text = ""
        if stream:
            done = False
            for raw in response:
                line = raw.decode().strip()
                if line == "data: [DONE]":
                    done = True
                    break
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    if "error" in event:
                        out.error = f"error event: {event['error']}"
                        return out
                    text += event["choices"][0]["text"]
            if not done:
                out.error = "the stream ended without [DONE]"
                return out
        else:
            text = json.loads(response.read())["choices"][0]["text"]
        out.pid = out.pid or holder_of(client_port, port, candidates())
        if not text.startswith(GREEDY if max_tokens >= 64 else GREEDY[:20]):
            out.error = f"wrong text: {text[:80]!r}"
            return out
        out.ok = True
    except Exception as e:  # a reset, a refused connection, a cut stream
        out.error = f"{type(e).__name__}: {e}"
    finally:
        out.end = time.monotonic()
        if conn is not None:
            conn.close()
    return out


class Load:
    """`clients` threads sending completions back to back until stopped (or `limit` each)."""

    def __init__(self, port, candidates, clients=4, max_tokens=300, limit=2000):
        self.outcomes = []
        self.in_flight = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(i, port, candidates, max_tokens, limit))
                        for i in range(clients)]
        for t in self.threads:
            t.start()

    def _client(self, i, port, candidates, max_tokens, limit):
        for n in range(limit):
            if self.stopping.is_set():
                return
            out = completion(port, candidates, stream=(i % 4 != 3), max_tokens=max_tokens)
            with self.lock:
                self.outcomes.append(out)

    def done(self):
        with self.lock:
            return list(self.outcomes)

    def wait_count(self, n, timeout=120):
        deadline = time.monotonic() + timeout
        while len(self.done()) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.done()) >= n

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=180)
        return self.done()


def failures(outcomes):
    return [o for o in outcomes if not o.ok]


class Workers(unittest.TestCase):
    def test_two_workers_serve_from_two_processes(self):
        s = Supervisor("--workers", "2").start(2)
        try:
            workers = s.workers()
            self.assertEqual(len(workers), 2)
            served = set()
            for _ in range(16):  # bounded: 16 rounds of 8 concurrent streams
                outs = []
                threads = [threading.Thread(target=lambda: outs.append(completion(s.port, s.workers)))
                           for _ in range(8)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                self.assertEqual(failures(outs), [], [o.error for o in outs])
                served |= {o.pid for o in outs}
                if served == set(workers):
                    break
            self.assertEqual(served, set(workers), "the kernel saw these processes serve")
            # Each worker's log lines carry its number; the supervisor logged both starts.
            log = s.log()
            for n in (1, 2):
                self.assertTrue(any(f"[worker {n}]" in l and "listening on" in l for l in log))
                self.assertTrue(any(re.search(rf"\[supervisor\] started worker {n} \(pid \d+\)", l) for l in log))
            # Without --threads, the 2 workers share this machine's CPUs.
            cpus = len(os.sched_getaffinity(0))
            share = max(1, cpus // 2)
            self.assertTrue(any(f"[worker 1]" in l and f"compute threads per model: {share}" in l for l in log),
                            "\n".join(log))
        finally:
            s.stop(self)

    def test_kill_9_under_load(self):
        s = Supervisor("--workers", "2").start(2)
        try:
            before = s.workers()
            load = Load(s.port, s.workers, clients=4)
            self.assertTrue(load.wait_count(8), "the load never got going")
            # The victim: a worker that has been serving this load.
            victim = None
            for _ in range(400):
                pids = [o.pid for o in load.done()[-8:] if o.pid]
                if pids:
                    victim = pids[-1]
                    break
                time.sleep(0.01)
            self.assertIn(victim, before)
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            while alive(victim) and time.monotonic() - killed_at < 30:
                time.sleep(0.001)
            dead_at = time.monotonic()
            exit_line = s.wait_for(rf"\[supervisor\] worker (\d+) \(pid {victim}\) was killed by signal 9 \(SIGKILL\)")[0]
            number = exit_line.group(1)
            s.wait_for(rf"\[supervisor\] restarting worker {number} in 0 ms")
            fresh = int(s.wait_for(rf"\[supervisor\] started worker {number} \(pid (\d+)\)", count=2)[1].group(1))
            s.wait_for(rf"\[supervisor\] worker {number} \(pid {fresh}\) ready")
            # Load goes on until the new worker has served (bounded).
            for _ in range(600):
                if any(o.pid == fresh and o.ok for o in load.done()):
                    break
                time.sleep(0.05)
            outcomes = load.stop()
            survivor = [p for p in before if p != victim][0]
            self.assertTrue(any(o.pid == fresh and o.ok for o in outcomes), "the new worker never served")
            self.assertTrue(any(o.pid == survivor and o.ok for o in outcomes))
            for o in failures(outcomes):
                # Only what the victim held may fail: its own streams, or (not attributed) one
                # in flight while it died.
                self.assertTrue(o.pid == victim or (o.pid is None and o.start <= dead_at and o.end >= killed_at),
                                f"a request failed that the killed worker did not hold: {o.error} (pid {o.pid})")
            lost = len(failures(outcomes))
            print(f"\nkill -9: {len(outcomes)} requests, {lost} failed (all held by the killed worker)",
                  file=sys.stderr)
            self.assertEqual(sorted(s.workers()), sorted([survivor, fresh]))
        finally:
            s.stop(self)

    def test_sighup_reload_under_load_drops_nothing(self):
        s = Supervisor("--workers", "2").start(2)
        try:
            before = set(s.workers())
            load = Load(s.port, s.workers, clients=4)
            self.assertTrue(load.wait_count(20))
            s.proc.send_signal(signal.SIGHUP)
            s.wait_for(r"\[supervisor\] reload done: every worker replaced", timeout=180)
            count = len(load.done())
            self.assertTrue(load.wait_count(count + 20))
            outcomes = load.stop()
            self.assertEqual([o.error for o in failures(outcomes)], [], "requests failed across the reload")
            after = set(s.workers())
            self.assertEqual(len(after), 2)
            self.assertFalse(before & after, "every worker was replaced")
            served = {o.pid for o in outcomes}
            self.assertTrue(before & served and after & served, "the load spanned the reload")
            for pid in before:
                s.wait_for(rf"\[supervisor\] worker \d+ \(pid {pid}\) draining")
                s.wait_for(rf"\[supervisor\] worker \d+ \(pid {pid}\) exited with status 0")
            print(f"\nSIGHUP reload: {len(outcomes)} requests under load, 0 failed", file=sys.stderr)
        finally:
            s.stop(self)

    def test_keys_and_usage_are_shared_by_the_workers(self):
        """keys.db is one SQLite file of every worker: a key created through one works on all,
        the usage they all count adds up exactly, and a revocation holds at once everywhere."""
        state = tempfile.mkdtemp(prefix="hearth-workers-state-")
        s = Supervisor("--workers", "2", env={"HEARTH_API_KEYS": "admin-secret"}, state_dir=state).start(2)
        try:
            def admin(method, path, body=None):
                conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
                conn.request(method, path, json.dumps(body) if body is not None else None,
                             {"Authorization": "Bearer admin-secret", "Content-Type": "application/json"})
                response = conn.getresponse()
                answer = response.status, json.loads(response.read() or b"null")
                conn.close()
                return answer

            status, created = admin("POST", "/admin/keys", {"name": "alice"})
            self.assertEqual(status, 201, created)
            secret = created["key"]
            workers = set(s.workers())
            served, sent = set(), 0
            for _ in range(40):  # bounded: until both workers have taken the key
                out = completion(s.port, s.workers, stream=False, max_tokens=8, key=secret)
                self.assertTrue(out.ok, out.error)
                sent += 1
                served.add(out.pid)
                if served == workers and sent >= 6:
                    break
            self.assertEqual(served, workers)
            requests = None
            for _ in range(100):  # each worker writes its counts once a second
                status, usage = admin("GET", "/admin/usage?key=alice")
                self.assertEqual(status, 200, usage)
                requests = sum(row["requests"] for row in usage["data"])
                if requests == sent:
                    break
                time.sleep(0.1)
            self.assertEqual(requests, sent, "usage counted by both workers adds up")
            status, _ = admin("DELETE", "/admin/keys/alice")
            self.assertEqual(status, 200)
            refused = set()
            for _ in range(40):
                out = completion(s.port, s.workers, stream=False, max_tokens=8, key=secret)
                self.assertEqual(out.status, 401, "a revoked key still worked")
                refused.add(out.pid)
                if refused == workers:
                    break
            self.assertEqual(refused, workers, "both workers refuse the revoked key")
        finally:
            s.stop(self)
            shutil.rmtree(state, ignore_errors=True)

    def test_worker_that_cannot_start_makes_the_supervisor_give_up(self):
        junk = os.path.join(tempfile.mkdtemp(prefix="hearth-workers-"), "junk.pem")
        with open(junk, "w") as f:
            f.write("not a certificate\n")
        s = Supervisor("--workers", "2", "--tls-cert", junk, "--tls-key", junk)
        rc = s.proc.wait(timeout=120)
        s.reader.join(timeout=10)
        s.proc.stderr.close()
        shutil.rmtree(s.home, ignore_errors=True)
        shutil.rmtree(os.path.dirname(junk), ignore_errors=True)
        log = "\n".join(s.log())
        self.assertNotEqual(rc, 0)
        self.assertRegex(log, r"worker \d+ failed to start 5 times in a row \(the last one exited with status 1\)")
        self.assertEqual(children_of(s.proc.pid), [])

    def test_bad_worker_counts_are_refused(self):
        for bad in ("0", "-1", "two", "257", "2x"):
            r = subprocess.run([HEARTH, "serve", "--model", MODEL, "--workers", bad, "--port", "0",
                                "--state-dir", ":memory:"], capture_output=True, text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn(f"--workers {bad}: give a count from 1 to 256, or auto", r.stderr)

    def test_auto_on_this_machine_and_on_two_made_up_nodes(self):
        nodes = [n for n in os.listdir("/sys/devices/system/node") if re.fullmatch(r"node\d+", n)] \
            if os.path.isdir("/sys/devices/system/node") else []
        if len(nodes) <= 1:
            s = Supervisor("--workers", "auto").start(1)
            try:
                self.assertEqual(len(s.workers()), 1)
                self.assertTrue(any("one NUMA node, so one worker" in l for l in s.log()))
                self.assertTrue(completion(s.port, s.workers).ok)
            finally:
                s.stop(self)
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            self.skipTest("needs 2 CPUs for the made-up 2-node machine")
        root = tempfile.mkdtemp(prefix="hearth-numa-")
        for node, cpu in ((0, cpus[0]), (1, cpus[1])):
            os.makedirs(f"{root}/sys/devices/system/node/node{node}")
            with open(f"{root}/sys/devices/system/node/node{node}/cpulist", "w") as f:
                f.write(f"{cpu}\n")
        s = Supervisor("--workers", "auto", env={"HEARTH_NUMA_ROOT": root}).start(2)
        try:
            started = {int(m.group(1)): int(m.group(2)) for m in
                       s.wait_for(r"\[supervisor\] started worker (\d+) \(pid (\d+)\)", count=2)}
            for number, cpu in ((1, cpus[0]), (2, cpus[1])):
                with open(f"/proc/{started[number]}/status") as f:
                    allowed = re.search(r"Cpus_allowed_list:\s*(\S+)", f.read()).group(1)
                self.assertEqual(allowed, str(cpu), f"worker {number}")
            log = "\n".join(s.log())
            # Node 0 exists here: worker 1's memory policy is bind to it (the kernel shows the
            # task's policy on its mappings); node 1 does not, so worker 2 says it runs unbound.
            with open(f"/proc/{started[1]}/numa_maps") as f:
                self.assertIn("bind:0", f.read())
            self.assertIn("[worker 1] pinned to NUMA node 0", log)
            self.assertIn("[worker 2] cannot bind this worker's memory to NUMA node 1", log)
            self.assertRegex(log, r"\[worker 1\].*compute threads per model: 1 ")
            outs = [completion(s.port, s.workers) for _ in range(4)]
            self.assertEqual(failures(outs), [])
        finally:
            s.stop(self)
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])

#!/usr/bin/env python3
"""`hearth run` as a person and a script use it, on the bundled stories260K model.

A pseudo-terminal drives the interactive chat (libedit prompt, streamed answers, \"\"\" blocks,
/set temperature, Ctrl-C, /bye); -p and piped stdin are run as a script would; ps, stop and
`models list` run against a live `hearth serve`.

Oracles: the reference engine's (llama.cpp) greedy continuation of "Once upon a time"
(tests/data/reference); stories260K has no chat template, so a one-message chat's prompt is the
message itself and its greedy answer must be that continuation. For other texts, `hearth run
--raw` (the plain completion of the scheduler, no template, no server code) gives the greedy
continuation of the same rendered prompt.

Usage: run_chat.py HEARTH_BINARY SOURCE_DIR
"""
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HEARTH = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/hearth"
SOURCE = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else "."
MODEL = os.path.join(SOURCE, "tests/data/models/stories260K.gguf")
with open(os.path.join(SOURCE, "tests/data/reference/stories260K-once-upon-a-time.json")) as f:
    REFERENCE = json.load(f)
GREEDY = REFERENCE["greedy_text"]  # 64 tokens, no end of text among them
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sandbox(prefix, port):
    """A temporary home with a models directory holding stories260K as `tiny-stories` (alias
    Story-Teller), and the environment that points hearth at them and at `port`."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    models = os.path.join(tmp, "models")
    os.makedirs(models)
    shutil.copy(MODEL, models)
    with open(os.path.join(models, "tiny-stories.yaml"), "w") as f:
        f.write("name: tiny-stories\nfile: stories260K.gguf\naliases: [Story-Teller]\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
           "XDG_DATA_HOME": os.path.join(tmp, "data"), "HEARTH_MODELS_DIR": models,
           "HEARTH_PORT": str(port), "HEARTH_THREADS": "1", "TERM": "xterm"}
    return tmp, env


class Terminal:
    """A process on a pseudo-terminal: what it printed, and keys sent to it."""

    def __init__(self, args, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(args[0], args, env)
        self.raw = b""
        self.mark = 0  # expect() looks after this point of text()

    def _read(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # the child is gone
            return False
        self.raw += data
        return bool(data)

    def text(self, start=0):
        """What the screen shows from `start` (an index into this text), escapes removed."""
        return ANSI.sub(b"", self.raw).decode("utf-8", "replace")[start:]

    def expect(self, pattern, timeout=60):
        """Waits until `pattern` (a regex) shows after the mark; returns the text before it and
        moves the mark past it."""
        deadline = time.time() + timeout
        while True:
            seen = self.text(self.mark)
            m = re.search(pattern, seen)
            if m:
                self.mark += m.end()
                return seen[: m.start()]
            if time.time() > deadline:
                raise AssertionError(f"timed out waiting for {pattern!r}; the screen:\n{seen}")
            self._read(0.2)

    def send(self, keys):
        os.write(self.fd, keys.encode())

    def wait(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self._read(0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("the process did not exit; the screen:\n" + self.text())


class RunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Nothing listens on the port: the chat loads the model itself (a server another test
        # or person runs on 8080 must not answer instead).
        cls.tmp, cls.env = sandbox("hearth-run-test-", free_port())

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def hearth(self, *args, stdin=None, env=None):
        return subprocess.run([HEARTH, *args], input=stdin, capture_output=True, text=True,
                              env=env or self.env, timeout=120)

    def raw_continuation(self, prompt, n=64):
        """The oracle for texts other than the reference's: the plain greedy completion."""
        r = self.hearth("run", "--raw", MODEL, "-p", prompt, "-n", str(n), "--temp", "0",
                        "--no-stats")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(prompt), r.stdout)
        return r.stdout[len(prompt):].rstrip("\n")

    def test_raw_matches_the_reference(self):
        # The oracle of the other tests is itself checked against llama.cpp's continuation.
        self.assertEqual(self.raw_continuation("Once upon a time"), GREEDY)

    def test_prompt_flag_prints_only_the_answer(self):
        # A model's alias, in another case: the server's resolution (case-insensitive).
        r = self.hearth("run", "story-teller", "-p", "Once upon a time", "--temp", "0", "-n", "64")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, GREEDY + "\n")

    def test_piped_stdin_prints_only_the_answer(self):
        r = self.hearth("run", "TINY-STORIES", "--temp", "0", "-n", "64", stdin="Once upon a time\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, GREEDY + "\n")

    def test_unknown_model_without_a_terminal_is_not_pulled(self):
        r = self.hearth("run", "no-such-model-anywhere", "-p", "hi",
                        env={**self.env, "HF_ENDPOINT": "http://127.0.0.1:9"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("no-such-model-anywhere", r.stderr)
        self.assertEqual(r.stdout, "")

    def chat(self, *extra):
        term = Terminal([HEARTH, "run", "tiny-stories", "-n", "64", *extra], self.env)
        term.expect(r">>> ")
        return term

    def ask(self, term, line):
        term.send(line + "\r")
        term.expect(re.escape(line.splitlines()[-1]) + r"\n")  # the echo of what was typed
        return self.answer(term, line.splitlines()[-1])

    @staticmethod
    def answer(term, typed):
        """The text up to the next prompt, without a second echo of the line typed: keys that
        arrive before libedit has put the terminal in raw mode are echoed by the terminal and
        then again by libedit (as for a person typing ahead); a loaded machine shows it."""
        answer = term.expect(r">>> ").strip("\n")
        while answer.startswith(typed + "\n"):
            answer = answer[len(typed) + 1:]
        return answer

    def test_chat_set_temperature_multiline_and_bye(self):
        term = self.chat()  # the model's default temperature (0.8) until /set
        term.send("/set temperature 0\r")
        term.expect(r"Set 'temperature' to '0'\.\n")
        term.expect(r">>> ")
        self.assertEqual(self.ask(term, "Once upon a time"), GREEDY)

        term.send("/clear\r")
        term.expect(r"Cleared the conversation\.\n>>> ")
        term.send('"""\r')
        term.expect(r"\.\.\. ")
        term.send("The dog\r")
        term.expect(r"\.\.\. ")
        term.send('ran to the park."""\r')
        term.expect(r'park\."""\n')
        answer = self.answer(term, 'ran to the park."""')
        self.assertEqual(answer, self.raw_continuation("The dog\nran to the park.").lstrip(" \n"))

        term.send("/show\r")
        shown = term.expect(r">>> ")
        self.assertIn("temperature", shown)
        self.assertIn("llama", shown)
        term.send("/bye\r")
        self.assertEqual(term.wait(), 0)

    def test_ctrl_c_stops_an_answer_not_the_session(self):
        # Without an end of text and with context shift, the answer would go on for 30000
        # tokens: only Ctrl-C ends it.
        term = Terminal([HEARTH, "run", "tiny-stories", "-n", "30000", "--ignore-eos",
                         "--context-shift"], self.env)
        term.expect(r">>> ")
        term.send("Once upon a time\r")
        term.expect(r"Once upon a time\n")
        # The answer streams: text arrives while it is still being generated.
        start = len(term.raw)
        deadline = time.time() + 60
        while len(term.raw) - start < 300 and time.time() < deadline:
            term._read(0.2)
        self.assertGreaterEqual(len(term.raw) - start, 300, term.text())
        term.send("\x03")
        term.expect(r">>> ", timeout=30)
        # The prompt stays: nothing more of the answer comes.
        time.sleep(0.5)
        term._read(0.2)
        self.assertNotRegex(term.text(term.mark), r"\w{3}")
        # At an empty prompt, Ctrl-C says how to leave.
        term.send("\x03")
        term.expect(r"Use Ctrl \+ d or /bye to exit\.")
        term.expect(r">>> ")
        term.send("/bye\r")
        self.assertEqual(term.wait(), 0)


class ServerTest(unittest.TestCase):
    """run, ps, stop and models list against a live `hearth serve`."""

    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.tmp, cls.env = sandbox("hearth-ps-test-", cls.port)
        cls.server = subprocess.Popen(
            [HEARTH, "serve", "--state-dir", ":memory:", "--responses-db", ":memory:"],
            env=cls.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", cls.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        cls.server.kill()
        raise AssertionError("the server did not start: " + cls.server.stderr.read().decode())

    @classmethod
    def tearDownClass(cls):
        cls.server.send_signal(signal.SIGTERM)
        cls.server.wait(timeout=30)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def hearth(self, *args):
        return subprocess.run([HEARTH, *args], capture_output=True, text=True, env=self.env,
                              timeout=120)

    def test_run_ps_stop_and_models_list(self):
        r = self.hearth("ps")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("No models loaded", r.stdout)

        # The chat goes to the server: afterwards the server has the model loaded.
        r = self.hearth("run", "Tiny-Stories", "-p", "Once upon a time", "--temp", "0", "-n", "64")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, GREEDY + "\n")

        r = self.hearth("ps")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "SIZE", "CONTEXT", "IDLE", "UNTIL"])
        row = lines[1].split()
        self.assertEqual(row[0], "tiny-stories")
        # serve's default --ctx-size, 2048, which stories260K's llama.context_length (2048)
        # does not cap.
        self.assertEqual(row[3], "2048")

        r = self.hearth("models", "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"tiny-stories .* yes\n")

        r = self.hearth("stop", "TINY-STORIES")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Unloaded TINY-STORIES", r.stdout)
        self.assertIn("No models loaded", self.hearth("ps").stdout)
        r = self.hearth("models", "list")
        self.assertNotRegex(r.stdout, r"tiny-stories .* yes\n")

        r = self.hearth("stop", "no-such-model")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no-such-model", r.stderr)

    def test_ps_without_a_server_says_how_to_start_one(self):
        r = subprocess.run([HEARTH, "ps", "--port", str(free_port())], capture_output=True,
                           text=True, env=self.env, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("hearth serve", r.stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])

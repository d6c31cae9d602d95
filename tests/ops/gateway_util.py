#!/usr/bin/env python3
"""Helpers for tests/ops/test-gateway.sh (standard library only).

  stub  --port P --key K --model NAME [--id ID]
        A stand-in for `hearth serve` with the same routes, auth and SSE framing. Its stream
        sends one chunk, waits STUB_PAUSE seconds, then the rest, so a proxy that buffers is
        caught deterministically whatever the CPU speed.
  sse   URL KEY JSON_BODY
        POSTs a streaming request and prints JSON: seconds to the first `data:` event, seconds
        to the end, number of events, the model named in the chunks, HTTP status.
"""
import http.client
import json
import ssl
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def stub(argv):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--id", default="stub")
    ap.add_argument("--pause", type=float, default=1.5)
    a = ap.parse_args(argv)

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send_json(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Hearth-Instance", a.id)
            self.end_headers()
            self.wfile.write(body)

        def authorized(self):
            if self.headers.get("Authorization", "") == "Bearer " + a.key:
                return True
            self.send_json(401, {"error": {"message": "Invalid API key", "type": "invalid_request_error",
                                           "code": "invalid_api_key"}})
            return False

        def route(self):
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith("/models/"):
                name, _, rest = path[len("/models/"):].partition("/")
                return name, "/" + rest
            return None, path

        def do_GET(self):
            name, path = self.route()
            if path in ("/health", "/readyz"):
                return self.send_json(200, {"status": "ok", "instance": a.id})
            if not self.authorized():
                return
            if path == "/v1/models":
                return self.send_json(200, {"object": "list", "data": [{"id": a.model, "object": "model"}]})
            self.send_json(404, {"error": {"message": "not found " + path}})

        def do_POST(self):
            name, path = self.route()
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self.authorized():
                return
            model = name or body.get("model") or a.model
            if model != a.model:
                return self.send_json(404, {"error": {"message": "model '%s' not found" % model,
                                                      "code": "model_not_found"}})
            if path != "/v1/chat/completions":
                return self.send_json(404, {"error": {"message": "not found " + path}})
            if not body.get("stream"):
                return self.send_json(200, {"object": "chat.completion", "model": model, "instance": a.id,
                                            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                                         "finish_reason": "stop"}]})
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def event(obj):
                data = ("data: " + (obj if isinstance(obj, str) else json.dumps(obj)) + "\n\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            chunk = {"object": "chat.completion.chunk", "model": model,
                     "choices": [{"index": 0, "delta": {"content": "tok"}}]}
            event(chunk)
            time.sleep(a.pause)
            for _ in range(5):
                event(chunk)
            event("[DONE]")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # clients (the proxies' checks) hang up early on purpose

    Server(("127.0.0.1", a.port), H).serve_forever()


def sse(argv):
    url, key, body = argv
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=120,
                                           context=ssl._create_unverified_context())
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    t0 = time.monotonic()
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if key:
        headers["Authorization"] = "Bearer " + key
    conn.request("POST", u.path, body=body, headers=headers)
    r = conn.getresponse()
    first = None
    events = 0
    model = None
    done = False
    while True:
        line = r.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        if first is None:
            first = time.monotonic() - t0
        payload = line[5:].strip()
        if payload == b"[DONE]":
            done = True
            break
        events += 1
        try:
            model = json.loads(payload).get("model", model)
        except ValueError:
            pass
    total = time.monotonic() - t0
    print(json.dumps({"status": r.status, "first": first, "total": total, "events": events,
                      "model": model, "done": done}))


if __name__ == "__main__":
    {"stub": stub, "sse": sse}[sys.argv[1]](sys.argv[2:])

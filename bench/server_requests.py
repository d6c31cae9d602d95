#!/usr/bin/env python3
"""Requests per second of small chat completions, where the server's own work (HTTP, JSON,
template, tokenizer) is most of each request: stories260K, 8 tokens. Binaries are run
interleaved, three times each, so a change of machine load hits them alike.

  bench/server_requests.py build/hearth OTHER_BUILD/hearth
"""
import json, os, subprocess, sys, time, http.client, socket
MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests/data/models/stories260K.gguf")
def free_port():
    s=socket.socket(); s.bind(("127.0.0.1",0)); p=s.getsockname()[1]; s.close(); return p
def run(binary, n=300):
    port=free_port()
    srv=subprocess.Popen([binary,"serve","--model",MODEL,"--port",str(port),"--threads","1","--env-file","/dev/null"],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                c=http.client.HTTPConnection("127.0.0.1",port,timeout=1); c.request("GET","/health")
                if c.getresponse().status==200: break
            except OSError: time.sleep(0.05)
        c=http.client.HTTPConnection("127.0.0.1",port)
        body=json.dumps({"model":"stories260K","messages":[{"role":"system","content":"You are a storyteller. "*20},{"role":"user","content":"Tell me about a dog"}],"max_tokens":8,"temperature":0})
        def one():
            c.request("POST","/v1/chat/completions",body,{"Content-Type":"application/json"}); r=c.getresponse(); r.read(); assert r.status==200
        one()
        t=time.perf_counter()
        for _ in range(n): one()
        return n/(time.perf_counter()-t)
    finally:
        srv.terminate(); srv.wait()
res={a:[] for a in sys.argv[1:]}
for _ in range(3):
    for a in sys.argv[1:]: res[a].append(run(a))
for a,v in res.items(): print(a, " ".join(f"{x:.0f}" for x in v), "req/s, median", sorted(v)[1])

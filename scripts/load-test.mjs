#!/usr/bin/env node
// Bounded loopback load against a running `hearth serve`, with no dependencies.
//   node scripts/load-test.mjs --url http://127.0.0.1:8080 [--key K] [--requests 2000] [--connections 16]
//   node scripts/load-test.mjs --url ... --streams 1,2,4,8 --tokens 200   (aggregate tokens/s)
// Prints requests/s, latency percentiles, status counts and server memory before and after.
import http from 'node:http';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) =>
  a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs, []));
const url = new URL(args.url ?? 'http://127.0.0.1:8080');
const key = args.key ?? process.env.HEARTH_API_KEY ?? '';
const model = args.model ?? 'stories260K';
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(args.connections ?? 16) });

function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : undefined;
    const req = http.request({
      host: url.hostname, port: url.port, method, path, agent,
      headers: { 'Content-Type': 'application/json', ...(key && { Authorization: `Bearer ${key}` }),
        ...(data && { 'Content-Length': Buffer.byteLength(data) }) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function residentBytes() {
  const res = await request('GET', '/metrics');
  const line = res.body.split('\n').find((l) => l.startsWith('hearth_process_resident_memory_bytes'));
  return Number(line?.split(' ').pop());
}

const prompts = ['Once upon a time', 'The little dog', 'Lily and Tom', 'One day, a bird', 'The sun was'];
function bodyFor(i) {
  const prompt = prompts[i % prompts.length];
  const common = { model, max_tokens: 8 + (i % 9), temperature: i % 2 ? 0 : 0.8, seed: i };
  if (i % 10 < 6) return ['/v1/completions', { ...common, prompt }];
  if (i % 10 < 8) return ['/v1/chat/completions', { ...common, messages: [{ role: 'user', content: prompt }] }];
  return ['/v1/chat/completions', { ...common, stream: true, messages: [{ role: 'user', content: prompt }] }];
}

function percentile(sorted, p) { return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]; }

async function load(total, connections) {
  const statuses = {};
  const latencies = [];
  let next = 0;
  const before = await residentBytes();
  const start = performance.now();
  let middle = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      if (i === Math.floor(total / 2)) middle = await residentBytes();
      const [path, body] = bodyFor(i);
      const t0 = performance.now();
      let status;
      try {
        status = (await request('POST', path, body)).status;
      } catch (e) {
        status = `network: ${e.code ?? e.message}`;
      }
      latencies.push(performance.now() - t0);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  const seconds = (performance.now() - start) / 1000;
  const after = await residentBytes();
  latencies.sort((a, b) => a - b);
  const mib = (b) => (b / 1048576).toFixed(1);
  console.log(`${total} requests, ${connections} connections, ${seconds.toFixed(1)} s: ` +
    `${(total / seconds).toFixed(1)} requests/s, p50 ${percentile(latencies, 0.5).toFixed(0)} ms, ` +
    `p99 ${percentile(latencies, 0.99).toFixed(0)} ms`);
  console.log(`statuses: ${JSON.stringify(statuses)}`);
  console.log(`server RSS MiB: before ${mib(before)}, midway ${mib(middle)}, after ${mib(after)}`);
  const serverErrors = Object.entries(statuses).filter(([s]) => !/^2/.test(s)).reduce((n, [, c]) => n + c, 0);
  return serverErrors;
}

// Aggregate generation speed of n concurrent streams (tokens counted from include_usage).
async function streams(n, tokens) {
  const start = performance.now();
  const results = await Promise.all(Array.from({ length: n }, (_, i) => request('POST', '/v1/completions', {
    model, prompt: prompts[i % prompts.length], max_tokens: tokens, temperature: 0.8, seed: i, stream: true,
    stream_options: { include_usage: true },
  })));
  const seconds = (performance.now() - start) / 1000;
  let generated = 0;
  for (const r of results) {
    const usage = r.body.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)))
      .find((c) => c.usage)?.usage;
    generated += usage?.completion_tokens ?? 0;
  }
  console.log(`${n} concurrent stream(s): ${generated} tokens in ${seconds.toFixed(2)} s = ` +
    `${(generated / seconds).toFixed(0)} tokens/s aggregate`);
}

if (args.streams) {
  for (const n of args.streams.split(',').map(Number)) await streams(n, Number(args.tokens ?? 200));
} else {
  const errors = await load(Number(args.requests ?? 2000), Number(args.connections ?? 16));
  process.exitCode = errors ? 1 : 0;
}
agent.destroy();

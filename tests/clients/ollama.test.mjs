// hearth serve against the official `ollama` npm client. Needs a running server:
//   HEARTH_OLLAMA_HOST=http://127.0.0.1:PORT HEARTH_API_KEY=KEY node --test ollama.test.mjs
// (scripts/test-clients.sh starts one and runs this.) The pull test serves a model from a small
// fake Hugging Face hub started here, reached through a resolve URL (which names its own host).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Ollama } from 'ollama';

const host = process.env.HEARTH_OLLAMA_HOST ?? 'http://127.0.0.1:8080';
const apiKey = process.env.HEARTH_API_KEY ?? 'test-key';
const model = process.env.HEARTH_MODEL ?? 'stories260K';
const modelFile = process.env.HEARTH_MODEL_FILE;
const ollama = new Ollama({ host, headers: { Authorization: `Bearer ${apiKey}` } });
const story = [{ role: 'user', content: 'Once upon a time' }];

// The OpenAI route with the same sampling is the oracle for the text.
async function openaiChat(body) {
  const res = await fetch(`${host}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ model, ...body }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

test('chat, whole and streamed, says what the OpenAI route says', async () => {
  const want = await openaiChat({ messages: story, max_tokens: 24, temperature: 0.8, seed: 7 });
  const options = { temperature: 0.8, seed: 7, num_predict: 24 };
  const whole = await ollama.chat({ model, messages: story, options });
  assert.equal(whole.message.role, 'assistant');
  assert.equal(whole.message.content, want.choices[0].message.content);
  assert.equal(whole.done, true);
  assert.equal(whole.eval_count, want.usage.completion_tokens);
  assert.equal(whole.prompt_eval_count, want.usage.prompt_tokens);

  let text = '';
  let last;
  for await (const part of await ollama.chat({ model, messages: story, options, stream: true })) {
    text += part.message.content;
    last = part;
  }
  assert.equal(text, whole.message.content);
  assert.equal(last.done, true);
  assert.equal(last.done_reason, whole.done_reason);
});

test('generate, whole and streamed', async () => {
  const options = { temperature: 0, num_predict: 16 };
  const whole = await ollama.generate({ model, prompt: 'Once upon a time', options });
  const want = await openaiChat({ messages: story, max_tokens: 16, temperature: 0 });
  assert.equal(whole.response, want.choices[0].message.content);
  assert.equal(whole.done_reason, 'length');
  assert.equal(whole.eval_count, 16);
  let text = '';
  let parts = 0;
  for await (const part of await ollama.generate({ model, prompt: 'Once upon a time', options, stream: true })) {
    text += part.response;
    parts += 1;
  }
  assert.equal(text, whole.response);
  assert.ok(parts > 2, `${parts} parts`);
});

test('list, show and ps', async () => {
  const list = await ollama.list();
  const entry = list.models.find((m) => m.name === model);
  assert.ok(entry, JSON.stringify(list));
  assert.equal(entry.details.format, 'gguf');
  assert.equal(entry.details.family, 'llama');
  if (modelFile) assert.equal(entry.size, readFileSync(modelFile).length);

  const show = await ollama.show({ model });
  assert.equal(show.model_info['general.architecture'], 'llama');
  assert.ok(show.capabilities.includes('completion'));

  await ollama.generate({ model, prompt: 'Once', options: { num_predict: 1 }, keep_alive: '10m' });
  const ps = await ollama.ps();
  const loaded = ps.models.find((m) => m.name === model);
  assert.ok(loaded, JSON.stringify(ps));
  const left = (new Date(loaded.expires_at).getTime() - Date.now()) / 1000;
  assert.ok(left > 590 && left < 610, `expires in ${left} s`);
});

test('errors reach the client as Ollama errors', async () => {
  await assert.rejects(ollama.chat({ model: 'no-such-model', messages: story }), (e) => {
    assert.equal(e.status_code, 404);
    assert.match(e.error, /no-such-model/);
    return true;
  });
  await assert.rejects(
    ollama.generate({ model, prompt: 'x', options: { temperature: 'hot' } }),
    (e) => e.status_code === 400 && /options\.temperature/.test(e.error));
});

test('embed refuses a text generation model with a clear error', async () => {
  await assert.rejects(ollama.embed({ model, input: 'hello' }), (e) => {
    assert.equal(e.status_code, 400);
    assert.match(e.error, /cannot produce embeddings/);
    return true;
  });
});

// A Hugging Face hub with one repo and one file: the repo listing and the resolve route (with
// Range, for the header check and resumes), as the real hub answers them.
function fakeHub(bytes) {
  const sha = createHash('sha256').update(bytes).digest('hex');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/api/models/someone/tiny-GGUF')) {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({
        id: 'someone/tiny-GGUF', modelId: 'someone/tiny-GGUF', sha: '1'.repeat(40),
        private: false, gated: false, pipeline_tag: 'text-generation', tags: ['gguf'],
        siblings: [{ rfilename: 'tiny-Q8_0.gguf', size: bytes.length, lfs: { sha256: sha, size: bytes.length } }],
      }));
      return;
    }
    if (url.pathname.startsWith('/someone/tiny-GGUF/resolve/')) {
      res.setHeader('X-Repo-Commit', '1'.repeat(40));
      res.setHeader('X-Linked-Etag', `"${sha}"`);
      res.setHeader('X-Linked-Size', String(bytes.length));
      res.setHeader('ETag', `"${sha}"`);
      res.setHeader('Accept-Ranges', 'bytes');
      const range = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
      let body = bytes;
      if (range) {
        const start = Number(range[1]);
        const end = range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1;
        body = bytes.subarray(start, end + 1);
        res.statusCode = 206;
        res.setHeader('Content-Range', `bytes ${start}-${end}/${bytes.length}`);
      }
      res.setHeader('Content-Length', String(body.length));
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    res.statusCode = 404;
    res.setHeader('X-Error-Code', 'EntryNotFound');
    res.end(JSON.stringify({ error: 'not found' }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, sha })));
}

test('pull streams progress from a hub, then serves the model', { skip: !modelFile }, async () => {
  const bytes = readFileSync(modelFile);
  const { server, sha } = await fakeHub(bytes);
  try {
    const ref = `http://127.0.0.1:${server.address().port}/someone/tiny-GGUF/resolve/main/tiny-Q8_0.gguf`;
    const statuses = [];
    let completed = 0;
    for await (const p of await ollama.pull({ model: ref, stream: true })) {
      statuses.push(p.status);
      if (p.digest) {
        assert.equal(p.digest, `sha256:${sha}`);
        assert.equal(p.total, bytes.length);
        completed = p.completed;
      }
    }
    assert.equal(statuses[0], 'pulling manifest');
    assert.equal(statuses.at(-1), 'success');
    assert.equal(completed, bytes.length);

    const names = (await ollama.list()).models.map((m) => m.name);
    const pulled = names.find((n) => n !== model);
    assert.ok(pulled, names.join(', '));
    const r = await ollama.generate({ model: pulled, prompt: 'Once upon a time', options: { temperature: 0, num_predict: 8 } });
    const want = await openaiChat({ messages: story, max_tokens: 8, temperature: 0 });
    assert.equal(r.response, want.choices[0].message.content);

    await assert.rejects(ollama.pull({ model: ref.replace('tiny-Q8_0', 'absent') }), /absent|not/);
  } finally {
    server.close();
  }
});

// hearth serve against the official OpenAI Node SDK. Needs a running server:
//   HEARTH_BASE_URL=http://127.0.0.1:PORT/v1 HEARTH_API_KEY=KEY node --test openai.test.mjs
// (scripts/test-clients.sh starts one and runs this.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.HEARTH_BASE_URL ?? 'http://127.0.0.1:8080/v1';
const apiKey = process.env.HEARTH_API_KEY ?? 'test-key';
const model = process.env.HEARTH_MODEL ?? 'stories260K';
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const origin = new URL(baseURL).origin;
const story = [{ role: 'user', content: 'Once upon a time' }];

async function metric(name) {
  const res = await fetch(`${origin}/metrics`, { headers: { Authorization: `Bearer ${apiKey}` } });
  const line = (await res.text()).split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').pop()) : NaN;
}

test('lists the served models', async () => {
  const models = [];
  for await (const m of client.models.list()) models.push(m.id);
  assert.ok(models.includes(model), `models: ${models}`);
});

test('chat completion', async () => {
  const r = await client.chat.completions.create({ model, messages: story, max_tokens: 12, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(r.choices[0].message.content.startsWith(', there was a little girl'), r.choices[0].message.content);
  assert.equal(r.usage.completion_tokens, 12);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 12);
});

test('streamed chat with include_usage', async () => {
  const stream = await client.chat.completions.create({
    model, messages: story, max_tokens: 16, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let role;
  let finish;
  let usage;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      role ??= c.delta.role;
      text += c.delta.content ?? '';
      finish ??= c.finish_reason ?? undefined;
    }
  }
  const plain = await client.chat.completions.create({ model, messages: story, max_tokens: 16, temperature: 0 });
  assert.equal(role, 'assistant');
  assert.equal(text, plain.choices[0].message.content);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 16);
});

test('completions and max_tokens', async () => {
  const r = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 5, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 5);
  assert.ok(r.choices[0].text.startsWith(', there was'), r.choices[0].text);
});

test('stop sequences', async () => {
  const r = await client.chat.completions.create({ model, messages: story, max_tokens: 40, temperature: 0, stop: [' little'] });
  assert.equal(r.choices[0].message.content, ', there was a');
  assert.equal(r.choices[0].finish_reason, 'stop');
});

test('a seed makes sampling repeatable', async () => {
  const ask = () => client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 30, temperature: 1, seed: 7 });
  const [a, b] = [await ask(), await ask()];
  assert.equal(a.choices[0].text, b.choices[0].text);
});

test('a wrong key is a 401', async () => {
  const bad = new OpenAI({ baseURL, apiKey: 'wrong-key', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 &&
    e.code === 'invalid_api_key');
});

test('an unknown model is a 404', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: story }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
});

test('malformed JSON is a 400 and the server still answers', async () => {
  const res = await fetch(`${baseURL}/chat/completions`, {
    method: 'POST', body: '{"model": "x", "messages": [', headers: {
      Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
  });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error.type, 'invalid_request_error');
  const r = await client.completions.create({ model, prompt: 'Once', max_tokens: 2 });
  assert.equal(r.choices.length, 1);
});

test('8 concurrent streams', async () => {
  const one = async (i) => {
    const stream = await client.chat.completions.create({
      model, messages: [{ role: 'user', content: `Once upon a time ${i}` }], max_tokens: 24, temperature: 0, stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    return text;
  };
  const texts = await Promise.all([...Array(8).keys()].map(one));
  for (const t of texts) assert.ok(t.length > 0);
  // Batching must not change results: each equals the same request made alone.
  assert.equal(texts[3], await one(3));
});

test('an aborted stream frees its slot', async () => {
  const controller = new AbortController();
  const stream = await client.completions.create(
    { model, prompt: 'Once upon a time', max_tokens: 200, temperature: 1, stream: true },
    { signal: controller.signal });
  let chunks = 0;
  try {
    for await (const _ of stream) {
      if (++chunks === 2) controller.abort();
    }
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', String(e));
  }
  assert.ok(chunks >= 2);
  let active = NaN;
  for (let i = 0; i < 50; i++) {
    active = await metric('hearth_active_sequences');
    if (active === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(active, 0);
  const r = await client.completions.create({ model, prompt: 'Once', max_tokens: 2 });
  assert.equal(r.choices.length, 1);
});

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

// The shape OpenAI documents for a chat choice, with or without tool calls.
function assertChoiceShape(choice) {
  assert.ok(['stop', 'length', 'tool_calls'].includes(choice.finish_reason), choice.finish_reason);
  assert.equal(choice.message.role, 'assistant');
  if (choice.message.tool_calls) {
    assert.equal(choice.finish_reason, 'tool_calls');
    for (const call of choice.message.tool_calls) {
      assert.match(call.id, /^call_/);
      assert.equal(call.type, 'function');
      assert.equal(typeof call.function.name, 'string');
      assert.equal(typeof JSON.parse(call.function.arguments), 'object');
    }
  } else {
    assert.equal(typeof choice.message.content, 'string');
  }
}

test('tools, tool_choice and tool messages are accepted', async () => {
  // stories260K has no chat template, so it never sees the tools: this checks the API surface.
  const r = await client.chat.completions.create({
    model, messages: story, tools: [weatherTool], tool_choice: 'auto', max_tokens: 8, temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assertChoiceShape(r.choices[0]);
  const followUp = await client.chat.completions.create({
    model, tools: [weatherTool], max_tokens: 4, messages: [
      { role: 'user', content: 'What is the weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '21 C and sunny' },
    ],
  });
  assertChoiceShape(followUp.choices[0]);
  const stream = await client.chat.completions.create({
    model, messages: story, tools: [weatherTool], max_tokens: 8, temperature: 0, stream: true,
  });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(text, r.choices[0].message.content);
});

test('malformed tools are a 400 naming the field', async () => {
  await assert.rejects(client.chat.completions.create({ model, messages: story, tools: 'get_weather' }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'tools');
  await assert.rejects(client.chat.completions.create({
    model, messages: story, tools: [{ type: 'function', function: { name: 'bad name' } }],
  }), (e) => e instanceof OpenAI.BadRequestError && e.param === 'tools[0].function.name');
  await assert.rejects(client.chat.completions.create({
    model, messages: story, tools: [weatherTool], tool_choice: 'sometimes',
  }), (e) => e instanceof OpenAI.BadRequestError && e.param === 'tool_choice');
});

test('CORS preflight needs no key and answers carry the origin', async () => {
  const pre = await fetch(`${baseURL}/chat/completions`, {
    method: 'OPTIONS', headers: {
      Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization,content-type,x-stainless-os',
    },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  assert.match(pre.headers.get('access-control-allow-headers'), /Authorization/);
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
  const res = await fetch(`${baseURL}/models`, {
    headers: { Authorization: `Bearer ${apiKey}`, Origin: 'http://localhost:3000' },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
});

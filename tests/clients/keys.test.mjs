// Keys from the key store through the official OpenAI Node SDK: an admin key (the run's
// HEARTH_API_KEY, from HEARTH_API_KEYS) creates an inference key limited to one model; the SDK
// works with it, sees only that model, and gets an AuthenticationError once it is revoked.
//   HEARTH_BASE_URL=http://127.0.0.1:PORT/v1 HEARTH_API_KEY=ADMIN-KEY node --test keys.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.HEARTH_BASE_URL ?? 'http://127.0.0.1:8080/v1';
const adminKey = process.env.HEARTH_API_KEY ?? 'test-key';
const model = process.env.HEARTH_MODEL ?? 'stories260K';
const origin = new URL(baseURL).origin;

async function admin(method, path, body) {
  const res = await fetch(`${origin}${path}`, {
    method,
    headers: { Authorization: `Bearer ${adminKey}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

test('a created key works in the SDK, sees its models only, and stops when revoked', async () => {
  const name = `sdk-${process.pid}-${Date.now()}`;
  const created = await admin('POST', '/admin/keys', { name, models: [model] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.match(created.body.key, /^hk_[0-9a-f]{12}_[0-9a-f]{64}$/);
  const client = new OpenAI({ baseURL, apiKey: created.body.key, maxRetries: 0, timeout: 60_000 });

  const models = [];
  for await (const m of client.models.list()) models.push(m.id);
  assert.deepEqual(models, [model]);
  const r = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 4, temperature: 0,
  });
  assert.equal(r.usage.completion_tokens, 4);
  await assert.rejects(
    client.chat.completions.create({ model: 'not-allowed', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  // Inference keys do not reach the admin API.
  const forbidden = await fetch(`${origin}/admin/keys`, { headers: { Authorization: `Bearer ${created.body.key}` } });
  assert.equal(forbidden.status, 403);

  const listed = await admin('GET', '/admin/keys');
  assert.ok(!JSON.stringify(listed.body).includes(created.body.key.slice(16)), 'a list shows a secret');
  assert.equal((await admin('DELETE', `/admin/keys/${encodeURIComponent(name)}`)).status, 200);
  await assert.rejects(client.models.list(), (e) => e instanceof OpenAI.AuthenticationError && /revoked/.test(e.message));
});

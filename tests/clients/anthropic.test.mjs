// hearth serve against the official Anthropic Node SDK (Messages API). Needs a running server:
//   HEARTH_BASE_URL=http://127.0.0.1:PORT/v1 HEARTH_API_KEY=KEY node --test anthropic.test.mjs
// (scripts/test-clients.sh starts one and runs this.) The oracle for every text is the same
// conversation sent through the OpenAI SDK to /v1/chat/completions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import Ajv from 'ajv';

const baseURL = process.env.HEARTH_BASE_URL ?? 'http://127.0.0.1:8080/v1';
const apiKey = process.env.HEARTH_API_KEY ?? 'test-key';
const model = process.env.HEARTH_MODEL ?? 'stories260K';
const origin = new URL(baseURL).origin;
// The Anthropic SDK appends /v1/messages to its base URL and sends the key as x-api-key.
const anthropic = new Anthropic({ baseURL: origin, apiKey, maxRetries: 0, timeout: 60_000 });
const openai = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const story = [{ role: 'user', content: 'Once upon a time' }];

async function openaiText(messages, max_tokens, extra = {}) {
  const r = await openai.chat.completions.create({ model, messages, max_tokens, temperature: 0, ...extra });
  return r;
}

test('messages.create answers as the OpenAI route does', async () => {
  const m = await anthropic.messages.create({ model, max_tokens: 16, temperature: 0, messages: story });
  const oracle = await openaiText(story, 16);
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.match(m.id, /^msg_/);
  assert.equal(m.content.length, 1);
  assert.equal(m.content[0].type, 'text');
  assert.equal(m.content[0].text, oracle.choices[0].message.content);
  assert.equal(m.stop_reason, 'max_tokens');
  assert.equal(m.usage.output_tokens, 16);
  assert.equal(m.usage.input_tokens + (m.usage.cache_read_input_tokens ?? 0), oracle.usage.prompt_tokens);
});

test('system prompt and stop_sequences', async () => {
  const system = 'Lily and Tom';
  const m = await anthropic.messages.create({
    model, max_tokens: 40, temperature: 0, system, stop_sequences: [' little'], messages: story,
  });
  const oracle = await openaiText([{ role: 'system', content: system }, ...story], 40, { stop: [' little'] });
  assert.equal(m.content[0].text, oracle.choices[0].message.content);
  if (oracle.choices[0].finish_reason === 'stop' && m.usage.output_tokens < 40) {
    assert.equal(m.stop_reason, 'stop_sequence');
    assert.equal(m.stop_sequence, ' little');
  }
});

test('streamed message: events in order, text equal to the whole answer', async () => {
  const stream = anthropic.messages.stream({ model, max_tokens: 20, temperature: 0, messages: story });
  const types = [];
  let text = '';
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
  }
  const final = await stream.finalMessage();
  const whole = await anthropic.messages.create({ model, max_tokens: 20, temperature: 0, messages: story });
  assert.equal(types[0], 'message_start');
  assert.equal(types.at(-1), 'message_stop');
  assert.equal(types.at(-2), 'message_delta');
  assert.ok(types.includes('content_block_start') && types.includes('content_block_stop'));
  assert.equal(text, whole.content[0].text);
  assert.equal(final.content[0].text, whole.content[0].text);
  assert.equal(final.stop_reason, 'max_tokens');
  assert.equal(final.usage.output_tokens, 20);
});

const weather = {
  name: 'get_weather',
  description: 'Get the weather in a city',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string', maxLength: 20 }, unit: { enum: ['C', 'F'] } },
    required: ['city', 'unit'],
    additionalProperties: false,
  },
};

test('a forced tool call comes back as tool_use and its tool_result is accepted', async () => {
  const validate = new Ajv({ strict: false }).compile(weather.input_schema);
  const m = await anthropic.messages.create({
    model, max_tokens: 200, temperature: 0, messages: story, tools: [weather],
    tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
  });
  assert.equal(m.stop_reason, 'tool_use');
  const call = m.content.find((b) => b.type === 'tool_use');
  assert.ok(call, JSON.stringify(m.content));
  assert.equal(call.name, 'get_weather');
  assert.ok(validate(call.input), JSON.stringify(validate.errors));

  // Streamed: the input arrives as input_json_delta pieces the SDK assembles.
  const stream = anthropic.messages.stream({
    model, max_tokens: 200, temperature: 0, messages: story, tools: [weather],
    tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
  });
  const streamed = await stream.finalMessage();
  const streamedCall = streamed.content.find((b) => b.type === 'tool_use');
  assert.deepEqual(streamedCall.input, call.input);
  assert.equal(streamed.stop_reason, 'tool_use');

  const followUp = await anthropic.messages.create({
    model, max_tokens: 8, temperature: 0, tools: [weather],
    messages: [
      ...story,
      { role: 'assistant', content: m.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: '21 C' }] },
    ],
  });
  assert.equal(followUp.type, 'message');
  assert.equal(followUp.usage.output_tokens, 8);
});

test('count_tokens equals the prompt the OpenAI route counts', async () => {
  const system = 'A story.';
  const counted = await anthropic.messages.countTokens({ model, system, messages: story });
  const oracle = await openaiText([{ role: 'system', content: system }, ...story], 1);
  assert.equal(counted.input_tokens, oracle.usage.prompt_tokens);
});

test('errors arrive as the SDK\'s typed errors', async () => {
  await assert.rejects(
    anthropic.messages.create({ model: 'no-such-model', max_tokens: 4, messages: story }),
    (e) => e instanceof Anthropic.NotFoundError && e.error?.error?.type === 'not_found_error',
  );
  await assert.rejects(
    anthropic.messages.create({ model, max_tokens: 4, messages: [{ role: 'user', content: [{ type: 'video', url: 'x' }] }] }),
    (e) => e instanceof Anthropic.BadRequestError && /video/.test(e.message),
  );
  await assert.rejects(
    anthropic.messages.create({ model, messages: story }),
    (e) => e instanceof Anthropic.BadRequestError && /max_tokens/.test(e.message),
  );
  const wrongKey = new Anthropic({ baseURL: origin, apiKey: 'wrong-key', maxRetries: 0 });
  await assert.rejects(
    wrongKey.messages.create({ model, max_tokens: 4, messages: story }),
    (e) => e instanceof Anthropic.AuthenticationError && e.error?.error?.type === 'authentication_error',
  );
});

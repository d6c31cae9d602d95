// The Responses API (/v1/responses) through the official OpenAI Node SDK. Needs a running
// server (scripts/test-clients.sh starts one):
//   HEARTH_BASE_URL=http://127.0.0.1:PORT/v1 HEARTH_API_KEY=KEY node --test responses.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.HEARTH_BASE_URL ?? 'http://127.0.0.1:8080/v1';
const apiKey = process.env.HEARTH_API_KEY ?? 'test-key';
const model = process.env.HEARTH_MODEL ?? 'stories260K';
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });

const weatherTool = {
  type: 'function', name: 'get_weather', description: 'Weather in a city', strict: true,
  parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'], additionalProperties: false },
};

// The text of a response's message items (finalResponse() does not add output_text).
const textOf = (r) => r.output.filter((i) => i.type === 'message')
  .flatMap((i) => i.content).map((c) => c.text).join('');

test('responses.create: a plain response equals the chat completion of the same message', async () => {
  const r = await client.responses.create({ model, input: 'Once upon a time', max_output_tokens: 16, temperature: 0 });
  const chat = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 16, temperature: 0,
  });
  assert.equal(r.object, 'response');
  assert.match(r.id, /^resp_/);
  assert.equal(r.status, 'incomplete');
  assert.equal(r.incomplete_details.reason, 'max_output_tokens');
  // output_text is the SDK's own convenience, made from the output items.
  assert.equal(r.output_text, chat.choices[0].message.content);
  assert.equal(r.usage.input_tokens, chat.usage.prompt_tokens);
  assert.equal(r.usage.output_tokens, 16);
});

test('streamed: the events build the same response the stream helper returns', async () => {
  const stream = client.responses.stream({ model, input: 'Once upon a time', max_output_tokens: 16, temperature: 0 });
  const types = [];
  let deltas = '';
  let last;
  for await (const event of stream) {
    types.push(event.type);
    last = event;
    if (event.type === 'response.output_text.delta') deltas += event.delta;
  }
  const final = await stream.finalResponse();
  assert.equal(types[0], 'response.created');
  assert.equal(types.at(-1), 'response.incomplete');
  assert.ok(types.includes('response.output_text.done'));
  assert.equal(textOf(final), deltas);
  // The helper takes the server's final object only from response.completed; an incomplete
  // one is in the last event.
  assert.equal(last.response.status, 'incomplete');
  assert.equal(textOf(last.response), deltas);
  const whole = await client.responses.create({ model, input: 'Once upon a time', max_output_tokens: 16, temperature: 0 });
  assert.equal(deltas, whole.output_text);

  // create({stream: true}) iterates the same events.
  const raw = await client.responses.create({ model, input: 'Once upon a time', max_output_tokens: 8, stream: true, temperature: 0 });
  let end;
  for await (const event of raw) end = event;
  assert.equal(end.type, 'response.incomplete');
  assert.equal(end.response.usage.output_tokens, 8);
});

test('a forced function call and its output round trip', async () => {
  const r = await client.responses.create({
    model, input: 'Weather in Paris?', tools: [weatherTool],
    tool_choice: { type: 'function', name: 'get_weather' }, parallel_tool_calls: false, max_output_tokens: 200, temperature: 0,
  });
  const call = r.output.find((item) => item.type === 'function_call');
  assert.ok(call, JSON.stringify(r.output));
  assert.equal(call.name, 'get_weather');
  const args = JSON.parse(call.arguments);
  assert.equal(typeof args.city, 'string');
  const next = await client.responses.create({
    model, tools: [weatherTool], max_output_tokens: 4, temperature: 0,
    input: [{ role: 'user', content: 'Weather in Paris?' }, call,
      { type: 'function_call_output', call_id: call.call_id, output: '21 C and sunny' }],
  });
  assert.equal(next.status, 'incomplete');
  assert.ok(next.usage.input_tokens > r.usage.input_tokens);

  // Streamed, the helper assembles the call from its argument deltas.
  const stream = client.responses.stream({
    model, input: 'Weather in Paris?', tools: [weatherTool], tool_choice: 'required', parallel_tool_calls: false, max_output_tokens: 200, temperature: 0,
  });
  const final = await stream.finalResponse();
  const streamedCall = final.output.find((item) => item.type === 'function_call');
  assert.equal(streamedCall.arguments, call.arguments);
});

test('previous_response_id, retrieve and delete', async () => {
  const first = await client.responses.create({ model, input: 'Once upon a time', max_output_tokens: 8, temperature: 0 });
  const second = await client.responses.create({
    model, previous_response_id: first.id, input: 'And then?', max_output_tokens: 4, temperature: 0,
  });
  const chat = await client.chat.completions.create({
    model, max_tokens: 4, temperature: 0, messages: [
      { role: 'user', content: 'Once upon a time' }, { role: 'assistant', content: first.output_text },
      { role: 'user', content: 'And then?' }],
  });
  assert.equal(second.usage.input_tokens, chat.usage.prompt_tokens);
  assert.equal(second.output_text, chat.choices[0].message.content);

  const got = await client.responses.retrieve(first.id);
  assert.equal(got.id, first.id);
  assert.equal(got.output_text, first.output_text);
  await client.responses.delete(first.id);
  await assert.rejects(client.responses.retrieve(first.id),
    (e) => e instanceof OpenAI.NotFoundError && e.message.includes(`Response with id '${first.id}' not found.`));
});

test('hosted tools are a 400 naming the tool', async () => {
  await assert.rejects(client.responses.create({ model, input: 'hi', tools: [{ type: 'web_search' }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'tools[0].type');
});

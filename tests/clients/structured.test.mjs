// Structured output and forced tool calls through the official OpenAI Node SDK, on
// stories260K (a story model that never writes JSON by itself: only the grammar can make it).
// Every output is checked by an independent validator (ajv) or by zod through the SDK's
// own chat.completions.parse. Needs a running server (scripts/test-clients.sh starts one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import Ajv from 'ajv';

const baseURL = process.env.HEARTH_BASE_URL ?? 'http://127.0.0.1:8080/v1';
const apiKey = process.env.HEARTH_API_KEY ?? 'test-key';
const model = process.env.HEARTH_MODEL ?? 'stories260K';
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120_000 });
const ajv = new Ajv({ strict: false });
const seeds = [1, 2, 3];
const story = [{ role: 'user', content: 'Once upon a time' }];

const personSchema = {
  type: 'object',
  $defs: {
    pet: {
      type: 'object',
      properties: { kind: { enum: ['cat', 'dog', 'bird'] }, name: { type: 'string', maxLength: 12 } },
      required: ['kind', 'name'],
      additionalProperties: false,
    },
  },
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 20 },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    tags: { type: 'array', items: { type: 'string', maxLength: 8 }, minItems: 1, maxItems: 3 },
    pet: { $ref: '#/$defs/pet' },
    contact: {
      anyOf: [
        { type: 'object', properties: { email: { type: 'string', maxLength: 30 } }, required: ['email'], additionalProperties: false },
        { type: 'null' },
      ],
    },
  },
  required: ['name', 'age', 'tags', 'pet', 'contact'],
  additionalProperties: false,
};

const tools = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather for a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string', maxLength: 20 }, unit: { enum: ['c', 'f'] } },
        required: ['city', 'unit'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'add',
      parameters: {
        type: 'object',
        properties: { a: { type: 'integer', minimum: -100, maximum: 100 }, b: { type: 'integer', minimum: -100, maximum: 100 } },
        required: ['a', 'b'],
        additionalProperties: false,
      },
    },
  },
];
const validators = Object.fromEntries(tools.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));

function checkCall(call) {
  assert.equal(call.type, 'function');
  const validate = validators[call.function.name];
  assert.ok(validate, `unknown tool ${call.function.name}`);
  const args = JSON.parse(call.function.arguments);
  assert.ok(validate(args), `${call.function.arguments}: ${ajv.errorsText(validate.errors)}`);
}

// Completes a JSON prefix with the fewest characters (close the string, finish a literal or
// number, add a value after a key or colon, close the brackets); JSON.parse then judges it.
function completeJsonPrefix(text) {
  const stack = [];
  let inString = false, escaped = false, afterKey = false;
  for (const ch of text) {
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') stack.push(ch);
    else if (ch === '}' || ch === ']') stack.pop();
  }
  let t = text;
  if (inString) {
    if (escaped) t += 'n';
    t = t.replace(/\\u[0-9a-fA-F]{0,3}$/, '') + '"';
  }
  t = t.trimEnd();
  const literal = /(t(r(u)?)?|f(a(l(s)?)?)?|n(u(l)?)?)$/.exec(t);
  if (literal && !/[A-Za-z"]/.test(t.at(-literal[0].length - 1) ?? '')) {
    const word = ['true', 'false', 'null'].find((w) => w.startsWith(literal[0]));
    t += word.slice(literal[0].length);
  }
  if (/[-+.eE]$/.test(t)) t += '0';
  if (t.endsWith(',')) t = t.slice(0, -1);
  if (t.endsWith(':')) t += 'null';
  // A key just closed inside an object: give it a value.
  if (stack.at(-1) === '{' && t.endsWith('"')) {
    const before = t.slice(0, t.lastIndexOf('"', t.length - 2)).trimEnd();
    if (before.endsWith('{') || before.endsWith(',')) t += ':null';
  }
  for (let i = stack.length - 1; i >= 0; --i) t += stack[i] === '{' ? '}' : ']';
  return t;
}

test('response_format json_object gives a JSON object at temperature 1', async () => {
  // stories260K keeps writing its story inside a JSON string, so most answers hit max_tokens:
  // a finished answer must parse, a cut one must be the start of a JSON object.
  assert.deepEqual(JSON.parse(completeJsonPrefix('{"a": [1, {"b": "x\\')), { a: [1, { b: 'x\n' }] });
  assert.throws(() => JSON.parse(completeJsonPrefix('{"a": }')));
  for (const seed of seeds) {
    const r = await client.chat.completions.create({
      model, messages: story, temperature: 1, seed, max_tokens: 120,
      response_format: { type: 'json_object' },
    });
    const text = r.choices[0].message.content;
    const complete = r.choices[0].finish_reason === 'stop';
    const value = JSON.parse(complete ? text : completeJsonPrefix(text));
    assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), text);
  }
});

test('response_format json_schema (strict): nested objects, arrays, enums, anyOf, $ref', async () => {
  const validate = ajv.compile(personSchema);
  for (const seed of seeds) {
    const r = await client.chat.completions.create({
      model, messages: story, temperature: 1, seed, max_tokens: 400,
      response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema: personSchema } },
    });
    const text = r.choices[0].message.content;
    assert.equal(r.choices[0].finish_reason, 'stop', text);
    const value = JSON.parse(text);
    assert.ok(validate(value), `${text}: ${ajv.errorsText(validate.errors)}`);
    // Properties come in the order the schema lists them.
    assert.deepEqual(Object.keys(value), ['name', 'age', 'tags', 'pet', 'contact']);
  }
});

test('chat.completions.parse with a zod schema', async () => {
  const Step = z.object({ explanation: z.string().max(30), output: z.string().max(20) });
  const Solution = z.object({ steps: z.array(Step).max(3), final_answer: z.string().max(20) });
  for (const seed of seeds) {
    const r = await client.chat.completions.parse({
      model, messages: story, temperature: 1, seed, max_tokens: 400,
      response_format: zodResponseFormat(Solution, 'solution'),
    });
    const parsed = r.choices[0].message.parsed;
    assert.ok(parsed, r.choices[0].message.content);
    assert.ok(Solution.safeParse(parsed).success);
  }
});

test('tool_choice required forces a valid call of some tool', async () => {
  for (const seed of seeds) {
    const r = await client.chat.completions.create({
      model, messages: story, temperature: 1, seed, max_tokens: 200, tools, tool_choice: 'required',
      parallel_tool_calls: false,
    });
    const choice = r.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls', JSON.stringify(choice.message));
    assert.ok(choice.message.tool_calls.length >= 1);
    choice.message.tool_calls.forEach(checkCall);
  }
});

test('a named tool_choice forces exactly that tool, one call without parallel_tool_calls', async () => {
  for (const seed of seeds) {
    const r = await client.chat.completions.create({
      model, messages: story, temperature: 1, seed, max_tokens: 200, tools,
      tool_choice: { type: 'function', function: { name: 'add' } }, parallel_tool_calls: false,
    });
    const calls = r.choices[0].message.tool_calls;
    assert.equal(calls.length, 1, JSON.stringify(r.choices[0].message));
    assert.equal(calls[0].function.name, 'add');
    checkCall(calls[0]);
  }
});

test('tool_choice none makes no call', async () => {
  const r = await client.chat.completions.create({
    model, messages: story, temperature: 1, seed: 1, max_tokens: 20, tools, tool_choice: 'none',
  });
  assert.equal(r.choices[0].message.tool_calls ?? undefined, undefined);
  assert.equal(typeof r.choices[0].message.content, 'string');
});

test('streamed forced tool calls arrive as OpenAI streams them', async () => {
  for (const seed of seeds) {
    const stream = await client.chat.completions.create({
      model, messages: story, temperature: 1, seed, max_tokens: 200, tools, tool_choice: 'required',
      parallel_tool_calls: false, stream: true,
    });
    const calls = [];
    let finish = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      for (const d of choice.delta.tool_calls ?? []) {
        calls[d.index] ??= { type: 'function', function: { name: '', arguments: '' } };
        if (d.id) calls[d.index].id = d.id;
        if (d.function?.name) calls[d.index].function.name += d.function.name;
        if (d.function?.arguments) calls[d.index].function.arguments += d.function.arguments;
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    assert.equal(finish, 'tool_calls');
    assert.ok(calls.length >= 1);
    calls.forEach((c) => { assert.ok(c.id); checkCall(c); });
  }
});

test('a schema or grammar that does not compile is a 400 naming the place', async () => {
  await assert.rejects(
    client.chat.completions.create({
      model, messages: story, max_tokens: 5,
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', patternProperties: { a: {} } } } },
    }),
    (e) => e.status === 400 && /patternProperties/.test(e.message),
  );
  await assert.rejects(
    client.completions.create({ model, prompt: 'x', max_tokens: 5, grammar: 'root ::= undefined-rule' }),
    (e) => e.status === 400 && /undefined-rule/.test(e.message),
  );
});

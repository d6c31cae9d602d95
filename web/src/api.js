// The API as the pages use it: the key (or the OpenID provider's access token) from session
// storage, errors with the server's message, streamed chat completions read as Server-Sent
// Events, and JSON-lines streams (model pulls).
const KEY_ITEM = 'hearth.apiKey';
const TOKEN_ITEM = 'hearth.accessToken';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_ITEM) || '';
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_ITEM, key);
  else sessionStorage.removeItem(KEY_ITEM);
}

// The access token of an OpenID login (signin.js), until it expires.
export function accessToken() {
  try {
    const { token, expires } = JSON.parse(sessionStorage.getItem(TOKEN_ITEM) || 'null') || {};
    return token && (!expires || Date.now() < expires) ? token : '';
  } catch {
    return '';
  }
}

// Keeps `token` for `expiresIn` seconds (none given: until the server refuses it).
export function setAccessToken(token, expiresIn) {
  if (!token) {
    sessionStorage.removeItem(TOKEN_ITEM);
    return;
  }
  const expires = expiresIn ? Date.now() + expiresIn * 1000 : 0;
  sessionStorage.setItem(TOKEN_ITEM, JSON.stringify({ token, expires }));
}

// What the page sends as its bearer credential: the login's token, else the key.
export function credential() {
  return accessToken() || apiKey();
}

function headers(extra = {}) {
  const h = { ...extra };
  const bearer = credential();
  if (bearer) h.Authorization = `Bearer ${bearer}`;
  return h;
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch {
    // not JSON: the status line says enough
  }
  return new ApiError(response.status, message);
}

export async function listModels() {
  const response = await fetch('/v1/models', { headers: headers() });
  if (!response.ok) throw await failure(response);
  const body = await response.json();
  return body.data.map((m) => m.id);
}

// Streams one chat completion. `onDelta({content, reasoning})` runs for every piece; the
// promise gives the usage the server reported (null if it sent none). `signal` stops it.
export async function streamChat(body, onDelta, signal) {
  const response = await fetch('/v1/chat/completions', {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let usage = null;
  let finish = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      if (!data || data === '[DONE]') continue;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new ApiError(500, chunk.error.message || 'the server stopped the answer');
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices || []) {
        const delta = choice.delta || {};
        if (delta.content || delta.reasoning_content) {
          onDelta({ content: delta.content || '', reasoning: delta.reasoning_content || '' });
        }
        if (choice.finish_reason) finish = choice.finish_reason;
      }
    }
  }
  return { usage, finish };
}

// A GET of any route with the key: JSON, or text when `text` is set.
export async function get(path, { text = false } = {}) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw await failure(response);
  return text ? response.text() : response.json();
}

// Any request with the key: `body` sent as JSON, the JSON answer returned.
export async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response.json();
}

// A POST answered with JSON lines (application/x-ndjson, as /admin/models/pull streams its
// progress): `onLine(object)` runs for each line as it arrives.
export async function postLines(path, body, onLine) {
  const response = await fetch(path, {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json' }),
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value, { stream: !done });
    let end;
    while ((end = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (line) onLine(JSON.parse(line));
    }
    if (done) break;
  }
  if (buffer.trim()) onLine(JSON.parse(buffer));
}

// hearth serve --oidc-issuer against a real OpenID provider: the certified `oidc-provider` npm
// package on loopback, issuing JWT access tokens through the client-credentials grant, signed
// with RS256, ES256 or EdDSA keys. The OpenAI SDK then calls hearth with those tokens.
// Needs HEARTH_BIN (the hearth binary) and HEARTH_MODEL_FILE; scripts/test-clients.sh sets both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import * as jose from 'jose';
import OpenAI from 'openai';

const hearthBin = process.env.HEARTH_BIN;
const modelFile = process.env.HEARTH_MODEL_FILE;
const model = 'stories260K';
const audience = 'hearth-api';
const skip = !hearthBin || !modelFile ? 'HEARTH_BIN and HEARTH_MODEL_FILE are not set' : false;

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

let provider, providerServer, issuer, hearth, hearthLog = '', baseURL;

// Resources name the signing algorithm ("urn:hearth:ES256") or a foreign audience
// ("urn:other:ES256"), so one provider issues every kind of token the tests need.
async function startProvider() {
  const { default: Provider } = await import('oidc-provider');
  const keys = [];
  for (const alg of ['RS256', 'ES256', 'EdDSA']) {
    const { privateKey } = await jose.generateKeyPair(alg, alg === 'EdDSA' ? { extractable: true, crv: 'Ed25519' } : { extractable: true });
    keys.push({ ...(await jose.exportJWK(privateKey)), kid: `k-${alg}`, alg, use: 'sig' });
  }
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  const client = (id, scope) => ({
    client_id: id, client_secret: `${id}-secret`, grant_types: ['client_credentials'],
    redirect_uris: [], response_types: [], scope,
  });
  provider = new Provider(issuer, {
    clients: [
      client('app', 'hearth:inference'),
      client('ops', 'hearth:admin'),
      client('narrow', 'hearth:inference hearth:model:some-other-model'),
      client('nobody', 'openid'),
      client('flood', 'hearth:inference'),
    ],
    jwks: { keys },
    scopes: ['openid', 'hearth:inference', 'hearth:admin', 'hearth:model:some-other-model'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:hearth:RS256',
        getResourceServerInfo: (ctx, resource) => {
          const [, who, alg] = resource.split(':');
          return {
            scope: 'openid hearth:inference hearth:admin hearth:model:some-other-model',
            audience: who === 'hearth' ? audience : 'someone-else',
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg } },
          };
        },
        useGrantedResource: () => true,
      },
    },
  });
  providerServer = provider.listen(port);
}

async function token(clientId, scope, resource = 'urn:hearth:RS256') {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'Basic ' + Buffer.from(`${clientId}:${clientId}-secret`).toString('base64'),
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.access_token;
}

// Each subject's requests per minute: more than any other test sends as one subject.
const subjectRpm = 12;

async function startHearth() {
  const port = await freePort();
  baseURL = `http://127.0.0.1:${port}`;
  hearth = spawn(hearthBin, ['serve', '--model', modelFile, '--host', '127.0.0.1', '--port', String(port),
    '--threads', '1', '--env-file', '/dev/null', '--state-dir', ':memory:', '--responses-db', ':memory:',
    '--oidc-issuer', issuer, '--oidc-audience', audience, '--oidc-rpm', String(subjectRpm)],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HEARTH_API_KEYS: '' } });
  hearth.stdout.on('data', (d) => { hearthLog += d; });
  hearth.stderr.on('data', (d) => { hearthLog += d; });
  for (let i = 0; i < 200; ++i) {
    try {
      if ((await fetch(`${baseURL}/health`)).ok) return;
    } catch { /* not up yet */ }
    if (hearth.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`hearth did not start:\n${hearthLog}`);
}

before(async () => {
  if (skip) return;
  await startProvider();
  await startHearth();
});

after(() => {
  hearth?.kill();
  providerServer?.close();
});

const chat = (apiKey) => new OpenAI({ baseURL: `${baseURL}/v1`, apiKey, maxRetries: 0 })
  .chat.completions.create({ model, messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 4, temperature: 0 });

test('tokens signed with RS256, ES256 and EdDSA are accepted', { skip }, async () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA']) {
    const t = await token('app', 'hearth:inference', `urn:hearth:${alg}`);
    assert.equal(jose.decodeProtectedHeader(t).alg, alg);
    const r = await chat(t);
    assert.equal(r.usage.completion_tokens, 4, alg);
  }
});

test('a token for another audience is refused', { skip }, async () => {
  const t = await token('app', 'hearth:inference', 'urn:other:ES256');
  await assert.rejects(chat(t), (e) => e.status === 401 && /audience/.test(e.message));
});

test('forged tokens are refused: altered claims, alg none, HMAC with the public key', { skip }, async () => {
  const t = await token('app', 'hearth:inference', 'urn:hearth:RS256');
  const [h, p, s] = t.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const altered = `${h}.${b64({ ...claims, scope: 'hearth:admin' })}.${s}`;
  await assert.rejects(chat(altered), (e) => e.status === 401);
  const none = `${b64({ alg: 'none', kid: 'k-RS256' })}.${p}.`;
  await assert.rejects(chat(none), (e) => e.status === 401 && /refused/.test(e.message));
  const { createHmac } = await import('node:crypto');
  const jwks = await (await fetch(`${issuer}/jwks`)).json();
  const rsa = await jose.importJWK(jwks.keys.find((k) => k.kty === 'RSA'), 'RS256');
  const pem = await jose.exportSPKI(rsa);
  const input = `${b64({ alg: 'HS256', kid: 'k-RS256' })}.${p}`;
  const hmac = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
  await assert.rejects(chat(hmac), (e) => e.status === 401);
});

test('scopes: inference tokens cannot reach /metrics, admin tokens can', { skip }, async () => {
  const inference = await token('app', 'hearth:inference');
  const admin = await token('ops', 'hearth:admin');
  const get = (t) => fetch(`${baseURL}/metrics`, { headers: { authorization: `Bearer ${t}` } });
  assert.equal((await get(inference)).status, 403);
  assert.equal((await get(admin)).status, 200);
  assert.equal((await chat(admin)).usage.completion_tokens, 4);  // admin includes inference
});

test('a token limited to other models sees this one as absent; no hearth scope is 403', { skip }, async () => {
  const narrow = await token('narrow', 'hearth:inference hearth:model:some-other-model');
  await assert.rejects(chat(narrow), (e) => e.status === 404);
  const models = await (await fetch(`${baseURL}/v1/models`, { headers: { authorization: `Bearer ${narrow}` } })).json();
  assert.deepEqual(models.data.map((m) => m.id), []);
  const nobody = await token('nobody', 'openid');
  await assert.rejects(chat(nobody), (e) => e.status === 403);
});

test('no token, or garbage, is 401', { skip }, async () => {
  await assert.rejects(chat('not-a-token'), (e) => e.status === 401);
  await assert.rejects(chat('a.b.c'), (e) => e.status === 401);
});

test('limits apply per subject, across its tokens; other subjects are not affected', { skip }, async () => {
  const post = (t) => fetch(`${baseURL}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Once' }], max_tokens: 2 }),
  });
  const flood = await token('flood', 'hearth:inference');
  const first = await post(flood);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-ratelimit-limit-requests'), String(subjectRpm));
  assert.equal(first.headers.get('x-ratelimit-remaining-requests'), String(subjectRpm - 1));
  for (let i = 1; i < subjectRpm; ++i) assert.equal((await post(flood)).status, 200, `request ${i + 1}`);
  // A fresh token of the same subject shares its minute.
  const refused = await post(await token('flood', 'hearth:inference'));
  assert.equal(refused.status, 429);
  assert.equal((await refused.json()).error.code, 'rate_limit_exceeded');
  assert.ok(Number(refused.headers.get('retry-after')) >= 1);
  assert.equal((await post(await token('app', 'hearth:inference'))).status, 200);
});

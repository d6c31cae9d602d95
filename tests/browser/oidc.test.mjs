// The web UI's OpenID login in Debian's chromium (playwright-core): a live `hearth serve
// --oidc-issuer --oidc-client-id` and the certified `oidc-provider` npm package on loopback,
// whose login page (a username/password form served here) the browser fills in. The page
// must run the authorization code flow with PKCE (S256), state and nonce as a public client,
// chat with the access token it gets, refuse a forged answer and a provider's refusal with a
// message, and forget the token on sign-out.
// Needs HEARTH_BIN and HEARTH_MODEL_FILE (tests/browser/run.sh sets both) and CHROMIUM.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const hearthBin = process.env.HEARTH_BIN;
const modelFile = process.env.HEARTH_MODEL_FILE;
const skip = !hearthBin || !modelFile ? 'HEARTH_BIN and HEARTH_MODEL_FILE are not set' : false;
const TIMEOUT = 20000;
const SCREENSHOTS = process.env.SCREENSHOT_DIR || '';
const CLIENT_ID = 'hearth-ui';
const AUDIENCE = 'hearth-api';
const USER = { name: 'alice', password: 'wonderland' };

let browser, provider, providerServer, issuer, hearth, hearthURL;
let hearthLog = '';
const problems = []; // CSP violations on hearth's pages

function freePort() {
  return new Promise((resolve) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

const escapeHtml = (s) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, message = '') {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test provider</title></head><body>
<h1>Test identity provider</h1><p role="alert">${escapeHtml(message)}</p>
<form method="post" action="/interaction/${uid}/login">
<label>Username <input name="username" autocomplete="off"></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Log in</button></form>
<form method="post" action="/interaction/${uid}/cancel"><button type="submit">Cancel</button></form>
</body></html>`;
}

// The provider's own interaction routes: a login form (one user), consent given at once for
// what the client asked (openid, and hearth:inference on the API's resource), or a refusal.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params } = details;
  const action = req.url.split('?')[0].split('/')[3];
  if (req.method === 'POST' && action === 'cancel') {
    await provider.interactionFinished(req, res,
      { error: 'access_denied', error_description: 'the user cancelled the sign-in' },
      { mergeWithLastSubmission: false });
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    if (form.get('username') !== USER.name || form.get('password') !== USER.password) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(loginPage(uid, 'Wrong username or password.'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: USER.name } },
      { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(prompt.details.missingResourceScopes || {})) {
      grant.addResourceScope(resource, scopes.join(' '));
    }
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } },
      { mergeWithLastSubmission: true });
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(loginPage(uid));
}

async function startProvider(redirectUri) {
  const { default: Provider } = await import('oidc-provider');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      token_endpoint_auth_method: 'none', // a public client: no secret, PKCE instead
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [redirectUri],
    }],
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: ['oidc-browser-test'] },
    scopes: ['openid', 'hearth:inference'],
    findAccount: (ctx, id) => (id === USER.name ? { accountId: id, claims: () => ({ sub: id }) } : undefined),
    interactions: { url: (ctx, i) => `/interaction/${i.uid}` },
    pkce: { required: () => true },
    ttl: { AccessToken: 3600, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
    // The page (hearth's origin, the client's redirect URI) calls the token endpoint.
    clientBasedCORS: (ctx, origin, client) => client.redirectUris.some((u) => new URL(u).origin === origin),
    features: {
      devInteractions: { enabled: false },
      // Access tokens for hearth: JWTs with its audience and the hearth:inference scope.
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:hearth',
        getResourceServerInfo: () => ({
          scope: 'hearth:inference', audience: AUDIENCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } },
        }),
        useGrantedResource: () => true,
      },
    },
  });
  const callback = provider.callback();
  providerServer = createServer((req, res) => {
    if (!req.url.startsWith('/interaction/')) {
      callback(req, res);
      return;
    }
    interaction(req, res).catch((e) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(e));
    });
  }).listen(port, '127.0.0.1');
}

async function startHearth(port) {
  hearth = spawn(hearthBin, ['serve', '--model', modelFile, '--host', '127.0.0.1', '--port', String(port),
    '--threads', '1', '--env-file', '/dev/null', '--state-dir', ':memory:', '--responses-db', ':memory:',
    '--oidc-issuer', issuer, '--oidc-audience', AUDIENCE, '--oidc-client-id', CLIENT_ID],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HEARTH_API_KEYS: '' } });
  hearth.stdout.on('data', (d) => { hearthLog += d; });
  hearth.stderr.on('data', (d) => { hearthLog += d; });
  for (let i = 0; i < 200; ++i) {
    try {
      if ((await fetch(`${hearthURL}/health`)).ok) return;
    } catch { /* not up yet */ }
    if (hearth.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`hearth did not start:\n${hearthLog}`);
}

before(async () => {
  if (skip) return;
  const port = await freePort();
  hearthURL = `http://127.0.0.1:${port}`;
  await startProvider(`${hearthURL}/auth/callback`);
  await startHearth(port);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
});

after(async () => {
  await browser?.close();
  hearth?.kill();
  providerServer?.close();
});

async function openPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.log(`CSP violation: ${e.violatedDirective} ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
    }, true);
  });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (msg) => {
    if (msg.text().startsWith('CSP violation') && page.url().startsWith(hearthURL)) problems.push(msg.text());
  });
  const response = await page.goto(`${hearthURL}/`);
  assert.equal(response.status(), 200);
  return { page, context, response };
}

const loginButton = (page) => page.getByRole('button', { name: 'Sign in with identity provider', exact: true });
const storedToken = (page) => page.evaluate(() => sessionStorage.getItem('hearth.accessToken'));
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url'));

async function chatAnswer(token, body) {
  const response = await fetch(`${hearthURL}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).choices[0].message.content;
}

test('the page logs in at the provider (code + PKCE), chats with the token, and signs out', { skip }, async () => {
  const { page, context, response } = await openPage();
  assert.match(response.headers()['content-security-policy'], new RegExp(`connect-src 'self' ${issuer};`));
  const dialog = page.getByRole('dialog', { name: 'Sign in to hearth' });
  await dialog.waitFor();
  await page.getByLabel('API key').waitFor(); // a key still works; the login comes first
  await loginButton(page).waitFor();
  if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, 'ui-oidc-sign-in.png') });

  let authorize = null;
  let tokenRequest = null;
  page.on('request', (r) => {
    if (r.url().startsWith(`${issuer}/auth?`)) authorize = new URL(r.url());
    if (r.url() === `${issuer}/token` && r.method() === 'POST') tokenRequest = r;
  });
  await loginButton(page).click();
  await page.waitForURL((u) => u.href.startsWith(`${issuer}/interaction/`));
  await page.getByLabel('Username').fill(USER.name);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong username' }).waitFor();
  await page.getByLabel('Username').fill(USER.name);
  await page.getByLabel('Password').fill(USER.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${hearthURL}/`); // back through /auth/callback
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await dialog.isVisible(), false);

  // The authorization request: a public client's code flow with PKCE S256, state and nonce.
  assert.ok(authorize, 'no authorization request was seen');
  const sent = Object.fromEntries(authorize.searchParams);
  assert.equal(sent.client_id, CLIENT_ID);
  assert.equal(sent.response_type, 'code');
  assert.equal(sent.redirect_uri, `${hearthURL}/auth/callback`);
  assert.equal(sent.scope, 'openid hearth:inference');
  assert.equal(sent.code_challenge_method, 'S256');
  assert.ok(sent.state.length >= 22 && sent.nonce.length >= 22, 'state and nonce are random values');
  // The token request proves the challenge (RFC 7636: BASE64URL(SHA256(verifier))), no secret.
  assert.ok(tokenRequest, 'no token request was seen');
  const form = new URLSearchParams(tokenRequest.postData());
  assert.equal(form.get('grant_type'), 'authorization_code');
  assert.equal(form.get('client_id'), CLIENT_ID);
  assert.equal(form.get('client_secret'), null);
  assert.equal(tokenRequest.headers().authorization, undefined);
  assert.equal(createHash('sha256').update(form.get('code_verifier')).digest('base64url'), sent.code_challenge);

  const { token } = JSON.parse(await storedToken(page));
  const c = claims(token);
  assert.equal(c.iss, issuer);
  assert.equal(c.aud, AUDIENCE);
  assert.equal(c.sub, USER.name);
  assert.equal(c.scope, 'hearth:inference');

  // A chat with that token: the page's answer is the API's answer to the same request.
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.getByLabel('Temperature').fill('0');
  await page.getByLabel('Max tokens').fill('12');
  const message = page.getByRole('textbox', { name: 'Message' });
  await message.fill('Once upon a time');
  const [request, answer] = await Promise.all([
    page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions')),
    page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions')),
    message.press('Enter'),
  ]);
  assert.equal(answer.status(), 200);
  assert.equal(request.headers().authorization, `Bearer ${token}`);
  await page.getByRole('button', { name: 'Regenerate' }).waitFor(); // the answer is complete
  const expected = await chatAnswer(token, {
    model: JSON.parse(request.postData()).model,
    messages: [{ role: 'user', content: 'Once upon a time' }],
    temperature: 0, top_p: 1, max_tokens: 12,
  });
  const shown = await page.locator('.message.assistant .body').last().innerText();
  assert.ok(expected.trim().length > 0);
  assert.equal(shown.replace(/\s+/g, ' ').trim(), expected.replace(/\s+/g, ' ').trim());

  // Sign out: the token is gone from the tab and the page asks again.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await dialog.waitFor();
  await loginButton(page).waitFor();
  assert.equal(await storedToken(page), null);
  assert.deepEqual(problems, []);
  await context.close();
});

test('an answer whose state does not match the sign-in this tab started is refused', { skip }, async () => {
  const { page, context } = await openPage();
  let tokenRequests = 0;
  page.on('request', (r) => { if (r.url() === `${issuer}/token`) tokenRequests += 1; });
  await loginButton(page).click();
  await page.waitForURL((u) => u.href.startsWith(`${issuer}/interaction/`));
  // A forged link back to hearth (a code and state that this tab did not ask for).
  const forged = new URL(`${hearthURL}/auth/callback`);
  forged.search = new URLSearchParams({ code: 'forged-code', state: 'tampered-state', iss: issuer }).toString();
  await page.goto(forged.href);
  const alert = page.getByRole('alert').filter({ hasText: 'state mismatch' });
  await alert.waitFor();
  assert.match(await alert.innerText(), /Sign-in refused: the answer does not match the sign-in this tab started/);
  await loginButton(page).waitFor();
  assert.equal(page.url(), `${hearthURL}/`);
  assert.equal(await storedToken(page), null);
  assert.equal(tokenRequests, 0, 'a forged code must never reach the token endpoint');
  // The same link again: the tab has no sign-in under way any more.
  await page.goto(forged.href);
  await page.getByRole('alert').filter({ hasText: 'this tab started no sign-in' }).waitFor();
  await context.close();
});

test("the provider's refusal is shown, and no token is kept", { skip }, async () => {
  const { page, context } = await openPage();
  await loginButton(page).click();
  await page.waitForURL((u) => u.href.startsWith(`${issuer}/interaction/`));
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.waitForURL(`${hearthURL}/`);
  const alert = page.getByRole('alert').filter({ hasText: 'refused the sign-in' });
  await alert.waitFor();
  assert.match(await alert.innerText(), /access_denied: the user cancelled the sign-in/);
  assert.equal(await storedToken(page), null);
  await context.close();
});

test('a login started on the dashboard comes back to the dashboard', { skip }, async () => {
  const { page, context } = await openPage();
  await page.goto(`${hearthURL}/dashboard`);
  await loginButton(page).click();
  await page.waitForURL((u) => u.href.startsWith(`${issuer}/interaction/`));
  await page.getByLabel('Username').fill(USER.name);
  await page.getByLabel('Password').fill(USER.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${hearthURL}/dashboard`); // through /auth/callback, then back
  assert.equal(claims(JSON.parse(await storedToken(page)).token).sub, USER.name);
  await page.getByRole('button', { name: 'Sign out' }).waitFor(); // signed in
  assert.equal(await page.getByRole('dialog', { name: 'Sign in to hearth' }).isVisible(), false);
  await context.close();
});

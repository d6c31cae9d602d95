// The Models page and the dashboard's latency, usage and machine panels in Debian's chromium
// (playwright-core), against the live server tests/browser/run.sh starts (an admin key, two
// models given as files, an empty models directory, HF_ENDPOINT at FAKE_HUB_PORT). The oracles:
// the file served by a local fake hub (fake_hub.mjs) and its sha256, the server's own API
// answers (/api/ps, /admin/models, the responses' usage), /metrics' raw buckets, the catalog's
// source file (data/catalog.json) and what Node reads of this machine.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startFakeHub } from './fake_hub.mjs';

const URL = process.env.HEARTH_URL;
const KEY = process.env.HEARTH_API_KEY;
const SCREENSHOTS = process.env.SCREENSHOT_DIR || '';
const ROOT = new globalThis.URL('../..', import.meta.url).pathname;
const TIMEOUT = 30000;
const MODEL_FILE = readFileSync(join(ROOT, 'tests/data/models/stories260K.gguf'));
const REPO = 'test-org/tiny-stories-GGUF';

let browser;
let hub;
const problems = []; // CSP violations and requests to other origins
let current = '';

before(async () => {
  assert.ok(process.env.FAKE_HUB_PORT, 'run.sh sets FAKE_HUB_PORT (the server has HF_ENDPOINT at it)');
  hub = await startFakeHub(Number(process.env.FAKE_HUB_PORT), { [REPO]: { 'stories260K.gguf': MODEL_FILE } });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  if (SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });
});
beforeEach((t) => {
  current = t.name;
});
after(async () => {
  await browser?.close();
  await hub?.close();
});

async function api(path, { method, body, key = KEY, status = 200 } = {}) {
  const response = await fetch(URL + path, {
    method: method || (body ? 'POST' : 'GET'),
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.equal(response.status, status, `${path}: ${await response.clone().text()}`);
  return path === '/metrics' ? response.text() : response.json();
}

// `path` in a fresh browser context whose session storage holds `key`.
async function openPage(path, { key = KEY, viewport = { width: 1280, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport });
  await context.addInitScript((k) => sessionStorage.setItem('hearth.apiKey', k), key);
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.log(`CSP violation: ${e.violatedDirective} at ${e.sourceFile}:${e.lineNumber}`);
    }, true);
  });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (msg) => {
    if (msg.text().startsWith('CSP violation')) problems.push(`${msg.text()} (test: ${current})`);
  });
  page.on('request', (req) => {
    if (!req.url().startsWith(URL)) problems.push(`third-party request: ${req.url()}`);
  });
  const response = await page.goto(URL + path);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'], /script-src 'self';/);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, context };
}

async function shoot(page, name) {
  if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, name) });
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const numberIn = (text) => Number(text.replace(/[^0-9.]/g, ''));

test('with an inference key the models page says an admin key is needed and shows nothing else', async () => {
  const { key } = await api('/admin/keys', { body: { name: 'ui-models-inference', scope: 'inference' }, status: 201 });
  await api('/admin/models', { key, status: 403 });
  const { page, context } = await openPage('/models', { key });
  await page.getByRole('status').filter({ hasText: 'needs an admin key' }).waitFor();
  assert.equal(await page.locator('#panels').isVisible(), false);
  assert.equal(await page.getByRole('button', { name: 'Pull' }).count(), 0);
  await context.close();
});

test('the catalog lists data/catalog.json with its sizes, and the served models their files', async () => {
  const source = JSON.parse(readFileSync(join(ROOT, 'data/catalog.json'), 'utf8')).models;
  const { page, context } = await openPage('/models');
  const rows = await page.locator('#catalog tr').evaluateAll((trs) => trs.map((tr) =>
    [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(rows.map((r) => r[0]), source.map((m) => m.name));
  rows.forEach((r, i) => {
    assert.equal(r[1], source[i].kind);
    assert.equal(r[2], `~${source[i].size_gb} GB`);
    assert.equal(r[3], `~${source[i].ram_gb} GB`);
    assert.equal(r[5], source[i].license);
    assert.ok(['yes', 'no'].includes(r[6]), r[6]);
    assert.ok(r[7] === 'Pull' || r[7] === 'installed');
  });
  const served = (await api('/admin/models')).data.map((m) => m.name).sort();
  const listed = await page.locator('#installed tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.model));
  assert.deepEqual(listed.sort(), served);
  assert.ok(served.includes('tiny-a'));
  const tinyA = page.locator('#installed tr[data-model="tiny-a"] td');
  assert.equal(await tinyA.nth(1).innerText(), `${(MODEL_FILE.length / 2 ** 20).toFixed(1)} MiB`);
  await context.close();
});

let pulled = ''; // the name the pull installed, for the tests after it

test('a pull from the hub moves the progress bar to the end, then the model is listed', async () => {
  const { page, context } = await openPage('/models');
  // Every value the bar takes, in order.
  await page.evaluate(() => {
    const bar = document.getElementById('pull-progress');
    window.seen = [];
    new MutationObserver(() => window.seen.push([bar.hasAttribute('value') ? bar.value : null, bar.max]))
      .observe(bar, { attributes: true, attributeFilter: ['value', 'max'] });
  });
  await page.getByRole('textbox', { name: 'Model reference' }).fill(`${REPO}/stories260K.gguf`);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  if (SCREENSHOTS) {
    await page.waitForFunction(() => {
      const bar = document.getElementById('pull-progress');
      return bar.value > bar.max / 3 && bar.value < bar.max;
    });
    await shoot(page, 'ui-models-pull.png');
  }
  await page.waitForSelector('body[data-pulled]');
  pulled = await page.evaluate(() => document.body.dataset.pulled);
  await page.getByRole('status').filter({ hasText: `Installed ${pulled}` }).waitFor();
  const seen = (await page.evaluate(() => window.seen)).filter(([value]) => value !== null);
  const size = MODEL_FILE.length;
  assert.ok(seen.length >= 3, JSON.stringify(seen));
  assert.deepEqual(seen.at(-1), [size, size]);
  assert.ok(seen.some(([value, max]) => max === size && value > 0 && value < size), `no value between: ${JSON.stringify(seen)}`);
  for (let i = 1; i < seen.length; ++i) assert.ok(seen[i][0] >= seen[i - 1][0], `went back: ${JSON.stringify(seen)}`);
  // The hub sent the whole file (the throttled download), and it arrived intact.
  assert.ok(hub.requests.some((r) => r.startsWith(`GET /${REPO}/resolve/`) && !r.includes('Range')),
    JSON.stringify(hub.requests));
  const installed = (await api('/admin/models')).data.find((m) => m.name === pulled);
  assert.ok(installed, `${pulled} not in /admin/models`);
  assert.equal(sha256(readFileSync(installed.path)), sha256(MODEL_FILE));
  const row = page.locator(`#installed tr[data-model="${pulled}"]`);
  await row.waitFor();
  assert.equal(await row.locator('td').nth(1).innerText(), `${(size / 2 ** 20).toFixed(1)} MiB`);
  await shoot(page, 'ui-models.png');
  await context.close();
});

test('Load and Unload put the pulled model in memory and take it out, as /api/ps shows', async () => {
  assert.ok(pulled, 'the pull test ran first');
  const { page, context } = await openPage('/models');
  const state = page.locator(`#installed tr[data-model="${pulled}"] td.state`);
  assert.equal(await state.innerText(), 'not loaded');
  await page.getByRole('button', { name: `Load ${pulled}`, exact: true }).click();
  await page.waitForFunction((name) => document.querySelector(`#installed tr[data-model="${name}"] td.state`)
    .textContent.startsWith('loaded'), pulled);
  assert.ok((await api('/api/ps')).models.some((m) => m.name === pulled));
  assert.equal(await page.getByRole('button', { name: `Load ${pulled}`, exact: true }).isDisabled(), true);
  await page.getByRole('button', { name: `Unload ${pulled}`, exact: true }).click();
  await page.waitForFunction((name) => document.querySelector(`#installed tr[data-model="${name}"] td.state`)
    .textContent === 'not loaded', pulled);
  assert.ok(!(await api('/api/ps')).models.some((m) => m.name === pulled));
  await context.close();
});

test('Delete removes a pulled model and its file; a model given as a file is refused and kept', async () => {
  assert.ok(pulled, 'the pull test ran first');
  const path = (await api('/admin/models')).data.find((m) => m.name === pulled).path;
  assert.ok(existsSync(path));
  const { page, context } = await openPage('/models');
  page.on('dialog', (dialog) => dialog.accept());
  await page.getByRole('button', { name: 'Delete tiny-a', exact: true }).click();
  await page.locator('#action-error').filter({ hasText: 'deletes only models it installed' }).waitFor();
  assert.ok((await api('/admin/models')).data.some((m) => m.name === 'tiny-a'));
  await page.getByRole('button', { name: `Delete ${pulled}`, exact: true }).click();
  await page.locator(`#installed tr[data-model="${pulled}"]`).waitFor({ state: 'detached' });
  assert.ok(!(await api('/admin/models')).data.some((m) => m.name === pulled));
  assert.equal(existsSync(path), false);
  await context.close();
});

// The buckets of one model's histogram in /metrics: [[le, cumulative]].
function bucketsOf(metrics, name, model) {
  const out = [];
  for (const line of metrics.split('\n')) {
    const m = new RegExp(`^${name}_bucket\\{model="${model}",le="([^"]+)"\\} (\\d+)$`).exec(line);
    if (m) out.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  }
  return out;
}

// The bucket [lower, upper] the q-th observation falls in.
function bucketOfRank(buckets, q) {
  const rank = q * buckets.at(-1)[1];
  let lower = 0;
  for (const [le, n] of buckets) {
    if (n >= rank) return [lower, le];
    lower = le;
  }
  return [lower, Infinity];
}

test('the dashboard shows latency percentiles per model, usage per key and the machine', async () => {
  const { key } = await api('/admin/keys', { body: { name: 'ui-usage-probe', scope: 'inference' }, status: 201 });
  const { page, context } = await openPage('/dashboard', { viewport: { width: 1280, height: 2000 } });
  const polls = () => page.evaluate(() => Number(document.body.dataset.polls || 0));
  const waitPoll = async () => {
    const n = await polls();
    await page.waitForFunction((k) => Number(document.body.dataset.polls || 0) > k, n);
  };
  await waitPoll();
  const countBefore = Number(/hearth_time_to_first_token_seconds_count\{model="tiny-a"\} (\d+)/
    .exec(await api('/metrics'))?.[1] ?? 0);
  const usage = { requests: 0, prompt: 0, completion: 0 };
  for (const max of [4, 6, 8]) {
    const r = await api('/v1/chat/completions', {
      key, body: { model: 'tiny-a', messages: [{ role: 'user', content: 'Once' }], temperature: 0, max_tokens: max },
    });
    usage.requests += 1;
    usage.prompt += r.usage.prompt_tokens;
    usage.completion += r.usage.completion_tokens;
  }
  await waitPoll();
  await waitPoll();

  const metrics = await api('/metrics');
  const cells = async (selector) => page.locator(`${selector} td`).allInnerTexts();
  const latency = await cells('#latency tr[data-model="tiny-a"]');
  assert.equal(numberIn(latency[1]), countBefore + 3);
  const ttft = bucketsOf(metrics, 'hearth_time_to_first_token_seconds', 'tiny-a');
  const itl = bucketsOf(metrics, 'hearth_inter_token_latency_seconds', 'tiny-a');
  assert.equal(ttft.at(-1)[1], countBefore + 3);
  // Each percentile shown lies in the bucket its rank falls in (the page interpolates inside it).
  [[ttft, 2], [itl, 5]].forEach(([buckets, at]) => [0.5, 0.9, 0.99].forEach((q, i) => {
    const shown = numberIn(latency[at + i]) / 1000;
    const [lower, upper] = bucketOfRank(buckets, q);
    assert.ok(shown >= lower - 1e-4 && shown <= (upper === Infinity ? lower : upper) + 1e-4,
      `p${q * 100} ${latency[at + i]} not in [${lower}, ${upper}]`);
  }));

  const probe = (await cells('#usage tr[data-key="ui-usage-probe"]')).map(numberIn);
  assert.deepEqual(probe.slice(1), [usage.requests, usage.prompt, usage.completion, 0]);

  const data = (id) => page.locator(`#${id}`).getAttribute('data-value');
  assert.equal(Number(await data('machine-cpus')), cpus().length);
  assert.equal(Number(await data('machine-memory')), totalmem());
  const simd = await data('machine-simd');
  assert.equal(simd, /hearth_cpu_info\{simd="([^"]+)"/.exec(metrics)[1]);
  const flags = readFileSync('/proc/cpuinfo', 'utf8');
  if (simd === 'avx512') assert.match(flags, /\bavx512f\b/);
  if (simd === 'avx2') assert.match(flags, /\bavx2\b/);
  assert.ok(Number(await data('machine-threads')) >= 1);
  assert.match(await page.locator('#machine-cpu').innerText(), /^\d+% \(hearth \d+%\)$/);
  for (const id of ['latency', 'cpu']) {
    const points = Number(await page.locator(`#chart-${id} .chart`).getAttribute('data-points'));
    assert.ok(points >= 1, `${id}: ${points} points`);
  }
  await shoot(page, 'ui-dashboard-panels.png');
  await context.close();
});

test('no page broke the Content-Security-Policy or asked another origin', () => {
  assert.deepEqual(problems, []);
});

// A server without API keys, opened in Debian's chromium through an --allowed-host name (the
// browser resolves hearth.test to 127.0.0.1): the page's own POSTs carry
// `Origin: http://hearth.test:PORT`, its own origin, and must be answered. (Other origins'
// refusals: test_web_ui, ServerCors.)
// Needs HEARTH_BIN and HEARTH_MODEL_FILE (tests/browser/run.sh sets both) and CHROMIUM.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

const hearthBin = process.env.HEARTH_BIN;
const modelFile = process.env.HEARTH_MODEL_FILE;
const skip = !hearthBin || !modelFile ? 'HEARTH_BIN and HEARTH_MODEL_FILE are not set' : false;
const NAME = 'hearth.test';

let browser, hearth, port;
let hearthLog = '';

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = s.address();
      s.close(() => resolve(p));
    });
  });
}

before(async () => {
  if (skip) return;
  port = await freePort();
  hearth = spawn(hearthBin, ['serve', '--model', modelFile, '--host', '127.0.0.1', '--port', String(port),
    '--threads', '1', '--env-file', '/dev/null', '--state-dir', ':memory:', '--responses-db', ':memory:',
    '--allowed-host', NAME],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HEARTH_API_KEYS: '' } });
  hearth.stdout.on('data', (d) => { hearthLog += d; });
  hearth.stderr.on('data', (d) => { hearthLog += d; });
  let up = false;
  for (let i = 0; i < 200 && !up; ++i) {
    up = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
    if (!up) await new Promise((r) => setTimeout(r, 100));
  }
  if (!up) throw new Error(`hearth did not start:\n${hearthLog}`);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--host-resolver-rules=MAP ${NAME} 127.0.0.1`],
  });
});

after(async () => {
  await browser?.close();
  hearth?.kill();
});

test('the page reached as an --allowed-host name chats with its server (no keys)', { skip }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  const origin = `http://${NAME}:${port}`;
  assert.equal((await page.goto(`${origin}/`)).status(), 200);
  await page.waitForSelector('body[data-ready="true"]');
  const message = page.getByRole('textbox', { name: 'Message' });
  await message.fill('Once upon a time');
  const [request, response] = await Promise.all([
    page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions')),
    page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions')),
    message.press('Enter'),
  ]);
  assert.equal(await request.headerValue('origin'), origin); // the browser's own Origin header
  assert.equal(response.status(), 200, await response.text());
  await page.getByRole('button', { name: 'Regenerate' }).waitFor();
  assert.ok((await page.locator('.message.assistant .body').last().innerText()).trim().length > 0);
  await context.close();
});

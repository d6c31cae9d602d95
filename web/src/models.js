// hearth's Models page (admin keys only): the served models with load / unload / delete, the
// curated catalog with each entry's size and whether it fits this machine, and pulls from the
// hub with a progress bar fed by the JSON lines /admin/models/pull streams.
import { call, get, postLines } from './api.js';
import { approxGB, bytes } from './format.js';
import { askAgain, withKey } from './signin.js';

const $ = (id) => document.getElementById(id);

function cell(content) {
  const td = document.createElement('td');
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  return td;
}

function button(label, accessibleName, onClick, disabled = false) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.setAttribute('aria-label', accessibleName);
  b.disabled = disabled;
  b.addEventListener('click', onClick);
  return b;
}

const fitText = (fits) => (fits === null || fits === undefined ? '-' : fits ? 'yes' : 'no');

function report(where, e) {
  if (e.status === 401) askAgain(`The server refused the key: ${e.message}`);
  $(where).textContent = e.message;
}

// Runs one admin action, then lists the models again.
async function act(run) {
  $('action-error').textContent = '';
  for (const b of $('installed').querySelectorAll('button')) b.disabled = true; // one at a time
  try {
    await run();
  } catch (e) {
    report('action-error', e);
  }
  await refresh().catch((e) => report('action-error', e));
}

function installedRow(m) {
  const row = document.createElement('tr');
  row.dataset.model = m.name;
  const state = m.loaded
    ? `loaded, ${bytes(m.memory_bytes)}${m.active ? `, ${m.active} running` : ''}`
    : 'not loaded';
  const actions = document.createElement('div');
  actions.className = 'actions';
  actions.append(
    button('Load', `Load ${m.name}`, () => act(() => call('POST', `/admin/models/${encodeURIComponent(m.name)}/load`)), m.loaded),
    button('Unload', `Unload ${m.name}`, () => act(() => call('POST', `/admin/models/${encodeURIComponent(m.name)}/unload`)), !m.loaded),
    button('Delete', `Delete ${m.name}`, () => {
      if (!confirm(`Delete ${m.name} and its files from the models directory?`)) return;
      act(() => call('DELETE', `/admin/models/${encodeURIComponent(m.name)}`));
    }),
  );
  row.append(cell(m.name), cell(bytes(m.file_bytes)), cell(bytes(m.ram_estimate_bytes)),
    cell(fitText(m.fits)), cell(state), cell(actions));
  row.children[4].className = 'state';
  return row;
}

function catalogRow(entry) {
  const row = document.createElement('tr');
  row.dataset.model = entry.name;
  row.title = `${entry.description}\n${entry.repo}/${entry.file}`;
  const pull = entry.installed
    ? 'installed'
    : button('Pull', `Pull ${entry.name}`, () => startPull(entry.name));
  row.append(cell(entry.name), cell(entry.kind), cell(approxGB(entry.size_bytes)), cell(approxGB(entry.ram_bytes)),
    cell(entry.context.toLocaleString('en-US')), cell(entry.license), cell(fitText(entry.fits)), cell(pull));
  return row;
}

async function refresh() {
  const [installed, catalog] = await Promise.all([get('/admin/models'), get('/admin/models/catalog')]);
  $('installed').replaceChildren(...installed.data.map(installedRow));
  const m = catalog.machine;
  $('machine').textContent = `This machine: ${m.cores} cores, ${bytes(m.ram_total_bytes)} RAM `
    + `(${bytes(m.ram_available_bytes)} available), ${bytes(m.disk_free_bytes)} free for models. `
    + `A model fits when it needs at most ${Math.round(m.ram_share * 100)}% of the available RAM `
    + `with ${m.fit_context.toLocaleString('en-US')} tokens of context.`;
  $('catalog').replaceChildren(...catalog.data.map(catalogRow));
  document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
}

// The pull's progress: the plan names its files and sizes, then each file reports its bytes.
function pullProgress() {
  const progress = $('pull-progress');
  const text = $('pull-text');
  const done = new Map();
  let total = 0;
  let name = '';
  const show = () => {
    const sum = [...done.values()].reduce((a, b) => a + b, 0);
    progress.max = Math.max(1, total);
    progress.value = sum;
    text.textContent = `Downloading ${name}: ${bytes(sum)} of ${bytes(total)}`;
  };
  return (line) => {
    if (line.status === 'downloading') {
      name = line.name;
      total = line.files.reduce((a, f) => a + f.bytes, 0);
      for (const f of line.files) done.set(f.file, 0);
      show();
    } else if (line.status === 'progress') {
      done.set(line.file, line.completed);
      show();
    } else if (line.status === 'success') {
      progress.max = Math.max(1, total);
      progress.value = progress.max;
      text.textContent = `Installed ${line.name}`;
      document.body.dataset.pulled = line.name;
    } else if (line.status === 'error') {
      throw new Error(line.error);
    }
  };
}

let pulling = false;

async function startPull(reference) {
  if (pulling) return;
  pulling = true;
  $('pull-submit').disabled = true;
  $('pull-error').textContent = '';
  $('pull-state').hidden = false;
  const progress = $('pull-progress');
  progress.removeAttribute('value'); // indeterminate until the plan arrives
  $('pull-text').textContent = `Looking up ${reference} on the hub`;
  try {
    await postLines('/admin/models/pull', { model: reference }, pullProgress());
    $('pull-reference').value = '';
  } catch (e) {
    $('pull-text').textContent = `Pull of ${reference} failed`;
    report('pull-error', e);
  } finally {
    pulling = false;
    $('pull-submit').disabled = false;
    await refresh().catch((e) => report('action-error', e));
  }
}

async function start() {
  $('pull-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const reference = $('pull-reference').value.trim();
    if (reference) startPull(reference);
  });
  try {
    await withKey(() => get('/admin/models'));
    await refresh();
    $('panels').hidden = false;
  } catch (e) {
    $('status').textContent = e.status === 403
      ? `This page manages the server's models: it needs an admin key (${e.message})`
      : `Could not list the models: ${e.message}`;
  }
  document.body.dataset.ready = 'true';
}

start();

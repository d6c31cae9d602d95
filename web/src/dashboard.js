// hearth's dashboard: totals, the loaded models (/api/ps), latency percentiles per model, usage
// per key (/admin/usage), the machine, and live charts of the Prometheus metrics (/metrics,
// admin keys only), polled every few seconds and drawn with uPlot.
import uPlot from 'uplot';
import { get } from './api.js';
import { bytes, count } from './format.js';
import { askAgain, withKey } from './signin.js';

const POLL_SECONDS = 2;
const WINDOW_POINTS = 150; // five minutes at 2 s
const LATENCY_WINDOW_POLLS = 5; // the latency chart's percentiles cover the last 10 s

// What the charts show: a series is a metric summed over its labels, as a rate per second
// (counters) or as it is (gauges), times `scale`; or `compute(now, before)` over two polls'
// samples. A metric this server does not export simply stays empty. Add series here as
// /metrics grows.
const CHARTS = [
  { id: 'requests', title: 'Requests per second', series: [
    { label: 'requests', metric: 'hearth_requests_total', rate: true }] },
  { id: 'tokens', title: 'Tokens per second', series: [
    { label: 'prompt', metric: 'hearth_prompt_tokens_total', rate: true },
    { label: 'generated', metric: 'hearth_completion_tokens_total', rate: true }] },
  { id: 'latency', title: 'Latency p90, last 10 s, all models (ms)', series: [
    { label: 'first token', compute: () => recentP90('hearth_time_to_first_token_seconds') },
    { label: 'between tokens', compute: () => recentP90('hearth_inter_token_latency_seconds') }] },
  { id: 'sequences', title: 'Sequences', series: [
    { label: 'running', metric: 'hearth_active_sequences' },
    { label: 'waiting', metric: 'hearth_queue_depth' }] },
  { id: 'cpu', title: 'CPU use (% of all CPUs)', series: [
    { label: 'host', compute: (now, before) => hostCpuPercent(now, before) },
    { label: 'hearth', compute: (now, before, seconds) => processCpuPercent(now, before, seconds) }] },
  { id: 'memory', title: 'Memory (MiB)', series: [
    { label: 'process', metric: 'hearth_process_resident_memory_bytes', scale: 1 / 1048576 },
    { label: 'models', metric: 'hearth_model_memory_bytes', scale: 1 / 1048576 }] },
];
const COLORS = ['#b4461e', '#2f6db5', '#3a8f4b', '#8a4fb0'];

const $ = (id) => document.getElementById(id);

// Prometheus text format -> [{ name, labels: {label: value}, value }].
export function parseSamples(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    }
    const value = m[3] === '+Inf' ? Infinity : Number(m[3]);
    if (!Number.isNaN(value)) samples.push({ name: m[1], labels, value });
  }
  return samples;
}

// { name: sum over its label sets }.
export function sumByName(samples) {
  const sums = {};
  for (const s of samples) if (Number.isFinite(s.value)) sums[s.name] = (sums[s.name] || 0) + s.value;
  return sums;
}

// A histogram's cumulative buckets, [[le, count], ...] ascending (+Inf last), summed over the
// series `keep` accepts.
function buckets(samples, histogram, keep = () => true) {
  const byBound = new Map();
  for (const s of samples) {
    if (s.name !== `${histogram}_bucket` || !keep(s.labels)) continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    byBound.set(le, (byBound.get(le) || 0) + s.value);
  }
  return [...byBound.entries()].sort((a, b) => a[0] - b[0]);
}

// The q-quantile of cumulative buckets as Prometheus' histogram_quantile estimates it: linear
// inside the bucket the rank falls in; the highest finite bound when it falls above them all;
// null without observations.
export function quantile(q, cumulative) {
  const total = cumulative.length ? cumulative[cumulative.length - 1][1] : 0;
  if (!total) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, n] of cumulative) {
    if (n >= rank) {
      if (le === Infinity) return lower;
      return n === below ? le : lower + ((le - lower) * (rank - below)) / (n - below);
    }
    lower = le;
    below = n;
  }
  return lower;
}

let samples = []; // the last poll's
const latencyHistory = []; // the last polls' merged latency buckets, oldest first

function recentP90(histogram) {
  const now = buckets(samples, histogram);
  const old = latencyHistory.length ? latencyHistory[0][histogram] : [];
  const before = new Map(old);
  const delta = now.map(([le, n]) => [le, n - (before.get(le) || 0)]);
  const p = quantile(0.9, delta);
  return p === null ? null : p * 1000;
}

function value(list, name, labels = {}) {
  const s = list.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s ? s.value : undefined;
}

function hostCpuPercent(now, before) {
  if (!before) return null;
  let busy = 0;
  let total = 0;
  for (const s of now) {
    if (s.name !== 'hearth_host_cpu_seconds_total') continue;
    const d = s.value - (value(before, s.name, { mode: s.labels.mode }) ?? s.value);
    total += d;
    if (s.labels.mode !== 'idle' && s.labels.mode !== 'iowait') busy += d;
  }
  return total > 0 ? (100 * busy) / total : null;
}

function processCpuPercent(now, before, seconds) {
  if (!before || !(seconds > 0)) return null;
  const cpus = value(now, 'hearth_host_cpus') || 1;
  const d = value(now, 'hearth_process_cpu_seconds_total') - value(before, 'hearth_process_cpu_seconds_total');
  return Number.isFinite(d) ? (100 * Math.max(0, d)) / (seconds * cpus) : null;
}

const charts = CHARTS.map((c, i) => {
  const panel = document.createElement('section');
  panel.className = 'panel';
  panel.id = `chart-${c.id}`;
  const title = document.createElement('h2');
  title.textContent = c.title;
  const box = document.createElement('div');
  box.className = 'chart';
  box.setAttribute('role', 'img');
  box.setAttribute('aria-label', c.title);
  panel.append(title, box);
  $('charts').before(panel);
  const data = [[], ...c.series.map(() => [])];
  const plot = new uPlot({
    width: 400, height: 200,
    series: [{}, ...c.series.map((s, j) => ({ label: s.label, stroke: COLORS[(i + j) % COLORS.length], width: 2 }))],
    axes: [{}, { size: 60 }],
    scales: { y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
  }, data, box);
  return { config: c, plot, data, box };
});
$('charts').remove();

function resize() {
  for (const c of charts) c.plot.setSize({ width: Math.max(200, c.box.clientWidth), height: 200 });
}
window.addEventListener('resize', resize);

let previous = null; // { time, sums, samples } of the last poll

function record(sums, time) {
  for (const c of charts) {
    c.data[0].push(time);
    c.config.series.forEach((s, j) => {
      let v = null;
      if (s.compute) v = s.compute(samples, previous && previous.samples, previous && time - previous.time);
      else if (s.metric in sums) {
        if (!s.rate) v = sums[s.metric] * (s.scale || 1);
        else if (previous && s.metric in previous.sums) {
          v = Math.max(0, sums[s.metric] - previous.sums[s.metric]) / (time - previous.time);
        }
      }
      c.data[j + 1].push(v === undefined ? null : v);
    });
    if (c.data[0].length > WINDOW_POINTS) for (const d of c.data) d.shift();
    c.plot.setData(c.data);
    c.box.dataset.points = String(c.data[1].filter((v) => v !== null).length);
  }
  previous = { time, sums, samples };
  latencyHistory.push(Object.fromEntries(['hearth_time_to_first_token_seconds', 'hearth_inter_token_latency_seconds']
    .map((h) => [h, buckets(samples, h)])));
  if (latencyHistory.length > LATENCY_WINDOW_POLLS) latencyHistory.shift();
}

function row(cells, numbersFrom = 1) {
  const tr = document.createElement('tr');
  cells.forEach((text, i) => {
    const td = document.createElement('td');
    td.textContent = text;
    if (i >= numbersFrom) td.className = 'number';
    tr.append(td);
  });
  return tr;
}

const ms = (seconds) => (seconds === null ? '-' : `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1)} ms`);

// Per model, since the server started: first-token and inter-token percentiles.
function showLatency() {
  const models = [...new Set(samples.filter((s) => s.name === 'hearth_time_to_first_token_seconds_count' && s.value > 0)
    .map((s) => s.labels.model))].sort();
  $('latency').replaceChildren(...models.map((model) => {
    const ofModel = (labels) => labels.model === model;
    const ttft = buckets(samples, 'hearth_time_to_first_token_seconds', ofModel);
    const itl = buckets(samples, 'hearth_inter_token_latency_seconds', ofModel);
    const tr = row([model, count(value(samples, 'hearth_time_to_first_token_seconds_count', { model })),
      ...[0.5, 0.9, 0.99].map((q) => ms(quantile(q, ttft))),
      ...[0.5, 0.9, 0.99].map((q) => ms(quantile(q, itl)))]);
    tr.dataset.model = model;
    return tr;
  }));
  $('latency-empty').hidden = models.length > 0;
}

function showMachine(now, before, seconds) {
  const set = (id, text, raw) => {
    $(id).textContent = text;
    if (raw !== undefined) $(id).dataset.value = String(raw);
  };
  const info = now.find((s) => s.name === 'hearth_cpu_info');
  set('machine-simd', info ? `${info.labels.simd}${info.labels.amx === 'true' ? ' + AMX' : ''}` : '-',
    info && info.labels.simd);
  set('machine-cpus', count(value(now, 'hearth_host_cpus')), value(now, 'hearth_host_cpus'));
  set('machine-compute-threads', count(value(now, 'hearth_cpu_threads')), value(now, 'hearth_cpu_threads'));
  set('machine-threads', count(value(now, 'hearth_process_threads')), value(now, 'hearth_process_threads'));
  const host = hostCpuPercent(now, before);
  const own = processCpuPercent(now, before, seconds);
  set('machine-cpu', host === null ? '-' : `${host.toFixed(0)}% (hearth ${own === null ? '-' : own.toFixed(0)}%)`);
  const total = value(now, 'hearth_host_memory_bytes', { state: 'total' });
  const available = value(now, 'hearth_host_memory_bytes', { state: 'available' });
  set('machine-memory', total === undefined ? '-' : `${bytes(total - available)} of ${bytes(total)}`, total);
  set('machine-rss', bytes(value(now, 'hearth_process_resident_memory_bytes')),
    value(now, 'hearth_process_resident_memory_bytes'));
}

// Per key, all days the store holds: requests, tokens and errors summed over models and days.
async function showUsage() {
  const rows = (await get('/admin/usage')).data;
  const byKey = new Map();
  for (const r of rows) {
    const k = byKey.get(r.key) || { requests: 0, prompt: 0, completion: 0, errors: 0 };
    k.requests += r.requests;
    k.prompt += r.prompt_tokens;
    k.completion += r.completion_tokens;
    k.errors += r.errors;
    byKey.set(r.key, k);
  }
  $('usage-panel').hidden = byKey.size === 0;
  $('usage').replaceChildren(...[...byKey.keys()].sort().map((key) => {
    const k = byKey.get(key);
    const tr = row([key, count(k.requests), count(k.prompt), count(k.completion), count(k.errors)]);
    tr.dataset.key = key;
    return tr;
  }));
}

async function poll() {
  try {
    const [text, ps] = await Promise.all([get('/metrics', { text: true }), get('/api/ps'), showUsage()]);
    const time = Date.now() / 1000;
    samples = parseSamples(text);
    const sums = sumByName(samples);
    $('total-requests').textContent = count(sums.hearth_requests_total);
    $('total-prompt').textContent = count(sums.hearth_prompt_tokens_total);
    $('total-generated').textContent = count(sums.hearth_completion_tokens_total);
    $('total-models').textContent = count(ps.models.length);
    $('models').replaceChildren(...ps.models.map((m) => row([m.name, bytes(m.size),
      new Date(m.expires_at).getFullYear() > 3000 ? 'kept loaded' : new Date(m.expires_at).toLocaleTimeString()], 3)));
    showLatency();
    showMachine(samples, previous && previous.samples, previous && time - previous.time);
    record(sums, time);
    $('status').textContent = '';
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  } catch (e) {
    if (e.status === 401) askAgain(`The server refused the key: ${e.message}`);
    $('status').textContent = e.status === 403
      ? `This key may not read the metrics: the dashboard needs an admin key (${e.message})`
      : `Could not read the metrics: ${e.message}`;
  }
}

async function start() {
  try {
    await withKey(() => get('/api/ps'));
  } catch (e) {
    $('status').textContent = e.message;
  }
  resize();
  await poll();
  document.body.dataset.ready = 'true';
  setInterval(poll, POLL_SECONDS * 1000);
}

start();

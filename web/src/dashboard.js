// hearth's dashboard: totals, the loaded models (/api/ps) and live charts of the Prometheus
// metrics (/metrics, admin keys only), polled every few seconds and drawn with uPlot.
import uPlot from 'uplot';
import { get } from './api.js';
import { askAgain, withKey } from './signin.js';

const POLL_SECONDS = 2;
const WINDOW_POINTS = 150; // five minutes at 2 s

// What the charts show: a series is a metric summed over its labels, as a rate per second
// (counters) or as it is (gauges), times `scale`. A metric this server does not export
// simply stays empty. Add series here as /metrics grows.
const CHARTS = [
  { id: 'requests', title: 'Requests per second', series: [
    { label: 'requests', metric: 'hearth_requests_total', rate: true }] },
  { id: 'tokens', title: 'Tokens per second', series: [
    { label: 'prompt', metric: 'hearth_prompt_tokens_total', rate: true },
    { label: 'generated', metric: 'hearth_completion_tokens_total', rate: true }] },
  { id: 'sequences', title: 'Sequences', series: [
    { label: 'running', metric: 'hearth_active_sequences' },
    { label: 'waiting', metric: 'hearth_queue_depth' }] },
  { id: 'memory', title: 'Memory (MiB)', series: [
    { label: 'process', metric: 'hearth_process_resident_memory_bytes', scale: 1 / 1048576 },
    { label: 'models', metric: 'hearth_model_memory_bytes', scale: 1 / 1048576 }] },
];
const COLORS = ['#b4461e', '#2f6db5', '#3a8f4b', '#8a4fb0'];

const $ = (id) => document.getElementById(id);

// Prometheus text format -> { name: sum over its label sets }.
export function parseMetrics(text) {
  const sums = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (Number.isFinite(value)) sums[m[1]] = (sums[m[1]] || 0) + value;
  }
  return sums;
}

const fmt = (n) => (n === undefined ? '-' : Math.round(n).toLocaleString('en-US'));
const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;

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

let previous = null; // { time, sums } of the last poll

function record(sums, time) {
  for (const c of charts) {
    c.data[0].push(time);
    c.config.series.forEach((s, j) => {
      let value = null;
      if (s.metric in sums) {
        if (!s.rate) value = sums[s.metric] * (s.scale || 1);
        else if (previous && s.metric in previous.sums) {
          value = Math.max(0, sums[s.metric] - previous.sums[s.metric]) / (time - previous.time);
        }
      }
      c.data[j + 1].push(value);
    });
    if (c.data[0].length > WINDOW_POINTS) for (const d of c.data) d.shift();
    c.plot.setData(c.data);
    c.box.dataset.points = String(c.data[1].filter((v) => v !== null).length);
  }
  previous = { time, sums };
}

async function poll() {
  try {
    const [text, ps] = await Promise.all([get('/metrics', { text: true }), get('/api/ps')]);
    const sums = parseMetrics(text);
    $('total-requests').textContent = fmt(sums.hearth_requests_total);
    $('total-prompt').textContent = fmt(sums.hearth_prompt_tokens_total);
    $('total-generated').textContent = fmt(sums.hearth_completion_tokens_total);
    $('total-models').textContent = fmt(ps.models.length);
    $('models').replaceChildren(...ps.models.map((m) => {
      const row = document.createElement('tr');
      for (const text of [m.name, mib(m.size), new Date(m.expires_at).getFullYear() > 3000 ? 'kept loaded' : new Date(m.expires_at).toLocaleTimeString()]) {
        const cell = document.createElement('td');
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }));
    record(sums, Date.now() / 1000);
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

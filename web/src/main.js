// hearth's chat page: conversations (IndexedDB), a model picker, streamed answers, sign-in.
import { listModels, streamChat } from './api.js';
import { askAgain, withKey } from './signin.js';
import { renderMarkdown } from './render.js';
import {
  deleteConversation,
  getConversation,
  listConversations,
  newConversation,
  putConversation,
} from './store.js';

const $ = (id) => document.getElementById(id);
const ui = {
  sidebar: $('sidebar'),
  list: $('conversations'),
  title: $('title'),
  model: $('model'),
  settings: $('settings'),
  system: $('system-prompt'),
  temperature: $('temperature'),
  topP: $('top-p'),
  maxTokens: $('max-tokens'),
  messages: $('messages'),
  status: $('status'),
  composer: $('composer'),
  input: $('message'),
  send: $('send'),
  stop: $('stop'),
};

let models = [];
let current = newConversation('');
let running = null; // the AbortController of the answer being streamed

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function showStatus(text) {
  ui.status.textContent = text || '';
}

// ---- models (and the sign-in they may need) ----

async function loadModels() {
  models = await withKey(listModels);
  fillModels();
}

function fillModels() {
  ui.model.replaceChildren(...models.map((id) => new Option(id, id)));
  if (!models.includes(current.model)) current.model = models[0] || '';
  ui.model.value = current.model;
}

// ---- the conversation list ----

async function refreshList() {
  const all = await listConversations();
  ui.list.replaceChildren(...all.map(listItem));
}

function listItem(c) {
  const li = el('li', c.id === current.id ? 'current' : '');
  const open = el('button', 'open', c.title);
  open.type = 'button';
  open.title = c.title;
  open.addEventListener('click', () => openConversation(c.id));
  const rename = el('button', 'small', 'Rename');
  rename.type = 'button';
  rename.setAttribute('aria-label', `Rename ${c.title}`);
  rename.addEventListener('click', () => startRename(li, c));
  const remove = el('button', 'small', 'Delete');
  remove.type = 'button';
  remove.setAttribute('aria-label', `Delete ${c.title}`);
  remove.addEventListener('click', async () => {
    if (!confirm(`Delete "${c.title}"?`)) return;
    await deleteConversation(c.id);
    if (c.id === current.id) startNewChat();
    await refreshList();
  });
  li.append(open, rename, remove);
  return li;
}

function startRename(li, c) {
  const input = el('input');
  input.value = c.title;
  input.setAttribute('aria-label', 'Conversation name');
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const title = input.value.trim();
    if (save && title) {
      const stored = (await getConversation(c.id)) || c;
      stored.title = title;
      await putConversation(stored);
      if (c.id === current.id) {
        current.title = title;
        ui.title.textContent = title;
      }
    }
    await refreshList();
  };
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') finish(true);
    if (event.key === 'Escape') finish(false);
  });
  input.addEventListener('blur', () => finish(true));
  li.replaceChildren(input);
  input.focus();
  input.select();
}

async function openConversation(id) {
  if (running) return;
  const c = await getConversation(id);
  if (!c) return;
  current = c;
  if (models.length && !models.includes(c.model)) showStatus(`Model ${c.model} is not served now.`);
  else showStatus('');
  showConversation();
  ui.sidebar.classList.remove('open');
  await refreshList();
}

function startNewChat() {
  if (running) return;
  current = newConversation(ui.model.value || models[0] || '');
  showConversation();
  showStatus('');
  ui.sidebar.classList.remove('open');
  refreshList();
  ui.input.focus();
}

function showConversation() {
  ui.title.textContent = current.title;
  if (models.includes(current.model)) ui.model.value = current.model;
  const settings = current.settings || {};
  ui.system.value = current.system || '';
  ui.temperature.value = settings.temperature ?? 0.7;
  ui.topP.value = settings.top_p ?? 1;
  ui.maxTokens.value = settings.max_tokens ?? 512;
  renderMessages();
}

async function save() {
  current.updated = Date.now();
  await putConversation(current);
}

// ---- messages ----

function renderMessages() {
  if (!current.messages.length) {
    ui.messages.replaceChildren(el('p', 'empty', 'Ask something to start a conversation.'));
    return;
  }
  ui.messages.replaceChildren(...current.messages.map((m, i) => messageView(m, i)));
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function messageView(m, index) {
  const view = el('article', `message ${m.role}`);
  view.append(el('div', 'role', m.role === 'user' ? 'You' : m.model || 'Assistant'));
  if (m.role === 'assistant') {
    const reasoning = el('details', 'reasoning');
    reasoning.append(el('summary', '', 'Reasoning'), el('div', 'text'));
    reasoning.hidden = !m.reasoning;
    reasoning.lastChild.textContent = m.reasoning || '';
    const body = el('div', 'body');
    renderMarkdown(body, m.content);
    view.append(reasoning, body, metaView(m, index));
  } else {
    view.append(el('div', 'body', m.content));
  }
  return view;
}

function metaView(m, index) {
  const meta = el('div', 'meta');
  if (m.usage) {
    meta.append(el('span', 'tokens', `${m.usage.prompt_tokens} tokens in · ${m.usage.completion_tokens} out`));
  }
  if (m.tokensPerSecond) meta.append(el('span', 'speed', `${m.tokensPerSecond.toFixed(1)} tokens/s`));
  if (m.firstTokenSeconds !== undefined) {
    meta.append(el('span', 'first-token', `first token ${m.firstTokenSeconds.toFixed(2)} s`));
  }
  if (m.stopped) meta.append(el('span', 'stopped', 'stopped'));
  if (m.error) meta.append(el('span', 'error', m.error));
  if (index === current.messages.length - 1 && !running) {
    const again = el('button', '', 'Regenerate');
    again.type = 'button';
    again.addEventListener('click', regenerate);
    meta.append(again);
  }
  return meta;
}

function setRunning(controller) {
  running = controller;
  ui.send.hidden = !!controller;
  ui.stop.hidden = !controller;
  ui.model.disabled = !!controller;
}

function requestMessages() {
  const out = [];
  if (current.system.trim()) out.push({ role: 'system', content: current.system });
  for (const m of current.messages) {
    if (m.role === 'user' || (m.role === 'assistant' && !m.error)) out.push({ role: m.role, content: m.content });
  }
  return out;
}

function numberOr(value, fallback) {
  const n = Number(value);
  return value === '' || Number.isNaN(n) ? fallback : n;
}

async function answer() {
  const body = {
    model: current.model,
    messages: requestMessages(),
    temperature: numberOr(current.settings.temperature, 0.7),
    top_p: numberOr(current.settings.top_p, 1),
    max_tokens: numberOr(current.settings.max_tokens, 512),
  };
  const reply = { role: 'assistant', content: '', reasoning: '', model: current.model };
  current.messages.push(reply);
  const controller = new AbortController();
  setRunning(controller);
  renderMessages();
  const view = ui.messages.lastElementChild;
  const reasoning = view.querySelector('.reasoning');
  const bodyView = view.querySelector('.body');
  const started = performance.now();
  let first = 0;
  let pieces = 0;
  let pending = false;
  const draw = () => {
    pending = false;
    reasoning.hidden = !reply.reasoning;
    reasoning.lastChild.textContent = reply.reasoning;
    renderMarkdown(bodyView, reply.content);
    const atBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 80;
    if (atBottom) ui.messages.scrollTop = ui.messages.scrollHeight;
  };
  try {
    const result = await streamChat(
      body,
      (delta) => {
        if (!first) first = performance.now();
        pieces += 1;
        reply.content += delta.content;
        reply.reasoning += delta.reasoning;
        if (!pending) {
          pending = true;
          requestAnimationFrame(draw);
        }
      },
      controller.signal,
    );
    reply.usage = result.usage;
    reply.finish = result.finish;
  } catch (e) {
    if (e.name === 'AbortError') {
      reply.stopped = true;
    } else {
      reply.error = e.message;
      if (e.status === 401) askAgain(`The server refused the key: ${e.message}`);
    }
  }
  // Speed as the user lived it: generated tokens over the whole request (prompt processing
  // included), and the wait for the first piece. (Pieces arrive in network reads, so timing
  // only the stream would divide by almost nothing for a small, fast answer.)
  const generated = reply.usage ? reply.usage.completion_tokens : pieces;
  const seconds = (performance.now() - started) / 1000;
  if (generated > 0 && first) reply.tokensPerSecond = generated / seconds;
  if (first) reply.firstTokenSeconds = (first - started) / 1000;
  setRunning(null);
  await save();
  renderMessages();
  await refreshList();
}

async function sendMessage() {
  const text = ui.input.value;
  if (!text.trim() || running) return;
  if (!current.model) {
    showStatus('No model to answer: the server lists none.');
    return;
  }
  showStatus('');
  if (!current.messages.length) {
    current.title = text.trim().split('\n')[0].slice(0, 48);
    ui.title.textContent = current.title;
  }
  current.messages.push({ role: 'user', content: text });
  ui.input.value = '';
  await save();
  await refreshList();
  await answer();
}

async function regenerate() {
  if (running) return;
  const last = current.messages[current.messages.length - 1];
  if (last && last.role === 'assistant') current.messages.pop();
  if (!current.messages.length) return;
  await answer();
}

// ---- controls ----

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  sendMessage();
});
ui.input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendMessage();
  }
});
ui.stop.addEventListener('click', () => running && running.abort());
$('new-chat').addEventListener('click', startNewChat);
$('open-sidebar').addEventListener('click', () => ui.sidebar.classList.add('open'));
$('close-sidebar').addEventListener('click', () => ui.sidebar.classList.remove('open'));
$('toggle-settings').addEventListener('click', (event) => {
  ui.settings.hidden = !ui.settings.hidden;
  event.currentTarget.setAttribute('aria-expanded', String(!ui.settings.hidden));
});
ui.model.addEventListener('change', async () => {
  current.model = ui.model.value;
  if (current.messages.length) await save();
});

function settingsChanged() {
  current.system = ui.system.value;
  current.settings = {
    temperature: ui.temperature.value,
    top_p: ui.topP.value,
    max_tokens: ui.maxTokens.value,
  };
  if (current.messages.length) save();
}
for (const input of [ui.system, ui.temperature, ui.topP, ui.maxTokens]) {
  input.addEventListener('input', settingsChanged);
}

$('export').addEventListener('click', async () => {
  const all = await listConversations();
  const blob = new Blob([JSON.stringify({ exported: new Date().toISOString(), conversations: all }, null, 2)], {
    type: 'application/json',
  });
  const link = el('a');
  link.href = URL.createObjectURL(blob);
  link.download = `hearth-conversations-${new Date().toISOString().slice(0, 10)}.json`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
});

async function start() {
  showConversation();
  try {
    await loadModels();
  } catch (e) {
    showStatus(`Could not list the models: ${e.message}`);
  }
  // Reopen the most recent conversation.
  const all = await listConversations();
  if (all.length) await openConversation(all[0].id);
  else {
    current.model = ui.model.value;
    await refreshList();
  }
  document.body.dataset.ready = 'true'; // for tests: the page has loaded its models
}

start();

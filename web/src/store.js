// Conversations kept in the browser (IndexedDB, database "hearth", store "conversations").
const DB_NAME = 'hearth';
const STORE = 'conversations';

let opened = null;

function database() {
  if (!opened) {
    opened = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        request.result.createObjectStore(STORE, { keyPath: 'id' });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return opened;
}

async function run(mode, work) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(request ? request.result : undefined);
    tx.onerror = () => reject(tx.error);
  });
}

export async function listConversations() {
  const all = await run('readonly', (s) => s.getAll());
  return all.sort((a, b) => b.updated - a.updated);
}

export const getConversation = (id) => run('readonly', (s) => s.get(id));
export const putConversation = (c) => run('readwrite', (s) => s.put(c));
export const deleteConversation = (id) => run('readwrite', (s) => s.delete(id));

export function newConversation(model) {
  const now = Date.now();
  return {
    id: crypto.randomUUID ? crypto.randomUUID() : `${now}-${Math.random().toString(16).slice(2)}`,
    title: 'New chat',
    created: now,
    updated: now,
    model,
    system: '',
    settings: { temperature: 0.7, top_p: 1, max_tokens: 512 },
    messages: [],
  };
}

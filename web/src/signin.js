// Sign-in with an API key, shared by the pages: when a call answers 401 the dialog asks for a
// key, checks it with that same call, and keeps it in session storage.
import { ApiError, apiKey, setApiKey } from './api.js';

const $ = (id) => document.getElementById(id);

// Runs `load` (an API call); while it answers 401, asks for a key and tries again with it.
// Resolves with what `load` gave once a key (or no key) is accepted.
export function withKey(load) {
  const dialog = $('sign-in');
  const form = $('sign-in-form');
  const error = $('sign-in-error');
  const input = $('api-key');
  const signOut = $('sign-out');
  signOut.addEventListener('click', () => {
    setApiKey('');
    location.reload();
  });
  dialog.addEventListener('cancel', (event) => event.preventDefault()); // no key, no page
  return new Promise((resolve, reject) => {
    const done = (value) => {
      signOut.hidden = !apiKey();
      resolve(value);
    };
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      setApiKey(key);
      try {
        const value = await load();
        input.value = '';
        dialog.close();
        done(value);
      } catch (e) {
        setApiKey('');
        error.textContent = e.status === 401 || e.status === 403
          ? `The server refused this key: ${e.message}` : e.message;
      }
    });
    load().then(done, (e) => {
      if (!(e instanceof ApiError) || e.status !== 401) {
        reject(e);
        return;
      }
      if (apiKey()) error.textContent = `The server refused this key: ${e.message}`;
      setApiKey('');
      dialog.showModal();
      input.focus();
    });
  });
}

// Shows the dialog again when a later call is refused (a revoked or expired key).
export function askAgain(message) {
  $('sign-in-error').textContent = message;
  setApiKey('');
  if (!$('sign-in').open) $('sign-in').showModal();
}

// Sign-in, shared by the pages: when a call answers 401 the dialog asks for a key, checks it
// with that same call, and keeps it in session storage. When the server has an OpenID
// provider for the UI (GET /auth/config), the dialog offers a login there first (oidc.js);
// the access token it brings is kept in session storage and sent as the bearer credential.
import { ApiError, apiKey, credential, setAccessToken, setApiKey } from './api.js';
import { CALLBACK_PATH, SignInError, finishLogin, signInConfig, startLogin } from './oidc.js';

const $ = (id) => document.getElementById(id);

function forgetCredentials() {
  setApiKey('');
  setAccessToken('');
}

// Adds the provider's login button to the dialog (once): the way in, an API key the other.
function offerLogin(oidc) {
  if ($('oidc-sign-in')) return;
  const section = document.createElement('div');
  section.className = 'oidc';
  const text = document.createElement('p');
  text.textContent = `Sign in at your identity provider (${new URL(oidc.issuer).host}), or with an API key below.`;
  const button = document.createElement('button');
  button.id = 'oidc-sign-in';
  button.type = 'button';
  button.className = 'primary';
  button.textContent = 'Sign in with identity provider';
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await startLogin(oidc); // the browser leaves for the provider
    } catch (e) {
      $('sign-in-error').textContent = e instanceof SignInError ? e.message : `Sign-in failed: ${e.message}`;
      button.disabled = false;
    }
  });
  section.append(text, button);
  $('sign-in-title').after(section);
}

// At /auth/callback: finishes the provider's login and keeps its token. Gives the message of
// a failed login ('' when it worked), or null when the page goes on to another path.
async function finishCallback() {
  try {
    const oidc = await signInConfig();
    if (!oidc) throw new SignInError('This server has no identity provider for the web UI (--oidc-client-id).');
    const { token, expiresIn, returnTo } = await finishLogin(oidc);
    setAccessToken(token, expiresIn);
    if (returnTo !== '/') {
      location.replace(returnTo);
      return null;
    }
    history.replaceState(null, '', '/');
    return '';
  } catch (e) {
    history.replaceState(null, '', '/');
    return e instanceof SignInError ? e.message : `Sign-in failed: ${e.message}`;
  }
}

async function showDialog() {
  const oidc = await signInConfig();
  if (oidc) offerLogin(oidc);
  if (!$('sign-in').open) $('sign-in').showModal();
  ($('oidc-sign-in') || $('api-key')).focus();
}

// Runs `load` (an API call); while it answers 401, asks for a key (or a login) and tries
// again with it. Resolves with what `load` gave once a credential (or none) is accepted.
export function withKey(load) {
  const dialog = $('sign-in');
  const form = $('sign-in-form');
  const error = $('sign-in-error');
  const input = $('api-key');
  const signOut = $('sign-out');
  signOut.addEventListener('click', () => {
    forgetCredentials();
    location.reload();
  });
  dialog.addEventListener('cancel', (event) => event.preventDefault()); // no key, no page
  return new Promise((resolve, reject) => {
    const done = (value) => {
      signOut.hidden = !credential();
      resolve(value);
    };
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      setAccessToken('');
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
    const start = async () => {
      let loginFailure = '';
      if (location.pathname === CALLBACK_PATH) {
        loginFailure = await finishCallback();
        if (loginFailure === null) return; // on its way to the page the login started from
      }
      load().then(done, (e) => {
        if (!(e instanceof ApiError) || e.status !== 401) {
          signOut.hidden = !credential(); // a 403 (a token of no hearth scope) can sign out
          reject(e);
          return;
        }
        if (loginFailure) error.textContent = loginFailure;
        else if (credential()) error.textContent = `The server refused ${apiKey() ? 'this key' : 'the login'}: ${e.message}`;
        forgetCredentials();
        showDialog();
      });
    };
    start();
  });
}

// Shows the dialog again when a later call is refused (a revoked or expired key or token).
export function askAgain(message) {
  $('sign-in-error').textContent = message;
  forgetCredentials();
  showDialog();
}

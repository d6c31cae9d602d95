// Login at the server's OpenID provider: the authorization code flow with PKCE (S256), state
// and nonce, as a public client (no secret). oauth4webapi does the protocol: discovery, the
// checks of the provider's answer (state, iss, error), the code exchange and the ID token's
// claims (issuer, audience, nonce, expiry). The page learns the provider and its client id
// from GET /auth/config; the provider sends the browser back to /auth/callback, which hearth
// answers with the chat page.
import * as oauth from 'oauth4webapi';

export const CALLBACK_PATH = '/auth/callback';
const PENDING_ITEM = 'hearth.oidcPending'; // the login this tab started: verifier, state, nonce

// A sign-in that failed, with a message for the person signing in.
export class SignInError extends Error {}

let config; // GET /auth/config's "oidc", once fetched

// The provider the page logs in at ({ issuer, client_id, scope }), or null when the server
// has none for the UI (it then takes API keys only).
export async function signInConfig() {
  if (config === undefined) {
    try {
      const response = await fetch('/auth/config');
      config = response.ok ? (await response.json()).oidc || null : null;
    } catch {
      config = null;
    }
  }
  return config;
}

function redirectUri() {
  return new URL(CALLBACK_PATH, location.origin).href;
}

// hearth takes an http:// issuer only on a loopback host (tests, sidecars); oauth4webapi
// refuses plain HTTP unless told.
function httpOptions(issuer) {
  return issuer.protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {};
}

async function discover(oidc) {
  const issuer = new URL(oidc.issuer);
  try {
    const response = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...httpOptions(issuer) });
    return await oauth.processDiscoveryResponse(issuer, response);
  } catch (e) {
    throw new SignInError(`Could not read the identity provider's configuration at ${oidc.issuer}: ${e.message}`);
  }
}

// Sends the browser to the provider's login page; it comes back to /auth/callback.
export async function startLogin(oidc) {
  if (!window.isSecureContext) {
    // PKCE needs the browser's crypto.subtle, which plain-HTTP pages do not get.
    throw new SignInError('The login needs a secure page: open hearth over https:// (or on localhost).');
  }
  const as = await discover(oidc);
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(as.authorization_endpoint);
  const params = {
    client_id: oidc.client_id,
    redirect_uri: redirectUri(),
    response_type: 'code',
    scope: oidc.scope,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  const returnTo = location.pathname === CALLBACK_PATH ? '/' : location.pathname;
  sessionStorage.setItem(PENDING_ITEM, JSON.stringify({ verifier, state, nonce, returnTo }));
  location.assign(url.href);
}

function describe(error, description) {
  return description ? `${error}: ${description}` : error;
}

// At /auth/callback: checks the provider's answer against the login this tab started and
// trades the code for tokens. Gives { token, expiresIn, returnTo }; throws SignInError.
export async function finishLogin(oidc) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING_ITEM) || 'null');
  sessionStorage.removeItem(PENDING_ITEM); // good for one answer, whatever it is
  const answer = new URLSearchParams(location.search);
  if (!pending) {
    throw new SignInError('Sign-in refused: this tab started no sign-in for this answer. Sign in again.');
  }
  // oauth4webapi checks the state too; checked here first to say plainly what happened (an
  // answer to another sign-in, or a forged link).
  if (answer.get('state') !== pending.state) {
    throw new SignInError('Sign-in refused: the answer does not match the sign-in this tab started '
      + '(state mismatch). Sign in again.');
  }
  const as = await discover(oidc);
  const client = { client_id: oidc.client_id };
  let callback;
  try {
    callback = oauth.validateAuthResponse(as, client, answer, pending.state);
  } catch (e) {
    if (e instanceof oauth.AuthorizationResponseError) {
      throw new SignInError(`The identity provider refused the sign-in (${describe(e.error, e.error_description)}).`);
    }
    throw new SignInError(`Sign-in refused: ${e.message}.`);
  }
  try {
    const response = await oauth.authorizationCodeGrantRequest(
      as, client, oauth.None(), callback, redirectUri(), pending.verifier, httpOptions(new URL(oidc.issuer)));
    const result = await oauth.processAuthorizationCodeResponse(as, client, response, {
      expectedNonce: pending.nonce,
      requireIdToken: oidc.scope.split(/\s+/).includes('openid'),
    });
    return { token: result.access_token, expiresIn: result.expires_in, returnTo: pending.returnTo };
  } catch (e) {
    if (e instanceof oauth.ResponseBodyError) {
      throw new SignInError(`The identity provider refused the code (${describe(e.error, e.error_description)}).`);
    }
    throw new SignInError(`Sign-in failed: ${e.message}.`);
  }
}

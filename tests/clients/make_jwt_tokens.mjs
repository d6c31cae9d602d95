// Writes tests/data/jwt/tokens.json: a JWKS and tokens signed by `jose` (an independent JOSE implementation),
// each with the verdict a verifier must reach. Run from tests/clients (for node_modules):
//   cd tests/clients && node make_jwt_tokens.mjs > ../data/jwt/tokens.json
import * as jose from 'jose';
import { createHmac, generateKeyPairSync, sign as sign_raw } from 'node:crypto';

const issuer = 'https://id.example.com';
const audience = 'hearth-api';
const now = 1700000000;  // the verifier's clock in the test (2023: real clocks are later)
const far = 4102444800;  // 2100-01-01

const pairs = {};
const jwks = [];
async function addKey(kid, alg, options = {}) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true, ...options });
  pairs[kid] = { publicKey, privateKey, alg };
  jwks.push({ ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' });
}
await addKey('rsa-1', 'RS256');
await addKey('ec-1', 'ES256');
await addKey('ed-1', 'EdDSA', { crv: 'Ed25519' });
// A 1024-bit RSA key: too weak, the verifier must ignore it.
const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
jwks.push({ ...(await jose.exportJWK(weak.publicKey)), kid: 'rsa-weak', alg: 'RS256', use: 'sig' });
// An encryption key and a symmetric key: never signature keys.
jwks.push({ kty: 'oct', kid: 'oct-1', k: 'c2VjcmV0', alg: 'HS256' });
const other = await jose.generateKeyPair('ES256', { extractable: true });  // not in the JWKS

const claims = { iss: issuer, aud: audience, sub: 'user-1', iat: now - 60, exp: far, scope: 'hearth:inference' };
async function sign(kid, payload = claims, header = {}, key = null) {
  const { privateKey, alg } = pairs[kid] ?? pairs['ec-1'];
  return new jose.SignJWT(payload).setProtectedHeader({ alg, kid, typ: 'at+jwt', ...header })
    .sign(key ?? privateKey);
}
const b64 = (o) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');

const cases = [];
const ok = (name, token) => cases.push({ name, token, ok: true });
const bad = (name, token, error) => cases.push({ name, token, ok: false, error });

ok('rs256', await sign('rsa-1'));
ok('es256', await sign('ec-1'));
ok('eddsa', await sign('ed-1'));
ok('audience_array', await sign('ec-1', { ...claims, aud: ['other', audience] }));
ok('expired_within_leeway', await sign('ec-1', { ...claims, exp: now - 30 }));
bad('expired', await sign('rsa-1', { ...claims, exp: now - 3600 }), 'expired');
bad('no_exp', await sign('rsa-1', (({ exp, ...c }) => c)(claims)), 'no expiry');
bad('not_yet_valid', await sign('ec-1', { ...claims, nbf: now + 3600 }), 'not valid yet');
bad('issued_in_future', await sign('ec-1', { ...claims, iat: now + 3600 }), 'future');
bad('other_issuer', await sign('ed-1', { ...claims, iss: 'https://evil.example.com' }), 'another issuer');
bad('other_audience', await sign('ed-1', { ...claims, aud: 'someone-else' }), 'another audience');
bad('unknown_kid', await sign('ec-1', claims, { kid: 'nope' }), 'unknown signing key');
bad('signed_by_another_key', await sign('ec-1', claims, {}, other.privateKey), 'does not verify');
{
  // jose refuses to sign with a weak key; node's crypto does it (RSASSA-PKCS1-v1_5 SHA-256).
  const input = `${b64({ alg: 'RS256', kid: 'rsa-weak' })}.${b64(claims)}`;
  bad('weak_rsa_key', `${input}.${sign_raw('sha256', Buffer.from(input), weak.privateKey).toString('base64url')}`,
      'unknown signing key');
}
// alg "none": no signature at all.
bad('alg_none', `${b64({ alg: 'none', kid: 'rsa-1' })}.${b64(claims)}.`, 'refused');
// HS256 keyed with the RSA public key's PEM: the classic algorithm-confusion forgery.
{
  const pem = await jose.exportSPKI(pairs['rsa-1'].publicKey);
  const input = `${b64({ alg: 'HS256', kid: 'rsa-1' })}.${b64(claims)}`;
  bad('hs256_with_public_key', `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`, 'refused');
  const input2 = `${b64({ alg: 'HS256', kid: 'oct-1' })}.${b64(claims)}`;
  bad('hs256_with_jwks_secret', `${input2}.${createHmac('sha256', 'secret').update(input2).digest('base64url')}`, 'refused');
}
// The payload changed after signing.
{
  const [h, , s] = (await sign('rsa-1')).split('.');
  bad('tampered_payload', `${h}.${b64({ ...claims, scope: 'hearth:admin' })}.${s}`, 'does not verify');
}
bad('kid_of_another_type', await sign('ec-1', claims, { kid: 'rsa-1' }), 'unknown signing key');
{
  const input = `${b64({ alg: 'EdDSA', kid: 'ed-1', crit: ['x-hearth'], 'x-hearth': 1 })}.${b64(claims)}`;
  bad('critical_extension', `${input}.${sign_raw(null, Buffer.from(input), pairs['ed-1'].privateKey).toString('base64url')}`,
      'critical');
}
bad('not_base64', 'eyJhbGciOiJFUzI1NiJ9.*not*base64*.c2ln', 'base64url');
bad('two_parts', 'eyJhbGciOiJFUzI1NiJ9.e30', 'not a JWT');
bad('header_not_object', `${b64('[1,2]')}.${b64(claims)}.c2ln`, 'header');

process.stdout.write(JSON.stringify({ issuer, audience, now, jwks: { keys: jwks }, cases }, null, 1) + '\n');

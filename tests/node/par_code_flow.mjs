// Pushed authorization request (RFC 9126) + authorization code + PKCE with openid-client (npm).
// Usage: node par_code_flow.mjs <issuer-url> <client-id> <client-secret> <redirect-uri> <user>
// Prints one JSON line: the URL the browser was sent to, the ID token claims and userinfo.
import * as client from 'openid-client';

const [issuer, clientId, clientSecret, redirectUri, user] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined, {
  execute: [client.allowInsecureRequests],
});
const verifier = client.randomPKCECodeVerifier();
const nonce = client.randomNonce();
const state = client.randomState();
const url = await client.buildAuthorizationUrlWithPAR(config, {
  redirect_uri: redirectUri, scope: 'openid email', nonce, state, login_hint: user,
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
});
const answer = await fetch(url, { redirect: 'manual' });
const location = answer.headers.get('location');
if (!location) throw new Error(`no redirect from the authorization endpoint: ${answer.status}`);
const tokens = await client.authorizationCodeGrant(config, new URL(location), {
  pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true,
});
const claims = tokens.claims();
const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
console.log(JSON.stringify({ authorize_params: Object.fromEntries(url.searchParams), claims,
  userinfo: info }));

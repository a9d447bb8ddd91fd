// Authorization code + PKCE with openid-client (npm), against a running mockidp.
// Usage: node code_flow.mjs <issuer-url> <client-id> <client-secret> <redirect-uri> <user>
// Prints one JSON line: the ID token claims, the userinfo answer and the token response.
import * as client from 'openid-client';

const [issuer, clientId, clientSecret, redirectUri, user] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined, {
  execute: [client.allowInsecureRequests],
});
const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const nonce = client.randomNonce();
const state = client.randomState();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri, scope: 'openid profile email', code_challenge: challenge,
  code_challenge_method: 'S256', nonce, state, login_hint: user,
});
// The browser's part: follow the authorization endpoint to its redirect.
const answer = await fetch(url, { redirect: 'manual' });
const location = answer.headers.get('location');
if (!location) throw new Error(`no redirect from the authorization endpoint: ${answer.status}`);
const tokens = await client.authorizationCodeGrant(config, new URL(location), {
  pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true,
});
const claims = tokens.claims();
const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
console.log(JSON.stringify({ claims, userinfo: info, token_type: tokens.token_type,
  has_refresh_token: Boolean(tokens.refresh_token) }));

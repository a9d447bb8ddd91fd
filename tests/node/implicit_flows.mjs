// OIDC implicit (response_type=id_token) and hybrid (code id_token) flows with openid-client
// (npm), against a running mockidp.
// Usage: node implicit_flows.mjs <issuer-url> <client-id> <client-secret> <redirect-uri> <user>
// Prints one JSON line: the ID token claims of each flow (openid-client checked signature, iss,
// aud, nonce, state, auth_time under max_age, and c_hash for the hybrid response).
import * as client from 'openid-client';

const [issuer, clientId, clientSecret, redirectUri, user] = process.argv.slice(2);

async function follow(url) {
  // The browser's part: follow the authorization endpoint to its redirect.
  const answer = await fetch(url, { redirect: 'manual' });
  const location = answer.headers.get('location');
  if (!location) throw new Error(`no redirect from the authorization endpoint: ${answer.status}`);
  return new URL(location);
}

async function configure(kind) {
  return client.discovery(new URL(issuer), clientId, clientSecret, undefined, {
    execute: [client.allowInsecureRequests, kind],
  });
}

// Implicit: response_type=id_token, the ID token alone in the fragment.
const implicitConfig = await configure(client.useIdTokenResponseType);
let nonce = client.randomNonce();
let state = client.randomState();
const implicitUrl = client.buildAuthorizationUrl(implicitConfig, {
  redirect_uri: redirectUri, scope: 'openid email', nonce, state, login_hint: user,
  max_age: '300',
});
const implicitAnswer = await follow(implicitUrl);
const implicit = await client.implicitAuthentication(implicitConfig, implicitAnswer, nonce, {
  expectedState: state, maxAge: 300,
});

// Hybrid: response_type=code id_token, then the code at the token endpoint.
const hybridConfig = await configure(client.useCodeIdTokenResponseType);
nonce = client.randomNonce();
state = client.randomState();
const verifier = client.randomPKCECodeVerifier();
const hybridUrl = client.buildAuthorizationUrl(hybridConfig, {
  redirect_uri: redirectUri, scope: 'openid profile', nonce, state, login_hint: user,
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
});
const hybridAnswer = await follow(hybridUrl);
const tokens = await client.authorizationCodeGrant(hybridConfig, hybridAnswer, {
  pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state,
  idTokenExpected: true,
});
console.log(JSON.stringify({
  implicit: { response_type: new URL(implicitUrl).searchParams.get('response_type'),
              fragment_keys: [...new URLSearchParams(implicitAnswer.hash.slice(1)).keys()],
              claims: implicit },
  hybrid: { response_type: new URL(hybridUrl).searchParams.get('response_type'),
            fragment_keys: [...new URLSearchParams(hybridAnswer.hash.slice(1)).keys()],
            claims: tokens.claims(), token_type: tokens.token_type },
}));

// Token exchange (RFC 8693) with openid-client (npm) and client_secret_basic, against a running
// mockidp: an access token for another audience (with an actor when one is given), then an ID
// token (token_type N_A), then a refused exchange (its RFC error).
// Usage: node token_exchange.mjs <issuer-url> <client-id> <client-secret> <subject-token>
//        <audience> [<actor-token>]
// Prints one JSON line: {exchanged, id_token, refused}.
import * as client from 'openid-client';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const [issuer, clientId, secret, subjectToken, audience, actorToken] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientId, undefined,
  client.ClientSecretBasic(secret), { execute: [client.allowInsecureRequests] });

const params = { subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, audience };
if (actorToken) {
  params.actor_token = actorToken;
  params.actor_token_type = 'urn:ietf:params:oauth:token-type:jwt';
}
const exchanged = await client.genericGrantRequest(config, TOKEN_EXCHANGE, params);
const idToken = await client.genericGrantRequest(config, TOKEN_EXCHANGE, {
  subject_token: subjectToken, subject_token_type: ACCESS_TOKEN,
  requested_token_type: 'urn:ietf:params:oauth:token-type:id_token',
});
let refused = null;
try {
  await client.genericGrantRequest(config, TOKEN_EXCHANGE, {
    subject_token: 'not-a-token', subject_token_type: ACCESS_TOKEN });
} catch (err) {
  refused = { error: err.error, error_description: err.error_description, status: err.status };
}
console.log(JSON.stringify({ exchanged, id_token: idToken, refused }));

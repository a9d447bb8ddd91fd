// DPoP (RFC 9449) with openid-client (npm): client credentials with a DPoP-bound token, then
// userinfo through fetchUserInfo with the same DPoP handle; openid-client retries by itself
// when the server answers use_dpop_nonce.
// Usage: node dpop.mjs <issuer-url> <client-id> <client-secret>
import * as client from 'openid-client';

const [issuer, clientId, clientSecret] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined, {
  execute: [client.allowInsecureRequests],
});
const keyPair = await client.randomDPoPKeyPair('ES256');
const DPoP = client.getDPoPHandle(config, keyPair);
const tokens = await client.clientCredentialsGrant(config, { scope: 'api' }, { DPoP });
const info = await client.fetchUserInfo(config, tokens.access_token, client.skipSubjectCheck,
  { DPoP });
const [, payload] = tokens.access_token.split('.');
const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
console.log(JSON.stringify({ token_type: tokens.token_type, cnf: claims.cnf, userinfo: info }));

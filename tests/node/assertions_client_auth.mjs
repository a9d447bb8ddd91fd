// JWT client authentication (RFC 7523 §2.2) with openid-client (npm), against a running mockidp:
// client_credentials at the token endpoint, then introspection, each with a fresh assertion.
// Usage: node assertions_client_auth.mjs <issuer-url> <client-id> private_key_jwt <pkcs8.pem> <kid>
//        node assertions_client_auth.mjs <issuer-url> <client-id> client_secret_jwt <secret>
// Prints one JSON line: the access token's claims and the introspection answer.
import { readFileSync } from 'node:fs';
import * as client from 'openid-client';

const [issuer, clientId, method, secretOrKeyFile, kid] = process.argv.slice(2);
let auth;
if (method === 'private_key_jwt') {
  const pem = readFileSync(secretOrKeyFile, 'utf8');
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const key = await crypto.subtle.importKey(
    'pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  auth = client.PrivateKeyJwt({ key, kid });
} else if (method === 'client_secret_jwt') {
  auth = client.ClientSecretJwt(secretOrKeyFile);
} else {
  throw new Error(`unknown method ${method}`);
}
const config = await client.discovery(new URL(issuer), clientId, undefined, auth, {
  execute: [client.allowInsecureRequests],
});
const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
const access = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url'));
const introspection = await client.tokenIntrospection(config, tokens.access_token);
console.log(JSON.stringify({ access, introspection }));

// Device authorization grant (RFC 8628) with openid-client (npm), against a running mockidp.
// Usage: node device_flow.mjs <issuer-url> <client-id> <client-secret|-> <scope>
// ("-" for a public client).  Starts a device authorization, then polls the token endpoint
// at the interval the provider asks for until someone answers (the Python test, from another
// thread).  Prints one JSON line: the device authorization response, and either the ID token
// claims and token response facts, or the error the poll ended with.
import * as client from 'openid-client';

const [issuer, clientId, clientSecret, scope] = process.argv.slice(2);
const publicClient = clientSecret === '-';
const config = await client.discovery(
  new URL(issuer), clientId, publicClient ? undefined : clientSecret,
  publicClient ? client.None() : undefined, { execute: [client.allowInsecureRequests] },
);
const started = await client.initiateDeviceAuthorization(config, { scope });
const device = {
  user_code: started.user_code, verification_uri: started.verification_uri,
  verification_uri_complete: started.verification_uri_complete,
  expires_in: started.expires_in, interval: started.interval,
};
try {
  const tokens = await client.pollDeviceAuthorizationGrant(config, started);
  const claims = tokens.claims();
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  console.log(JSON.stringify({ device, claims, userinfo: info, token_type: tokens.token_type,
    scope: tokens.scope, has_refresh_token: Boolean(tokens.refresh_token) }));
} catch (error) {
  console.log(JSON.stringify({ device, error: error.error ?? error.code ?? String(error),
    error_description: error.error_description }));
}

// An express API protected by express-oauth2-jwt-bearer, as Auth0's quickstart builds it,
// against a mockidp Auth0 tenant.  Usage: node auth0_api.mjs <issuer-base-url> <audience>
// '<json {name: access token}>'.  Serves on a free loopback port, calls its own routes with
// each token (and with none), prints one JSON line: per token and route the status, the
// WWW-Authenticate header and the body.
import express from 'express';
import { auth, claimCheck } from 'express-oauth2-jwt-bearer';

const [issuerBaseURL, audience, tokensJson] = process.argv.slice(2);
const tokens = JSON.parse(tokensJson);

const app = express();
const checkJwt = auth({ issuerBaseURL, audience });
// any token of the tenant for this API
app.get('/api/private', checkJwt, (req, res) => res.json(req.auth.payload));
// a route for users only: machine-to-machine tokens are refused
app.get('/api/user', checkJwt, claimCheck((claims) => claims.gty !== 'client-credentials'),
  (req, res) => res.json(req.auth.payload));
app.use((err, req, res, next) => {
  res.status(err.status || 500).set(err.headers || {}).json({ error: err.code || err.name,
    message: err.message });
});

const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const base = `http://127.0.0.1:${server.address().port}`;

async function call(path, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const answer = await fetch(base + path, { headers });
  return { status: answer.status, www_authenticate: answer.headers.get('www-authenticate'),
    body: await answer.json().catch(() => null) };
}

const results = {};
for (const [name, token] of [...Object.entries(tokens), ['none', null]]) {
  results[name] = { api: await call('/api/private', token), user: await call('/api/user', token) };
}
server.close();
console.log(JSON.stringify({ results }));

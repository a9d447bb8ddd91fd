// An Express API protecting its routes with Keycloak access tokens, as Node services do with
// express-oauth2-jwt-bearer: the realm's discovery and certs, aud "account", typ "Bearer"
// and a realm role.  Usage: node keycloak_express.mjs <realm-url> <json {name: token}>
// Prints one JSON line: name -> [status, body] of GET /orders with that token.
import express from 'express';
import { auth, claimCheck, claimEquals } from 'express-oauth2-jwt-bearer';

const [realm, tokensJson] = process.argv.slice(2);
const tokens = JSON.parse(tokensJson);
const app = express();
app.use(auth({ issuerBaseURL: realm, audience: 'account' }));
app.use(claimEquals('typ', 'Bearer'));
app.get('/orders', claimCheck((claims) => (claims.realm_access?.roles ?? []).includes('orders')),
  (req, res) => res.json({ user: req.auth.payload.preferred_username }));
app.use((err, req, res, next) => res.status(err.status || 500).json({ error: err.code, message: err.message }));

const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const base = `http://127.0.0.1:${server.address().port}`;
const seen = {};
for (const [name, token] of Object.entries(tokens)) {
  const answer = await fetch(`${base}/orders`, { headers: { Authorization: `Bearer ${token}` } });
  seen[name] = [answer.status, await answer.json()];
}
server.close();
console.log(JSON.stringify(seen));

// Okta's own verifier (@okta/jwt-verifier), as an API or web app uses it, against mockidp.
// Usage: node okta_verify.mjs <issuer> <cases-json>
//   cases: [{name, token, kind: "access" | "id", audience?, clientId?, nonce?, assertClaims?}]
// The issuer is https (the verifier refuses anything else; trust mockidp's certificate with
// NODE_EXTRA_CA_CERTS).  Prints one JSON line: {name: {ok, claims} | {ok: false, error}}.
import OktaJwtVerifier from '@okta/jwt-verifier';

const [issuer, casesJson] = process.argv.slice(2);
const results = {};
for (const c of JSON.parse(casesJson)) {
  const verifier = new OktaJwtVerifier({ issuer, assertClaims: c.assertClaims || {} });
  try {
    const jwt = c.kind === 'id'
      ? await verifier.verifyIdToken(c.token, c.clientId, c.nonce)
      : await verifier.verifyAccessToken(c.token, c.audience || 'api://default');
    results[c.name] = { ok: true, claims: jwt.claims };
  } catch (err) {
    results[c.name] = { ok: false, error: String(err && err.message ? err.message : err) };
  }
}
console.log(JSON.stringify(results));

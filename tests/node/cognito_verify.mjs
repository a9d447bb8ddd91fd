// Verify tokens of a mockidp Cognito user pool with aws-jwt-verify, as an API does.
// Usage: node cognito_verify.mjs '<json spec>'
//   spec: {"base": stand-in URL, "userPoolId", "jwks": "cache" | "fetcher" | "https",
//          "checks": [{"name", "token", "tokenUse": "access"|"id", "clientId", "groups"?}]}
// aws-jwt-verify derives Cognito's issuer and JWKS URI from the pool id and has no switch to
// change them, so only the JWKS download is pointed at the stand-in, in one of the ways its
// README documents ("The JWKS cache"):
//   cache   - verifier.cacheJwks(jwks), the JWKS fetched from the stand-in beforehand;
//   fetcher - a SimpleJwksCache whose Fetcher maps the cognito-idp URL to the stand-in;
//   https   - the same with aws-jwt-verify's own SimpleFetcher (HTTPS, NODE_EXTRA_CA_CERTS).
// Prints one JSON line: {name: {"ok": true, "payload": ...} | {"ok": false, "error": class}}.
import { CognitoJwtVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import { SimpleFetcher } from 'aws-jwt-verify/https';

const spec = JSON.parse(process.argv[2]);
const COGNITO = /^https:\/\/cognito-idp\.[a-z0-9-]+\.amazonaws\.com/;

class StandInFetcher {
  // the Fetcher interface: fetch(uri) -> ArrayBuffer of the JWKS
  constructor(inner) { this.inner = inner; this.seen = []; }
  async fetch(uri) {
    const local = uri.replace(COGNITO, spec.base);
    this.seen.push(uri);
    if (this.inner) return this.inner.fetch(local);
    const answer = await fetch(local);
    if (answer.status !== 200) throw new Error(`JWKS ${local}: ${answer.status}`);
    return answer.arrayBuffer();
  }
}

let fetcher = null;
let jwksCache = null; // one cache for every verifier, as the README's "sharedJwksCache"
const verifiers = new Map();
function verifierFor(check) {
  const key = `${check.tokenUse}|${check.clientId}|${check.groups ?? ''}`;
  if (!verifiers.has(key)) {
    const props = { userPoolId: spec.userPoolId, tokenUse: check.tokenUse,
                    clientId: check.clientId, ...(check.groups ? { groups: check.groups } : {}) };
    let verifier;
    if (spec.jwks === 'cache') {
      verifier = CognitoJwtVerifier.create(props);
      verifier.cacheJwks(spec.jwksDocument);
    } else {
      fetcher ??= new StandInFetcher(spec.jwks === 'https' ? new SimpleFetcher() : null);
      jwksCache ??= new SimpleJwksCache({ fetcher });
      verifier = CognitoJwtVerifier.create(props, { jwksCache });
    }
    verifiers.set(key, verifier);
  }
  return verifiers.get(key);
}

if (spec.jwks === 'cache') {
  const answer = await fetch(`${spec.base}/${spec.userPoolId}/.well-known/jwks.json`);
  spec.jwksDocument = await answer.json();
}
const results = {};
for (const check of spec.checks) {
  try {
    const payload = await verifierFor(check).verify(check.token);
    results[check.name] = { ok: true, payload };
  } catch (err) {
    results[check.name] = { ok: false, error: err.constructor.name, message: err.message };
  }
}
results._fetched = fetcher ? fetcher.seen : [];
console.log(JSON.stringify(results));

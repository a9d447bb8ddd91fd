// @azure/msal-node against mockidp's Entra ID profile (HTTPS; trust its CA with
// NODE_EXTRA_CA_CERTS): client credentials, the authorization code flow through the login
// page, accounts, silent refresh and refresh by refresh token.
// Usage: node entra_msal.mjs <authority> <api> <daemon-id> <daemon-secret> <web-id>
//        <web-secret> <redirect-uri> <user>
// Prints one JSON line with what each call answered.
import * as msal from '@azure/msal-node';

const [authority, api, daemonId, daemonSecret, webId, webSecret, redirectUri, user] =
  process.argv.slice(2);
const host = new URL(authority).host;
// knownAuthorities: msal-node's documented switch for an authority that is not Microsoft's
// cloud (no instance discovery at login.microsoftonline.com)
const app = (clientId, clientSecret) => new msal.ConfidentialClientApplication({
  auth: { clientId, clientSecret, authority, knownAuthorities: [host] },
});

const daemon = app(daemonId, daemonSecret);
const m2m = await daemon.acquireTokenByClientCredential({ scopes: [`${api}/.default`] });
const cached = await daemon.acquireTokenByClientCredential({ scopes: [`${api}/.default`] });

const web = app(webId, webSecret);
const scopes = [`${api}/Orders.Read`];
const url = await web.getAuthCodeUrl({ scopes, redirectUri, state: 'node-state' });

// The browser's part: the login page, then the pick of a user, then the redirect.
const decode = (s) => s.replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&#39;/g, "'")
  .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const attrs = (tag) => Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)]
  .map(([, k, v]) => [k, decode(v)]));
const page = await fetch(url);
if (page.status !== 200) throw new Error(`login page: ${page.status} ${await page.text()}`);
const html = await page.text();
const form = attrs(html.match(/<form[^>]*>/)[0]);
const fields = new URLSearchParams();
for (const [tag] of html.matchAll(/<input[^>]*>/g)) {
  const a = attrs(tag);
  if (a.type === 'hidden' && a.name) fields.append(a.name, a.value ?? '');
}
fields.append('pick', user);
const cookie = (page.headers.getSetCookie?.() ?? []).map((c) => c.split(';')[0]).join('; ');
const answer = await fetch(new URL(form.action, url), {
  method: 'POST', body: fields, redirect: 'manual',
  headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
});
const location = answer.headers.get('location');
if (!location) throw new Error(`no redirect from the login: ${answer.status} ${await answer.text()}`);
const back = new URL(location).searchParams;

const byCode = await web.acquireTokenByCode({ code: back.get('code'), scopes, redirectUri });
const accounts = await web.getTokenCache().getAllAccounts();
const silent = await web.acquireTokenSilent({ account: accounts[0], scopes });
const forced = await web.acquireTokenSilent({ account: accounts[0], scopes, forceRefresh: true });
const serialized = JSON.parse(web.getTokenCache().serialize());
const refreshToken = Object.values(serialized.RefreshToken)[0].secret;
const byRefresh = await web.acquireTokenByRefreshToken({ refreshToken, scopes });

console.log(JSON.stringify({
  m2m: { accessToken: m2m.accessToken, fromCache: m2m.fromCache, tenantId: m2m.tenantId },
  m2mCached: { accessToken: cached.accessToken, fromCache: cached.fromCache },
  state: back.get('state'),
  byCode: { accessToken: byCode.accessToken, idTokenClaims: byCode.idTokenClaims,
            uniqueId: byCode.uniqueId, tenantId: byCode.tenantId,
            homeAccountId: byCode.account.homeAccountId, scopes: byCode.scopes },
  accounts: accounts.map((a) => ({ homeAccountId: a.homeAccountId, username: a.username,
                                   localAccountId: a.localAccountId, tenantId: a.tenantId,
                                   environment: a.environment })),
  silent: { accessToken: silent.accessToken, fromCache: silent.fromCache },
  forced: { accessToken: forced.accessToken, fromCache: forced.fromCache },
  byRefresh: { accessToken: byRefresh.accessToken },
}));

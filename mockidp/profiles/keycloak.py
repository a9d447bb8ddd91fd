"""The Keycloak profile: an issuer that stands in for one realm of a Keycloak server.

Where (Keycloak's ``RealmsResource`` and ``OIDCLoginProtocolService``; python-keycloak's
``urls_patterns.py``; keycloak-js ``#setupEndpoints``): the realm lives at
``/realms/{realm}`` and, for applications still configured with the pre-17 ``/auth`` context
path, at ``/auth/realms/{realm}`` too, where the identifiers carry the ``/auth``.  Below the
realm: ``/.well-known/openid-configuration`` and ``protocol/openid-connect/{auth, token,
userinfo, certs, logout, token/introspect, revoke, auth/device, ext/par/request}``,
``clients-registrations/openid-connect``, and what the SDKs call besides:

- ``GET /realms/{realm}``: the realm's public document (``PublicRealmResource``:
  ``realm``, ``public_key`` = base64 DER SubjectPublicKeyInfo of the active RS256 key, which
  python-keycloak's ``public_key()`` reads, ``token-service``, ``account-service``,
  ``tokens-not-before``);
- ``protocol/openid-connect/login-status-iframe.html`` (+ ``/init``) and
  ``3p-cookies/step1.html`` / ``step2.html``: keycloak-js's default ``checkLoginIframe:
  true`` loads the 3p-cookies page, which must post ``supported`` or ``unsupported`` to its
  parent, then the status iframe, which answers each ``"{client_id} {sid}"`` message with
  ``unchanged``, ``changed`` or ``error`` (keycloak-js ``#check3pCookiesSupported``,
  ``#setupCheckLoginIframe``).  Keycloak's iframe compares the ``sid`` with its
  ``KEYCLOAK_SESSION`` cookie; this one asks ``/init`` (Keycloak's own origin check, 204) for
  the browser's live session each time.

What, as a realm issues tokens with its default client scopes (``profile``, ``email``,
``roles``, ``web-origins``, ``acr``): access tokens ``typ: "Bearer"``, ``azp``, ``sid`` and
``session_state``, ``scope`` (with ``profile email``), ``preferred_username``, ``email``,
``email_verified``, ``realm_access.roles`` (the user's generic ``roles`` with the realm's
defaults ``default-roles-{realm}``, ``offline_access``, ``uma_authorization``),
``resource_access.account.roles`` and so ``aud: "account"``; service-account tokens
(client credentials) ``preferred_username: "service-account-{client_id}"`` and no session.
ID tokens ``typ: "ID"``.  Refresh tokens are JWTs (``typ: "Refresh"``, ``"Offline"`` with
``offline_access``): keycloak-js decodes them (``#setToken``).  The token response adds
``refresh_expires_in``, ``not-before-policy`` and ``session_state``.  A POST to the logout
endpoint with a ``refresh_token`` is Keycloak's back-channel logout, answering 204
(python-keycloak's ``logout`` accepts nothing else; `Profile.token_logout`).  Userinfo
refuses tokens whose ``typ`` is not ``Bearer`` (Keycloak's ``TokenTypeCheck``).  Errors are
``{"error", "error_description"}``.  RS256 by default.

The bad-token kinds: a token of another realm, a refresh token and an ID token presented as
an access token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mockidp.core.errors import InvalidToken
from mockidp.core.model import EndpointRequest, GrantFacts, Json, Raw
from mockidp.profiles import Extra, IssuerView, Profile, frozen
from mockidp.tokens.jose import b64url_decode

OIDC = "/protocol/openid-connect"
DEFAULT_SCOPES = ("profile", "email")  # the realm's default client scopes in ``scope``
DEFAULT_REALM_ROLES = ("offline_access", "uma_authorization")  # + default-roles-{realm}
ACCOUNT_ROLES = ("manage-account", "manage-account-links", "view-profile")
PROFILE_CLAIMS = ("name", "given_name", "family_name", "middle_name", "nickname", "picture",
                  "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at",
                  "email")
# claims of the access token Keycloak's userinfo does not repeat
TOKEN_ONLY = ("typ", "realm_access", "resource_access", "session_state", "sid", "scope",
              "azp", "client_id", "acr", "allowed-origins", "clientHost", "clientAddress",
              "auth_time", "nonce", "at_hash", "c_hash", "cnf", "act")
NO_STORE = (("Cache-Control", "no-store"),)
HTML = "text/html; charset=utf-8"


def realm_of(view: IssuerView) -> str:
    return str(view.options.get("realm") or view.name)


def session_of(facts: GrantFacts) -> str | None:
    """The Keycloak user session of a grant: the browser login session's ``sid``; for a
    password grant (Keycloak makes a user session for it too) a UUID fixed by the client,
    the user and the login time, so it stays the same across refreshes; none for a service
    account (Keycloak's client-credentials sessions are transient) or a minted token."""
    if facts.session_id is not None:
        return facts.session_id
    if (facts.user is None and facts.sub == facts.client.id) or facts.auth_time is None:
        return None
    seed = f"{facts.client.id}\0{facts.sub}\0{facts.auth_time}".encode()
    return str(uuid.UUID(bytes=hashlib.sha256(seed).digest()[:16], version=4))


def scope_of(scopes: tuple[str, ...]) -> str:
    """The ``scope`` a realm grants: those asked for and its default client scopes."""
    return " ".join(dict.fromkeys((*scopes, *DEFAULT_SCOPES)))


def _roles(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return []


def _user_profile(claims: dict[str, Any], facts: GrantFacts) -> None:
    """The ``profile`` and ``email`` scope claims a realm always maps (default scopes)."""
    service = facts.user is None and facts.sub == facts.client.id
    if service:
        claims["preferred_username"] = f"service-account-{facts.client.id}"
    else:
        source = {**(facts.user.claims if facts.user is not None else {}),
                  **facts.login_claims}
        for name in PROFILE_CLAIMS:
            if name in source and name not in claims:
                claims[name] = source[name]
        username = source.get("preferred_username") or (
            facts.user.id if facts.user is not None else facts.sub)
        claims.setdefault("preferred_username", str(username).lower())
        if "email_verified" in source:
            claims.setdefault("email_verified", source["email_verified"])
    claims.setdefault("email_verified", False)


def _spki(jwks: Mapping[str, Any]) -> str | None:
    """Base64 DER SubjectPublicKeyInfo of the first (active) RS256 key of ``jwks``."""
    keys = [k for k in jwks.get("keys", ()) if k.get("kty") == "RSA"]
    keys.sort(key=lambda k: k.get("alg") != "RS256")  # stable: the active one stays first
    if not keys:
        return None
    numbers = rsa.RSAPublicNumbers(int.from_bytes(b64url_decode(keys[0]["e"]), "big"),
                                   int.from_bytes(b64url_decode(keys[0]["n"]), "big"))
    der = numbers.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def _realm(profile: Profile, view: IssuerView, req: EndpointRequest) -> Json:
    """``GET /realms/{realm}``: Keycloak's ``PublicRealmRepresentation``."""
    return Json({
        "realm": realm_of(view),
        "public_key": _spki(view.jwks),
        "token-service": view.issuer_url + OIDC,
        "account-service": view.issuer_url + "/account",
        "tokens-not-before": 0,
    })


def _page(script: str) -> Raw:
    body = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mockidp (imitating "
            f"Keycloak)</title></head><body><script>\n{script}</script></body></html>\n")
    return Raw(200, body.encode(), HTML, NO_STORE)


LOGIN_STATUS_SCRIPT = """\
(function () {
  var init = location.href.split('?')[0].split('#')[0] + '/init';
  function check(clientId, origin, sessionState, reply) {
    var req = new XMLHttpRequest();
    req.open('GET', init + '?client_id=' + encodeURIComponent(clientId)
             + '&origin=' + encodeURIComponent(origin), true);
    req.onreadystatechange = function () {
      if (req.readyState !== 4) { return; }
      if (req.status !== 204 && req.status !== 1223) { reply('error'); return; }
      var current = req.getResponseHeader('X-Keycloak-Session-State') || '';
      reply(current === sessionState ? 'unchanged' : 'changed');
    };
    req.send();
  }
  window.addEventListener('message', function (event) {
    if (typeof event.data !== 'string') { return; }
    var data = event.data.split(' ');
    if (data.length !== 2) { return; }
    var origin = event.origin;
    check(data[0], origin, data[1], function (message) {
      window.parent.postMessage(message, origin);
    });
  }, false);
})();
"""

STEP1_SCRIPT = """\
(async function () {
  function signal(message) { window.parent.postMessage(message, '*'); }
  if (typeof document.hasStorageAccess !== 'function'
      || typeof document.requestStorageAccess !== 'function') {
    document.cookie = 'KEYCLOAK_3P_COOKIE_SAMESITE=supported; Max-Age=60; SameSite=None; Secure';
    document.cookie = 'KEYCLOAK_3P_COOKIE=supported; Max-Age=60';
    window.location.href = 'step2.html';
    return;
  }
  try {
    if (await document.hasStorageAccess()) { signal('supported'); return; }
  } catch (e) { /* fall through to asking */ }
  try {
    await document.requestStorageAccess();
    signal('supported');
  } catch (e) {
    signal('unsupported');
  }
})();
"""

STEP2_SCRIPT = """\
if (document.cookie.indexOf('KEYCLOAK_3P_COOKIE') !== -1) {
  document.cookie = 'KEYCLOAK_3P_COOKIE_SAMESITE=; Max-Age=0; SameSite=None; Secure';
  document.cookie = 'KEYCLOAK_3P_COOKIE=; Max-Age=0';
  window.parent.postMessage('supported', '*');
} else {
  window.parent.postMessage('unsupported', '*');
}
"""


def _login_status(profile: Profile, view: IssuerView, req: EndpointRequest) -> Raw:
    return _page(LOGIN_STATUS_SCRIPT)


def _login_status_init(profile: Profile, view: IssuerView, req: EndpointRequest) -> Raw:
    """The status iframe's ``/init``: 204 for a client and origin (Keycloak checks the
    origin against the client's web origins; this permissive stand-in takes any), with the
    ``sid`` of the browser's live login session, which Keycloak's iframe reads from its
    ``KEYCLOAK_SESSION`` cookie."""
    single = req.params.single()
    if not single.get("client_id") or not single.get("origin"):
        return Raw(400, b"client_id and origin are required\n", headers=NO_STORE)
    return Raw(204, headers=(*NO_STORE,
                             ("X-Keycloak-Session-State", view.session_sid or "")))


def _step1(profile: Profile, view: IssuerView, req: EndpointRequest) -> Raw:
    return _page(STEP1_SCRIPT)


def _step2(profile: Profile, view: IssuerView, req: EndpointRequest) -> Raw:
    return _page(STEP2_SCRIPT)


def _payload(token: str) -> Mapping[str, Any]:
    """The claims of a JWT this profile signed itself (its refresh tokens)."""
    try:
        value = json.loads(b64url_decode(token.split(".")[1]))
    except (IndexError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Keycloak(Profile):
    """One Keycloak realm (see the module docs)."""

    def mounts(self, issuer: str, options: Mapping[str, Any]) -> tuple[str, ...]:
        realm = f"/realms/{options['realm']}"
        return (realm, "/auth" + realm)

    def option_defaults(self, issuer: str) -> Mapping[str, Any]:
        return {"realm": issuer}

    def check(self, options: Mapping[str, Any]) -> None:
        realm = options["realm"]
        if not isinstance(realm, str) or not realm or any(c in realm for c in "/?#% "):
            raise ValueError(f"realm: expected a realm name (no '/', '?', '#', '%' or "
                             f"spaces), got {realm!r}")

    def access_claims(self, claims: dict[str, Any], facts: GrantFacts, view: IssuerView
                      ) -> None:
        realm = realm_of(view)
        roles = _roles(claims.pop("roles", None))
        claims["typ"] = "Bearer"
        claims["azp"] = facts.client.id
        sid = session_of(facts)
        if sid is not None:
            claims["sid"] = claims["session_state"] = sid
        claims.setdefault("acr", "1")
        claims["scope"] = scope_of(facts.scopes)
        claims["realm_access"] = {"roles": list(dict.fromkeys(
            (*roles, f"default-roles-{realm.lower()}", *DEFAULT_REALM_ROLES)))}
        claims["resource_access"] = {"account": {"roles": list(ACCOUNT_ROLES)}}
        audience = [*facts.audience, "account"]
        claims["aud"] = audience[0] if len(audience) == 1 else list(dict.fromkeys(audience))
        _user_profile(claims, facts)

    def id_claims(self, claims: dict[str, Any], facts: GrantFacts, view: IssuerView) -> None:
        claims.pop("roles", None)  # realm roles go in the access token only
        claims["typ"] = "ID"
        sid = session_of(facts)
        if sid is not None:
            claims["sid"] = sid
        claims.setdefault("acr", "1")
        _user_profile(claims, facts)

    def userinfo(self, claims: dict[str, Any], access: Mapping[str, Any], view: IssuerView
                 ) -> None:
        if access.get("typ", "Bearer") not in ("Bearer", "DPoP"):
            raise InvalidToken(f"Token verification failed: wrong token type "
                               f"{access.get('typ')!r}, expected 'Bearer'")
        for name in TOKEN_ONLY:
            claims.pop(name, None)

    def introspection(self, body: dict[str, Any], claims: Mapping[str, Any],
                      view: IssuerView) -> None:
        username = claims.get("preferred_username")
        if isinstance(username, str):
            body["username"] = username

    def token_response(self, response: dict[str, Any], facts: GrantFacts, view: IssuerView
                       ) -> None:
        refresh = response.get("refresh_token")
        claims = _payload(refresh) if isinstance(refresh, str) else {}
        exp, iat = claims.get("exp"), claims.get("iat")
        response["refresh_expires_in"] = exp - iat if isinstance(exp, int) and \
            isinstance(iat, int) else 0
        response["not-before-policy"] = 0
        sid = session_of(facts)
        if sid is not None:
            response["session_state"] = sid
        if "access_token" in response:
            response["scope"] = scope_of(facts.scopes)

    def refresh_token(self, handle: str, facts: GrantFacts, view: IssuerView, now: int,
                      lifetime: int, sign: Callable[[dict[str, Any], str], str]) -> str:
        claims: dict[str, Any] = {
            "exp": now + lifetime, "iat": now, "jti": handle, "iss": view.issuer_url,
            "aud": view.issuer_url, "sub": facts.sub,
            "typ": "Offline" if "offline_access" in facts.scopes else "Refresh",
            "azp": facts.client.id, "scope": scope_of(facts.scopes),
        }
        sid = session_of(facts)
        if sid is not None:
            claims["sid"] = claims["session_state"] = sid
        return sign(claims, "JWT")

    def discovery(self, document: dict[str, Any], view: IssuerView) -> None:
        document["check_session_iframe"] = view.url(self, "login_status_iframe")
        document["frontchannel_logout_session_supported"] = True
        document["backchannel_logout_session_supported"] = True

    def bad_token(self, kind: str, claims: dict[str, Any], view: IssuerView) -> None:
        if kind == "keycloak_other_realm":
            other = "other" if realm_of(view) != "other" else "another"
            claims["iss"] = view.issuer_url.rsplit("/", 1)[0] + "/" + other
        elif kind == "keycloak_refresh_token":
            claims["typ"] = "Refresh"
        elif kind == "keycloak_id_token":
            claims["typ"] = "ID"


KEYCLOAK = Keycloak(
    name="keycloak", mount="/realms/{issuer}", title="Keycloak", fixed=True,
    paths=frozen({
        "discovery": "/.well-known/openid-configuration",
        "oauth_metadata": "/.well-known/oauth-authorization-server",
        "jwks": OIDC + "/certs",
        "authorize": OIDC + "/auth",
        "login": "/login-actions/authenticate",
        "consent": "/login-actions/consent",
        "token": OIDC + "/token",
        "userinfo": OIDC + "/userinfo",
        "introspect": OIDC + "/token/introspect",
        "revoke": OIDC + "/revoke",
        "endsession": OIDC + "/logout",
        "device_authorization": OIDC + "/auth/device",
        "device": "/device",
        "par": OIDC + "/ext/par/request",
        "register": "/clients-registrations/openid-connect",
    }),
    options=frozen({"realm": None}),
    defaults=frozen({"signing_alg": "RS256"}),
    token_logout=True,
    extras=frozen({
        "realm": Extra("", answer=_realm),
        "login_status_iframe": Extra(OIDC + "/login-status-iframe.html", cors=False,
                                     answer=_login_status),
        "login_status_init": Extra(OIDC + "/login-status-iframe.html/init", cors=False,
                                   answer=_login_status_init),
        "third_party_cookies_step1": Extra(OIDC + "/3p-cookies/step1.html", cors=False,
                                           answer=_step1),
        "third_party_cookies_step2": Extra(OIDC + "/3p-cookies/step2.html", cors=False,
                                           answer=_step2),
    }),
    bad_kinds=frozen({
        "keycloak_other_realm": "iss names another realm of the same Keycloak server",
        "keycloak_refresh_token": "a refresh token (typ Refresh) presented as an access token",
        "keycloak_id_token": "an ID token (typ ID) presented as an access token",
    }),
)

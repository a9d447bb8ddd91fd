"""The Auth0 profile: a tenant's Authentication API, as auth0-python and
express-oauth2-jwt-bearer read it.

Where (Auth0 Authentication API reference, https://auth0.com/docs/api/authentication): the
tenant lives at the server root (option ``mount = "/x"`` moves it), its issuer identifier is
``{base}{mount}/`` *with* the trailing slash (the ``iss`` of every Auth0 token;
auth0-python's `TokenVerifier` compares it exactly, express-oauth2-jwt-bearer reads it from
discovery); ``/.well-known/openid-configuration``, ``/.well-known/jwks.json``,
``/authorize``, ``/oauth/token``, ``/userinfo``, ``/oauth/revoke``, ``/oauth/device/code``
(device verification page ``/activate``), ``/oauth/par``, ``/oidc/register``,
``/oidc/logout`` (OIDC RP-initiated logout, the discovery's ``end_session_endpoint``) and
Auth0's own ``/v2/logout?client_id&returnTo`` (``returnTo`` is the standard
``post_logout_redirect_uri``), and ``/passwordless/start``.

What auth0-python relies on (its source, ``auth0/authentication``): every call POSTs a JSON
body (`RestClient.post` sends ``json=``; members it has no value for are JSON ``null``, left
out here); `GetToken.login` uses the grant ``http://auth0.com/oauth/grant-type/password-realm``
with ``realm`` (answered as the password grant; the realm names a connection, not checked);
`GetToken.passwordless_login` uses ``http://auth0.com/oauth/grant-type/passwordless/otp``
with ``otp`` (answered as the password grant: the code is the user's configured password,
or any code for a user configured without one); errors are read from ``error`` and
``error_description`` (`JsonResponse._error_code`); `JwksFetcher._parse_jwks` parses every
JWKS key as RSA, so the JWKS holds RSA keys only, and the tokens are RS256.

Tokens (Auth0 docs "Access token profiles", "ID token structure", "Sample use cases: scopes
and claims"):

- machine-to-machine (client credentials): ``sub`` ``{client_id}@clients``, ``azp``,
  ``aud`` the API asked for (``audience``, else the client's configured ``audience`` as
  Auth0's default audience; neither is Auth0's 403 ``access_denied``), ``scope`` (the client's
  ``permissions`` when none is asked for), ``gty: "client-credentials"``, and the client's
  ``permissions`` claim when it has one (RBAC);
- user tokens: with an API ``audience`` and ``openid``, ``aud`` is
  ``[audience, "{issuer}userinfo"]``; without an audience the token is for ``/userinfo``
  alone (``aud`` ``{issuer}userinfo``; Auth0 issues an opaque token there, a JWT here);
  ``azp``, ``scope``, the user's ``permissions`` only with an API audience, ``gty:
  "password"`` for the password grants; no ``client_id`` claim;
- ID tokens (and ``/userinfo``): ``nickname``, ``name``, ``picture``, ``updated_at`` (an ISO
  8601 string: the login time) with ``profile``, ``email`` and ``email_verified`` with
  ``email``, each the user's own when configured; ``sid`` with a login session;
- a refresh token only with ``offline_access`` (Auth0 "Get refresh tokens"), not rotated by
  default (rotation is an application setting, off unless turned on).

``/userinfo`` refuses a token whose ``aud`` lacks ``{issuer}userinfo`` (an M2M token, an
API-only token), as Auth0 does.  There is no introspection endpoint (Auth0 has none).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from mockidp.core.errors import InvalidRequest, InvalidToken, OAuthError
from mockidp.core.model import EndpointRequest, GrantFacts, Json, Outcome
from mockidp.profiles import Extra, IssuerView, Profile, frozen
from mockidp.tokens.jose import b64url_encode, json_segment

PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"
PASSWORDLESS_OTP = "http://auth0.com/oauth/grant-type/passwordless/otp"
OTHER_TENANT = "https://another-tenant.auth0.com/"
FALLBACK_SECRET = "mockidp-client-secret"  # HS256 bad tokens of a client without a secret
SCOPES = ("openid", "profile", "offline_access", "name", "given_name", "family_name",
          "nickname", "email", "email_verified", "picture", "created_at", "identities",
          "phone", "address")
NOT_USERINFO = ("permissions", "gty")  # access-token claims that are no profile claims


def url_path(url: str) -> str | None:
    """The path of an absolute URL (``/`` for ``https://host/``), None for anything else."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        return None
    _, slash, path = rest.partition("/")
    return "/" + path if slash else ""


def url_host(url: str) -> str:
    """The host name of an absolute URL, without its port."""
    rest = url.partition("://")[2]
    host = rest.partition("/")[0].rpartition("@")[2]
    return host if host.startswith("[") else host.partition(":")[0]


def audiences(value: Any) -> list[str]:
    """An ``aud`` claim as a list of strings."""
    if isinstance(value, str):
        return [value]
    return [a for a in value if isinstance(a, str)] if isinstance(value, list) else []


def audience_claim(values: list[str]) -> str | list[str]:
    """One audience as a string, several as a list (what Auth0 issues)."""
    return values[0] if len(values) == 1 else values


def iso_time(seconds: int) -> str:
    """Auth0's ``updated_at`` spelling: ``2024-05-01T12:00:00.000Z``."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def picture_url(who: str) -> str:
    """The Gravatar URL Auth0 gives users without a picture (only a string: never fetched)."""
    digest = hashlib.md5(who.strip().lower().encode(), usedforsecurity=False).hexdigest()
    initials = "".join(c for c in who.split("@")[0].lower() if c.isalnum())[:2] or "u"
    fallback = quote(f"https://cdn.auth0.com/avatars/{initials}.png", safe="")
    return f"https://s.gravatar.com/avatar/{digest}?s=480&r=pg&d={fallback}"


def profile_defaults(claims: dict[str, Any], scopes: tuple[str, ...],
                     auth_time: Any) -> None:
    """Auth0's normalized-profile claims of ID tokens and ``/userinfo`` (in place), where the
    user has none of their own: by scope (OIDC Core §5.4), from the email or ``sub``."""
    sub = str(claims.get("sub") or "")
    if "email" in scopes:
        if "email" not in claims and "@" in sub:
            claims["email"] = sub  # a passwordless (email) user
        if "email" in claims:
            claims.setdefault("email_verified", True)
    if "profile" in scopes:
        email = claims.get("email")
        who = email if isinstance(email, str) and email else sub
        claims.setdefault("nickname", who.split("@")[0])
        claims.setdefault("name", who)
        claims.setdefault("picture", picture_url(who))
        if isinstance(auth_time, int) and not isinstance(auth_time, bool):
            claims.setdefault("updated_at", iso_time(auth_time))


def hs256(claims: Mapping[str, Any], secret: str) -> str:
    """An HS256 JWT signed with ``secret`` (Auth0's legacy HS256 applications)."""
    signing_input = f"{json_segment({'alg': 'HS256', 'typ': 'JWT'})}.{json_segment(claims)}"
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(mac)}"


def passwordless_start(profile: Profile, view: IssuerView, req: EndpointRequest) -> Outcome:
    """``POST /passwordless/start``: what Auth0 answers (the code is not sent anywhere; the
    token request takes the user's password, or any code for a user without one)."""
    params = req.params.single()
    if not params.get("client_id"):
        raise InvalidRequest("Missing required parameter: client_id")
    connection = params.get("connection")
    if connection not in ("email", "sms"):
        raise OAuthError("connection must be email or sms", error="bad.connection")
    send = params.get("send", "link")
    if send not in ("link", "code"):
        raise OAuthError("send must be link or code", error="bad.send")
    field = "email" if connection == "email" else "phone_number"
    who = params.get(field)
    if not who:
        raise OAuthError(f"Missing required parameter: {field}",
                         error="bad.email" if connection == "email" else "bad.phone_number")
    user_id = hashlib.sha256(f"{connection}|{who}".encode()).hexdigest()[:24]
    if connection == "email":
        return Json({"_id": user_id, "email": who, "email_verified": False})
    return Json({"_id": user_id, "phone_number": who, "phone_verified": False,
                 "request_language": None})


@dataclass(frozen=True)
class Auth0(Profile):
    """An Auth0 tenant (see the module docs)."""

    def mounts(self, issuer: str, options: Mapping[str, Any]) -> tuple[str, ...]:
        return (str(options.get("mount", "")),)

    def check(self, options: Mapping[str, Any]) -> None:
        mount = options.get("mount", "")
        segments = mount.split("/")[1:] if isinstance(mount, str) else []
        if not isinstance(mount, str) or (mount and (
                not mount.startswith("/") or not all(segments)
                or any(c in mount for c in "{}?#%\\ "))):
            raise ValueError(f"mount: expected '' (the server root) or a path like '/x' "
                             f"without a trailing '/', got {mount!r}")

    def identifier(self, base_url: str, mount: str, options: Mapping[str, Any]) -> str:
        return base_url + mount + "/"

    def owns(self, iss: str, mount: str, options: Mapping[str, Any]) -> bool:
        """An ``iss`` whose path is the mount's, under any host but another tenant's and the
        reserved ``.invalid`` names of the bad-token catalogue."""
        host = url_host(iss)
        if host.endswith(".invalid") or host == url_host(OTHER_TENANT):
            return False
        return url_path(iss) == mount + "/"

    # -- claims -------------------------------------------------------------------------------
    def access_claims(self, claims: dict[str, Any], facts: GrantFacts, view: IssuerView
                      ) -> None:
        userinfo = view.issuer_url + "userinfo"
        api = [a for a in facts.audience if a != userinfo]
        claims.pop("client_id", None)
        if facts.grant_type == "client_credentials":
            if not api:
                raise OAuthError("No audience parameter was provided, and no default "
                                 "audience has been configured", error="access_denied",
                                 status=403)
            claims["sub"] = f"{facts.client.id}@clients"
            claims["aud"] = audience_claim(api)
            claims["gty"] = "client-credentials"
            permissions = facts.client.claims.get("permissions")
            if "scope" not in claims and isinstance(permissions, list):
                claims["scope"] = " ".join(str(p) for p in permissions)
            return
        wanted = [*api, userinfo] if "openid" in facts.scopes or not api else api
        claims["aud"] = audience_claim(wanted)
        if not api:
            claims.pop("permissions", None)  # only tokens for an API carry them
        if facts.grant_type == "password":
            claims["gty"] = "password"

    def id_claims(self, claims: dict[str, Any], facts: GrantFacts, view: IssuerView) -> None:
        claims.pop("permissions", None)
        profile_defaults(claims, facts.scopes, facts.auth_time)

    def userinfo(self, claims: dict[str, Any], access: Mapping[str, Any], view: IssuerView
                 ) -> None:
        own = view.mount + "/userinfo"
        if not any(url_path(a) == own for a in audiences(access.get("aud"))):
            raise InvalidToken(f"the access token's audience is not {view.issuer_url}userinfo")
        for name in NOT_USERINFO:
            claims.pop(name, None)
        profile_defaults(claims, tuple(str(access.get("scope") or "").split()),
                         access.get("auth_time"))

    def token_response(self, response: dict[str, Any], facts: GrantFacts, view: IssuerView
                       ) -> None:
        if "offline_access" not in facts.scopes:
            response.pop("refresh_token", None)

    def discovery(self, document: dict[str, Any], view: IssuerView) -> None:
        for key in ("introspection_endpoint_auth_methods_supported",
                    "introspection_endpoint_auth_signing_alg_values_supported"):
            document.pop(key, None)
        document["scopes_supported"] = list(SCOPES)
        document["id_token_signing_alg_values_supported"] = ["RS256", "PS256"]
        document["grant_types_supported"] = [*document["grant_types_supported"],
                                             *self.grant_aliases]

    # -- bad tokens ---------------------------------------------------------------------------
    def bad_token(self, kind: str, claims: dict[str, Any], view: IssuerView) -> str | None:
        client_id = str(claims.get("azp") or "mockidp")
        if kind == "auth0_m2m_token":
            for name in [n for n in claims if n not in M2M_CLAIMS]:
                del claims[name]
            claims.update(sub=f"{client_id}@clients", gty="client-credentials")
            userinfo = view.issuer_url + "userinfo"
            api = [a for a in audiences(claims.get("aud")) if a != userinfo]
            claims["aud"] = audience_claim(api or [client_id])
        elif kind == "auth0_no_userinfo_audience":
            userinfo = view.issuer_url + "userinfo"
            api = [a for a in audiences(claims.get("aud")) if a != userinfo]
            claims["aud"] = audience_claim(api or [client_id])
        elif kind == "auth0_other_tenant":
            claims["iss"] = OTHER_TENANT
        elif kind == "auth0_hs256_client_secret":
            client = view.find_client(client_id)
            secret = client.secret if client is not None and client.secret else None
            return hs256(claims, secret or FALLBACK_SECRET)
        return None


M2M_CLAIMS = frozenset({"iss", "sub", "aud", "azp", "scope", "jti", "iat", "nbf", "exp",
                        "permissions"})

AUTH0 = Auth0(
    name="auth0", mount="", title="Auth0", fixed=True,
    paths=frozen({
        "discovery": "/.well-known/openid-configuration",
        "oauth_metadata": "/.well-known/oauth-authorization-server",
        "jwks": "/.well-known/jwks.json",
        "authorize": "/authorize", "login": "/u/login", "consent": "/u/consent",
        "par": "/oauth/par", "token": "/oauth/token", "userinfo": "/userinfo",
        "revoke": "/oauth/revoke", "endsession": "/oidc/logout",
        "device_authorization": "/oauth/device/code", "device": "/activate",
        "register": "/oidc/register",
    }),
    path_aliases=frozen({"/v2/logout": "endsession"}),
    options=frozen({"mount": ""}),
    defaults=frozen({"signing_alg": "RS256", "rotate_refresh_tokens": False}),
    json_bodies=frozenset({"token", "revoke", "par", "device_authorization",
                           "passwordless_start"}),
    grant_aliases=frozen({PASSWORD_REALM: "password", PASSWORDLESS_OTP: "password"}),
    param_aliases=MappingProxyType({
        "endsession": frozen({"returnTo": "post_logout_redirect_uri"}),
        "token": frozen({"otp": "password"}),
    }),
    extras=frozen({"passwordless_start": Extra("/passwordless/start", methods=("POST",),
                                               answer=passwordless_start)}),
    bad_kinds=frozen({
        "auth0_m2m_token": "a machine-to-machine token (sub {client}@clients, gty "
                           "client-credentials) where a user's token is expected",
        "auth0_no_userinfo_audience": "aud lacks {issuer}userinfo: /userinfo refuses it",
        "auth0_hs256_client_secret": "HS256 signed with the client secret where RS256 is "
                                     "expected",
        "auth0_other_tenant": f"iss is another Auth0 tenant's ({OTHER_TENANT})",
    }),
    jwks_key_types=("RSA",),
)

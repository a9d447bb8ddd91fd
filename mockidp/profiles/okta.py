"""The Okta profile: an Okta custom authorization server, as Okta's SDKs and verifiers read it.

Where (Okta "OpenID Connect & OAuth 2.0 API", custom authorization servers): the issuer is
``{base}/oauth2/{authorization_server}`` (``default`` unless the issuer's table names another
server); below it ``/.well-known/openid-configuration`` and
``/.well-known/oauth-authorization-server``, and ``/v1/authorize``, ``/v1/token``,
``/v1/keys``, ``/v1/userinfo``, ``/v1/introspect``, ``/v1/revoke``, ``/v1/logout``,
``/v1/device/authorize`` and ``/v1/par``.  okta-jwt-verifier (Python, ``_construct_jwks_uri``)
and @okta/jwt-verifier (Node, ``getJwksUri``) both fetch ``{issuer}/v1/keys`` without reading
discovery, and accept RS256 only (``headers.get('alg') != 'RS256'``,
``setSigningAlgorithm('RS256')``): the profile signs with RS256 and publishes RSA keys only.

What (the token claims Okta documents, and what a real Okta token carries):

- access tokens: ``ver: 1``, ``jti`` (``AT.…``), ``iss``, ``aud`` (the authorization server's
  audience: ``api://default`` for the default server, as Okta's own default and both
  verifiers' default audience; ``api://{server}`` for another, or the issuer's ``audience``
  option; an ``audience``/``resource`` asked for, or a client's configured audience, wins),
  ``iat``, ``exp``, ``cid`` (the client id), ``uid`` (the user's Okta id ``00u…``: the user's
  own ``uid`` claim, else one derived from the login, stable), ``scp`` (a JSON list), ``sub``
  (the login for users, the client id for client-credentials tokens), ``auth_time``, and the
  user's ``groups`` (Okta's groups claim).  No ``scope``, ``client_id``, ``azp`` or ``sid``:
  an application reading them would pass here and fail against Okta.
- ID tokens: ``ver: 1``, ``jti`` (``ID.…``), ``sub`` (the ``uid``), ``aud`` (the client id),
  ``amr`` (``["pwd"]``), ``idp`` (the org's id ``00o…``), ``auth_time``, ``at_hash``,
  ``nonce``, ``preferred_username`` (the login, with the ``profile`` scope), ``name`` and
  ``email`` as the scopes allow; no ``azp``.
- token responses: a refresh token only when ``offline_access`` was granted (Okta's rule).
- userinfo: ``sub`` is the ``uid``; introspection answers Okta's members (``active``,
  ``scope``, ``username``, ``exp``, ``iat``, ``sub``, ``aud``, ``iss``, ``jti``,
  ``token_type``, ``client_id``, ``uid``).
- errors of the ``/v1`` endpoints: ``{"error", "error_description"}``, the description always
  present (Okta's ``errorCode``/``errorSummary`` shape belongs to its management API, not to
  these endpoints).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mockidp.core.errors import OAuthError
from mockidp.core.model import GrantFacts
from mockidp.profiles import IssuerView, Profile, frozen

SERVER_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._~-]{0,63}\Z")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# the members of Okta's introspection answer for an active access token
INTROSPECTION_MEMBERS = ("active", "scope", "username", "exp", "iat", "sub", "aud", "iss",
                         "jti", "token_type", "client_id", "uid")
# what an access token carries for Okta's sake only: not the user's claims in userinfo
_ACCESS_ONLY = ("ver", "cid", "uid", "scp")


def okta_id(prefix: str, seed: str) -> str:
    """An Okta-looking object id (``00u`` users, ``00o`` orgs): 20 characters, the prefix and
    17 base62 characters derived from ``seed`` (the same seed, the same id)."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(17):
        number, rest = divmod(number, 62)
        chars.append(_ALPHABET[rest])
    return prefix + "".join(chars)


def _scopes(claims: Mapping[str, Any]) -> list[str]:
    scp = claims.get("scp")
    if isinstance(scp, list):
        return [str(s) for s in scp]
    scope = claims.get("scope")
    return scope.split() if isinstance(scope, str) else []


@dataclass(frozen=True)
class Okta(Profile):
    """An Okta custom authorization server at ``/oauth2/{authorization_server}``."""

    def mounts(self, issuer: str, options: Mapping[str, Any]) -> tuple[str, ...]:
        return (f"/oauth2/{options['authorization_server']}",)

    def check(self, options: Mapping[str, Any]) -> None:
        server = options["authorization_server"]
        if not SERVER_NAME.match(server):
            raise ValueError("authorization_server: expected an authorization server id of "
                             "letters, digits, '.', '_', '~', '-' (e.g. default), "
                             f"got {server!r}")

    @staticmethod
    def audience(view: IssuerView) -> str:
        """The authorization server's audience (``api://default`` for the default one)."""
        configured = view.options.get("audience")
        if isinstance(configured, str) and configured:
            return configured
        return f"api://{view.options.get('authorization_server', 'default')}"

    @staticmethod
    def org_id(view: IssuerView) -> str:
        """The id of the Okta org the server belongs to (ID tokens' ``idp``)."""
        return okta_id("00o", f"org:{view.name}")

    # -- claims -------------------------------------------------------------------------------
    def access_claims(self, claims: dict[str, Any], facts: GrantFacts, view: IssuerView
                      ) -> None:
        jti = claims.get("jti")
        claims["ver"] = 1
        claims["jti"] = f"AT.{jti}"
        if not facts.audience:
            claims["aud"] = self.audience(view)
        claims["cid"] = facts.client.id
        if facts.grant_type == "client_credentials":
            claims["sub"] = facts.client.id
            claims.pop("uid", None)
        else:
            claims["uid"] = self.user_id(claims, facts.sub)
        claims["scp"] = list(facts.scopes)
        for name in ("scope", "client_id", "azp", "sid"):
            claims.pop(name, None)

    @staticmethod
    def user_id(claims: Mapping[str, Any], login: str) -> str:
        """The user's Okta id: their own ``uid`` claim, else one derived from the login."""
        uid = claims.get("uid")
        return uid if isinstance(uid, str) and uid else okta_id("00u", f"user:{login}")

    def id_claims(self, claims: dict[str, Any], facts: GrantFacts, view: IssuerView) -> None:
        login = facts.sub
        claims["ver"] = 1
        claims["jti"] = f"ID.{claims.get('jti')}"
        claims["sub"] = self.user_id(claims, login)
        claims.pop("uid", None)
        claims.pop("azp", None)
        claims.setdefault("amr", ["pwd"])
        claims.setdefault("idp", self.org_id(view))
        if "profile" in facts.scopes:
            claims.setdefault("preferred_username", login)

    def userinfo(self, claims: dict[str, Any], access: Mapping[str, Any], view: IssuerView
                 ) -> None:
        uid = access.get("uid")
        if isinstance(uid, str):
            claims["sub"] = uid
            if "profile" in _scopes(access) and isinstance(access.get("sub"), str):
                claims.setdefault("preferred_username", access["sub"])
        for name in _ACCESS_ONLY:
            claims.pop(name, None)

    def introspection(self, body: dict[str, Any], claims: Mapping[str, Any],
                      view: IssuerView) -> None:
        answer: dict[str, Any] = {
            "active": True, "scope": " ".join(_scopes(claims)),
            "username": claims.get("sub") if "uid" in claims else None,
            "exp": claims.get("exp"), "iat": claims.get("iat"), "sub": claims.get("sub"),
            "aud": claims.get("aud"), "iss": claims.get("iss"), "jti": claims.get("jti"),
            "token_type": body.get("token_type", "Bearer"),
            "client_id": claims.get("cid", claims.get("client_id")), "uid": claims.get("uid"),
        }
        body.clear()
        body.update({k: v for k, v in answer.items() if v is not None})

    def token_response(self, response: dict[str, Any], facts: GrantFacts, view: IssuerView
                       ) -> None:
        if "offline_access" not in facts.scopes:  # Okta: refresh tokens only for offline_access
            response.pop("refresh_token", None)

    def discovery(self, document: dict[str, Any], view: IssuerView) -> None:
        document["id_token_signing_alg_values_supported"] = ["RS256"]
        claims = set(document.get("claims_supported", ())) - {"azp"}
        document["claims_supported"] = sorted(
            claims | {"ver", "jti", "amr", "idp", "cid", "uid", "scp", "groups"})
        scopes = document.get("scopes_supported")
        if isinstance(scopes, list) and "groups" not in scopes:
            document["scopes_supported"] = [*scopes, "groups"]

    def error_body(self, error: OAuthError, endpoint: str) -> Mapping[str, Any]:
        body = error.body()
        body.setdefault("error_description", error.error.replace("_", " "))
        return body

    # -- bad tokens ---------------------------------------------------------------------------
    def bad_token(self, kind: str, claims: dict[str, Any], view: IssuerView) -> None:
        if kind == "okta_other_cid":
            claims["cid"] = okta_id("0oa", f"other-client:{claims.get('cid')}")
        elif kind == "okta_id_token":
            cid = claims.pop("cid", None)
            uid = claims.pop("uid", None)
            claims.pop("scp", None)
            claims["jti"] = "ID." + str(claims.get("jti", "")).removeprefix("AT.")
            claims["aud"] = cid if isinstance(cid, str) else "mockidp"
            claims["sub"] = uid if isinstance(uid, str) else claims.get("sub")
            claims.update(amr=["pwd"], idp=self.org_id(view))
            claims.setdefault("auth_time", claims.get("iat"))
        elif kind == "okta_other_server":
            server = str(view.options.get("authorization_server", "default"))
            claims["iss"] = f"{view.base_url}/oauth2/{server}-other"
        elif kind == "okta_org_server":
            claims["iss"] = view.base_url
            claims["aud"] = view.base_url


OKTA = Okta(
    name="okta", mount="/oauth2/{issuer}", title="Okta", fixed=True,
    paths=frozen({
        "discovery": "/.well-known/openid-configuration",
        "oauth_metadata": "/.well-known/oauth-authorization-server",
        "jwks": "/v1/keys",
        "authorize": "/v1/authorize",
        "login": "/v1/authorize/login",
        "consent": "/v1/authorize/consent",
        "par": "/v1/par",
        "token": "/v1/token",
        "userinfo": "/v1/userinfo",
        "introspect": "/v1/introspect",
        "revoke": "/v1/revoke",
        "endsession": "/v1/logout",
        "device_authorization": "/v1/device/authorize",
        "device": "/activate",
    }),
    options=frozen({"authorization_server": "default", "audience": None}),
    defaults=frozen({"signing_alg": "RS256"}),
    jwks_key_types=("RSA",),
    bad_kinds=frozen({
        "okta_other_cid": "cid names another client (an app asserting cid refuses it)",
        "okta_id_token": "an Okta ID token (aud is the client id) used as an access token",
        "okta_other_server": "iss is another authorization server of the same org",
        "okta_org_server": "a token of the org authorization server (iss and aud the org "
                           "URL), not of the custom one",
    }),
)

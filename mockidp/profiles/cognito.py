"""The Amazon Cognito user pool profile: a pool's own documents at ``/{user_pool_id}``, its
hosted UI (managed login) at the server root, tokens as Cognito signs them.

What it imitates, and where each fact comes from:

- Issuer ``https://cognito-idp.{region}.amazonaws.com/{user_pool_id}`` (the region is the pool
  id's prefix): aws-jwt-verify's ``CognitoJwtVerifier.parseUserPoolId`` derives exactly this
  issuer and JWKS URI from the pool id (``USER_POOL_ID_REGEX`` below is its pool-id check) and
  offers no way to change them, so an application keeps Cognito's issuer and points only the
  JWKS download at the stand-in (``verifier.cacheJwks(jwks)``, or a ``SimpleJwksCache`` with a
  ``fetcher`` that maps the cognito-idp URL to this server; see the aws-jwt-verify README,
  "The JWKS cache").  The issuer is configurable (``issuer = ...``) for other verifiers.
- ``/{user_pool_id}/.well-known/openid-configuration`` and ``/.well-known/jwks.json`` (RSA
  keys only, RS256), the discovery members Cognito publishes.
- Hosted UI paths (Cognito developer guide, "User pool endpoints"): ``/oauth2/authorize``,
  ``/oauth2/token``, ``/oauth2/userInfo`` (capital I), ``/oauth2/revoke``, and
  ``/logout?client_id=...&logout_uri=...`` (``logout_uri`` is the post-logout redirect).  Only
  one pool can own the server root: another pool's hosted UI moves below its ``mount``.
- Access tokens (developer guide, "Understanding the access token"): ``token_use: access``,
  ``client_id`` and no ``aud``, ``username``, ``sub`` (a UUID per user), ``scope``,
  ``cognito:groups`` (the user's generic ``groups``), ``version: 2``, ``auth_time``,
  ``event_id``, ``origin_jti``, ``jti``; machine-to-machine tokens (client credentials) have
  ``sub`` = the client id and no username.  ID tokens ("Understanding the identity token"):
  ``token_use: id``, ``aud``, ``cognito:username``, ``cognito:groups``, ``email``,
  ``email_verified``, ``at_hash``, ``nonce``, ``origin_jti``, ``event_id``, ``auth_time``.
  aws-jwt-verify's ``validateCognitoJwtFields`` checks ``token_use``, then ``aud`` for ID
  tokens and ``client_id`` for access tokens.
- A refresh answers new ID and access tokens and no refresh token ("Token endpoint": "the
  refresh token ... is not returned"); token and revocation errors are ``{"error": code}``
  alone; userInfo answers ``email_verified``/``phone_number_verified`` as strings and needs
  the ``openid`` scope ("UserInfo endpoint").
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from mockidp.core.errors import InvalidToken, OAuthError
from mockidp.core.model import GrantFacts
from mockidp.profiles import IssuerView, Profile, frozen

# aws-jwt-verify's CognitoJwtVerifier.USER_POOL_ID_REGEX (dist/esm/cognito-verifier.js)
USER_POOL_ID_REGEX = re.compile(
    r"\A(?P<region>(?:eusc-[a-z]{2}|[a-z]{2})-(gov-)?[a-z]+-\d)_[a-zA-Z0-9]+\Z")
REGION_REGEX = re.compile(r"\A(?:eusc-[a-z]{2}|[a-z]{2})-(gov-)?[a-z]+-\d\Z")
MOUNT_REGEX = re.compile(r"\A(/[A-Za-z0-9._~-]+)*\Z")
SUB_NAMESPACE = uuid.UUID("6f1c0a55-c0d6-4e6b-9a1e-7d3c0915a2b1")  # the users' stable UUIDs
# the hosted UI, from the server root (or below the issuer's ``mount``)
HOSTED_UI = {"authorize": "/oauth2/authorize", "token": "/oauth2/token",
             "userinfo": "/oauth2/userInfo", "revoke": "/oauth2/revoke",
             "endsession": "/logout", "login": "/login", "consent": "/login/consent"}
# claims of the tokens that are no user attribute: userInfo leaves them out
TOKEN_ONLY = frozenset({"client_id", "azp", "scope", "token_use", "version", "cognito:groups",
                        "origin_jti", "event_id", "auth_time", "jti", "sid", "acr", "cnf",
                        "act", "cognito:username"})
STRING_BOOLEANS = ("email_verified", "phone_number_verified")
# what Cognito's discovery document holds (the endpoint URLs are the stand-in's)
DISCOVERY_MEMBERS = ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint",
                     "jwks_uri", "revocation_endpoint", "end_session_endpoint")


def pool_id(options: Mapping[str, Any]) -> str:
    """The user pool id of an issuer's options."""
    return str(options["user_pool_id"])


def region_of(options: Mapping[str, Any]) -> str:
    """The region: the ``region`` option, else the pool id's prefix."""
    region = options.get("region")
    return str(region) if region else pool_id(options).split("_", 1)[0]


def cognito_issuer(options: Mapping[str, Any]) -> str:
    """The ``iss`` of the pool's tokens: the ``issuer`` option, else Cognito's own."""
    issuer = options.get("issuer")
    if issuer:
        return str(issuer).rstrip("/")
    return f"https://cognito-idp.{region_of(options)}.amazonaws.com/{pool_id(options)}"


def _user_id(facts: GrantFacts, options: Mapping[str, Any]) -> tuple[str, str]:
    """(``sub``, username) of a user's token: a configured ``sub`` claim as it is, else a UUID
    that is the same for the same username in the same pool (as Cognito's is per user)."""
    username = facts.user.id if facts.user is not None else facts.sub
    if facts.user is not None and "sub" in facts.user.claims:
        return facts.sub, username
    return str(uuid.uuid5(SUB_NAMESPACE, f"{options.get('user_pool_id')}:{facts.sub}")), username


def _origin(facts: GrantFacts, claims: Mapping[str, Any]) -> tuple[str, str]:
    """(``origin_jti``, ``event_id``): one pair per sign-in, the same for every token of it
    and its refreshes (from the login session), fresh when there is no session."""
    seed = facts.session_id or str(claims.get("jti"))
    return (str(uuid.uuid5(SUB_NAMESPACE, "origin:" + seed)),
            str(uuid.uuid5(SUB_NAMESPACE, "event:" + seed)))


def _groups(claims: dict[str, Any], facts: GrantFacts) -> None:
    """The user's generic ``groups`` become ``cognito:groups``."""
    groups = claims.pop("groups", None)
    if groups is None and facts.user is not None:
        groups = facts.user.claims.get("groups")
    if isinstance(groups, str):
        groups = [groups]
    if groups:
        claims["cognito:groups"] = list(groups)


@dataclasses.dataclass(frozen=True)
class Cognito(Profile):
    """An Amazon Cognito user pool (see the module docs)."""

    def mounts(self, issuer: str, options: Mapping[str, Any]) -> tuple[str, ...]:
        return (f"/{pool_id(options)}",)

    def option_defaults(self, issuer: str) -> Mapping[str, Any]:
        return {"user_pool_id": issuer}

    def check(self, options: Mapping[str, Any]) -> None:
        pool = pool_id(options)
        if not USER_POOL_ID_REGEX.match(pool):
            raise ValueError(f"user_pool_id: expected a user pool id like 'us-east-1_Example' "
                             f"(REGION_ID, as aws-jwt-verify checks it; the default is the "
                             f"issuer's name), got {pool!r}")
        region = options.get("region")
        if region is not None and not REGION_REGEX.match(str(region)):
            raise ValueError(f"region: expected an AWS region like 'us-east-1', got {region!r}")
        issuer = options.get("issuer")
        if issuer is not None and not re.match(r"\Ahttps?://[^/?#\s]+(/[^?#\s]*)?\Z",
                                               str(issuer)):
            raise ValueError(f"issuer: expected an absolute http(s) URL without query, got "
                             f"{issuer!r}")
        mount = str(options.get("mount", ""))
        if not MOUNT_REGEX.match(mount):
            raise ValueError(f"mount: expected '' (the hosted UI at the server root) or a path "
                             f"like '/pool2' (no trailing '/'), got {mount!r}")

    def for_options(self, options: Mapping[str, Any]) -> Profile:
        """The hosted UI below the issuer's ``mount`` (the server root by default)."""
        mount = str(options.get("mount", ""))
        if not mount:
            return self
        return dataclasses.replace(self, root_paths=frozen(
            {name: mount + path for name, path in self.root_paths.items()}))

    # -- who ----------------------------------------------------------------------------------
    def identifier(self, base_url: str, mount: str, options: Mapping[str, Any]) -> str:
        return cognito_issuer(options)

    def owns(self, iss: str, mount: str, options: Mapping[str, Any]) -> bool:
        return iss.rstrip("/") == cognito_issuer(options)

    # -- what ---------------------------------------------------------------------------------
    def access_claims(self, claims: dict[str, Any], facts: GrantFacts, view: IssuerView
                      ) -> None:
        if not (facts.grant_type == "mint" and facts.audience):
            claims.pop("aud", None)  # Cognito access tokens carry client_id, no aud
        claims.pop("azp", None)
        claims.pop("sid", None)
        claims["client_id"] = facts.client.id
        claims["token_use"] = "access"
        claims["version"] = 2
        claims["jti"] = str(uuid.uuid4())
        _groups(claims, facts)
        if facts.grant_type == "client_credentials":
            claims["sub"] = facts.client.id  # machine to machine: no user, no username
            return
        claims["sub"], claims["username"] = _user_id(facts, view.options)
        claims["origin_jti"], claims["event_id"] = _origin(facts, claims)

    def id_claims(self, claims: dict[str, Any], facts: GrantFacts, view: IssuerView) -> None:
        for name in ("azp", "sid", "c_hash"):
            claims.pop(name, None)
        claims["token_use"] = "id"
        claims["jti"] = str(uuid.uuid4())
        claims["sub"], claims["cognito:username"] = _user_id(facts, view.options)
        _groups(claims, facts)
        if "email" in claims and "email_verified" not in claims:
            claims["email_verified"] = True
        claims["origin_jti"], claims["event_id"] = _origin(facts, claims)

    def userinfo(self, claims: dict[str, Any], access: Mapping[str, Any], view: IssuerView
                 ) -> None:
        if "openid" not in str(access.get("scope") or "").split():
            raise InvalidToken("Access token does not contain openid scope")
        for name in TOKEN_ONLY & claims.keys():
            del claims[name]
        if isinstance(access.get("username"), str):
            claims["username"] = access["username"]
        if "email" in claims and "email_verified" not in claims:
            claims["email_verified"] = True  # as in the ID token
        for name in STRING_BOOLEANS:
            if isinstance(claims.get(name), bool):
                claims[name] = "true" if claims[name] else "false"

    def token_response(self, response: dict[str, Any], facts: GrantFacts, view: IssuerView
                       ) -> None:
        response.pop("scope", None)
        if facts.grant_type == "refresh_token":
            response.pop("refresh_token", None)  # Cognito never hands out a new one

    def discovery(self, document: dict[str, Any], view: IssuerView) -> None:
        kept = {k: document[k] for k in DISCOVERY_MEMBERS if k in document}
        document.clear()
        document.update(kept)
        document.update({
            "response_types_supported": ["code", "token"],
            "scopes_supported": ["openid", "email", "phone", "profile"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post"],
        })

    def jwks(self, jwks: Mapping[str, Any]) -> Mapping[str, Any]:
        """Only the RS256 keys: a Cognito pool signs with RS256 alone."""
        return {"keys": [k for k in jwks.get("keys", ())
                         if k.get("kty") == "RSA" and k.get("alg", "RS256") == "RS256"]}

    def error_body(self, error: OAuthError, endpoint: str) -> Mapping[str, Any]:
        if endpoint in ("token", "revoke"):
            return {"error": error.error}  # Cognito's token endpoint: the code alone
        return error.body()

    def bad_token(self, kind: str, claims: dict[str, Any], view: IssuerView) -> None:
        client = str(claims.get("client_id") or claims.get("aud") or "app")
        if kind == "cognito_id_as_access":
            claims["token_use"] = "id"
            claims["aud"] = client
            claims.pop("client_id", None)
            claims.pop("scope", None)
        elif kind == "cognito_other_client":
            claims["client_id"] = "another-app-client"
            if claims.get("token_use") == "id":
                claims["aud"] = "another-app-client"
        elif kind == "cognito_other_pool":
            options = view.options if "user_pool_id" in view.options else {
                "user_pool_id": "us-east-1_Example"}
            region = region_of(options)
            claims["iss"] = f"https://cognito-idp.{region}.amazonaws.com/{region}_AnotherPool"


COGNITO = Cognito(
    name="cognito", mount="/{issuer}", title="Amazon Cognito", fixed=True,
    paths=frozen({"discovery": "/.well-known/openid-configuration",
                  "jwks": "/.well-known/jwks.json"}),
    root_paths=frozen(HOSTED_UI),
    options=frozen({"user_pool_id": None, "region": None, "issuer": None, "mount": ""}),
    defaults=frozen({"signing_alg": "RS256", "rotate_refresh_tokens": False}),
    param_aliases=MappingProxyType({"endsession": frozen({"logout_uri":
                                                          "post_logout_redirect_uri"})}),
    bad_kinds=frozen({
        "cognito_id_as_access": "a Cognito ID token (token_use id, aud) presented where an "
                                "access token is expected",
        "cognito_other_client": "client_id names another app client of the pool",
        "cognito_other_pool": "iss names another user pool",
    }),
    jwks_key_types=("RSA",),
)

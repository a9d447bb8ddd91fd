"""The one field table: every client, user and issuer setting, and the enumerations they use.

A `Field` is one row: its name, its kind (which says how it is checked and what an error
says was expected), its default, whether it is a secret, which doors show it, its JSON-schema
fragment and, for clients, the RFC 7591 §2 metadata name under which registration accepts it.
Everything else derives from these rows (tests/test_fields.py proves it):

- the config file, `MockIdP.add_client` and `MockIdP.add_user` accept exactly these fields and
  check them by kind (`mockidp.core.checks`); `IssuerSettings` takes its defaults from here;
- the `Client` and `User` records hold one attribute per row (plus ``id``, and ``registered``
  for clients), with the same defaults;
- the control API's JSON and the dashboard list the rows flagged for them, a secret only as
  the boolean `Field.shown_as` (``confidential``, ``has_password``);
- the OpenAPI documents build the client and user schemas from `Field.schema`, and
  registration's metadata schema from `Field.metadata_schema`;
- RFC 7591 registration maps the rows that have a `Field.metadata` name onto the client and
  echoes the metadata of `REGISTRATION_ONLY` without storing it.

Plain data, no imports beyond the standard library: any layer may read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

# -- enumerations: one home each ----------------------------------------------------------------

SIGNING_ALGS: tuple[str, ...] = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)
GRANT_TYPES: tuple[str, ...] = (
    "authorization_code",
    "implicit",  # OIDC Registration §2: response types with token or id_token
    "refresh_token",
    "client_credentials",
    "password",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:grant-type:token-exchange",
)
ACCESS_TOKEN_FORMATS: tuple[str, ...] = ("jwt", "at+jwt", "opaque")
# RFC 6749 §2.3, RFC 7523 §2.2, OIDC Core §9
CLIENT_AUTH_METHODS: tuple[str, ...] = (
    "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none",
)
PKCE_METHODS: tuple[str, ...] = ("S256", "plain")  # RFC 7636 §4.2
# OIDC Core §3 and OAuth 2.0 Multiple Response Type Encoding Practices §5; the words of a
# response type may come in any order, these are the canonical spellings.
RESPONSE_TYPES: tuple[str, ...] = (
    "code", "token", "id_token", "id_token token", "code id_token", "code token",
    "code id_token token",
)
# Claims the provider sets itself: configured users and clients may not override them.
PROTECTED_CLAIMS: frozenset[str] = frozenset(
    {
        "iss", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "azp",
        "at_hash", "c_hash", "client_id", "scope", "sid", "cnf", "act",
    }
)

# -- rows ---------------------------------------------------------------------------------------

Kind = Literal["string", "text", "strings", "url", "urls", "boolean", "seconds", "choice",
               "choices", "claims", "jwks"]
Door = Literal["control", "dashboard"]

URL_WORDS = "an absolute http(s) URL without fragment"
# What a value of each kind must be, in the words of the error messages.
_EXPECTED: Mapping[str, str] = MappingProxyType({
    "string": "a non-empty string",
    "text": "a string",
    "strings": "a list of strings",
    "url": URL_WORDS,
    "urls": "a list of strings",
    "boolean": "true or false",
    "seconds": "a positive whole number of seconds",
    "choices": "a list of strings",
    "claims": "a table/object",
    "jwks": "a table/object",
})
_JWKS_SCHEMA: Mapping[str, Any] = MappingProxyType({
    "type": "object", "required": ["keys"],
    "properties": {"keys": {"type": "array", "minItems": 1, "items": {"type": "object"}}},
})


@dataclass(frozen=True)
class Field:
    """One field of a client, a user or an issuer's settings (see the module docstring)."""

    name: str
    kind: Kind
    default: Any = None
    doc: str = ""
    choices: tuple[str, ...] = ()  # choice, choices: the allowed values
    at_least_one: bool = False  # choices: an empty list is refused
    allow_sub: bool = False  # claims: ``sub`` may be set (users: yes, clients: no)
    secret: bool = False  # never shown; `shown_as` names the boolean shown instead
    shown_as: str | None = None
    doors: tuple[Door, ...] = ()  # where the value is shown: control API JSON, dashboard
    metadata: str | None = None  # the RFC 7591 §2 metadata name registration accepts
    registration_schema: Mapping[str, Any] | None = None  # when RFC 7591 documents it apart
    default_from: str | None = None  # issuer fields: default to that field's value

    @property
    def expected(self) -> str:
        """What a value must be, as the error messages say it."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        return _EXPECTED[self.kind]

    @property
    def item_expected(self) -> str:
        """What each item of a list field must be (the words of the error messages)."""
        if self.kind == "urls":
            return URL_WORDS
        if self.kind == "choices":
            return "one of " + ", ".join(self.choices)
        return "a non-empty string"

    def schema(self) -> dict[str, Any]:
        """The JSON-schema fragment of the field (config, control API)."""
        kind = self.kind
        if kind == "string":
            return {"type": "string", "minLength": 1}
        if kind in ("text", "url"):
            return {"type": "string"}
        if kind in ("strings", "urls"):
            return {"type": "array", "items": {"type": "string"}}
        if kind == "boolean":
            return {"type": "boolean"}
        if kind == "seconds":
            return {"type": "integer", "minimum": 1}
        if kind == "choice":
            return {"type": "string", "enum": list(self.choices)}
        if kind == "choices":
            items = {"type": "string", "enum": list(self.choices)}
            return ({"type": "array", "minItems": 1, "items": items} if self.at_least_one
                    else {"type": "array", "items": items})
        if kind == "claims":
            return {"type": "object"}
        return _copy(_JWKS_SCHEMA)

    def metadata_schema(self) -> dict[str, Any]:
        """The JSON-schema fragment of the field as RFC 7591 registration metadata."""
        if self.registration_schema is not None:
            return _copy(self.registration_schema)
        return self.schema()


def _copy(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _copy(v) if isinstance(v, Mapping) else list(v) if isinstance(v, list) else v
            for k, v in schema.items()}


_BOTH: tuple[Door, ...] = ("control", "dashboard")
_NON_EMPTY_ITEMS: Mapping[str, Any] = MappingProxyType(
    {"type": "array", "items": {"type": "string", "minLength": 1}})

CLIENT_FIELDS: tuple[Field, ...] = (
    Field("secret", "string", secret=True, shown_as="confidential", doors=_BOTH,
          doc="the client secret; none makes a registered client public"),
    Field("redirect_uris", "urls", (), doors=_BOTH, metadata="redirect_uris",
          registration_schema=_NON_EMPTY_ITEMS, doc="exact redirect URIs; empty: any"),
    Field("post_logout_redirect_uris", "urls", (), doors=("control",),
          metadata="post_logout_redirect_uris", registration_schema=_NON_EMPTY_ITEMS,
          doc="OIDC RP-Initiated Logout §2"),
    Field("grant_types", "choices", (), choices=GRANT_TYPES, doors=_BOTH,
          metadata="grant_types", doc="allowed grant types; empty: any"),
    Field("claims", "claims", MappingProxyType({}), doors=_BOTH,
          doc="claims added to this client's tokens"),
    Field("audience", "strings", (), doors=_BOTH, doc="access token aud; empty: the client id"),
    Field("access_token_lifetime", "seconds", doors=("control",)),
    Field("id_token_lifetime", "seconds", doors=("control",)),
    Field("refresh_token_lifetime", "seconds", doors=("control",)),
    Field("signing_alg", "choice", choices=SIGNING_ALGS, doors=_BOTH,
          doc="the algorithm of this client's tokens (None: the issuer's)"),
    Field("id_token_signed_response_alg", "choice", choices=SIGNING_ALGS,
          metadata="id_token_signed_response_alg", doc="OIDC Registration §2"),
    Field("access_token_format", "choice", choices=ACCESS_TOKEN_FORMATS, doors=("dashboard",)),
    Field("token_endpoint_auth_method", "choice", choices=CLIENT_AUTH_METHODS,
          metadata="token_endpoint_auth_method", doc="RFC 7591 §2"),
    Field("jwks", "jwks", metadata="jwks",
          registration_schema=MappingProxyType({
              "type": "object",
              "properties": {"keys": {"type": "array", "items": {"type": "object"}}}}),
          doc="public keys for private_key_jwt (RFC 7523)"),
    Field("jwks_uri", "url", metadata="jwks_uri"),
    Field("backchannel_logout_uri", "url", metadata="backchannel_logout_uri",
          doc="OIDC Back-Channel Logout §2.2"),
    Field("frontchannel_logout_uri", "url", metadata="frontchannel_logout_uri",
          doc="OIDC Front-Channel Logout §2"),
    Field("dpop_bound_access_tokens", "boolean", False, metadata="dpop_bound_access_tokens",
          doc="RFC 9449 §5.2"),
    Field("require_pkce", "boolean", doc="None: as the issuer says"),
    Field("pkce_methods", "choices", choices=PKCE_METHODS, at_least_one=True,
          doc="None: as the issuer says"),
    Field("require_nonce", "boolean", doc="None: as the issuer says"),
    Field("consent", "boolean", doors=_BOTH, doc="ask the user's consent; None: as the issuer"),
    Field("strict", "boolean", False, doors=_BOTH, doc="registered-client checks for this one"),
)

# RFC 7591 §2 metadata registration accepts and echoes but does not store on the client.
REGISTRATION_ONLY: tuple[Field, ...] = (
    Field("response_types", "choices", choices=RESPONSE_TYPES, metadata="response_types"),
    *(Field(name, "text", metadata=name)
      for name in ("client_name", "scope", "software_id", "software_version")),
    *(Field(name, "url", metadata=name)
      for name in ("client_uri", "logo_uri", "tos_uri", "policy_uri")),
    Field("contacts", "strings", metadata="contacts", registration_schema=_NON_EMPTY_ITEMS),
)

USER_FIELDS: tuple[Field, ...] = (
    Field("claims", "claims", MappingProxyType({}), allow_sub=True, doors=_BOTH,
          doc="the user's claims; sub may differ from the id"),
    Field("password", "string", secret=True, shown_as="has_password", doors=_BOTH,
          doc="checked on the login page and the password grant when set"),
)

LIFETIME_FIELDS: tuple[Field, ...] = (
    Field("access_token_lifetime", "seconds", 3600),
    Field("id_token_lifetime", "seconds", 3600),
    Field("refresh_token_lifetime", "seconds", 86400),
    Field("code_lifetime", "seconds", 60),
    Field("session_lifetime", "seconds", 36000),
    Field("device_code_lifetime", "seconds", 600, doc="RFC 8628 §3.2 expires_in"),
)

ISSUER_FIELDS: tuple[Field, ...] = (
    Field("interactive_login", "boolean", True, doc="show the login page"),
    Field("default_user", "string", doc="who is logged in with no page and no login_hint"),
    Field("signing_alg", "choice", "RS256", choices=SIGNING_ALGS),
    Field("strict", "boolean", False,
          doc="registered clients only, secrets, exact redirects, PKCE, nonce"),
    Field("rotate_refresh_tokens", "boolean", True),
    Field("access_token_format", "choice", "jwt", choices=ACCESS_TOKEN_FORMATS),
    Field("require_pkce", "boolean", default_from="strict"),
    Field("pkce_methods", "choices", PKCE_METHODS, choices=PKCE_METHODS, at_least_one=True),
    Field("require_nonce", "boolean", default_from="strict"),
    Field("device_poll_interval", "seconds", 5, doc="RFC 8628 §3.2 interval"),
    Field("dpop_nonce", "boolean", False, doc="RFC 9449 §8: require server-issued nonces"),
    Field("consent", "boolean", False, doc="ask the user's consent after login"),
    *LIFETIME_FIELDS,
)


def by_name(fields: Iterable[Field]) -> Mapping[str, Field]:
    """The rows by name."""
    return MappingProxyType({f.name: f for f in fields})


CLIENT_KEYS: tuple[str, ...] = tuple(f.name for f in CLIENT_FIELDS)
USER_KEYS: tuple[str, ...] = tuple(f.name for f in USER_FIELDS)
ISSUER_KEYS: tuple[str, ...] = tuple(f.name for f in ISSUER_FIELDS)
LIFETIME_KEYS: tuple[str, ...] = tuple(f.name for f in LIFETIME_FIELDS)
_ISSUER_BY_NAME = by_name(ISSUER_FIELDS)
# The issuer defaults, their one home (a default_from field defaults to its source's default).
ISSUER_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    f.name: _ISSUER_BY_NAME[f.default_from].default if f.default_from else f.default
    for f in ISSUER_FIELDS
})


def issuer_value(field: Field, merged: Mapping[str, Any]) -> Any:
    """The effective value of an issuer field in ``merged`` settings, or its default."""
    if field.name in merged:
        return merged[field.name]
    if field.default_from is not None:
        return issuer_value(_ISSUER_BY_NAME[field.default_from], merged)
    return field.default


def shown(fields: Iterable[Field], record: object, door: Door) -> dict[str, Any]:
    """The fields of ``record`` that ``door`` shows, as plain JSON data; a secret only as
    whether it is set."""
    out: dict[str, Any] = {}
    for f in fields:
        if door not in f.doors:
            continue
        value = getattr(record, f.name)
        if f.secret:
            out[f.shown_as or f.name] = value is not None
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        elif isinstance(value, Mapping):
            out[f.name] = dict(value)
        else:
            out[f.name] = value
    return out


def schema_properties(fields: Iterable[Field]) -> dict[str, Any]:
    """``properties`` of a JSON schema for ``fields`` (config and control API)."""
    return {f.name: f.schema() for f in fields}

"""RFC 7591 dynamic client registration: ``POST /{issuer}/register``.

The JSON body's client metadata (§2) is checked, mapped onto a `Client` (validated the way
`MockIdP.add_client` validates) and registered as a run-time client of the issuer: it works at
every endpoint at once and is gone after `MockIdP.reset`.  The answer (§3.2.1, 201) echoes the
registered metadata, defaults filled in, with a random ``client_id``, ``client_id_issued_at``
and, unless ``token_endpoint_auth_method`` is ``none`` or ``private_key_jwt``, a
``client_secret`` that never expires (``client_secret_expires_at`` 0).

Errors (§3.2.2): ``invalid_redirect_uri`` for an unusable redirect URI, and
``invalid_client_metadata`` naming the field for anything else, a body that is not a JSON
object included.  Metadata this server does not understand is ignored and not echoed (§2);
``null`` counts as absent.  No initial access token is needed (§3: open registration).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from mockidp.core.checks import client_from_args, is_absolute_url
from mockidp.core.errors import (
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidToken,
    MockIdPError,
    OAuthError,
)
from mockidp.core.fields import (
    CLIENT_AUTH_METHODS,
    CLIENT_FIELDS,
    GRANT_TYPES,
    REGISTRATION_ONLY,
    Field,
)
from mockidp.core.model import Json, RegistrationRequest
from mockidp.protocol import authz
from mockidp.protocol.exchange import Call, Endpoint, Exchanges
from mockidp.protocol.grants import GRANTS
from mockidp.protocol.issuer import Issuer

SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post", "client_secret_jwt"})
# The RFC 7591 §2 metadata understood here, from the field table: the client fields that have
# a metadata name (stored on the client) and the metadata only echoed.
METADATA: tuple[Field, ...] = tuple(f for f in (*CLIENT_FIELDS, *REGISTRATION_ONLY) if f.metadata)
STORED: frozenset[str] = frozenset(f.name for f in CLIENT_FIELDS if f.metadata)
# Metadata with rules of their own in `check_metadata` (defaults, §2.1 consistency, §3.2.2
# error codes); every other member is checked by its field's kind in `_by_kind`.
OWN_RULES = frozenset({"redirect_uris", "post_logout_redirect_uris", "grant_types",
                       "response_types", "token_endpoint_auth_method", "jwks"})


def supported_grant_types() -> tuple[str, ...]:
    """The grant types a client may register: those the token endpoint serves, plus
    ``implicit`` when the authorization endpoint returns tokens itself."""
    implicit = any(authz.returns_tokens(t) for t in authz.RESPONSE_TYPES)
    return tuple(g for g in GRANT_TYPES if g in GRANTS or (g == "implicit" and implicit))


def _canonical_response_types() -> dict[frozenset[str], str]:
    return {frozenset(t.split()): t for t in authz.RESPONSE_TYPES}


def _strings(metadata: Mapping[str, Any], name: str, error: type[InvalidClientMetadata]
             | type[InvalidRedirectUri] = InvalidClientMetadata) -> list[str] | None:
    value = metadata.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise error(f"{name}: expected an array of non-empty strings, got {value!r}")
    return list(dict.fromkeys(value))


def _uris(metadata: Mapping[str, Any], name: str) -> list[str] | None:
    """Redirection URIs (RFC 6749 §3.1.2): absolute http(s), no fragment."""
    uris = _strings(metadata, name, InvalidRedirectUri)
    for i, uri in enumerate(uris or ()):
        if not is_absolute_url(uri):
            raise InvalidRedirectUri(
                f"{name}[{i}]: expected an absolute http(s) URL without fragment, got {uri!r}")
    return uris


def _by_kind(field: Field, values: Mapping[str, Any]) -> Any:
    """A metadata member checked by its field's kind; the error names it."""
    name = field.metadata or field.name
    if field.kind == "strings":
        return _strings(values, name)
    value = values[name]
    if field.kind in ("text", "url"):
        fits = isinstance(value, str) and (field.kind == "text" or is_absolute_url(value))
    elif field.kind == "boolean":
        fits = isinstance(value, bool)
    elif field.kind == "choice":
        fits = value in field.choices
    else:
        raise TypeError(f"{name}: no registration check for kind {field.kind!r}")
    if not fits:
        raise InvalidClientMetadata(f"{name}: expected {field.expected}, got {value!r}")
    return value


def _grants(metadata: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """``grant_types`` and ``response_types`` with the §2 defaults, consistent per §2.1."""
    supported = supported_grant_types()
    grant_types = _strings(metadata, "grant_types")
    if grant_types is None:
        grant_types = ["authorization_code"]
    if not grant_types:
        raise InvalidClientMetadata("grant_types: expected at least one grant type")
    for i, grant in enumerate(grant_types):
        if grant not in supported:
            raise InvalidClientMetadata(f"grant_types[{i}]: {grant!r} is not supported; "
                                        "supported: " + ", ".join(supported))
    canonical = _canonical_response_types()
    given = _strings(metadata, "response_types")
    if given is None:
        given = ["code"] if "authorization_code" in grant_types else []
    response_types: list[str] = []
    for i, value in enumerate(given):
        found = canonical.get(frozenset(value.split()))
        if found is None:
            raise InvalidClientMetadata(f"response_types[{i}]: {value!r} is not supported; "
                                        "supported: " + ", ".join(authz.RESPONSE_TYPES))
        response_types.append(found)
    wants_code = any("code" in t.split() for t in response_types)
    wants_tokens = any(authz.returns_tokens(t) for t in response_types)
    for grant, needed, why in (("authorization_code", wants_code, "a response type with code"),
                               ("implicit", wants_tokens,
                                "a response type returning tokens")):
        if needed and grant not in grant_types:
            raise InvalidClientMetadata(f"grant_types: the response_types need {grant!r} "
                                        "(RFC 7591 section 2.1)")
        if grant in grant_types and not needed:
            raise InvalidClientMetadata(f"response_types: grant type {grant!r} needs {why} "
                                        "(RFC 7591 section 2.1)")
    return grant_types, list(dict.fromkeys(response_types))


def check_metadata(metadata: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """RFC 7591 §2 client metadata → (metadata to echo, `add_client` fields).

    Raises `InvalidRedirectUri` or `InvalidClientMetadata` naming the field."""
    values = {k: v for k, v in metadata.items() if v is not None}
    redirect_uris = _uris(values, "redirect_uris")
    post_logout = _uris(values, "post_logout_redirect_uris")
    grant_types, response_types = _grants(values)
    if response_types and not redirect_uris:
        raise InvalidRedirectUri("redirect_uris: required for the response_types "
                                 + ", ".join(response_types) + " (redirect-based flows)")
    method = values.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in CLIENT_AUTH_METHODS:
        raise InvalidClientMetadata(f"token_endpoint_auth_method: {method!r} is not supported; "
                                    "supported: " + ", ".join(CLIENT_AUTH_METHODS))
    if method == "none" and "client_credentials" in grant_types:
        raise InvalidClientMetadata("grant_types: client_credentials needs a confidential "
                                    "client, not token_endpoint_auth_method 'none'")
    echo: dict[str, Any] = {
        "redirect_uris": redirect_uris or [],
        "grant_types": grant_types,
        "response_types": response_types,
        "token_endpoint_auth_method": method,
    }
    spec: dict[str, Any] = {
        "redirect_uris": redirect_uris or [],
        "grant_types": grant_types,
        "token_endpoint_auth_method": method,
    }
    if post_logout is not None:
        echo["post_logout_redirect_uris"] = spec["post_logout_redirect_uris"] = post_logout
    for field in METADATA:
        name = field.metadata or field.name
        if name in OWN_RULES or name not in values:
            continue
        echo[name] = _by_kind(field, values)
        if field.name in STORED:
            spec[field.name] = echo[name]
    if "jwks" in values:
        if "jwks_uri" in values:
            raise InvalidClientMetadata("jwks: jwks and jwks_uri must not both be present "
                                        "(RFC 7591 section 2)")
        if not isinstance(values["jwks"], dict):
            raise InvalidClientMetadata(f"jwks: expected a JWK Set object, got "
                                        f"{values['jwks']!r}")
        echo["jwks"] = spec["jwks"] = values["jwks"]
    if method == "private_key_jwt" and "jwks" not in spec and "jwks_uri" not in spec:
        raise InvalidClientMetadata("jwks: private_key_jwt needs jwks or jwks_uri")
    return echo, spec


class RegistrationEndpoint(Endpoint):
    """RFC 7591 §3: register a client from its metadata; the §3.2.1 answer (sent 201).

    Open registration in permissive mode.  A strict issuer is protected by an initial access
    token (RFC 7591 §3, sent as ``Authorization: Bearer``, RFC 6750 §2.1): the control token,
    ``initial_access_token()``; without one, a strict issuer's registration is off.  So no
    stranger can register a redirect URI of their own where redirect URIs are checked."""

    name = "register"

    def __init__(self, exchanges: Exchanges,
                 initial_access_token: Callable[[], str | None] = lambda: None) -> None:
        super().__init__(exchanges)
        self.initial_access_token = initial_access_token

    def answer(self, call: Call, issuer: Issuer, req: RegistrationRequest) -> Json:
        metadata = req.metadata if isinstance(req.metadata, dict) else {}
        scope = metadata.get("scope")
        self.exchanges.early_or_raise(call, tuple(scope.split()) if isinstance(scope, str)
                                      else ())
        if issuer.settings.strict:
            self.check_initial_access_token(req)
        if req.body_error is not None:
            raise InvalidClientMetadata(req.body_error)
        if not isinstance(req.metadata, dict):
            raise InvalidClientMetadata("body: expected a JSON object of client metadata "
                                        "(RFC 7591 section 2)")
        echo, spec = check_metadata(req.metadata)
        method = echo["token_endpoint_auth_method"]
        client_id = secrets.token_urlsafe(18)
        secret = secrets.token_urlsafe(32) if method in SECRET_METHODS else None
        try:
            client = client_from_args(client_id, {"secret": secret, **spec})
        except MockIdPError as exc:  # anything the checks above let through
            detail = str(exc).removeprefix("add_client: ").removeprefix(client_id + ".")
            raise InvalidClientMetadata(detail) from None
        issuer.put_client(client)
        call.client_id = client.id
        answer: dict[str, Any] = {"client_id": client.id}
        if secret is not None:
            answer["client_secret"] = secret
        answer["client_id_issued_at"] = int(self.clock.now())
        if secret is not None:
            answer["client_secret_expires_at"] = 0
        answer.update(echo)
        return Json(answer, 201)

    def check_initial_access_token(self, req: RegistrationRequest) -> None:
        """RFC 7591 §3: a strict issuer registers only with the initial access token; RFC 6750
        §3.1 ``invalid_token`` (401) otherwise."""
        expected = self.initial_access_token()
        if expected is None:
            raise OAuthError("dynamic registration is off for this strict issuer (set a "
                             "control token to use it as the initial access token)",
                             error="access_denied", status=403)
        scheme, _, given = (req.authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 expected.encode()):
            raise InvalidToken("a strict issuer registers clients with the initial access "
                               "token only (RFC 7591 section 3): send 'Authorization: Bearer "
                               "<token>'")

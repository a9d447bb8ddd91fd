"""Client authentication (RFC 6749 §2.3, RFC 7523 §2.2, OIDC Core §9) at the token,
introspection and revocation endpoints.

RFC 6749 §2.3: ``client_secret_basic`` (HTTP Basic, form-urlencoded id and secret),
``client_secret_post`` (``client_id``/``client_secret`` in the body) and ``none`` (public
clients send only ``client_id``).  Using two methods at once is an ``invalid_request``.
RFC 7523 §2.2 / OIDC Core §9 ``client_secret_jwt`` and ``private_key_jwt``: a signed
``client_assertion`` (checked by `mockidp.protocol.assertions`).

Unregistered clients are accepted as they come (permissive default) unless the issuer is
strict; a registered client with a secret must present it.  An unregistered client's ``*_jwt``
assertion has no secret or key the provider could check it with: a permissive issuer checks
everything else and journals it as unverified (`assertions.Trust.signed_by`), a strict one
refuses it.  A registered client's ``token_endpoint_auth_method``, when set, is the only
method it may use.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_plus

from mockidp.core.errors import InvalidClient, InvalidRequest
from mockidp.core.model import (
    Client,
    Params,
)
from mockidp.protocol.assertions import (
    ASSERTION_TYPE,
    AssertionRejected,
    peek_client_assertion,
)

BASIC_CHALLENGE = 'Basic realm="mockidp"'


@dataclass(frozen=True)
class Credentials:
    """What a request presented: the client id, the secret and the method used."""

    client_id: str | None
    secret: str | None
    method: str  # client_secret_basic | client_secret_post | client_secret_jwt | ...jwt | none
    assertion: str | None = None  # RFC 7523 §2.2 client_assertion (the *_jwt methods)


def parse_basic(authorization: str) -> tuple[str, str]:
    """Decode an HTTP Basic header per RFC 6749 §2.3.1; malformed → ``invalid_client``."""
    _scheme, _, value = authorization.strip().partition(" ")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidClient(
            "malformed Basic authorization header", www_authenticate=BASIC_CHALLENGE
        ) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise InvalidClient(
            "malformed Basic authorization header: expected base64(client_id:client_secret)",
            www_authenticate=BASIC_CHALLENGE,
        )
    if "%" in decoded or "+" in decoded:
        return unquote_plus(client_id), unquote_plus(secret)
    return client_id, secret


def credentials(params: Params, authorization: str | None) -> Credentials:
    """Which client the request claims to be, and how it authenticates."""
    form_id = params.get("client_id")
    form_secret = params.get("client_secret")
    if "client_assertion" in params or "client_assertion_type" in params:
        return assertion_credentials(params, form_id, form_secret, authorization)
    if authorization and authorization.strip().lower().startswith("basic"):
        client_id, secret = parse_basic(authorization)
        if form_secret is not None:
            raise InvalidRequest(
                "client authenticated with both Basic and client_secret (RFC 6749 section 2.3)"
            )
        if form_id is not None and form_id != client_id:
            raise InvalidClient(
                "client_id in the body differs from the Basic authorization header",
                www_authenticate=BASIC_CHALLENGE,
            )
        return Credentials(client_id, secret, "client_secret_basic")
    if form_secret is not None:
        return Credentials(form_id, form_secret, "client_secret_post")
    return Credentials(form_id, None, "none")


def assertion_credentials(params: Params, form_id: str | None, form_secret: str | None,
                          authorization: str | None) -> Credentials:
    """RFC 7521 §4.2: ``client_assertion_type`` and ``client_assertion`` (RFC 7523 §2.2); the
    client is the assertion's ``sub``, and ``client_id``, if sent, must be the same."""
    assertion_type = params.get("client_assertion_type")
    assertion = params.get("client_assertion")
    if assertion is None or assertion_type is None:
        raise InvalidRequest("client_assertion and client_assertion_type go together "
                             "(RFC 7521 section 4.2)")
    if assertion_type != ASSERTION_TYPE:
        raise InvalidClient(f"unsupported client_assertion_type {assertion_type!r}; "
                            f"expected {ASSERTION_TYPE}")
    if form_secret is not None or (authorization or "").strip().lower().startswith("basic"):
        raise InvalidRequest("client authenticated with a client_assertion and another method "
                             "(RFC 6749 section 2.3)")
    try:
        method, client_id = peek_client_assertion(assertion)
    except AssertionRejected as exc:
        raise InvalidClient(f"client_assertion rejected: {exc}") from None
    if form_id is not None and form_id != client_id:
        raise InvalidClient("client_id differs from the client_assertion's 'sub' "
                            "(RFC 7523 section 3)")
    return Credentials(client_id, None, method, assertion)


def authenticate(
    creds: Credentials, lookup: Callable[[str], Client | None], strict_issuer: bool,
    check_assertion: Callable[[Client, str], object] | None = None,
) -> Client:
    """The authenticated client, or ``invalid_client`` saying what was wrong.

    ``check_assertion`` verifies a client assertion for the endpoint in use
    (`mockidp.assertions.Trust.client_assertion`); without it, assertions are refused.
    """
    challenge = BASIC_CHALLENGE if creds.method == "client_secret_basic" else None
    if not creds.client_id:
        raise InvalidClient(
            "client authentication required: send client_id (and a secret for confidential "
            "clients)",
            www_authenticate=challenge,
        )
    client = lookup(creds.client_id)
    if client is None:
        if strict_issuer:
            raise InvalidClient(
                f"unknown client '{creds.client_id}' (the issuer is strict)"
                + (f": {creds.method} needs a registered client with a secret "
                   "(client_secret_jwt) or jwks/jwks_uri (private_key_jwt)"
                   if creds.assertion is not None else ""),
                www_authenticate=challenge,
            )
        client = Client(id=creds.client_id, registered=False)
        if creds.assertion is None:
            return client
    configured = client.token_endpoint_auth_method
    if configured is not None and configured != creds.method:
        raise InvalidClient(
            f"client '{client.id}' is registered for token_endpoint_auth_method {configured}, "
            f"not {creds.method}", www_authenticate=challenge)
    if creds.assertion is not None:
        if check_assertion is None:
            raise InvalidClient("client assertions are not accepted at this endpoint")
        check_assertion(client, creds.assertion)
        return client
    if client.secret is not None:
        if creds.secret is None:
            raise InvalidClient(
                f"client '{client.id}' is confidential: send its secret with "
                "client_secret_basic or client_secret_post",
                www_authenticate=challenge,
            )
        if not hmac.compare_digest(creds.secret.encode(), client.secret.encode()):
            raise InvalidClient("wrong client secret", www_authenticate=challenge)
    return client

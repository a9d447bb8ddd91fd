"""The authorization endpoint's request checks and responses (RFC 6749 §4.1, §4.2, OIDC Core
§3.1.2, §3.2.2, §3.3.2), and the pushed authorization requests that feed it (RFC 9126).

Errors about the client or the redirect URI are shown as a page and never redirected
(RFC 6749 §4.1.2.1); every other error goes back to the client's redirect URI with ``error``,
``error_description``, ``state`` and ``iss`` (RFC 9207), in the requested response mode (the
fragment for response types that carry tokens).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mockidp.core.checks import is_absolute_url
from mockidp.core.errors import (
    InvalidRequest,
    OAuthError,
    UnauthorizedClient,
    safe_text,
)
from mockidp.core.fields import PKCE_METHODS as PKCE_METHODS  # re-exported
from mockidp.core.fields import RESPONSE_TYPES as RESPONSE_TYPES  # re-exported
from mockidp.core.model import (
    ClaimsRequest,
    Client,
    ErrorPage,
    FormPost,
    Params,
    Redirect,
    SessionChange,
)
from mockidp.core.records import AuthorizationDetails
from mockidp.core.settings import IssuerSettings
from mockidp.protocol.grants.authorization_code import PKCE_VALUE
from mockidp.protocol.grants.base import requested_scopes

# RESPONSE_TYPES: the words of a response type may come in any order; canonical spellings.
_RESPONSE_TYPE_WORDS: Mapping[frozenset[str], str] = MappingProxyType(
    {frozenset(t.split()): t for t in RESPONSE_TYPES}
)
RESPONSE_MODES: tuple[str, ...] = ("query", "fragment", "form_post")
PROMPTS: tuple[str, ...] = ("none", "login", "consent")  # consent: see mockidp.protocol.consent
# Accepted so that clients sending it keep working; there is no account picker step, so it is
# not advertised in discovery.
ACCEPTED_PROMPTS: tuple[str, ...] = (*PROMPTS, "select_account")
# OIDC Core §3.1.2.1 parameters that are accepted and have no effect here.
IGNORED_PARAMS: tuple[str, ...] = ("display", "ui_locales", "claims_locales", "id_token_hint")
# RFC 9126 §2.2: request_uri values this provider hands out, and how long they live.
PAR_URN = "urn:ietf:params:oauth:request_uri:"
PAR_LIFETIME = 60
INTERACTION_LIFETIME = 600  # seconds a login or consent page may wait for its answer
# Client authentication parameters: used at the PAR endpoint, never stored with the request.
CLIENT_AUTH_PARAMS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})


class AuthorizeError(OAuthError):
    """An error to send back to the client's redirect URI (RFC 6749 §4.1.2.1)."""


def check_client(
    params: Params, lookup: Callable[[str], Client | None], settings: IssuerSettings
) -> tuple[Client, str, bool] | ErrorPage:
    """The client, its redirect URI and whether it was sent; or a page saying what is wrong."""
    try:
        client_id = params.get("client_id")
        redirect_uri = params.get("redirect_uri")
    except InvalidRequest as exc:
        return ErrorPage(400, exc.error, exc.description)
    if client_id is None:
        return ErrorPage(400, "invalid_request", "missing 'client_id'")
    client = lookup(client_id)
    if client is None:
        if settings.strict:
            return ErrorPage(
                400, "invalid_client", f"unknown client '{client_id}' (the issuer is strict)"
            )
        client = Client(id=client_id, registered=False)
    strict = settings.strict or client.strict
    sent = redirect_uri is not None
    if redirect_uri is None:
        if len(client.redirect_uris) != 1:
            return ErrorPage(400, "invalid_request", "missing 'redirect_uri'")
        redirect_uri = client.redirect_uris[0]
    if not is_absolute_url(redirect_uri):
        return ErrorPage(
            400,
            "invalid_request",
            f"redirect_uri {redirect_uri!r} is not an absolute http(s) URL without fragment",
        )
    if client.redirect_uris and redirect_uri not in client.redirect_uris:
        return ErrorPage(
            400,
            "invalid_request",
            f"redirect_uri {redirect_uri!r} is not registered for client '{client.id}'",
        )
    if strict and not client.redirect_uris:
        return ErrorPage(
            400, "invalid_request", f"strict client '{client.id}' has no registered redirect_uris"
        )
    return client, redirect_uri, sent


def response_type_of(value: str) -> str | None:
    """The canonical spelling of a supported response type, or None.

    The order of the words does not matter (OAuth 2.0 Multiple Response Type Encoding
    Practices §5); a word repeated, or a combination not in `RESPONSE_TYPES`, is unsupported.
    """
    words = value.split()
    if len(words) != len(set(words)):
        return None
    return _RESPONSE_TYPE_WORDS.get(frozenset(words))


def returns_tokens(response_type: str) -> bool:
    """Whether the authorization endpoint itself returns an access or ID token."""
    return response_type != "code"


def grant_type_of(response_type: str) -> str | None:
    """``implicit`` for response types that return tokens from the authorization endpoint
    (how rules and the journal name these exchanges), else None."""
    return "implicit" if returns_tokens(response_type) else None


def default_response_mode(response_type: str) -> str:
    """``query`` for ``code``; ``fragment`` for every response type that returns a token
    (OAuth 2.0 Multiple Response Type Encoding Practices §2.1, §5)."""
    return "fragment" if returns_tokens(response_type) else "query"


def safe_response_mode(params: Params) -> str:
    """The response mode to use for an error: the requested one when usable, else the
    response type's default (never ``query`` for a response type that returns tokens)."""
    try:
        raw_type = params.get("response_type")
    except InvalidRequest:
        raw_type = None
    response_type = response_type_of(raw_type) if raw_type else None
    default = default_response_mode(response_type) if response_type else "query"
    try:
        mode = params.get("response_mode")
    except InvalidRequest:
        return default
    if mode not in RESPONSE_MODES or (mode == "query" and default == "fragment"):
        return default
    return mode


def safe_state(params: Params) -> str | None:
    """``state`` to echo in an error, None when it is repeated."""
    try:
        return params.get("state")
    except InvalidRequest:
        return None


def parse_claims_request(text: str) -> ClaimsRequest:
    """The ``claims`` request parameter (OIDC Core §5.5); `AuthorizeError` when malformed.

    A JSON object whose ``userinfo`` and ``id_token`` members map claim names to null or to
    an object with ``essential`` (boolean), ``value`` or ``values`` (an array).  Other
    members are ignored, as §5.5 asks.
    """
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise AuthorizeError("claims must be a JSON object (OIDC Core section 5.5)") from None
    if not isinstance(value, dict):
        raise AuthorizeError("claims must be a JSON object (OIDC Core section 5.5)")
    members: dict[str, Mapping[str, Mapping[str, Any] | None]] = {}
    for target in ("userinfo", "id_token"):
        requested = value.get(target)
        if requested is None:
            continue
        if not isinstance(requested, dict):
            raise AuthorizeError(f"claims.{target} must be a JSON object of claim names")
        out: dict[str, Mapping[str, Any] | None] = {}
        for name, spec in requested.items():
            where = f"claims.{target}.{name}"
            if spec is not None and not isinstance(spec, dict):
                raise AuthorizeError(f"{where} must be null or a JSON object")
            if spec is not None and not isinstance(spec.get("essential", False), bool):
                raise AuthorizeError(f"{where}.essential must be true or false")
            if spec is not None and not isinstance(spec.get("values", []), list):
                raise AuthorizeError(f"{where}.values must be a JSON array")
            out[name] = MappingProxyType(dict(spec)) if spec is not None else None
        members[target] = MappingProxyType(out)
    return ClaimsRequest(**members)


def requested_acr(acr_values: str | None, claims: ClaimsRequest | None) -> str | None:
    """The ``acr`` to put in the tokens: the first of ``acr_values`` (OIDC Core §3.1.2.1),
    else the value the ``claims`` parameter asks of the ID token's ``acr`` (§5.5.1.1)."""
    values = (acr_values or "").split()
    if values:
        return values[0]
    spec = claims.id_token.get("acr") if claims is not None else None
    if spec is None:
        return None
    wanted = spec.get("value")
    if wanted is None and spec.get("values"):
        wanted = spec["values"][0]
    return wanted if isinstance(wanted, str) and wanted else None


def parse_max_age(text: str | None) -> int | None:
    """``max_age`` in seconds (OIDC Core §3.1.2.1): a whole number >= 0."""
    if text is None:
        return None
    if not text.isdigit() or len(text) > 12:
        raise AuthorizeError("max_age must be a whole number of seconds >= 0")
    return int(text)


def session_too_old(auth_time: int, max_age: int | None, now: float) -> bool:
    """Whether a login at ``auth_time`` is older than ``max_age`` allows (OIDC Core §3.1.2.1;
    ``max_age=0`` always asks for a fresh login, like ``prompt=login``)."""
    return max_age is not None and (max_age == 0 or now - auth_time > max_age)


def _check_grant(response_type: str, client: Client) -> None:
    """A client with configured grant types needs ``authorization_code`` for a code and
    ``implicit`` for tokens from the authorization endpoint (OIDC Registration §2)."""
    if not client.grant_types:
        return
    words = response_type.split()
    needed = ["authorization_code"] if "code" in words else []
    if returns_tokens(response_type):
        needed.append("implicit")
    missing = [g for g in needed if g not in client.grant_types]
    if missing:
        raise AuthorizeError(
            f"client '{client.id}' may not use response_type {response_type!r}: its grant_types "
            "lack " + ", ".join(missing),
            error=UnauthorizedClient.error,
        )


def _check_pkce(challenge: str | None, method: str | None, response_type: str, client: Client,
                settings: IssuerSettings) -> str | None:
    """RFC 7636 §4.3: the challenge method, checked against the client's (else the issuer's)
    ``pkce_methods``; a request for a code without a challenge is refused when PKCE is
    required (``require_pkce``, implied by ``strict``; the client's value wins)."""
    if method is not None and challenge is None:
        raise AuthorizeError("code_challenge_method sent without code_challenge")
    if challenge is None:
        required = client.require_pkce if client.require_pkce is not None else (
            settings.require_pkce or client.strict)
        if required and "code" in response_type.split():
            raise AuthorizeError("PKCE is required: send code_challenge (S256)")
        return None
    method = method or "plain"
    if method not in PKCE_METHODS:
        raise AuthorizeError(
            f"code_challenge_method {method!r} is not supported; supported: S256, plain"
        )
    allowed = client.pkce_methods if client.pkce_methods is not None else settings.pkce_methods
    if method not in allowed:
        raise AuthorizeError(
            f"code_challenge_method {method!r} is not allowed for client '{client.id}'; "
            "allowed: " + ", ".join(allowed)
        )
    if not PKCE_VALUE.match(challenge):
        raise AuthorizeError(
            "code_challenge must be 43-128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)"
        )
    return method


def _check_nonce(nonce: str | None, response_type: str, scopes: tuple[str, ...],
                 client: Client, settings: IssuerSettings) -> None:
    """OIDC Core §3.2.2.1 / §3.3.2.11: an ID token from the authorization endpoint needs the
    ``openid`` scope and a ``nonce``; ``require_nonce`` (the client's value wins over the
    issuer's; ``strict`` implies it) asks a nonce of every OpenID request."""
    if "id_token" in response_type.split():
        if "openid" not in scopes:
            raise AuthorizeError(
                f"response_type {response_type!r} returns an ID token: the scope must include "
                "'openid' (OIDC Core section 3.2.2.1)"
            )
        if nonce is None:
            raise AuthorizeError(
                f"nonce is required for response_type {response_type!r}: an ID token from the "
                "authorization endpoint must carry one (OIDC Core section 3.2.2.1)"
            )
    required = client.require_nonce if client.require_nonce is not None else (
        settings.require_nonce or client.strict)
    if required and nonce is None and "openid" in scopes:
        raise AuthorizeError(f"nonce is required for OpenID requests of client '{client.id}'")


def check_request(
    params: Params, client: Client, redirect_uri: str, sent: bool, settings: IssuerSettings
) -> AuthorizationDetails:
    """Validate everything but the client and redirect URI; raise `AuthorizeError`."""
    try:
        raw_type = params.get("response_type")
        response_mode = params.get("response_mode")
        state = params.get("state")
        nonce = params.get("nonce")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        prompt = tuple((params.get("prompt") or "").split())
        login_hint = params.get("login_hint")
        max_age_text = params.get("max_age")
        acr_values = params.get("acr_values")
        claims_text = params.get("claims")
        for name in IGNORED_PARAMS:
            params.get(name)
        scopes = requested_scopes(params)
        audience = tuple(dict.fromkeys(params.get_all("audience") + params.get_all("resource")))
    except InvalidRequest as exc:
        raise AuthorizeError(exc.description) from None
    if "request" in params:
        raise AuthorizeError(
            "request objects (the 'request' parameter, RFC 9101) are not supported; push the "
            "request to the pushed_authorization_request_endpoint instead (RFC 9126)",
            error="request_not_supported",
        )
    if raw_type is None:
        raise AuthorizeError("missing 'response_type'")
    response_type = response_type_of(raw_type)
    if response_type is None:
        raise AuthorizeError(
            f"response_type {raw_type!r} is not supported; supported: "
            + ", ".join(RESPONSE_TYPES),
            error="unsupported_response_type",
        )
    mode = response_mode or default_response_mode(response_type)
    if mode not in RESPONSE_MODES:
        raise AuthorizeError(
            f"response_mode {mode!r} is not supported; supported: " + ", ".join(RESPONSE_MODES)
        )
    if mode == "query" and returns_tokens(response_type):
        raise AuthorizeError(
            f"response_mode=query cannot carry the tokens of response_type {response_type!r}; "
            "use fragment or form_post (OAuth 2.0 Multiple Response Type Encoding Practices "
            "section 5)"
        )
    _check_grant(response_type, client)
    for value in prompt:
        if value not in ACCEPTED_PROMPTS:
            raise AuthorizeError(f"prompt value {value!r} is not supported")
    if "none" in prompt and len(prompt) > 1:
        raise AuthorizeError("prompt=none cannot be combined with other values")
    method = _check_pkce(challenge, method, response_type, client, settings)
    _check_nonce(nonce, response_type, scopes, client, settings)
    claims = parse_claims_request(claims_text) if claims_text is not None else None
    return AuthorizationDetails(
        client_id=client.id,
        redirect_uri=redirect_uri,
        redirect_uri_sent=sent,
        response_type=response_type,
        response_mode=mode,
        scopes=scopes,
        state=state,
        nonce=nonce,
        code_challenge=challenge,
        code_challenge_method=method,
        audience=audience,
        prompt=prompt,
        login_hint=login_hint,
        max_age=parse_max_age(max_age_text),
        acr=requested_acr(acr_values, claims),
        claims_request=claims,
    )


def pushed_params(params: Params, client: Client) -> Params:
    """The parameters of a pushed authorization request as they will be stored (RFC 9126
    §2.1): the authenticated client's id, everything else but client authentication; a
    ``request_uri`` among them is an ``invalid_request``."""
    if "request_uri" in params:
        raise InvalidRequest("request_uri must not be sent to the pushed authorization "
                             "request endpoint (RFC 9126 section 2.1)")
    kept = [(k, v) for k, v in params.pairs() if k != "client_id" and k not in CLIENT_AUTH_PARAMS]
    return Params([("client_id", client.id), *kept])


def respond(
    redirect_uri: str,
    mode: str,
    fields: Sequence[tuple[str, str]],
    session: SessionChange | None = None,
) -> Redirect | FormPost:
    """Send ``fields`` to the client in ``mode`` (query, fragment or form_post)."""
    if mode == "form_post":
        return FormPost(redirect_uri, tuple(fields), session)
    error = dict(fields).get("error")
    if mode == "fragment":
        return Redirect(f"{redirect_uri}#{urlencode(fields)}", session, error)
    parts = urlsplit(redirect_uri)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *fields]
    return Redirect(urlunsplit(parts._replace(query=urlencode(query))), session, error)


def error_fields(
    error: str, description: str, state: str | None, issuer_url: str
) -> list[tuple[str, str]]:
    """``error``, ``error_description``, ``state`` and ``iss`` for an error redirect."""
    fields = [("error", error)]
    if description:
        fields.append(("error_description", safe_text(description)))
    if state is not None:
        fields.append(("state", state))
    fields.append(("iss", issuer_url))
    return fields


def deny(issuer_url: str, details: AuthorizationDetails, error: str,
         description: str) -> Redirect | FormPost:
    """An error sent back to the client of a checked request (RFC 6749 §4.1.2.1), with
    ``state`` and ``iss`` (RFC 9207)."""
    return respond(details.redirect_uri, details.response_mode,
                   error_fields(error, description, details.state, issuer_url))

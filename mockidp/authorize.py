"""The authorization endpoint's request checks and responses (RFC 6749 §4.1, OIDC Core §3.1.2).

Errors about the client or the redirect URI are shown as a page and never redirected
(RFC 6749 §4.1.2.1); every other error goes back to the client's redirect URI with ``error``,
``error_description``, ``state`` and ``iss`` (RFC 9207), in the requested response mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import InvalidRequest, OAuthError, UnauthorizedClient, safe_text
from .grants.authorization_code import PKCE_VALUE
from .grants.base import requested_scopes
from .model import Client, ErrorPage, FormPost, Params, Redirect, SessionChange
from .settings import IssuerSettings, is_absolute_url
from .store import AuthorizationDetails

RESPONSE_TYPES: tuple[str, ...] = ("code",)
RESPONSE_MODES: tuple[str, ...] = ("query", "fragment", "form_post")
PKCE_METHODS: tuple[str, ...] = ("S256", "plain")
PROMPTS: tuple[str, ...] = ("none", "login")
# Accepted so that clients sending them keep working; there is no consent or account picker
# step, so they are not advertised in discovery.
ACCEPTED_PROMPTS: tuple[str, ...] = (*PROMPTS, "consent", "select_account")


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


def safe_response_mode(params: Params) -> str:
    """The response mode to use for an error, falling back to ``query`` when unusable."""
    try:
        mode = params.get("response_mode")
    except InvalidRequest:
        return "query"
    return mode if mode in RESPONSE_MODES else "query"


def safe_state(params: Params) -> str | None:
    """``state`` to echo in an error, None when it is repeated."""
    try:
        return params.get("state")
    except InvalidRequest:
        return None


def check_request(
    params: Params, client: Client, redirect_uri: str, sent: bool, settings: IssuerSettings
) -> AuthorizationDetails:
    """Validate everything but the client and redirect URI; raise `AuthorizeError`."""
    try:
        response_type = params.get("response_type")
        response_mode = params.get("response_mode")
        state = params.get("state")
        nonce = params.get("nonce")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        prompt = tuple((params.get("prompt") or "").split())
        login_hint = params.get("login_hint")
        scopes = requested_scopes(params)
        audience = tuple(dict.fromkeys(params.get_all("audience") + params.get_all("resource")))
    except InvalidRequest as exc:
        raise AuthorizeError(exc.description) from None
    if response_type is None:
        raise AuthorizeError("missing 'response_type'")
    if response_type not in RESPONSE_TYPES:
        raise AuthorizeError(
            f"response_type {response_type!r} is not supported; supported: "
            + ", ".join(RESPONSE_TYPES),
            error="unsupported_response_type",
        )
    mode = response_mode or "query"
    if mode not in RESPONSE_MODES:
        raise AuthorizeError(
            f"response_mode {mode!r} is not supported; supported: " + ", ".join(RESPONSE_MODES)
        )
    if client.grant_types and "authorization_code" not in client.grant_types:
        raise AuthorizeError(
            f"client '{client.id}' may not use the authorization code grant",
            error=UnauthorizedClient.error,
        )
    for value in prompt:
        if value not in ACCEPTED_PROMPTS:
            raise AuthorizeError(f"prompt value {value!r} is not supported")
    if "none" in prompt and len(prompt) > 1:
        raise AuthorizeError("prompt=none cannot be combined with other values")
    if method is not None and challenge is None:
        raise AuthorizeError("code_challenge_method sent without code_challenge")
    if challenge is not None:
        method = method or "plain"
        if method not in PKCE_METHODS:
            raise AuthorizeError(
                f"code_challenge_method {method!r} is not supported; supported: S256, plain"
            )
        if not PKCE_VALUE.match(challenge):
            raise AuthorizeError(
                "code_challenge must be 43-128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)"
            )
    elif settings.strict or client.strict:
        raise AuthorizeError("PKCE is required: send code_challenge (S256)")
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
    )


def respond(
    redirect_uri: str,
    mode: str,
    fields: Sequence[tuple[str, str]],
    session: SessionChange | None = None,
) -> Redirect | FormPost:
    """Send ``fields`` to the client in ``mode`` (query, fragment or form_post)."""
    if mode == "form_post":
        return FormPost(redirect_uri, tuple(fields), session)
    if mode == "fragment":
        return Redirect(f"{redirect_uri}#{urlencode(fields)}", session)
    parts = urlsplit(redirect_uri)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *fields]
    return Redirect(urlunsplit(parts._replace(query=urlencode(query))), session)


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

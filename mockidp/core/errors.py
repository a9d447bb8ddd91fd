"""Errors: protocol errors carrying their RFC code and status, and misuse errors.

Protocol errors (`OAuthError` and its subclasses) are raised by the core and rendered by the
web layer as the RFC 6749 §5.2 JSON body.  `MockIdPError` is raised when a test author misuses
mockidp (bad config, bad argument, port in use); its message names the field or the cause.
"""

from __future__ import annotations


def safe_text(text: str) -> str:
    """Text fit for ``error_description``: RFC 6749 §5.2 allows printable ASCII except
    ``"`` and ``\\``; a double quote becomes ``'``, anything else not allowed ``?``."""
    text = text.replace('"', "'")
    return "".join(c if (" " <= c <= "~" and c != "\\") else "?" for c in text)


class MockIdPError(Exception):
    """Misuse of mockidp by a test author: bad config, bad argument, port in use."""


class OAuthError(Exception):
    """A protocol error with its exact RFC error code and HTTP status.

    ``www_authenticate`` is the value for a ``WWW-Authenticate`` header, when the error needs
    one (RFC 6749 §5.2 for ``invalid_client`` over Basic, RFC 6750 §3 for bearer tokens);
    ``headers`` are other response headers it needs (``DPoP-Nonce``, RFC 9449 §8).
    """

    error = "invalid_request"
    status = 400

    def __init__(
        self,
        description: str = "",
        *,
        error: str | None = None,
        status: int | None = None,
        www_authenticate: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.headers = dict(headers or {})
        if error is not None:
            self.error = error
        if status is not None:
            self.status = status
        self.description = description
        self.www_authenticate = www_authenticate

    def body(self) -> dict[str, str]:
        """The RFC 6749 §5.2 JSON body."""
        body = {"error": self.error}
        if self.description:
            body["error_description"] = safe_text(self.description)
        return body


class InvalidRequest(OAuthError):
    """RFC 6749 §5.2 ``invalid_request``: missing, repeated or malformed parameter."""

    error = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2 ``invalid_client``: client authentication failed (401)."""

    error = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    """RFC 6749 §5.2 ``invalid_grant``: bad, expired, used or revoked code or refresh token."""

    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    """RFC 6749 §5.2 ``unauthorized_client``: this client may not use this grant."""

    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    """RFC 6749 §5.2 ``unsupported_grant_type``."""

    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    """RFC 6749 §5.2 ``invalid_scope``."""

    error = "invalid_scope"


class UnsupportedTokenType(OAuthError):
    """RFC 7009 §2.2.1 ``unsupported_token_type``."""

    error = "unsupported_token_type"


class AuthorizationPending(OAuthError):
    """RFC 8628 §3.5 ``authorization_pending``: the user has not answered yet; keep polling."""

    error = "authorization_pending"


class SlowDown(OAuthError):
    """RFC 8628 §3.5 ``slow_down``: still pending, and polled too fast; the interval for this
    device code grows by 5 seconds."""

    error = "slow_down"


class ExpiredToken(OAuthError):
    """RFC 8628 §3.5 ``expired_token``: the device code expired before it was approved."""

    error = "expired_token"


class AccessDenied(OAuthError):
    """RFC 8628 §3.5 ``access_denied``: the user denied the device authorization request."""

    error = "access_denied"


class InvalidRedirectUri(OAuthError):
    """RFC 7591 §3.2.2 ``invalid_redirect_uri``: a registered redirect URI is unusable."""

    error = "invalid_redirect_uri"


class InvalidClientMetadata(OAuthError):
    """RFC 7591 §3.2.2 ``invalid_client_metadata``: a client metadata field is invalid."""

    error = "invalid_client_metadata"


class InvalidToken(OAuthError):
    """RFC 6750 §3.1 ``invalid_token``: expired, revoked, malformed or unknown bearer token."""

    error = "invalid_token"
    status = 401

    def __init__(self, description: str = "") -> None:
        challenge = 'Bearer error="invalid_token"'
        if description:
            challenge += ', error_description="' + safe_text(description) + '"'
        super().__init__(description, www_authenticate=challenge)


class TemporarilyUnavailable(OAuthError):
    """RFC 6749 §4.1.2.1 / §5.2 ``temporarily_unavailable``: the shared store cannot be
    reached; nothing was changed, the client may try again."""

    error = "temporarily_unavailable"
    status = 503


class NotFound(OAuthError):
    """A path or issuer that does not exist (404)."""

    error = "not_found"
    status = 404


class ScriptedFault(Exception):
    """A raw HTTP fault a rule asked for: any status/body/content type, an invalid JSON body,
    an empty body, or a connection closed without an answer (``close``)."""

    def __init__(
        self, status: int = 500, body: bytes = b"", content_type: str = "text/plain",
        close: bool = False,
    ) -> None:
        super().__init__(f"scripted fault: status {status}" if not close else "scripted close")
        self.status = status
        self.body = body
        self.content_type = content_type
        self.close = close

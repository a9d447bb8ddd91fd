"""The RFC 8628 device authorization grant: its two endpoints and its scripting doors.

- ``POST /{issuer}/device_authorization`` (§3.1, §3.2): the client, identified as at the token
  endpoint, gets a ``device_code``, a ``user_code``, the verification URIs, ``expires_in`` and
  ``interval``.
- ``GET/POST /{issuer}/device`` (§3.3): the verification page.  The person enters the user code
  (prefilled from ``verification_uri_complete``), then logs in as at the authorization endpoint
  (username, optional claims as JSON, Approve or Deny).
- `answer_device` (the provider's ``approve_device`` / ``deny_device``): a test answers
  without a browser.
- The token endpoint's side is `mockidp.protocol.grants.device_code`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

from mockidp.core.clock import Clock
from mockidp.core.device_codes import (
    DEVICE_CODE_GRANT,
    DeviceAnswer,
    DeviceAuthorization,
    display_user_code,
    normalize_user_code,
)
from mockidp.core.errors import (
    InvalidRequest,
    MockIdPError,
    UnauthorizedClient,
)
from mockidp.core.model import (
    DeviceAuthorizationRequest,
    DevicePage,
    DeviceRequest,
    ErrorPage,
    Json,
)
from mockidp.core.settings import PROTECTED_CLAIMS
from mockidp.protocol.approval import default_user
from mockidp.protocol.clientauth import authenticate, credentials
from mockidp.protocol.exchange import Call, Endpoint, Exchanges
from mockidp.protocol.grants.base import requested_audience, requested_scopes
from mockidp.protocol.issuer import Issuer
from mockidp.protocol.login import parse_login_claims
from mockidp.protocol.presented import TokenChecks, peek_client

MAX_TYPED_CODE = 64  # a prefilled code longer than this is not a user code; not echoed


class DeviceAuthorizationEndpoint(Endpoint):
    """RFC 8628 §3.1-3.2: a device code and a user code for an identified client.

    The client authenticates as at the token endpoint (RFC 6749 §2.3); a client whose
    ``grant_types`` leave out the device grant is ``unauthorized_client``.  ``scope``,
    ``audience`` and ``resource`` are kept for the tokens.  With ``interactive_login``
    off the request is approved at once as the default user.
    """

    name = "device_authorization"

    def __init__(self, exchanges: Exchanges, checks: TokenChecks) -> None:
        super().__init__(exchanges)
        self.checks = checks

    def answer(self, call: Call, issuer: Issuer, req: DeviceAuthorizationRequest) -> Json:
        peek_client(call, req)
        call.grant_type = DEVICE_CODE_GRANT
        self.exchanges.early_or_raise(call, tuple((req.params.single().get("scope") or "").split()))
        client = authenticate(credentials(req.params, req.authorization), issuer.find_client,
                              issuer.settings.strict,
                              self.checks.trust(call, issuer, req).client_assertion)
        call.client_id = client.id
        if client.grant_types and DEVICE_CODE_GRANT not in client.grant_types:
            raise UnauthorizedClient(
                f"client '{client.id}' may not use grant_type {DEVICE_CODE_GRANT!r}")
        scopes = requested_scopes(req.params)
        audience = requested_audience(req.params, client)
        settings = issuer.settings
        now = self.clock.now()
        record = issuer.store.devices.create(client.id, scopes, audience, now,
                                             settings.lifetimes.device_code,
                                             settings.device_poll_interval)
        if not settings.interactive_login:
            issuer.store.devices.answer(
                record.user_code, DeviceAnswer(True, default_user(issuer)), now)
        verification_uri = self.exchanges.endpoint_url(issuer, req.base_url, "device")
        response: dict[str, Any] = {
            "device_code": record.device_code,
            "user_code": record.shown_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": verification_uri + "?" + urlencode(
                {"user_code": record.shown_code}),
            "expires_in": int(record.expires_at - now),
            "interval": record.interval,
        }
        issuer.profile.device_response(response, self.exchanges.view(issuer, req.base_url))
        return Json(response)

class DeviceVerificationEndpoint(Endpoint):
    """RFC 8628 §3.3: the page where the person enters the user code and answers.

    GET shows the code form (prefilled from ``user_code``).  POST with ``step=code`` checks
    the code and shows the login step; POST with ``step=login`` approves (as ``username``,
    with optional ``claims`` JSON) or denies.  A wrong or expired code, a missing username
    or bad claims are shown on the page itself (400), never as an error page.
    """

    name = "device"

    def answer(self, call: Call, issuer: Issuer, req: DeviceRequest) -> DevicePage | ErrorPage:
        try:
            typed = (req.params.get("user_code") or "").strip()
            step = req.params.get("step") or "code"
            action = req.params.get("action") or "approve"
            username = (req.params.get("username") or "").strip()
            claims_text = req.params.get("claims") or ""
        except InvalidRequest as exc:
            return ErrorPage(400, exc.error, exc.description)
        now = self.clock.now()
        typed = typed if len(typed) <= MAX_TYPED_CODE else ""
        record = issuer.store.devices.pending(typed, now) if typed else None
        if record is not None:
            call.client_id = record.client_id
        call.user = username or None
        answer = self.exchanges.early(call, record.scopes if record is not None else ())
        if answer.error is not None:
            return ErrorPage(answer.error.status, answer.error.error, answer.error.description)
        if req.method != "POST":
            return DevicePage(issuer.name, "code", user_code=typed)
        if step not in ("code", "login"):
            return ErrorPage(400, "invalid_request", "step must be 'code' or 'login'")
        if not typed:
            return DevicePage(issuer.name, "code", error="Enter the code shown on your device.",
                              status=400)
        if record is None:
            return DevicePage(
                issuer.name, "code", user_code=typed, status=400,
                error="That code is unknown, has expired or was already used. Check the code "
                      "shown on your device and try again.")
        if step == "code":
            return self.login_step(issuer, record)
        if action == "deny":
            return self.answered(issuer, record, DeviceAnswer(False), now)
        if action != "approve":
            return ErrorPage(400, "invalid_request", "action must be 'approve' or 'deny'")
        if not username:
            return self.login_step(issuer, record, username, claims_text, "Enter a username.")
        try:
            login_claims = parse_login_claims(claims_text)
        except ValueError as exc:
            return self.login_step(issuer, record, username, claims_text, str(exc))
        return self.answered(
            issuer, record, DeviceAnswer(True, username, MappingProxyType(login_claims)), now)

    def login_step(self, issuer: Issuer, record: DeviceAuthorization, username: str = "",
                      claims_text: str = "", error: str | None = None) -> DevicePage:
        return DevicePage(
            issuer.name, "login", user_code=record.shown_code, client_id=record.client_id,
            scope=" ".join(record.scopes), users=tuple(issuer.users), username=username,
            claims_text=claims_text, error=error, status=400 if error else 200,
        )

    def answered(self, issuer: Issuer, record: DeviceAuthorization,
                       answer: DeviceAnswer, now: float) -> DevicePage:
        done = issuer.store.devices.answer(record.user_code, answer, now)
        if done is None:  # answered or expired meanwhile
            return DevicePage(issuer.name, "code", user_code=record.shown_code, status=400,
                              error="That code has expired or was already used.")
        return DevicePage(issuer.name, "done", user_code=done.shown_code,
                          client_id=done.client_id, username=done.user_id or "",
                          approved=answer.approve)


def answer_device(where: str, target: Issuer, clock: Clock, user_code: str | None,
                  answer: DeviceAnswer) -> dict[str, Any]:
    """Answer a device authorization request without a browser (the provider's
    ``approve_device``/``deny_device`` doors).  Thread-safe.

    ``user_code`` in any spelling (``wdjb mjht`` = ``WDJB-MJHT``).  Without one: the oldest
    request waiting, or, when none waits, the next one made (a test can answer before the
    client under test starts).  An unknown, expired or already answered code raises
    `MockIdPError` naming ``where``.  Returns what was answered (`device_answer_json`)."""
    if user_code is not None and (not isinstance(user_code, str) or not user_code.strip()):
        raise MockIdPError(f"{where}: user_code: expected the user code shown to the user "
                           f"(like 'WDJB-MJHT'), got {user_code!r}")
    devices = target.store.devices
    done = devices.answer(user_code, answer, clock.now())
    if done is not None:
        return device_answer_json(answer, done)
    if user_code is not None:
        raise MockIdPError(
            f"{where}: user_code: no device authorization request of issuer '{target.name}' "
            f"waits for the code {display_user_code(normalize_user_code(user_code))!r} "
            "(unknown, expired or already answered)")
    if not devices.script(answer):
        raise MockIdPError(f"{where}: too many answers already wait for device "
                           "authorization requests that were never made")
    return device_answer_json(answer, None)


def device_answer_json(answer: DeviceAnswer, record: DeviceAuthorization | None
                       ) -> dict[str, Any]:
    """What `approve_device`/`deny_device` return (and the control API answers).

    ``applies_to`` is ``request`` for an existing request, ``next`` for an answer that waits
    for the next request (``user_code`` and ``client_id`` then null)."""
    return {
        "status": "approved" if answer.approve else "denied",
        "applies_to": "request" if record is not None else "next",
        "user_code": record.shown_code if record is not None else None,
        "client_id": record.client_id if record is not None else None,
        "scope": " ".join(record.scopes) if record is not None else None,
        "user": answer.user_id,
    }


def approval_claims(claims: Any) -> Mapping[str, Any]:
    """Claims for an approval, checked as the login page checks its claims box."""
    if claims is None:
        return MappingProxyType({})
    if not isinstance(claims, Mapping):
        raise MockIdPError(f"approve_device: claims: expected an object of claims, got "
                           f"{claims!r}")
    for name, value in claims.items():
        if not isinstance(name, str) or name in PROTECTED_CLAIMS or name == "sub":
            raise MockIdPError(f"approve_device: claims.{name}: '{name}' is set by the "
                               "provider; expected a claim of your own")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise MockIdPError(f"approve_device: claims.{name}: expected a JSON value (finite "
                               f"numbers only), got {value!r}") from None
    return MappingProxyType(dict(claims))

"""The login page's answer (the authorization endpoint's user interaction, OIDC Core
§3.1.2.3): approve as ``username`` (with optional claims of this login as JSON) or deny
(``access_denied`` to the client, RFC 6749 §4.1.2.1).

What the page offers (one-click users, recent logins) is `mockidp.protocol.loginpage`.
"""

from __future__ import annotations

import json
from typing import Any

from mockidp.core.errors import InvalidRequest
from mockidp.core.model import BrowserOutcome, ErrorPage, LoginRequest
from mockidp.core.settings import PROTECTED_CLAIMS
from mockidp.protocol import authz
from mockidp.protocol.approval import Approval, login_page
from mockidp.protocol.exchange import Call, Endpoint, Exchanges
from mockidp.protocol.issuer import Issuer


def parse_login_claims(text: str) -> dict[str, Any]:
    """The login page's claims box: a JSON object of claims of your own; ValueError if not."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"Claims must be JSON: {exc.msg} at line {exc.lineno} column "
                         f"{exc.colno}.") from None
    if not isinstance(value, dict):
        raise ValueError("Claims must be a JSON object, like {\"role\": \"admin\"}.")
    protected = sorted(set(value) & (PROTECTED_CLAIMS | {"sub"}))
    if protected:
        raise ValueError("These claims are set by the provider and cannot be typed here: "
                         + ", ".join(protected) + ".")
    return value


class LoginEndpoint(Endpoint):
    """``POST`` of the login form."""

    name = "login"

    def __init__(self, exchanges: Exchanges, approval: Approval) -> None:
        super().__init__(exchanges)
        self.approval = approval

    def answer(self, call: Call, issuer: Issuer, req: LoginRequest) -> BrowserOutcome:
        issuer_url = self.exchanges.issuer_url(issuer.name, req.base_url)
        now = self.clock.now()
        try:
            interaction_id = req.params.get("interaction") or ""
            action = req.params.get("action") or "approve"
            username = (req.params.get("username") or "").strip()
            claims_text = req.params.get("claims") or ""
            pick = (req.params.get("pick") or "").strip()  # a one-click user button
        except InvalidRequest as exc:
            return ErrorPage(400, exc.error, exc.description)
        username = pick or username
        interaction = issuer.store.get_interaction(interaction_id, now)
        if interaction is None or interaction.session_id is not None:
            return ErrorPage(
                400,
                "invalid_request",
                "this login request is unknown or has expired; start again from the application",
            )
        details = interaction.details
        call.client_id, call.user = details.client_id, username or None
        call.grant_type = authz.grant_type_of(details.response_type)
        answer = self.exchanges.early(call, details.scopes)
        if answer.error is not None:
            issuer.store.take_interaction(interaction_id, now)
            return authz.deny(issuer_url, details, answer.error.error, answer.error.description)
        if action == "deny":
            issuer.store.take_interaction(interaction_id, now)
            return authz.deny(issuer_url, details, "access_denied", "the user denied the request")
        if action != "approve":
            return ErrorPage(400, "invalid_request", "action must be 'approve' or 'deny'")
        if not username:
            return login_page(issuer, interaction, username, claims_text,
                              "Enter a username.", req.recent, "username")
        try:
            login_claims = parse_login_claims(claims_text)
        except ValueError as exc:
            return login_page(issuer, interaction, username, claims_text, str(exc), req.recent)
        if issuer.store.take_interaction(interaction_id, now) is None:
            return ErrorPage(400, "invalid_request", "this login request was already answered")
        return self.approval.approve(call, issuer, issuer_url, details, username, login_claims,
                                     None)

"""The consent step (OIDC Core §3.1.2.4): after login, the user allows or denies a client the
scopes it asks for.

Off by default; ``consent = true`` switches it on for an issuer or a client (the client's value
wins).  Then:

- after login (the login page, a ``login_hint``, an existing login session) a consent page lists
  the client and the requested scopes with Allow and Deny;
- Deny sends ``access_denied`` back to the client; Allow is remembered in the login session for
  that client and those scopes, so a later request for the same or fewer scopes skips the page;
- ``prompt=consent`` asks again even when remembered; ``prompt=none`` when consent is needed
  answers ``consent_required``.

The page posts to the ``consent`` endpoint (``/{issuer}/authorize/consent``): rules and the
journal see endpoint ``consent``.  `ConsentStep` is the step `Approval` calls between login and
grant; `ConsentEndpoint` takes the page's answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from mockidp.core.errors import InvalidRequest
from mockidp.core.model import (
    BrowserOutcome,
    ConsentPage,
    ConsentRequest,
    ErrorPage,
    SessionChange,
)
from mockidp.core.records import AuthorizationDetails, Interaction, LoginSession, new_handle
from mockidp.core.settings import IssuerSettings
from mockidp.protocol import authz
from mockidp.protocol.approval import Approval
from mockidp.protocol.exchange import Call, Endpoint, Exchanges
from mockidp.protocol.issuer import Issuer

SCOPE_DESCRIPTIONS: Mapping[str, str] = MappingProxyType({
    "openid": "Sign you in and know who you are (your user id)",
    "profile": "Your name and basic profile (OIDC Core §5.4)",
    "email": "Your email address",
    "phone": "Your phone number",
    "address": "Your postal address",
    "offline_access": "Stay connected when you are away (a refresh token)",
})


def consent_on(client_consent: bool | None, settings: IssuerSettings) -> bool:
    """Whether a client's requests need consent: its own ``consent``, else the issuer's."""
    return client_consent if client_consent is not None else settings.consent


def remembered(session: LoginSession, client_id: str, scopes: tuple[str, ...]) -> bool:
    """Whether ``session`` already allowed ``client_id`` these scopes (or more)."""
    granted = session.consents.get(client_id)
    return granted is not None and set(scopes) <= granted


def describe_scopes(scopes: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Each scope with what it allows (empty for scopes of your own)."""
    return tuple((scope, SCOPE_DESCRIPTIONS.get(scope, "")) for scope in scopes)


class ConsentStep:
    """The consent step of the authorization endpoint, called by `Approval` after login."""

    def __init__(self, exchanges: Exchanges) -> None:
        self.clock = exchanges.clock

    def ask(self, issuer: Issuer, issuer_url: str, details: AuthorizationDetails,
            session: LoginSession, change: SessionChange) -> BrowserOutcome | None:
        """The consent page, ``consent_required`` for ``prompt=none``, or None to go on."""
        client = issuer.find_client(details.client_id)
        if not consent_on(client.consent if client is not None else None, issuer.settings):
            return None
        if "consent" not in details.prompt and remembered(session, details.client_id,
                                                          details.scopes):
            return None
        if "none" in details.prompt:  # OIDC Core §3.1.2.6
            return authz.deny(issuer_url, details, "consent_required",
                              "the user has not allowed this client these scopes, and "
                              "prompt=none forbids asking")
        now = self.clock.now()
        interaction = Interaction(new_handle(), details, now + authz.INTERACTION_LIFETIME,
                                  session_id=session.id)
        issuer.store.put_interaction(interaction, now)
        return ConsentPage(
            issuer=issuer.name,
            interaction=interaction.id,
            client_id=details.client_id,
            user=session.user_id,
            scopes=describe_scopes(details.scopes),
            redirect_uri=details.redirect_uri,
            session=change,
        )


class ConsentEndpoint(Endpoint):
    """The consent page's answer: ``action=allow`` (remembered in the login session, then
    the authorization response) or ``action=deny`` (``access_denied`` to the client)."""

    name = "consent"

    def __init__(self, exchanges: Exchanges, approval: Approval) -> None:
        super().__init__(exchanges)
        self.approval = approval

    def answer(self, call: Call, issuer: Issuer, req: ConsentRequest) -> BrowserOutcome:
        issuer_url = self.exchanges.issuer_url(issuer.name, req.base_url)
        now = self.clock.now()
        try:
            interaction_id = req.params.get("interaction") or ""
            action = req.params.get("action")
        except InvalidRequest as exc:
            return ErrorPage(400, exc.error, exc.description)
        interaction = issuer.store.get_interaction(interaction_id, now)
        if interaction is None or interaction.session_id is None:
            return ErrorPage(400, "invalid_request", "this consent request is unknown or has "
                                                     "expired; start again from the application")
        details = interaction.details
        session = issuer.store.get_session(interaction.session_id, now)
        call.client_id = details.client_id
        call.user = session.user_id if session is not None else None
        call.grant_type = authz.grant_type_of(details.response_type)
        answer = self.exchanges.early(call, details.scopes)
        if answer.error is not None:
            issuer.store.take_interaction(interaction_id, now)
            return authz.deny(issuer_url, details, answer.error.error,
                              answer.error.description)
        if action not in ("allow", "deny"):
            return ErrorPage(400, "invalid_request", "action must be 'allow' or 'deny'")
        if issuer.store.take_interaction(interaction_id, now) is None:
            return ErrorPage(400, "invalid_request", "this consent request was already answered")
        if action == "deny":
            return authz.deny(issuer_url, details, "access_denied",
                              "the user did not allow the request")
        if session is None:
            return authz.deny(issuer_url, details, "login_required",
                              "the login session ended before consent was given")
        granted = session.consents.get(details.client_id, frozenset())
        session.consents[details.client_id] = granted | frozenset(details.scopes)
        issuer.store.put_session(session, now)  # kept where every process reads it
        change = SessionChange(issuer.name, session.id, int(session.expires_at - now))
        return self.approval.grant(call, issuer, issuer_url, details, session, change)

"""After the user is known: the login session, the consent step, and the successful
authorization response (RFC 6749 §4.1.2 code, §4.2.2 tokens; OIDC Core §3.1.2.5, §3.2.2.5,
§3.3.2.5), shared by the authorization, login, consent and pushed-request paths.

`Approval.approve` reads as the sequence it runs: log in (a new session, remembered in the
browser's list of recent logins), ask for consent when the client needs it (`ConsentStep`, an
explicit collaborator), then `grant`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol

from mockidp.core.model import (
    BrowserOutcome,
    Client,
    GrantFacts,
    LoginPage,
    SessionChange,
)
from mockidp.core.records import (
    AuthorizationDetails,
    CodeRecord,
    Interaction,
    LoginSession,
    new_handle,
)
from mockidp.protocol import authz
from mockidp.protocol.exchange import Call, Exchanges
from mockidp.protocol.issuance import Issuance
from mockidp.protocol.issuer import Issuer
from mockidp.protocol.loginpage import other_recent, recent_logins, remember_login, user_choices


def default_user(issuer: Issuer) -> str:
    """Who logs in when nobody is asked (``interactive_login`` off)."""
    if issuer.settings.default_user:
        return issuer.settings.default_user
    return next(iter(issuer.users), "user")


def login_page(issuer: Issuer, interaction: Interaction, username: str = "",
               claims_text: str = "", error: str | None = None, recent: tuple[str, ...] = (),
               error_field: str = "claims") -> LoginPage:
    """The login form; ``recent`` is what the browser remembers (`protocol.loginpage`)."""
    return LoginPage(
        issuer=issuer.name,
        interaction=interaction.id,
        client_id=interaction.details.client_id,
        scope=" ".join(interaction.details.scopes),
        users=tuple(issuer.users),
        username=username,
        claims_text=claims_text,
        error=error,
        status=400 if error else 200,
        choices=user_choices(issuer.users, recent),
        recent=other_recent(issuer.users, recent),
        error_field=error_field,
        provider=issuer.profile.title if issuer.profile.fixed else "",
    )


def implicit_facts(issuer: Issuer, details: AuthorizationDetails, session: LoginSession,
                   code: str | None, family: str | None) -> GrantFacts:
    """What the authorization endpoint grants by itself (OIDC Core §3.2.2.5, §3.3.2.5):
    no refresh token; an access token sharing the code's family, so that replaying the
    code revokes it too (RFC 6749 §4.1.2); ``c_hash`` for the code."""
    words = details.response_type.split()
    client = issuer.find_client(details.client_id) or Client(id=details.client_id,
                                                             registered=False)
    return GrantFacts(
        grant_type="implicit",
        client=client,
        sub=session.sub,
        scopes=details.scopes,
        audience=details.audience or client.audience,
        user=issuer.find_user(session.user_id),
        login_claims=session.login_claims,
        auth_time=session.auth_time,
        nonce=details.nonce,
        session_id=session.sid,
        issue_id_token="id_token" in words,
        issue_refresh_token=False,
        refresh_family=family,
        code=code,
        issue_access_token="token" in words,
        acr=details.acr,
        claims_request=details.claims_request,
    )


class Step(Protocol):
    """A step between login and grant that may answer instead (the consent step)."""

    def ask(self, issuer: Issuer, issuer_url: str, details: AuthorizationDetails,
            session: LoginSession, change: SessionChange) -> BrowserOutcome | None: ...


class Approval:
    """Log in, ask consent, answer the client.  Thread-safe (state lives in the stores)."""

    def __init__(self, exchanges: Exchanges, issuance: Issuance, consent: Step) -> None:
        self.exchanges = exchanges
        self.clock = exchanges.clock
        self.issuance = issuance
        self.consent = consent

    def approve(self, call: Call, issuer: Issuer, issuer_url: str,
                details: AuthorizationDetails, user_id: str, login_claims: Mapping[str, Any],
                session: LoginSession | None) -> BrowserOutcome:
        """Log in as ``user_id`` (a new login session unless ``session`` is given), ask for
        consent when the client needs it, then answer the client (`grant`)."""
        now = self.clock.now()
        recent: tuple[str, ...] | None = None
        if session is None:
            user = issuer.find_user(user_id)
            session = LoginSession(
                id=new_handle(),
                sid=new_handle()[:22],
                sub=user.subject if user is not None else user_id,
                user_id=user_id,
                login_claims=MappingProxyType(dict(login_claims)),
                auth_time=int(now),
                expires_at=now + issuer.settings.lifetimes.session,
            )
            issuer.store.put_session(session, now)
            recent = remember_login(recent_logins(call.req.recent), user_id)
        change = SessionChange(issuer.name, session.id, int(session.expires_at - now), recent)
        asked = self.consent.ask(issuer, issuer_url, details, session, change)
        if asked is not None:
            return asked
        return self.grant(call, issuer, issuer_url, details, session, change)

    def grant(self, call: Call, issuer: Issuer, issuer_url: str,
              details: AuthorizationDetails, session: LoginSession,
              change: SessionChange) -> BrowserOutcome:
        """The successful authorization response: a code (RFC 6749 §4.1.2) and/or tokens
        (RFC 6749 §4.2.2, OIDC Core §3.2.2.5, §3.3.2.5), ``state`` and ``iss`` (RFC 9207)."""
        now = self.clock.now()
        fields: list[tuple[str, str]] = []
        code: str | None = None
        family: str | None = None
        if "code" in details.response_type.split():
            code = new_handle()
            record = CodeRecord(
                details=details,
                sub=session.sub,
                user_id=session.user_id,
                login_claims=session.login_claims,
                auth_time=session.auth_time,
                session_id=session.sid,
                expires_at=now + issuer.settings.lifetimes.code,
            )
            issuer.store.put_code(code, record, now)
            fields.append(("code", code))
            family = record.family
        if authz.returns_tokens(details.response_type):
            answer = self.issuance.issue(call, issuer, issuer_url,
                                         implicit_facts(issuer, details, session, code, family),
                                         now)
            fields.extend((name, str(value)) for name, value in answer.items())
        if details.state is not None:
            fields.append(("state", details.state))
        fields.append(("iss", issuer_url))
        return authz.respond(details.redirect_uri, details.response_mode, fields, change)



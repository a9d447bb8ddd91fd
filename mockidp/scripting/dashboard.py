"""The provider's state as plain data for people: what the dashboard shows.

`dashboard_data` gathers, in one call, the issuers (with their discovery and JWKS URLs, users
and clients), the rules with their fired counts, the provider clock and the recent journal
with every minted token decoded (header and claims).  Secrets stay out: client secrets, user
passwords, session cookies and the control token are never included (request parameters are
masked by the journal as everywhere).  Plain JSON-ready data, so any door can serve it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mockidp.core.fields import CLIENT_FIELDS, USER_FIELDS, shown
from mockidp.core.journal import Exchange, Journal
from mockidp.core.model import (
    Client,
    User,
)
from mockidp.core.settings import IssuerSettings
from mockidp.scripting.rules import Rule
from mockidp.tokens.inspect import moment

JOURNAL_LIMIT = 50


def user_data(user: User) -> dict[str, Any]:
    """A user without the password (only whether there is one)."""
    return {"id": user.id, "sub": user.subject, **shown(USER_FIELDS, user, "dashboard")}


def client_data(client: Client) -> dict[str, Any]:
    """A client without its secret (only whether it is confidential)."""
    return {"id": client.id, **shown(CLIENT_FIELDS, client, "dashboard")}


def exchange_data(exchange: Exchange, now: float) -> dict[str, Any]:
    """One journal entry, its minted tokens decoded: ``tokens`` is a list of ``{"name",
    "header", "claims"}`` (``header`` None for opaque tokens and userinfo answers);
    ``unverified`` names the parameters whose JWT was accepted without a signature check."""
    return {
        "seq": exchange.seq,
        "time": moment(exchange.time, now)["iso"],
        "provider_time": moment(exchange.provider_time, now),
        "issuer": exchange.issuer,
        "endpoint": exchange.endpoint,
        "method": exchange.method,
        "path": exchange.path,
        "status": exchange.status,
        "error": exchange.error,
        "client_id": exchange.client_id,
        "grant_type": exchange.grant_type,
        "user": exchange.user,
        "params": dict(exchange.params),
        "rules": list(exchange.rules),
        "unverified": list(exchange.unverified),
        "tokens": [{"name": name, "header": _plain(exchange.headers.get(name)),
                    "claims": dict(claims)} for name, claims in exchange.tokens.items()],
    }


def _plain(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(value) if value is not None else None


def issuer_data(name: str, url: str, urls: Mapping[str, str], settings: IssuerSettings,
                users: Mapping[str, User], clients: Mapping[str, Client],
                provider: str = "mockidp") -> dict[str, Any]:
    """One issuer as the dashboard shows it: its identifier and endpoint ``urls``
    (discovery, jwks, authorize), the provider it imitates, settings, users and clients."""
    return {
        "name": name,
        "url": url,
        "profile": provider,
        "discovery": urls["discovery"],
        "jwks": urls["jwks"],
        "authorize": urls["authorize"],
        "settings": {
            "interactive_login": settings.interactive_login,
            "strict": settings.strict,
            "consent": settings.consent,
            "signing_alg": settings.signing_alg,
            "access_token_format": settings.access_token_format,
        },
        "users": [user_data(u) for u in users.values()],
        "clients": [client_data(c) for c in clients.values()],
    }


def dashboard_data(issuers: list[dict[str, Any]], rules: list[Rule],
                   clock_state: Mapping[str, Any], journal: Journal,
                   limit: int = JOURNAL_LIMIT) -> dict[str, Any]:
    """Everything the dashboard shows: the issuers (`issuer_data`), the rules, the clock and
    the last ``limit`` journal entries, newest first."""
    now = float(clock_state["now"])
    calls = journal.calls()
    recent = calls[-limit:] if limit > 0 else []
    return {
        "issuers": issuers,
        "rules": [rule.as_json() for rule in rules],
        "clock": {**clock_state, "now_time": moment(now, now)},
        "journal": {
            "size": journal.size,
            "held": len(calls),
            "shown": len(recent),
            "entries": [exchange_data(e, now) for e in reversed(recent)],
        },
    }

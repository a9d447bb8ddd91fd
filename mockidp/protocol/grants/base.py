"""What every grant handler (RFC 6749 §4) gets and must return, and the helpers they share:
RFC 6749 §3.3 (``scope``), RFC 8693 §2.1 (``audience``), RFC 8707 §2 (``resource``).

A handler authenticates nothing itself (the client arrives authenticated), checks the grant's
own parameters and returns `GrantFacts`.  It never signs and never builds claims.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from mockidp.core.model import (
    Client,
    GrantFacts,
    Params,
    User,
)
from mockidp.core.settings import IssuerSettings
from mockidp.core.stores import IssuerStore
from mockidp.protocol.assertions import Trust


@dataclass(frozen=True)
class GrantContext:
    """The issuer state a grant may read: settings, store, clock reading, users, client."""

    settings: IssuerSettings
    store: IssuerStore
    now: float
    client: Client
    users: Mapping[str, User]
    find_user: Callable[[str], User | None]
    dpop_jkt: str | None = None  # RFC 9449: thumbprint of the request's DPoP proof key
    trust: Trust | None = None  # checks presented JWTs (RFC 7523 §2.1, RFC 8693)
    client_auth_method: str | None = None  # how the client authenticated (RFC 6749 §2.3)


@dataclass(frozen=True)
class Peek:
    """Who a token request is about and which scopes it concerns, read before anything is
    checked (for rules and the journal): the user of a code, a refresh token or a device
    code, or the ``username`` of a password grant."""

    user: str | None = None
    scopes: tuple[str, ...] = ()


NOBODY = Peek()


class GrantHandler(Protocol):
    """One grant type (RFC 6749 §4 and extensions)."""

    grant_type: str

    def peek(self, params: Mapping[str, str], store: IssuerStore, now: float) -> Peek:
        """Who the request is about, unchecked (`Peek`); never raises, changes nothing."""
        ...

    def handle(self, params: Params, ctx: GrantContext) -> GrantFacts:
        """Check the grant and return the facts; raise an `OAuthError` to refuse."""
        ...


def requested_scopes(params: Params) -> tuple[str, ...]:
    """The ``scope`` parameter as a tuple, order kept, duplicates dropped (RFC 6749 §3.3)."""
    scope = params.get("scope") or ""
    return tuple(dict.fromkeys(scope.split()))


def requested_audience(params: Params, client: Client) -> tuple[str, ...]:
    """``audience`` (RFC 8693) and ``resource`` (RFC 8707) values, else the client's audience."""
    values = params.get_all("audience") + params.get_all("resource")
    return tuple(dict.fromkeys(values)) or client.audience


def wants_refresh_token(client: Client) -> bool:
    """Whether this client may get refresh tokens (its grant_types, when configured)."""
    return not client.grant_types or "refresh_token" in client.grant_types

"""Logout notifications to clients: OpenID Connect Back-Channel Logout 1.0 (a signed logout
token POSTed to each client's ``backchannel_logout_uri``) and Front-Channel Logout 1.0 (the
signed-out page loads each client's ``frontchannel_logout_uri`` in an iframe).

Delivery is synchronous and bounded (`mockidp.protocol.outbound`: a wall-clock deadline, no
redirects, a cap on requests in flight), so a test can check its receiver right after the
end-session answer; a client that cannot be reached does not stop the logout.
"""

from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any

from mockidp.protocol.outbound import Outbound, OutboundFailed
from mockidp.tokens.claims import new_jti

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
log = logging.getLogger("mockidp.logout")


def logout_token_claims(issuer_url: str, client_id: str, sub: str | None, sid: str | None,
                        now: int) -> dict[str, Any]:
    """Back-Channel Logout §2.4: iss, aud, iat, exp, jti, events, and sub and/or sid."""
    claims: dict[str, Any] = {
        "iss": issuer_url, "aud": client_id, "iat": now, "exp": now + 120, "jti": new_jti(),
        "events": {BACKCHANNEL_EVENT: {}},
    }
    if sub is not None:
        claims["sub"] = sub
    if sid is not None:
        claims["sid"] = sid
    return claims


@dataclass(frozen=True)
class Delivery:
    """What happened when a logout token was POSTed to a client."""

    client_id: str
    uri: str
    status: int | None
    error: str | None = None


def deliver(client_id: str, uri: str, logout_token: str, outbound: Outbound) -> Delivery:
    """POST ``logout_token`` (form-encoded, §2.5) to ``uri``; never raises.  A failure, for
    whatever reason, is one generic ``error`` (no port scanning through the journal)."""
    body = urllib.parse.urlencode({"logout_token": logout_token}).encode("ascii")
    try:
        answer = outbound.request("POST", uri, body, {
            "Content-Type": "application/x-www-form-urlencoded", "Cache-Control": "no-store"})
    except OutboundFailed as exc:
        log.debug("back-channel logout to client %s failed: %s", client_id, exc)
        return Delivery(client_id, uri, None, "not delivered")
    return Delivery(client_id, uri, answer.status)


def frontchannel_url(uri: str, issuer_url: str, sid: str | None) -> str:
    """Front-Channel Logout §2: the client's URI with ``iss`` and ``sid`` added."""
    parts = urllib.parse.urlsplit(uri)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query.append(("iss", issuer_url))
    if sid is not None:
        query.append(("sid", sid))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))

"""Token introspection: RFC 7662 §2.1 (the request, client authentication) and §2.2 (the
answer: ``active`` and the token's claims; revoked, expired or unknown → ``active: false``).
"""

from __future__ import annotations

from mockidp.core.errors import InvalidRequest
from mockidp.core.model import IntrospectRequest, Json
from mockidp.protocol.exchange import Call, Endpoint, Exchanges
from mockidp.protocol.issuer import Issuer
from mockidp.protocol.presented import TokenChecks, peek_client
from mockidp.tokens.signer import TokenRejected


class IntrospectEndpoint(Endpoint):
    """``POST`` with ``token`` (and optionally ``token_type_hint``)."""

    name = "introspect"

    def __init__(self, exchanges: Exchanges, checks: TokenChecks) -> None:
        super().__init__(exchanges)
        self.checks = checks

    def answer(self, call: Call, issuer: Issuer, req: IntrospectRequest) -> Json:
        peek_client(call, req)
        self.exchanges.early_or_raise(call)
        self.checks.client(call, issuer, req, required=False)
        token = req.params.get("token")
        if token is None:
            raise InvalidRequest("missing 'token'")
        now = self.clock.now()
        record = issuer.store.get_refresh(token, now)
        if record is not None:
            call.user = record.user_id or record.sub
            return Json({
                "active": True,
                "token_type": "refresh_token",
                "client_id": record.client_id,
                "sub": record.sub,
                "scope": " ".join(record.scopes),
                "iat": int(record.issued_at),
                "exp": int(record.expires_at),
                "iss": self.exchanges.issuer_url(issuer.name, req.base_url),
            })
        try:
            claims = self.checks.verify(issuer, token)
        except TokenRejected:
            return Json({"active": False})
        sub = claims.get("sub")
        call.user = sub if isinstance(sub, str) else None
        cnf = claims.get("cnf")
        token_type = "DPoP" if isinstance(cnf, dict) and "jkt" in cnf else "Bearer"
        body = {"active": True, "token_type": token_type, **claims}
        issuer.profile.introspection(body, claims, self.exchanges.view(issuer, req.base_url))
        return Json(body)

"""Token revocation: RFC 7009 §2.1 (the request; the client must authenticate) and §2.2 (an
unknown or already invalid token is not an error).  A refresh token is revoked by itself
(RFC 7009 §2.1 allows its family's access tokens too); an access token by its ``jti``.
"""

from __future__ import annotations

from mockidp.core.errors import InvalidRequest, UnauthorizedClient
from mockidp.core.model import Json, RevokeRequest
from mockidp.protocol.exchange import Call, Endpoint, Exchanges
from mockidp.protocol.issuer import Issuer
from mockidp.protocol.presented import TokenChecks, peek_client
from mockidp.tokens.signer import TokenRejected, verify


class RevokeEndpoint(Endpoint):
    """``POST`` with ``token`` (and optionally ``token_type_hint``)."""

    name = "revoke"

    def __init__(self, exchanges: Exchanges, checks: TokenChecks) -> None:
        super().__init__(exchanges)
        self.checks = checks

    def answer(self, call: Call, issuer: Issuer, req: RevokeRequest) -> Json:
        peek_client(call, req)
        self.exchanges.early_or_raise(call)
        client = self.checks.client(call, issuer, req, required=True)
        assert client is not None
        token = req.params.get("token")
        if token is None:
            raise InvalidRequest("missing 'token'")
        req.params.get("token_type_hint")  # RFC 7009 §2.1: a hint only; repeated is invalid
        now = self.clock.now()
        record = issuer.store.get_refresh(token, now)
        if record is not None:
            if record.client_id != client.id:
                raise UnauthorizedClient("the token was issued to another client")
            call.user = record.user_id or record.sub
            issuer.store.revoke_refresh(token, now)
            return Json({})
        opaque = issuer.store.get_opaque(token, now)
        if opaque is not None:
            claims = dict(opaque)
        else:
            try:
                claims = verify(token, issuer.keys, float("-inf"), check_times=False)
            except TokenRejected:
                return Json({})
        owner = claims.get("client_id")
        if owner is not None and owner != client.id:
            raise UnauthorizedClient("the token was issued to another client")
        jti = claims.get("jti")
        exp = claims.get("exp")
        if isinstance(jti, str):
            expires = float(exp) if isinstance(exp, (int, float)) else self.clock.now() + 86400
            issuer.store.revoke_jti(jti, expires, self.clock.now())
        return Json({})

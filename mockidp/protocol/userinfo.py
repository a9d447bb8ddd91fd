"""The UserInfo endpoint: OIDC Core §5.3 (claims for the access token's subject and scopes,
§5.4 scope claims, §5.5 the ``claims`` request), RFC 6750 §2-3 (bearer tokens and their
errors), RFC 9449 §7 (DPoP-bound tokens).
"""

from __future__ import annotations

from mockidp.core import blocking
from mockidp.core.errors import InvalidToken, OAuthError
from mockidp.core.model import Json, UserinfoRequest
from mockidp.protocol.exchange import Call, Endpoint, Exchanges
from mockidp.protocol.issuance import claim_template
from mockidp.protocol.issuer import Issuer
from mockidp.protocol.presented import TokenChecks, bearer_token, presented_token
from mockidp.tokens.claims import userinfo_claims
from mockidp.tokens.signer import TokenRejected

USERINFO_KINDS = frozenset({"userinfo"})  # what claims rules shape here


class UserinfoEndpoint(Endpoint):
    """``GET``/``POST`` with a bearer (or DPoP) access token."""

    name = "userinfo"

    def __init__(self, exchanges: Exchanges, checks: TokenChecks) -> None:
        super().__init__(exchanges)
        self.checks = checks

    def answer(self, call: Call, issuer: Issuer, req: UserinfoRequest) -> Json:
        form = req.params if req.method == "POST" else None
        if self.exchanges.rules:  # who the request is about, for the rules
            try:
                peeked = self.checks.verify(issuer, bearer_token(req.authorization, form))
                call.user, call.client_id = peeked.get("sub"), peeked.get("client_id")
            except (OAuthError, TokenRejected):
                pass
        self.exchanges.early_or_raise(call)
        token, scheme = presented_token(req.authorization, form)
        try:
            claims = self.checks.verify(issuer, token)
        except TokenRejected as exc:
            raise InvalidToken(str(exc)) from None
        self.checks.check_binding(issuer, req, token, scheme, claims)
        sub = claims.get("sub")
        call.user = sub if isinstance(sub, str) else None
        client_id = claims.get("client_id")
        call.client_id = client_id if isinstance(client_id, str) else None
        scopes = tuple(str(claims.get("scope") or "").split())
        issuer_url = self.exchanges.issuer_url(issuer.name, req.base_url)
        seconds = self.clock.seconds()
        shaping = self.exchanges.shape(call, scopes, lambda: claim_template(
            call, issuer_url, call.user, call.client_id or "", scopes, seconds), USERINFO_KINDS)
        view = self.exchanges.view(issuer, req.base_url)
        answer = userinfo_claims(claims, shaping.for_token("userinfo"),
                                 lambda shown: issuer.profile.userinfo(shown, claims, view))
        call.note_claims("userinfo", answer)
        if shaping.delay:
            blocking.sleep(shaping.delay)
        return Json(answer)

"""The token endpoint: RFC 6749 §3.2 and §5 (the response and its errors), with the grants of
`mockidp.protocol.grants`, client authentication (RFC 6749 §2.3, RFC 7523 §2.2) and DPoP
(RFC 9449 §5).

A token request is a short sequence: open the exchange (rules first), pick the grant by
``grant_type``, authenticate the client, check the DPoP proof, let the grant establish the
facts, issue (`mockidp.protocol.issuance`).  Grants never sign; this module never builds
claims.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from mockidp.core.errors import (
    InvalidRequest,
    OAuthError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from mockidp.core.model import Client, Json, TokenRequest
from mockidp.protocol.clientauth import authenticate, credentials
from mockidp.protocol.dpop import InvalidDPoPProof, check_proof
from mockidp.protocol.exchange import Call, Endpoint, Exchanges
from mockidp.protocol.grants import GRANTS, GrantContext, GrantHandler
from mockidp.protocol.grants.token_exchange import exchange_response
from mockidp.protocol.issuance import Issuance
from mockidp.protocol.issuer import Issuer
from mockidp.protocol.presented import TokenChecks


class TokenEndpoint(Endpoint):
    """``POST`` of a token request."""

    name = "token"

    def __init__(self, exchanges: Exchanges, checks: TokenChecks, issuance: Issuance) -> None:
        super().__init__(exchanges)
        self.checks = checks
        self.issuance = issuance

    def answer(self, call: Call, issuer: Issuer, req: TokenRequest) -> Json:
        self.exchanges.early_or_raise(call, self.peek(call, issuer, req))
        handler = self.grant(req, issuer.profile.grant_aliases)
        trust = self.checks.trust(call, issuer, req)
        creds = call.creds or credentials(req.params, req.authorization)
        client = authenticate(creds, issuer.find_client, issuer.settings.strict,
                              trust.client_assertion)
        call.client_id = client.id
        if client.grant_types and handler.grant_type not in client.grant_types:
            raise UnauthorizedClient(
                f"client '{client.id}' may not use grant_type {handler.grant_type!r}")
        now = self.clock.now()
        jkt = self.dpop(issuer, req, client, now)
        facts = handler.handle(req.params, GrantContext(
            settings=issuer.settings, store=issuer.store, now=now, client=client,
            users=issuer.users, find_user=issuer.find_user, trust=trust,
            client_auth_method=creds.method, dpop_jkt=jkt,
        ))
        if facts.jkt is not None and facts.jkt != jkt:
            raise InvalidDPoPProof(
                "this refresh token is bound to a DPoP key: send a proof signed with it"
                if jkt is None else "this refresh token is bound to another DPoP key")
        if jkt is not None:
            facts = replace(facts, jkt=jkt)
        call.user = facts.user.id if facts.user is not None else facts.sub
        response = self.issuance.issue(
            call, issuer, self.exchanges.issuer_url(issuer.name, req.base_url), facts, now)
        return Json(exchange_response(response, facts, call.tokens))  # RFC 8693 §2.2.1

    def peek(self, call: Call, issuer: Issuer, req: TokenRequest) -> tuple[str, ...]:
        """Who the request is about, before anything is checked (for rules and the journal):
        the client it names, the grant type, and what the grant can tell (`Grant.peek`)."""
        params = req.params.single()
        try:
            call.creds = credentials(req.params, req.authorization)
            call.client_id = call.creds.client_id
        except OAuthError:
            call.client_id = params.get("client_id")
        call.grant_type = params.get("grant_type")
        scope = tuple((params.get("scope") or "").split())
        grant_type = call.grant_type or ""
        handler = GRANTS.get(issuer.profile.grant_aliases.get(grant_type, grant_type))
        if handler is None:
            return scope
        peeked = handler.peek(params, issuer.store, self.clock.now())
        if peeked.user is not None:
            call.user = peeked.user
        return scope or peeked.scopes

    @staticmethod
    def grant(req: TokenRequest, aliases: Mapping[str, str]) -> GrantHandler:
        """The grant of ``grant_type`` (RFC 6749 §5.2: ``unsupported_grant_type``); a
        profile's own grant type names one of ours (``aliases``)."""
        grant_type = req.params.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("missing 'grant_type'")
        handler = GRANTS.get(aliases.get(grant_type, grant_type))
        if handler is None:
            raise UnsupportedGrantType(
                f"grant_type {grant_type!r} is not supported; supported: " + ", ".join(GRANTS)
            )
        return handler

    def dpop(self, issuer: Issuer, req: TokenRequest, client: Client, now: float
             ) -> str | None:
        """RFC 9449 §5: check the DPoP proof sent to the token endpoint; its key's thumbprint
        binds the tokens.  Required for clients registered with dpop_bound_access_tokens."""
        if req.dpop is None:
            if client.dpop_bound_access_tokens:
                raise InvalidDPoPProof("this client must send a DPoP proof (RFC 9449)")
            return None
        return check_proof(
            req.dpop, "POST", (req.base_url + req.path,
                               self.exchanges.endpoint_url(issuer, req.base_url, "token")), now,
            issuer.dpop_replay,
            nonces=issuer.dpop_nonces if issuer.settings.dpop_nonce else None,
        )



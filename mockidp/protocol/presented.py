"""Tokens and clients presented to the provider: RFC 6750 §2 bearer tokens, RFC 9449 §7
DPoP-bound tokens, RFC 7523 §3 / RFC 8693 §2.1 assertion audiences, and the client of an
introspection (RFC 7662 §2.1) or revocation (RFC 7009 §2.1) request.

`TokenChecks` verifies what a resource-side endpoint (userinfo, introspection, revocation)
or an assertion grant is handed; it never issues anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mockidp.core.errors import InvalidRequest, InvalidToken, OAuthError
from mockidp.core.model import Client, EndpointRequest
from mockidp.protocol.assertions import AssertionRejected, Trust, peek
from mockidp.protocol.clientauth import authenticate, credentials
from mockidp.protocol.dpop import DPOP_ALGS, InvalidDPoPProof, check_proof
from mockidp.protocol.exchange import Call, Exchanges
from mockidp.protocol.issuer import Issuer
from mockidp.tokens.signer import ACCESS_TOKEN_TYPES, TokenRejected, verify


def presented_token(authorization: str | None, form: Any | None) -> tuple[str, str]:
    """The access token and its scheme (``bearer`` or ``dpop``): RFC 6750 §2.1 header or
    §2.2 form body, or RFC 9449 §7.1 ``Authorization: DPoP``; missing → 401 without detail."""
    header_token = None
    scheme = "bearer"
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme not in ("bearer", "dpop") or not value.strip():
            raise InvalidToken("expected 'Authorization: Bearer <token>' (or DPoP <token>)")
        header_token = value.strip()
    form_token = form.get("access_token") if form is not None else None
    if header_token and form_token:
        raise InvalidRequest("access token sent twice (header and body); RFC 6750 section 2")
    token = header_token or form_token
    if not token:
        raise OAuthError("missing bearer access token", error="invalid_request", status=401,
                         www_authenticate='Bearer realm="mockidp"')
    return str(token), scheme


def bearer_token(authorization: str | None, form: Any | None) -> str:
    """The access token of a request (see `presented_token`)."""
    return presented_token(authorization, form)[0]


def peek_client(call: Call, req: EndpointRequest) -> None:
    """Note who the client says it is, before anything is checked (rules, journal)."""
    try:
        call.client_id = credentials(req.params, req.authorization).client_id
    except OAuthError:
        call.client_id = req.params.single().get("client_id")


class TokenChecks:
    """Checks of presented tokens and clients against an issuer and the provider clock."""

    def __init__(self, exchanges: Exchanges) -> None:
        self.exchanges = exchanges
        self.clock = exchanges.clock

    def verify(self, issuer: Issuer, token: str) -> dict[str, Any]:
        """Claims of a live access token of this issuer (JWT or opaque reference), or
        `TokenRejected`."""
        if token.count(".") != 2:
            found = issuer.store.get_opaque(token, self.clock.now())
            if found is None:
                raise TokenRejected("unknown or expired access token")
            claims = dict(found)
            nbf = claims.get("nbf")
            if isinstance(nbf, (int, float)) and self.clock.now() < nbf:
                raise TokenRejected("token is not valid yet")
        else:
            claims = verify(token, issuer.keys, self.clock.now(), types=ACCESS_TOKEN_TYPES)
        iss = claims.get("iss")
        if not isinstance(iss, str) or not issuer.owns(iss):
            raise TokenRejected(f"token was issued by {iss!r}, not by issuer '{issuer.name}'")
        jti = claims.get("jti")
        if isinstance(jti, str) and issuer.store.is_revoked(jti):
            raise TokenRejected("token has been revoked")
        return claims

    def check_binding(self, issuer: Issuer, req: EndpointRequest, token: str, scheme: str,
                      claims: Mapping[str, Any]) -> None:
        """RFC 9449 §7: a DPoP-bound token needs ``Authorization: DPoP`` and a proof by the
        bound key (with ``ath``); an unbound token must not be presented as DPoP."""
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
        if jkt is None:
            if scheme == "dpop":
                raise InvalidToken("this access token is not DPoP-bound; use Bearer")
            return
        challenge = f'DPoP error="invalid_token", algs="{" ".join(DPOP_ALGS)}"'
        if scheme != "dpop":
            raise OAuthError("this access token is DPoP-bound: send it as 'Authorization: "
                             "DPoP' with a DPoP proof", error="invalid_token", status=401,
                             www_authenticate=challenge)
        if req.dpop is None:
            raise InvalidDPoPProof("a DPoP proof is required with a DPoP-bound token",
                                   status=401, www_authenticate=challenge)
        now = self.clock.now()
        proof_jkt = check_proof(
            req.dpop, req.method, (req.base_url + req.path,
                                   self.exchanges.endpoint_url(issuer, req.base_url,
                                                               req.endpoint)),
            now, issuer.dpop_replay, access_token=token,
            nonces=issuer.dpop_nonces if issuer.settings.dpop_nonce else None, status=401,
        )
        if proof_jkt != jkt:
            raise InvalidDPoPProof("the DPoP proof is signed by another key than the token's",
                                   status=401, www_authenticate=challenge)

    def client(self, call: Call, issuer: Issuer, req: EndpointRequest, required: bool
               ) -> Client | None:
        """The authenticated client of an introspection or revocation request; None when
        none is named and none is ``required`` (permissive, not strict)."""
        creds = credentials(req.params, req.authorization)
        if creds.client_id is None and not required and not issuer.settings.strict:
            return None
        return authenticate(creds, issuer.find_client, issuer.settings.strict,
                            self.trust(call, issuer, req).client_assertion)

    def trust(self, call: Call, issuer: Issuer, req: EndpointRequest) -> Trust:
        """What JWTs presented at ``req``'s endpoint are checked against (RFC 7523 §3, RFC
        8693 §2.1): an ``aud`` of the issuer, its token endpoint or this endpoint (under the
        public URL or the URL the request came in on), this provider's tokens, the caches.
        A JWT taken unverified (permissive issuer, unregistered client) is noted in ``call``."""
        base_for = self.exchanges.base_for

        def audiences() -> tuple[str, ...]:
            bases = dict.fromkeys((base_for(req.base_url), base_for(None)))
            found = [issuer.identifier(base) for base in bases]
            for endpoint in dict.fromkeys(("token", req.endpoint)):
                if issuer.profile.has(endpoint):
                    found += [issuer.url(base, endpoint) for base in bases]
            return tuple(dict.fromkeys(found))

        return Trust(
            audiences_for=audiences,
            now=self.clock.now(),
            caches=issuer.assertions,
            own_token=lambda token: self.own_token(issuer, req.base_url, token),
            permissive=not issuer.settings.strict,
            note_unverified=call.unverified.append,
        )

    def own_token(self, issuer: Issuer, base_url: str, token: str) -> dict[str, Any] | None:
        """Claims of a live token of this provider: an opaque access token of ``issuer``, or a
        JWT whose ``iss`` is one of the provider's issuers (verified with that issuer's keys);
        None for a JWT another party issued; `TokenRejected` otherwise."""
        if token.count(".") != 2:
            return self.verify(issuer, token)
        try:
            iss = peek(token)[1].get("iss")
        except AssertionRejected as exc:
            raise TokenRejected(str(exc)) from None
        target = self.exchanges.issuer_of(iss) if isinstance(iss, str) and iss else None
        base_for = self.exchanges.base_for
        if target is None or iss not in (target.identifier(base_for(base_url)),
                                         target.identifier(base_for(None))):
            return None
        return self.verify(target, token)

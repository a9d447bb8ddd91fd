"""RFC 7523 §2.1 JWT bearer grant: ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``.

The ``assertion`` is a signed JWT checked as RFC 7523 §3 says:

- ``iss`` is trusted: one of this provider's issuers (the signature is checked with that
  issuer's keys, so `MockIdP.mint` makes such assertions), or the authenticated client itself
  (its ``jwks``/``jwks_uri`` keys, or HMAC with its secret).  An unregistered client of a
  permissive issuer has no key the provider knows: its assertion must pass every other check,
  its signature goes unchecked, and the journal says so (``unverified: ["assertion"]``,
  `Trust.signed_by`); a strict issuer knows no unregistered client;
- ``sub`` is who the tokens are for: a configured user (by id or by subject) brings their
  claims, any other value is taken as it is;
- ``aud`` names this issuer's token endpoint or the issuer itself;
- ``exp`` is required and not past, ``nbf`` and ``iat`` are not in the future (provider clock,
  `assertions.LEEWAY` seconds of tolerance); a ``jti``, when present, is single use.

Any failure is ``invalid_grant`` naming the check (RFC 7523 §3.1).  The scopes are the
requested ones; an ID token comes with ``openid``.  No refresh token: the client holds the
assertion (or can make another) and asks again.
"""

from __future__ import annotations

from collections.abc import Mapping

from mockidp.core.errors import InvalidGrant, InvalidRequest
from mockidp.core.model import (
    Client,
    GrantFacts,
    Params,
    User,
)
from mockidp.core.stores import IssuerStore
from mockidp.protocol.assertions import (
    AssertionRejected,
    Trust,
    check_audience,
    check_times,
    peek,
    string_claim,
)
from mockidp.protocol.grants.base import (
    NOBODY,
    GrantContext,
    Peek,
    requested_audience,
    requested_scopes,
)
from mockidp.tokens.signer import TokenRejected

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def user_by_subject(ctx: GrantContext, sub: str) -> User | None:
    """The configured user whose id, or else whose ``sub`` claim, is ``sub``."""
    user = ctx.find_user(sub)
    if user is not None:
        return user
    return next((u for u in ctx.users.values() if u.subject == sub), None)


def require_trust(ctx: GrantContext) -> Trust:
    if ctx.trust is None:  # pragma: no cover - the token endpoint always provides it
        raise InvalidRequest("this grant needs the token endpoint's key material")
    return ctx.trust


def verify_assertion_grant(assertion: str, client: Client, trust: Trust) -> dict[str, object]:
    """The claims of a jwt-bearer ``assertion`` that passed every RFC 7523 §3 check, or
    `AssertionRejected` naming the first that failed."""
    _, unverified = peek(assertion)
    iss = string_claim(unverified, "iss")
    try:
        claims = trust.own_token(assertion)
    except TokenRejected as exc:
        raise AssertionRejected(str(exc)) from None
    verified = True
    if claims is None:
        if iss != client.id:
            raise AssertionRejected(
                f"issuer {iss!r} is not trusted: expected one of this provider's issuers or "
                f"the client '{client.id}' itself")
        claims, _, verified = trust.signed_by(assertion, client)
    string_claim(claims, "sub")
    check_audience(claims, trust.audiences)
    exp = check_times(claims, trust.now)
    trust.use_jti(iss, claims, exp, required=False)
    if not verified:
        trust.note_unverified("assertion")
    return claims


class JwtBearerGrant:
    """``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``."""

    grant_type = JWT_BEARER_GRANT

    def peek(self, params: Mapping[str, str], store: IssuerStore, now: float) -> Peek:
        """The subject is in the assertion, known once it is verified."""
        return NOBODY

    def handle(self, params: Params, ctx: GrantContext) -> GrantFacts:
        assertion = params.get("assertion")
        if assertion is None:
            raise InvalidRequest("missing 'assertion' (RFC 7523 section 2.1)")
        try:
            claims = verify_assertion_grant(assertion, ctx.client, require_trust(ctx))
        except AssertionRejected as exc:
            raise InvalidGrant(f"assertion rejected: {exc}") from None
        sub = str(claims["sub"])
        user = user_by_subject(ctx, sub)
        scopes = requested_scopes(params)
        return GrantFacts(
            grant_type=self.grant_type,
            client=ctx.client,
            sub=user.subject if user is not None else sub,
            scopes=scopes,
            audience=requested_audience(params, ctx.client),
            user=user,
            issue_id_token="openid" in scopes,
        )

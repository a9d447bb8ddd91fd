"""Issuance: RFC 6749 §5.1 (the access token response), RFC 9068 (``at+jwt`` access tokens),
OIDC Core §2 and §3.1.3.6 (the ID token, ``at_hash``/``c_hash``), §3.2.2.5 and §3.3.2.5
(tokens from the authorization endpoint): the tokens a grant's facts call for, minted,
signed, stored and journaled.

The one path shared by the token endpoint and the implicit and
hybrid responses: claims pipeline (`mockidp.tokens.claims`) → scripted shaping → signer, then
the stored records (refresh tokens, opaque access tokens, the refresh family's token ids).
"""

from __future__ import annotations

from typing import Any

from mockidp.core import blocking
from mockidp.core.model import GrantFacts
from mockidp.core.records import RefreshRecord, new_handle
from mockidp.profiles import IssuerView
from mockidp.profiles.catalog import make_bad_token
from mockidp.protocol.exchange import Call, Exchanges
from mockidp.protocol.issuer import Issuer
from mockidp.tokens.claims import ClaimLayer, access_token_claims, id_token_claims
from mockidp.tokens.keys import SigningKey
from mockidp.tokens.signer import sign

ISSUED_KINDS = frozenset({"access_token", "id_token"})  # what token rules shape here


def claim_template(call: Call, issuer_url: str, sub: str | None, client_id: str,
                   scopes: tuple[str, ...], now: int) -> dict[str, Any]:
    """Values for ``{name}`` claim templates: request parameters, then the known facts."""
    return {
        **call.req.params.single(),
        "sub": sub, "client_id": client_id, "scope": " ".join(scopes),
        "issuer": issuer_url, "now": now, "user": call.user,
        "grant_type": call.grant_type,
    }


class Issuance:
    """Mints the tokens of one response.  Takes the exchange plumbing (rules, clock)."""

    def __init__(self, exchanges: Exchanges) -> None:
        self.exchanges = exchanges
        self.clock = exchanges.clock

    def token_string(self, issuer: Issuer, claims: dict[str, Any], key: SigningKey,
                     bad_kind: str | None, now: int, token_format: str = "jwt",
                     view: IssuerView | None = None) -> str:
        """Sign ``claims`` (an access token in ``token_format``: ``jwt``, RFC 9068 ``at+jwt``
        or an ``opaque`` reference), or make the scripted bad token instead."""
        if bad_kind is None:
            if token_format == "opaque":
                handle = new_handle()
                exp = claims.get("exp")
                expires = float(exp) if isinstance(exp, (int, float)) else now + 86400.0
                issuer.store.put_opaque(handle, dict(claims), expires, self.clock.now())
                return handle
            return sign(claims, key, "at+jwt" if token_format == "at+jwt" else "JWT")
        token = make_bad_token(bad_kind, claims, key, issuer.keys, now,
                               view or issuer.view(""))
        if bad_kind == "revoked" and isinstance(claims.get("jti"), str):
            issuer.store.revoke_jti(claims["jti"], float(claims.get("exp", now + 3600)), now)
        return token

    def issue(self, call: Call, issuer: Issuer, issuer_url: str, facts: GrantFacts,
              now: float) -> dict[str, Any]:
        """The token response ``facts`` call for (RFC 6749 §5.1): access token, refresh
        token, ID token (with ``at_hash`` when an access token comes with it and ``c_hash``
        for ``facts.code``), each journaled on ``call``."""
        client = facts.client
        view = self.exchanges.view(issuer, call.req.base_url)
        profile = issuer.profile
        key = issuer.keys.active(client.signing_alg or issuer.settings.signing_alg)
        shaping = self.exchanges.shape(call, facts.scopes, lambda: claim_template(
            call, issuer_url, facts.sub, client.id, facts.scopes, int(now)), ISSUED_KINDS)
        seconds = int(now + shaping.skew)
        bad = shaping.bad_token
        response: dict[str, Any] = {}
        access_token: str | None = None
        if facts.session_id is not None:
            issuer.store.note_session_client(facts.session_id, client.id, now)
        family = facts.refresh_family or (new_handle() if facts.issue_refresh_token else None)
        if facts.issue_access_token:  # not for response_type=id_token (OIDC Core §3.2.2.5)
            access_token = self._access_token(
                call, issuer, issuer_url, facts, key, seconds, now, family, response,
                shaping.for_token("access_token"),
                bad.kind if bad is not None and bad.token == "access_token" else None, view)
        if facts.issue_refresh_token and family is not None:
            response["refresh_token"] = self._refresh_token(issuer, facts, now, family, view,
                                                            key)
        if facts.issue_id_token:
            lifetimes = issuer.settings.lifetimes
            id_key = issuer.keys.active(
                client.id_token_signed_response_alg or client.signing_alg
                or issuer.settings.signing_alg
            )
            id_claims = id_token_claims(
                issuer_url, facts, seconds, client.id_token_lifetime or lifetimes.id_token,
                id_key.alg, access_token=access_token, code=facts.code,
                layers=shaping.for_token("id_token"),
                profile_step=lambda claims, f: profile.id_claims(claims, f, view),
            )
            response["id_token"] = self.token_string(
                issuer, id_claims, id_key,
                bad.kind if bad is not None and bad.token == "id_token" else None, seconds,
                view=view,
            )
            call.note_token("id_token", id_claims, response["id_token"])
        profile.token_response(response, facts, view)
        if shaping.delay:
            blocking.sleep(shaping.delay)
        return response

    def _access_token(self, call: Call, issuer: Issuer, issuer_url: str, facts: GrantFacts,
                      key: SigningKey, seconds: int, now: float, family: str | None,
                      response: dict[str, Any], layers: tuple[ClaimLayer, ...],
                      bad_kind: str | None, view: IssuerView) -> str:
        """RFC 6749 §5.1 ``access_token``, ``token_type`` (RFC 9449 §5: ``DPoP`` when bound),
        ``expires_in`` and ``scope``; its ``jti`` joins the refresh family (RFC 6749 §10.5)."""
        client = facts.client
        lifetime = client.access_token_lifetime or issuer.settings.lifetimes.access_token
        claims = access_token_claims(
            issuer_url, facts, seconds, lifetime, layers,
            lambda claims, f: issuer.profile.access_claims(claims, f, view))
        token = self.token_string(
            issuer, claims, key, bad_kind, seconds,
            client.access_token_format or issuer.settings.access_token_format, view,
        )
        call.note_token("access_token", claims, token)
        exp = claims.get("exp")
        response.update({
            "access_token": token,
            "token_type": "DPoP" if facts.jkt is not None else "Bearer",
            "expires_in": int(exp - seconds) if isinstance(exp, int) else lifetime,
        })
        if facts.scopes:
            response["scope"] = " ".join(facts.scopes)
        jti = claims.get("jti")
        if family is not None and isinstance(jti, str):
            expires = float(exp) if isinstance(exp, int) else now + lifetime
            issuer.store.note_access_token(family, jti, expires, now)
        return token

    def _refresh_token(self, issuer: Issuer, facts: GrantFacts, now: float,
                       family: str, view: IssuerView, key: SigningKey) -> str:
        """RFC 6749 §6: a stored refresh token of ``family`` (reuse revokes the family), as
        the profile spells it (a handle, or Keycloak's JWT)."""
        client = facts.client
        lifetime = client.refresh_token_lifetime or issuer.settings.lifetimes.refresh_token
        refresh_token = issuer.profile.refresh_token(
            new_handle(), facts, view, int(now), lifetime,
            lambda claims, typ: sign(claims, key, typ))
        issuer.store.put_refresh(
            refresh_token,
            RefreshRecord(
                client_id=client.id,
                sub=facts.sub,
                user_id=facts.user.id if facts.user is not None else None,
                scopes=facts.scopes,
                audience=facts.audience,
                login_claims=facts.login_claims,
                auth_time=facts.auth_time,
                session_id=facts.session_id,
                nonce=facts.nonce,
                expires_at=now + lifetime,
                issued_at=now,
                family=family,
                # RFC 9449 §5: refresh tokens of public clients are bound to the DPoP key
                jkt=facts.jkt if client.secret is None else None,
                acr=facts.acr,
                claims_request=facts.claims_request,
            ),
            now,
        )
        return refresh_token

"""Direct minting: the claims pipeline run with no request at all (DESIGN "A request, end to
end", step 4 alone).  RFC 7519 §4.1 registered claims, RFC 9068 §2.2 access token claims.

`Provider.mint` and `mint_bad` sign what `mint_claims` builds; direct minting never fakes HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from mockidp.core.clock import seconds_arg
from mockidp.core.errors import MockIdPError
from mockidp.core.model import GrantFacts
from mockidp.core.settings import SIGNING_ALGS
from mockidp.protocol.issuer import Issuer
from mockidp.tokens.claims import ClaimLayer, access_token_claims


def mint_claims(
    issuers: Callable[[str], Issuer],
    base: str,
    now: float,
    sub: str,
    claims: Mapping[str, Any] | None,
    audience: str | Collection[str] | None,
    expires_in: int | None,
    issuer: str,
    client_id: str,
    scope: str | Collection[str] | None,
    alg: str | None,
    remove: Collection[str],
    skew: float,
) -> tuple[Issuer, dict[str, Any], str, int]:
    """The claims `Provider.mint` signs: the claims pipeline with no request at all (the
    user's claims by scope, or all of them without one; ``claims`` override, ``remove``
    deletes), shaped by the issuer's profile, dated by the provider clock ``now`` shifted by
    ``skew``; ``iss`` is the issuer's identifier under the base URL ``base``.  Returns the issuer,
    the claims, the algorithm and the ``iat``.  Bad arguments raise `MockIdPError` naming
    the argument."""
    check_mint_args(sub, claims, audience, issuer, client_id, scope, remove)
    target = issuers(issuer)
    overrides = dict(claims or {})
    if overrides:
        try:
            json.dumps(overrides, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise MockIdPError(f"mint: claims: expected JSON values ({exc})") from None
    alg = alg if alg is not None else target.settings.signing_alg
    if not isinstance(alg, str) or alg not in SIGNING_ALGS:
        raise MockIdPError(
            f"mint: alg: expected one of {', '.join(SIGNING_ALGS)}, got {alg!r}"
        )
    if expires_in is not None and (
        isinstance(expires_in, bool) or not isinstance(expires_in, int)
    ):
        raise MockIdPError(f"mint: expires_in: expected whole seconds, got {expires_in!r}")
    skew = seconds_arg(skew, "mint: skew")
    scopes = tuple(scope.split()) if isinstance(scope, str) else tuple(scope or ())
    auds = (audience,) if isinstance(audience, str) else tuple(audience or ())
    user = target.find_user(sub)
    facts = GrantFacts(
        grant_type="mint",
        client=target.client_or_adhoc(client_id),
        sub=user.subject if user is not None else sub,
        scopes=scopes,
        audience=auds,
        user=user,
    )
    if scope is None and user is not None:
        # No scope named: the user's claims all go in, as a test author expects.
        everything = {k: v for k, v in user.claims.items() if k != "sub"}
        overrides = {**everything, **overrides}
    iat = int(now + skew)
    lifetime = expires_in if expires_in is not None else target.settings.lifetimes.access_token
    view = target.view(base)
    body = access_token_claims(
        view.issuer_url,
        facts,
        iat,
        lifetime,
        [ClaimLayer(set=overrides, delete=tuple(remove))],
        lambda claims, f: target.profile.access_claims(claims, f, view),
    )
    return target, body, alg, iat

def _strings(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value)
    )


def check_mint_args(sub: Any, claims: Any, audience: Any, issuer: Any, client_id: Any,
                     scope: Any, remove: Any) -> None:
    """`mint` arguments arrive from JSON too: name the bad one."""
    if not isinstance(sub, str) or not sub:
        raise MockIdPError(f"mint: sub: expected a non-empty string, got {sub!r}")
    if claims is not None and not isinstance(claims, Mapping):
        raise MockIdPError(f"mint: claims: expected an object of claims, got {claims!r}")
    if audience is not None and not _strings(audience):
        raise MockIdPError(f"mint: audience: expected a string or a list of strings, "
                           f"got {audience!r}")
    if scope is not None and not _strings(scope):
        raise MockIdPError(f"mint: scope: expected a string or a list of strings, got {scope!r}")
    if isinstance(remove, str) or not _strings(remove):
        raise MockIdPError(f"mint: remove: expected a list of claim names, got {remove!r}")
    for name, value in (("issuer", issuer), ("client_id", client_id)):
        if not isinstance(value, str) or not value:
            raise MockIdPError(f"mint: {name}: expected a non-empty string, got {value!r}")

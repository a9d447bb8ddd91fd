"""The claims pipeline's precedence, written down once in mockidp/claims.py and tested here."""

from __future__ import annotations

import jwt

from mockidp import MockIdP
from mockidp.core.model import (
    Client,
    GrantFacts,
    User,
)
from mockidp.tokens.claims import (
    ClaimLayer,
    access_token_claims,
    id_token_claims,
    user_claims,
)

CLIENT = Client(id="app", claims={"tier": "client", "shared": "from-client"})
USER = User(id="u1", claims={"sub": "subject-1", "shared": "from-user", "email": "u@x",
                             "name": "U"})


def facts(**kwargs: object) -> GrantFacts:
    base: dict = {"grant_type": "test", "client": CLIENT, "sub": "subject-1",
                  "scopes": ("openid", "email"), "audience": (), "user": USER}
    base.update(kwargs)
    return GrantFacts(**base)


def test_order_registered_facts_client_user_layers_time() -> None:
    claims = access_token_claims("http://i/x", facts(), now=1000, lifetime=60)
    assert claims["iss"] == "http://i/x" and claims["sub"] == "subject-1"
    assert claims["aud"] == "app" and claims["client_id"] == "app"
    assert claims["tier"] == "client"
    assert claims["shared"] == "from-user"          # user claims come after client claims
    assert claims["email"] == "u@x"                 # allowed by the email scope
    assert "name" not in claims                     # profile scope not granted
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (1000, 1000, 1060)


def test_login_claims_override_configured_user_claims() -> None:
    claims = access_token_claims("http://i/x", facts(login_claims={"shared": "typed"}), 0, 1)
    assert claims["shared"] == "typed"


def test_configured_claims_cannot_touch_protected_ones() -> None:
    sneaky_client = Client(id="app", claims={"iss": "evil", "exp": 1, "aud": "x"})
    sneaky_user = User(id="u", claims={"iss": "evil", "scope": "admin"})
    claims = access_token_claims("http://i/x", facts(client=sneaky_client, user=sneaky_user),
                                 now=10, lifetime=5)
    assert claims["iss"] == "http://i/x" and claims["exp"] == 15 and claims["aud"] == "app"
    assert claims["scope"] == "openid email"


def test_layers_override_anything_in_order_and_can_delete() -> None:
    layers = [ClaimLayer(set={"iss": "rule", "x": 1}),
              ClaimLayer(set={"x": 2, "exp": 5}, delete=("nbf", "email"))]
    claims = access_token_claims("http://i/x", facts(), now=100, lifetime=60, layers=layers)
    assert claims["iss"] == "rule" and claims["x"] == 2
    assert claims["exp"] == 5                       # a layer's exp is not overwritten by time
    assert "nbf" not in claims and "email" not in claims
    assert claims["iat"] == 100


def test_id_token_claims() -> None:
    claims = id_token_claims("http://i/x", facts(nonce="n", auth_time=7), now=10, lifetime=20,
                             alg="RS256", access_token="abc", code="c0de")
    assert claims["aud"] == "app" and claims["azp"] == "app" and claims["nonce"] == "n"
    assert claims["auth_time"] == 7 and claims["exp"] == 30
    assert claims["at_hash"] == "ungWv48Bz-pBQUDeXa4iIw"  # left half of SHA-256("abc")
    assert "c_hash" in claims


def test_scope_filtering_of_user_claims() -> None:
    assert user_claims(USER, {}, ()) == {"shared": "from-user"}
    assert user_claims(USER, {}, ("profile",)) == {"shared": "from-user", "name": "U"}


def test_mint_per_call_overrides_win_and_remove_deletes() -> None:
    idp = MockIdP({"users": {"alice": {"claims": {"role": "user"}}}})
    token = idp.mint("alice", {"role": "admin", "iss": "https://elsewhere"}, remove=["nbf"],
                     audience=["a", "b"], expires_in=-5)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["role"] == "admin" and claims["iss"] == "https://elsewhere"
    assert "nbf" not in claims and claims["aud"] == ["a", "b"]
    assert claims["exp"] == claims["iat"] - 5


def test_user_with_own_sub_claim() -> None:
    idp = MockIdP({"users": {"alice": {"claims": {"sub": "0001-uuid"}}}})
    claims = jwt.decode(idp.mint("alice"), options={"verify_signature": False})
    assert claims["sub"] == "0001-uuid"

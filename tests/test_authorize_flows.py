"""The authorization endpoint's breadth, driven by real clients where one exists:

- implicit and hybrid flows (RFC 6749 §4.2, OIDC Core §3.2, §3.3): Authlib reads the fragment
  and validates the ID tokens with `ImplicitIDToken` / `HybridIDToken` (nonce, at_hash,
  c_hash); openid-client (npm) runs the id_token and code id_token flows;
- ``max_age``, ``acr_values``, the ``claims`` parameter (OIDC Core §3.1.2.1, §5.5);
- the PKCE and nonce policy of issuers and clients (RFC 7636, OIDC Core §3.1.2.1);
- pushed authorization requests (RFC 9126), with openid-client's
  ``buildAuthorizationUrlWithPAR``.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import HybridIDToken, ImplicitIDToken
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt as jose_jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet
from jwt.algorithms import ECAlgorithm

from mockidp import MockIdP

from .conftest import REDIRECT, authorize, fragment_of, query_of, run_node

WEB = ("web-app", "web-secret")
SPA_REDIRECT = "http://localhost:5173/callback"
BASE = {"client_id": "web-app", "redirect_uri": REDIRECT}
PAR_URN = "urn:ietf:params:oauth:request_uri:"


# -- helpers --------------------------------------------------------------------------------------

def metadata(idp: MockIdP, issuer: str = "default") -> dict[str, Any]:
    response = requests.get(f"{idp.issuer_url(issuer)}/.well-known/openid-configuration")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


def session(scope: str = "openid profile email", **kwargs: Any) -> OAuth2Session:
    """Authlib's client for ``web-app``."""
    return OAuth2Session(*WEB, scope=scope, redirect_uri=REDIRECT, **kwargs)


def follow(url: str, http: requests.Session | None = None) -> str:
    """The browser's part: the authorization endpoint's redirect Location."""
    response = (http or requests).get(url, allow_redirects=False)
    assert response.status_code == 302, response.text
    location: str = response.headers["Location"]
    return location


def validated(idp: MockIdP, id_token: str, cls: type[ImplicitIDToken], **params: str
              ) -> ImplicitIDToken:
    """Validate an ID token from the authorization endpoint the way Authlib does: signature
    against the JWKS over HTTP, then ``cls`` (nonce, aud, iss, at_hash, c_hash)."""
    doc = metadata(idp)
    decoded = jose_jwt.decode(id_token, KeySet.import_key_set(requests.get(doc["jwks_uri"]).json()),
                              algorithms=doc["id_token_signing_alg_values_supported"])
    claims = cls(
        decoded.claims, decoded.header,
        {"iss": {"essential": True, "value": doc["issuer"]},
         "aud": {"essential": True, "value": "web-app"}},
        {"client_id": "web-app", **params},
    )
    claims.validate()
    return claims


def verified(idp: MockIdP, token: str, audience: str = "web-app") -> dict[str, Any]:
    """What a resource server does: the key from the JWKS over HTTP, then PyJWT's checks."""
    key = jwt.PyJWKClient(f"{idp.issuer_url()}/jwks").get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=["RS256"], audience=audience,
                                        issuer=idp.issuer_url())
    return claims


def unverified(token: str) -> dict[str, Any]:
    """Claims without checks (for tests that move the provider clock ahead of ours)."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def redeem(idp: MockIdP, code: str, redirect_uri: str = REDIRECT, auth: Any = WEB,
           **data: str) -> requests.Response:
    return requests.post(f"{idp.issuer_url()}/token", auth=auth,
                         data={"grant_type": "authorization_code", "code": code,
                               "redirect_uri": redirect_uri, **data})


def userinfo(idp: MockIdP, access_token: str) -> requests.Response:
    return requests.get(f"{idp.issuer_url()}/userinfo",
                        headers={"Authorization": f"Bearer {access_token}"})


def push(idp: MockIdP, auth: Any = WEB, **data: str) -> requests.Response:
    return requests.post(f"{idp.issuer_url()}/par", auth=auth, data=data)


def error_of(response: requests.Response) -> tuple[str, dict[str, str]]:
    """Where an error redirect put its fields (``query`` or ``fragment``), and the fields."""
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    parts = urlsplit(location)
    if parts.fragment:
        assert "error=" not in parts.query
        return "fragment", fragment_of(location)
    return "query", query_of(location)


# -- implicit and hybrid flows --------------------------------------------------------------------

def test_authlib_implicit_token_flow(mockidp: MockIdP) -> None:
    doc = metadata(mockidp)
    with session(scope="profile") as client:
        url, state = client.create_authorization_url(doc["authorization_endpoint"],
                                                     response_type="token", login_hint="alice")
        location = follow(url)
        assert urlsplit(location).query == ""  # tokens never travel in the query
        token = client.token_from_fragment(location, state=state)
        assert token["token_type"] == "Bearer" and token["state"] == state
        assert int(token["expires_in"]) == 300  # fixtures/config.toml access_token_lifetime
        assert token["scope"] == "profile"
        assert "refresh_token" not in token and "id_token" not in token
        assert fragment_of(location)["iss"] == mockidp.issuer_url()  # RFC 9207
        claims = verified(mockidp, token["access_token"])
        assert claims["sub"] == "alice" and claims["client_id"] == "web-app"
        assert claims["name"] == "Alice Admin"
        info = client.get(doc["userinfo_endpoint"])
        assert info.status_code == 200 and info.json()["name"] == "Alice Admin"
    exchange = mockidp.calls(endpoint="authorize")[-1]
    assert exchange.grant_type == "implicit" and exchange.user == "alice"
    assert exchange.tokens["access_token"]["jti"] == claims["jti"]
    assert "id_token" not in exchange.tokens


def test_authlib_validates_id_token_token_with_nonce_and_at_hash(mockidp: MockIdP) -> None:
    with session() as client:
        url, state = client.create_authorization_url(
            metadata(mockidp)["authorization_endpoint"], response_type="id_token token",
            nonce="n-implicit", login_hint="alice")
        token = client.token_from_fragment(follow(url), state=state)
    claims = validated(mockidp, token["id_token"], ImplicitIDToken, nonce="n-implicit",
                       access_token=token["access_token"])
    assert claims["sub"] == "alice" and claims["nonce"] == "n-implicit"
    assert "at_hash" in claims and "c_hash" not in claims
    assert isinstance(claims["auth_time"], int)
    with pytest.raises(InvalidClaimError, match="at_hash"):
        validated(mockidp, token["id_token"], ImplicitIDToken, nonce="n-implicit",
                  access_token=token["access_token"] + "x")
    assert verified(mockidp, token["access_token"])["sub"] == "alice"


def test_id_token_alone_has_the_scope_claims_and_no_hashes(mockidp: MockIdP) -> None:
    response = authorize(mockidp, **BASE, response_type="id_token", scope="openid email",
                         nonce="n-1", state="s-1", login_hint="alice")
    fields = fragment_of(response.headers["Location"])
    assert set(fields) == {"id_token", "state", "iss"}  # no access token, no token_type
    claims = validated(mockidp, fields["id_token"], ImplicitIDToken, nonce="n-1")
    assert claims["email"] == "alice@example.com" and "name" not in claims
    assert "at_hash" not in claims and "c_hash" not in claims
    assert set(mockidp.calls(endpoint="authorize")[-1].tokens) == {"id_token"}


@pytest.mark.parametrize("response_type", [
    "code id_token", "code token", "code id_token token",
    "id_token code", "token id_token code",  # the order of the words does not matter
])
def test_hybrid_flows_with_authlib(mockidp: MockIdP, response_type: str) -> None:
    words = response_type.split()
    doc = metadata(mockidp)
    with session() as client:
        url, state = client.create_authorization_url(
            doc["authorization_endpoint"], response_type=response_type, nonce="n-hybrid",
            login_hint="bob")
        front = fragment_of(follow(url))
        assert front["state"] == state and front["code"]
        assert ("access_token" in front) == ("token" in words)
        assert ("id_token" in front) == ("id_token" in words)
        assert "refresh_token" not in front
        if "id_token" in words:
            params = {"code": front["code"], "nonce": "n-hybrid"}
            if "access_token" in front:
                params["access_token"] = front["access_token"]
            claims = validated(mockidp, front["id_token"], HybridIDToken, **params)
            assert "c_hash" in claims and ("at_hash" in claims) == ("token" in words)
            with pytest.raises(InvalidClaimError, match="c_hash"):
                validated(mockidp, front["id_token"], HybridIDToken,
                          **{**params, "code": front["code"] + "x"})
        if "access_token" in front:
            assert front["token_type"] == "Bearer" and int(front["expires_in"]) == 300
            assert userinfo(mockidp, front["access_token"]).json()["sub"] == "bob"
        # the code is redeemed at the token endpoint as usual
        back = client.fetch_token(doc["token_endpoint"], code=front["code"])
    assert back["refresh_token"] and back["access_token"] != front.get("access_token")
    back_claims = verified(mockidp, back["id_token"])
    assert back_claims["sub"] == "bob" and back_claims["nonce"] == "n-hybrid"
    assert "c_hash" not in back_claims


def test_openid_client_implicit_and_hybrid_flows(mockidp: MockIdP) -> None:
    # openid-client validates discovery, state, iss, the ID token signature, aud, nonce,
    # auth_time against max_age (implicit) and c_hash (hybrid), then redeems the code.
    result = run_node("implicit_flows.mjs", mockidp.issuer_url(), *WEB, REDIRECT, "alice")
    implicit, hybrid = result["implicit"], result["hybrid"]
    assert implicit["response_type"] == "id_token"
    assert implicit["fragment_keys"] == ["id_token", "state", "iss"]
    assert implicit["claims"]["sub"] == "alice"
    assert implicit["claims"]["email"] == "alice@example.com"
    assert hybrid["response_type"] == "code id_token"
    assert hybrid["fragment_keys"] == ["code", "id_token", "state", "iss"]
    assert hybrid["claims"]["name"] == "Alice Admin" and hybrid["token_type"] == "bearer"


def test_form_post_carries_implicit_tokens(mockidp: MockIdP) -> None:
    response = authorize(mockidp, **BASE, response_type="id_token token", scope="openid",
                         nonce="n", state="st", response_mode="form_post", login_hint="alice")
    assert response.status_code == 200
    page = response.text
    assert f'action="{REDIRECT}"' in page
    for name in ("access_token", "token_type", "expires_in", "id_token", "state", "iss"):
        assert f'name="{name}"' in page, name


def test_hybrid_code_replay_revokes_the_front_channel_access_token(mockidp: MockIdP) -> None:
    response = authorize(mockidp, **BASE, response_type="code token", login_hint="alice")
    front = fragment_of(response.headers["Location"])
    assert userinfo(mockidp, front["access_token"]).status_code == 200
    assert redeem(mockidp, front["code"]).status_code == 200
    replay = redeem(mockidp, front["code"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: tokens issued from a replayed code are revoked, the front channel's too
    assert userinfo(mockidp, front["access_token"]).status_code == 401


def test_rules_shape_implicit_tokens_and_the_journal_keeps_them(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="authorize", claims={"id_token": {"set": {"tier": "gold"}},
                                                   "access_token": {"set": {"tier": "silver"}}})
    mockidp.add_rule(endpoint="authorize", bad_token="expired")
    response = authorize(mockidp, **BASE, response_type="id_token token", scope="openid",
                         nonce="n", login_hint="alice")
    front = fragment_of(response.headers["Location"])
    assert verified(mockidp, front["id_token"])["tier"] == "gold"
    with pytest.raises(jwt.ExpiredSignatureError):
        verified(mockidp, front["access_token"])
    assert unverified(front["access_token"])["tier"] == "silver"
    tokens = mockidp.calls(endpoint="authorize")[-1].tokens
    assert tokens["id_token"]["tier"] == "gold" and tokens["access_token"]["tier"] == "silver"
    # the token endpoint is not touched by rules for the authorization endpoint
    code = query_of(authorize(mockidp, **BASE, response_type="code",
                              login_hint="alice").headers["Location"])["code"]
    assert "tier" not in verified(mockidp, redeem(mockidp, code).json()["access_token"])


def test_client_grant_types_gate_the_implicit_grant(mockidp: MockIdP) -> None:
    mockidp.add_client("code-only", "s", redirect_uris=[REDIRECT],
                       grant_types=["authorization_code"])
    mockidp.add_client("implicit-only", "s", redirect_uris=[REDIRECT], grant_types=["implicit"])
    denied = authorize(mockidp, client_id="code-only", response_type="token",
                       login_hint="alice")
    where, fields = error_of(denied)
    assert (where, fields["error"]) == ("fragment", "unauthorized_client")
    allowed = authorize(mockidp, client_id="implicit-only", response_type="token",
                        login_hint="alice")
    assert fragment_of(allowed.headers["Location"])["access_token"]
    hybrid = authorize(mockidp, client_id="implicit-only", response_type="code token",
                       login_hint="alice")
    assert error_of(hybrid)[1]["error"] == "unauthorized_client"


@pytest.mark.parametrize("params, error, where", [
    ({"response_type": "token", "response_mode": "query"}, "invalid_request", "fragment"),
    ({"response_type": "code id_token", "response_mode": "query", "nonce": "n"},
     "invalid_request", "fragment"),
    ({"response_type": "id_token"}, "invalid_request", "fragment"),          # no nonce
    ({"response_type": "code id_token token"}, "invalid_request", "fragment"),  # no nonce
    ({"response_type": "id_token", "nonce": "n", "scope": "email"}, "invalid_request",
     "fragment"),                                                            # no openid
    ({"response_type": "code code"}, "unsupported_response_type", "query"),
    ({"response_type": "code device"}, "unsupported_response_type", "query"),
    ({"response_type": "code", "claims": "{not json"}, "invalid_request", "query"),
    ({"response_type": "code", "claims": "[1]"}, "invalid_request", "query"),
    ({"response_type": "code", "claims": '{"id_token": ["email"]}'}, "invalid_request",
     "query"),
    ({"response_type": "code", "claims": '{"userinfo": {"email": {"essential": "yes"}}}'},
     "invalid_request", "query"),
    ({"response_type": "code", "claims": '{"id_token": {"acr": {"values": "x"}}}'},
     "invalid_request", "query"),
    ({"response_type": "code", "claims": "[" * 3000}, "invalid_request", "query"),
    ({"response_type": "code", "max_age": "-1"}, "invalid_request", "query"),
    ({"response_type": "code", "max_age": "soon"}, "invalid_request", "query"),
    ({"response_type": "code", "request": "eyJhbGciOiJub25lIn0.e30."},
     "request_not_supported", "query"),
    ({"response_type": "code", "request_uri": "https://client.example/request.jwt"},
     "invalid_request_uri", "query"),
])
def test_request_errors_go_back_with_the_exact_code(mockidp: MockIdP, params: dict[str, str],
                                                    error: str, where: str) -> None:
    query = {**BASE, "scope": "openid", "state": "s", "login_hint": "alice", **params}
    response = authorize(mockidp, **query)
    got_where, fields = error_of(response)
    assert fields["error"] == error, fields
    assert got_where == where
    assert fields["state"] == "s" and fields["error_description"]
    assert fields["iss"] == mockidp.issuer_url()


# -- max_age, acr_values, claims, ignored parameters ----------------------------------------------

def test_max_age_forces_a_fresh_login(mockidp: MockIdP, http: requests.Session) -> None:
    first = authorize(mockidp, session=http, **BASE, response_type="code", scope="openid",
                      login_hint="alice")
    logged_in_at = unverified(redeem(mockidp, query_of(first.headers["Location"])["code"]
                                     ).json()["id_token"])["auth_time"]
    mockidp.set_clock(advance=120)
    # the session is two minutes old: too old for max_age=60
    silent = authorize(mockidp, session=http, **BASE, response_type="code", scope="openid",
                       prompt="none", max_age="60", state="q")
    where, fields = error_of(silent)
    assert (where, fields["error"], fields["state"]) == ("query", "login_required", "q")
    assert "max_age" in fields["error_description"]
    assert authorize(mockidp, session=http, **BASE, response_type="code", prompt="none",
                     max_age="0").headers["Location"].count("error=login_required") == 1
    page = authorize(mockidp, session=http, **BASE, response_type="code", max_age="60")
    assert page.status_code == 200 and 'name="username"' in page.text
    # young enough for max_age=600: single sign-on, and the ID token says when the login was
    reused = authorize(mockidp, session=http, **BASE, response_type="code", scope="openid",
                       prompt="none", max_age="600")
    claims = unverified(redeem(mockidp, query_of(reused.headers["Location"])["code"]
                               ).json()["id_token"])
    assert claims["auth_time"] == logged_in_at
    # login_hint under a too-short max_age logs in again at once: a new auth_time
    again = authorize(mockidp, session=http, **BASE, response_type="id_token", scope="openid",
                      nonce="n", max_age="60", login_hint="alice")
    fresh = unverified(fragment_of(again.headers["Location"])["id_token"])
    assert fresh["auth_time"] >= logged_in_at + 120


def test_acr_values_first_value_in_both_tokens_and_after_refresh(mockidp: MockIdP) -> None:
    response = authorize(mockidp, **BASE, response_type="code", scope="openid",
                         acr_values="urn:acr:gold urn:acr:silver", login_hint="alice")
    tokens = redeem(mockidp, query_of(response.headers["Location"])["code"]).json()
    assert verified(mockidp, tokens["id_token"])["acr"] == "urn:acr:gold"
    assert verified(mockidp, tokens["access_token"])["acr"] == "urn:acr:gold"
    refreshed = requests.post(f"{mockidp.issuer_url()}/token", auth=WEB, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).json()
    assert verified(mockidp, refreshed["id_token"])["acr"] == "urn:acr:gold"
    implicit = authorize(mockidp, **BASE, response_type="id_token token", scope="openid",
                         nonce="n", acr_values="urn:acr:bronze", login_hint="alice")
    front = fragment_of(implicit.headers["Location"])
    assert verified(mockidp, front["id_token"])["acr"] == "urn:acr:bronze"
    assert verified(mockidp, front["access_token"])["acr"] == "urn:acr:bronze"
    # the claims parameter can ask for an acr too (OIDC Core §5.5.1.1)
    asked = authorize(mockidp, **BASE, response_type="id_token", scope="openid", nonce="n",
                      login_hint="alice", claims=json.dumps(
                          {"id_token": {"acr": {"essential": True, "values": ["urn:acr:2fa"]}}}))
    assert verified(mockidp, fragment_of(asked.headers["Location"])["id_token"]
                    )["acr"] == "urn:acr:2fa"
    plain = authorize(mockidp, **BASE, response_type="id_token", scope="openid", nonce="n",
                      login_hint="alice")
    assert "acr" not in verified(mockidp, fragment_of(plain.headers["Location"])["id_token"])


def test_claims_parameter_adds_requested_claims_to_each_answer(mockidp: MockIdP) -> None:
    claims = {"id_token": {"email": {"essential": True}, "not_held": None},
              "userinfo": {"name": None, "phone_number": {"essential": False},
                           "email_verified": {"value": True}}}
    response = authorize(mockidp, **BASE, response_type="code", scope="openid",
                         login_hint="alice", claims=json.dumps(claims))
    tokens = redeem(mockidp, query_of(response.headers["Location"])["code"]).json()
    id_claims = verified(mockidp, tokens["id_token"])
    assert id_claims["email"] == "alice@example.com"  # asked of the ID token, no email scope
    assert "name" not in id_claims and "not_held" not in id_claims
    info = userinfo(mockidp, tokens["access_token"]).json()
    assert info["sub"] == "alice" and info["name"] == "Alice Admin"
    assert info["email_verified"] is True
    assert "email" not in info and "phone_number" not in info  # not asked / not held
    # the refresh token remembers the request
    refreshed = requests.post(f"{mockidp.issuer_url()}/token", auth=WEB, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).json()
    assert verified(mockidp, refreshed["id_token"])["email"] == "alice@example.com"
    assert userinfo(mockidp, refreshed["access_token"]).json()["name"] == "Alice Admin"
    # and the implicit flow honours it as well
    implicit = authorize(mockidp, **BASE, response_type="id_token", scope="openid", nonce="n",
                         login_hint="bob", claims=json.dumps({"id_token": {"name": None}}))
    assert verified(mockidp, fragment_of(implicit.headers["Location"])["id_token"]
                    )["name"] == "Bob Builder"


def test_locales_and_display_are_accepted_and_ignored(mockidp: MockIdP) -> None:
    response = authorize(mockidp, **BASE, response_type="code", login_hint="alice",
                         ui_locales="fr-CA fr en", claims_locales="de", display="popup")
    assert query_of(response.headers["Location"])["code"]


# -- PKCE and nonce policy ------------------------------------------------------------------------

def code_request(idp: MockIdP, client_id: str = "web-app", **params: str) -> dict[str, str]:
    """The fields of the authorization endpoint's redirect for a code request."""
    response = authorize(idp, client_id=client_id, redirect_uri=REDIRECT, response_type="code",
                         login_hint="alice", state="s", **params)
    assert response.status_code == 302, response.text
    return query_of(response.headers["Location"])


def test_require_pkce_issuer_wide_with_client_override() -> None:
    config = {"require_pkce": True, "clients": {"legacy": {"secret": "s", "require_pkce": False}}}
    with MockIdP(config) as idp:
        refused = code_request(idp, "anyone")
        assert refused["error"] == "invalid_request" and "PKCE" in refused["error_description"]
        assert code_request(idp, "anyone", code_challenge="a" * 43,
                            code_challenge_method="S256")["code"]
        assert code_request(idp, "legacy")["code"]
        # PKCE is about codes: a token-only response needs none
        token = authorize(idp, client_id="anyone", redirect_uri=REDIRECT, response_type="token",
                          login_hint="alice")
        assert fragment_of(token.headers["Location"])["access_token"]


def test_strict_issuer_implies_require_pkce() -> None:
    config = {"strict": True, "clients": {"c": {"secret": "s", "redirect_uris": [REDIRECT]}}}
    with MockIdP(config) as idp:
        assert code_request(idp, "c")["error"] == "invalid_request"
        assert code_request(idp, "c", code_challenge="a" * 43, code_challenge_method="S256",
                            )["code"]


def test_pkce_methods_refuse_plain_issuer_wide_and_per_client() -> None:
    config = {"pkce_methods": ["S256"],
              "clients": {"old": {"secret": "s", "pkce_methods": ["plain", "S256"]}}}
    with MockIdP(config) as idp:
        assert metadata(idp)["code_challenge_methods_supported"] == ["S256"]
        for method in ("plain", None):  # no method means plain (RFC 7636 §4.3)
            extra = {"code_challenge_method": method} if method else {}
            refused = code_request(idp, "new", code_challenge="a" * 43, **extra)
            assert refused["error"] == "invalid_request"
            assert "'plain' is not allowed" in refused["error_description"]
        assert code_request(idp, "new", code_challenge="a" * 43,
                            code_challenge_method="S256")["code"]
        assert code_request(idp, "old", code_challenge="a" * 43,
                            code_challenge_method="plain")["code"]


def test_client_pkce_methods_override_the_issuer(mockidp: MockIdP) -> None:
    mockidp.add_client("s256-only", "s", redirect_uris=[REDIRECT], pkce_methods=["S256"])
    refused = code_request(mockidp, "s256-only", code_challenge="a" * 43,
                           code_challenge_method="plain")
    assert refused["error"] == "invalid_request"
    assert code_request(mockidp, "web-app", code_challenge="a" * 43,
                        code_challenge_method="plain")["code"]


def test_require_nonce_for_openid_requests() -> None:
    config = {"require_nonce": True, "clients": {"lax": {"secret": "s", "require_nonce": False}}}
    with MockIdP(config) as idp:
        refused = code_request(idp, "anyone", scope="openid")
        assert refused["error"] == "invalid_request" and "nonce" in refused["error_description"]
        assert code_request(idp, "anyone", scope="openid", nonce="n")["code"]
        assert code_request(idp, "anyone", scope="profile")["code"]  # not an OpenID request
        assert code_request(idp, "lax", scope="openid")["code"]


def test_client_require_nonce(mockidp: MockIdP) -> None:
    mockidp.add_client("careful", "s", redirect_uris=[REDIRECT], require_nonce=True)
    assert code_request(mockidp, "careful", scope="openid")["error"] == "invalid_request"
    assert code_request(mockidp, "web-app", scope="openid")["code"]


# -- pushed authorization requests (RFC 9126) -----------------------------------------------------

def test_openid_client_pushed_authorization_request(mockidp: MockIdP) -> None:
    result = run_node("par_code_flow.mjs", mockidp.issuer_url(), *WEB, REDIRECT, "alice")
    # the browser carries nothing but the client id and the request_uri
    assert set(result["authorize_params"]) == {"client_id", "request_uri"}
    assert result["authorize_params"]["request_uri"].startswith(PAR_URN)
    assert result["claims"]["sub"] == "alice"
    assert result["userinfo"]["email"] == "alice@example.com"
    pushed = mockidp.calls(endpoint="par")
    assert len(pushed) == 1 and pushed[0].status == 201 and pushed[0].client_id == "web-app"


def test_par_answers_201_and_authorize_uses_the_pushed_request(mockidp: MockIdP) -> None:
    response = requests.post(f"{mockidp.issuer_url()}/par", data={
        **BASE, "client_secret": "web-secret", "response_type": "code", "scope": "openid",
        "state": "pushed-state", "nonce": "pushed-nonce", "login_hint": "bob"})
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert "no-store" in response.headers["Cache-Control"]
    body = response.json()
    assert set(body) == {"request_uri", "expires_in"} and body["expires_in"] == 60
    assert body["request_uri"].startswith(PAR_URN)
    answer = authorize(mockidp, client_id="web-app", request_uri=body["request_uri"])
    fields = query_of(answer.headers["Location"])
    assert answer.headers["Location"].startswith(REDIRECT + "?")
    assert fields["state"] == "pushed-state" and fields["iss"] == mockidp.issuer_url()
    tokens = redeem(mockidp, fields["code"]).json()
    claims = verified(mockidp, tokens["id_token"])
    assert claims["sub"] == "bob" and claims["nonce"] == "pushed-nonce"
    # the journal shows the pushed request, never the client's secret
    par, auth = mockidp.calls(endpoint="par")[-1], mockidp.calls(endpoint="authorize")[-1]
    assert "web-secret" not in json.dumps(par.as_dict())
    assert auth.params["nonce"] == "pushed-nonce"
    assert auth.params["request_uri"] == body["request_uri"]


def test_par_accepts_private_key_jwt_addressed_to_the_par_endpoint() -> None:
    # RFC 9126 §2: the client authenticates as at the token endpoint; the PAR endpoint URL is
    # an acceptable audience for its assertion.
    key = ec.generate_private_key(ec.SECP256R1())
    public = {**json.loads(ECAlgorithm.to_jwk(key.public_key())), "kid": "k1", "alg": "ES256"}
    config = {"clients": {"signed": {"redirect_uris": [REDIRECT], "jwks": {"keys": [public]},
                                     "token_endpoint_auth_method": "private_key_jwt"}}}
    with MockIdP(config) as idp:
        now = int(time.time())
        assertion = jwt.encode(
            {"iss": "signed", "sub": "signed", "aud": f"{idp.issuer_url()}/par",
             "iat": now, "exp": now + 60, "jti": secrets.token_urlsafe(8)},
            key, algorithm="ES256", headers={"kid": "k1"})
        pushed = requests.post(f"{idp.issuer_url()}/par", data={
            "client_id": "signed", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "response_type": "code", "redirect_uri": REDIRECT, "login_hint": "alice"})
        assert pushed.status_code == 201, pushed.text
        answer = authorize(idp, client_id="signed", request_uri=pushed.json()["request_uri"])
        assert query_of(answer.headers["Location"])["code"]
        unsigned = requests.post(f"{idp.issuer_url()}/par", data={
            "client_id": "signed", "response_type": "code", "redirect_uri": REDIRECT})
        assert unsigned.status_code == 401 and unsigned.json()["error"] == "invalid_client"


def test_pushed_implicit_request(mockidp: MockIdP) -> None:
    uri = push(mockidp, response_type="id_token token", scope="openid", nonce="n",
               redirect_uri=REDIRECT, login_hint="alice").json()["request_uri"]
    front = fragment_of(authorize(mockidp, client_id="web-app",
                                  request_uri=uri).headers["Location"])
    validated(mockidp, front["id_token"], ImplicitIDToken, nonce="n",
              access_token=front["access_token"])


def spa_push(idp: MockIdP, **data: str) -> str:
    """A pushed request of the public, strict ``spa`` client (one registered redirect URI)."""
    response = requests.post(f"{idp.issuer_url()}/par", data={
        "client_id": "spa", "response_type": "code", "code_challenge": "a" * 43,
        "code_challenge_method": "S256", "login_hint": "alice", **data})
    assert response.status_code == 201, response.text
    uri: str = response.json()["request_uri"]
    return uri


def test_request_uri_is_single_use(mockidp: MockIdP) -> None:
    uri = spa_push(mockidp)
    first = authorize(mockidp, client_id="spa", request_uri=uri)
    assert query_of(first.headers["Location"])["code"]
    again = authorize(mockidp, client_id="spa", request_uri=uri)
    fields = query_of(again.headers["Location"])
    assert again.headers["Location"].startswith(SPA_REDIRECT + "?")
    assert fields["error"] == "invalid_request_uri" and "used" in fields["error_description"]


def test_request_uri_expires_after_60_seconds_of_provider_time(mockidp: MockIdP) -> None:
    uri = spa_push(mockidp)
    mockidp.set_clock(advance=61)
    fields = query_of(authorize(mockidp, client_id="spa", request_uri=uri).headers["Location"])
    assert fields["error"] == "invalid_request_uri" and "expired" in fields["error_description"]


def test_unusable_request_uri_without_a_trusted_redirect_is_a_page(mockidp: MockIdP) -> None:
    # web-app registers two redirect URIs and the request names none: nowhere safe to redirect
    response = authorize(mockidp, client_id="web-app", request_uri=PAR_URN + "unknown")
    assert response.status_code == 400 and "Location" not in response.headers
    assert "text/html" in response.headers["Content-Type"]
    assert "invalid_request_uri" in response.text
    missing = authorize(mockidp, request_uri=spa_push(mockidp))
    assert missing.status_code == 400 and "client_id" in missing.text


def test_request_uri_of_another_client_is_refused_and_kept(mockidp: MockIdP) -> None:
    uri = push(mockidp, response_type="code", redirect_uri=REDIRECT,
               login_hint="alice").json()["request_uri"]
    stolen = query_of(authorize(mockidp, client_id="spa", request_uri=uri).headers["Location"])
    assert stolen["error"] == "invalid_request_uri"
    assert "another client" in stolen["error_description"]
    assert query_of(authorize(mockidp, client_id="web-app",
                              request_uri=uri).headers["Location"])["code"]


def test_foreign_request_uri_is_invalid_request_uri(mockidp: MockIdP) -> None:
    response = authorize(mockidp, client_id="spa",
                         request_uri="https://client.example/requests/1.jwt")
    fields = query_of(response.headers["Location"])
    assert fields["error"] == "invalid_request_uri"


@pytest.mark.parametrize("auth, data, status, error", [
    (None, {"client_id": "web-app"}, 401, "invalid_client"),              # no secret
    (("web-app", "wrong"), {}, 401, "invalid_client"),
    (WEB, {"response_type": "none"}, 400, "unsupported_response_type"),
    (WEB, {"redirect_uri": "http://evil.example/cb"}, 400, "invalid_request"),
    (WEB, {"request_uri": PAR_URN + "x"}, 400, "invalid_request"),
    (WEB, {"request": "eyJhbGciOiJub25lIn0.e30."}, 400, "request_not_supported"),
    (WEB, {"response_type": "id_token", "scope": "openid"}, 400, "invalid_request"),  # nonce
    (WEB, {"response_type": "token", "response_mode": "query"}, 400, "invalid_request"),
    (WEB, {"claims": "{oops"}, 400, "invalid_request"),
])
def test_par_validates_like_authorize_and_answers_json(
    mockidp: MockIdP, auth: Any, data: dict[str, str], status: int, error: str
) -> None:
    form = {"response_type": "code", "redirect_uri": REDIRECT, **data}
    response = requests.post(f"{mockidp.issuer_url()}/par", auth=auth, data=form)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert "Location" not in response.headers
    assert response.json()["error"] == error and response.json()["error_description"]
    if auth is not None and status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert mockidp.issuer().store.counts()["pushed_requests"] == 0


def test_par_rules_cors_and_method(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="par", error={"error": "temporarily_unavailable",
                                            "description": "scripted", "status": 503})
    scripted = push(mockidp, response_type="code", redirect_uri=REDIRECT)
    assert scripted.status_code == 503
    assert scripted.json() == {"error": "temporarily_unavailable", "error_description": "scripted"}
    preflight = requests.options(f"{mockidp.issuer_url()}/par", headers={
        "Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    wrong = requests.get(f"{mockidp.issuer_url()}/par")
    assert wrong.status_code == 405 and wrong.json()["error"] == "invalid_request"


def test_discovery_lists_the_new_capabilities(mockidp: MockIdP) -> None:
    doc = metadata(mockidp)
    issuer = mockidp.issuer_url()
    assert doc["pushed_authorization_request_endpoint"] == issuer + "/par"
    assert doc["require_pushed_authorization_requests"] is False
    assert set(doc["response_types_supported"]) == {
        "code", "token", "id_token", "id_token token", "code id_token", "code token",
        "code id_token token"}
    assert doc["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert "implicit" in doc["grant_types_supported"]
    assert doc["claims_parameter_supported"] is True
    assert {"acr", "c_hash", "at_hash", "auth_time"} <= set(doc["claims_supported"])
    assert doc["request_parameter_supported"] is False
    assert doc["request_uri_parameter_supported"] is False  # request objects by URL: no
    oauth = requests.get(f"{issuer}/.well-known/oauth-authorization-server").json()
    assert oauth["pushed_authorization_request_endpoint"] == issuer + "/par"
    assert oauth["require_pushed_authorization_requests"] is False


def test_strict_client_requires_a_nonce_for_openid_requests(mockidp: MockIdP) -> None:
    verifier_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    base = {"client_id": "spa", "redirect_uri": "http://localhost:5173/callback",
            "response_type": "code", "login_hint": "alice", "code_challenge": verifier_challenge,
            "code_challenge_method": "S256"}
    refused = requests.get(f"{mockidp.issuer_url()}/authorize", allow_redirects=False,
                           params={**base, "scope": "openid"})
    params = query_of(refused.headers["Location"])
    assert params["error"] == "invalid_request" and "nonce" in params["error_description"]
    allowed = requests.get(f"{mockidp.issuer_url()}/authorize", allow_redirects=False,
                           params={**base, "scope": "openid", "nonce": "n1"})
    assert "code" in query_of(allowed.headers["Location"])
    plain_oauth = requests.get(f"{mockidp.issuer_url()}/authorize", allow_redirects=False,
                               params={**base, "scope": "api"})
    assert "code" in query_of(plain_oauth.headers["Location"])

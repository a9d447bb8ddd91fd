"""Token exchange (RFC 8693) driven by real clients: Authlib and openid-client (npm), both with
HTTP Basic client authentication.  Subject and actor tokens are verified (never just decoded),
and every refusal carries the RFC error code (§2.2.2: ``invalid_request`` for bad subject or
actor tokens)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from cryptography.hazmat.primitives.asymmetric import rsa

from mockidp import MockIdP

from .conftest import run_node, token_url

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TT = "urn:ietf:params:oauth:token-type:"
ACCESS, REFRESH, ID_TOKEN, JWT_TYPE = (TT + t for t in ("access_token", "refresh_token",
                                                        "id_token", "jwt"))
WEB = ("web-app", "web-secret")
SECRET = "gateway-secret-0123456789abcdef-0123456789abcdef"


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def verified(idp: MockIdP, token: str, audience: str) -> dict[str, Any]:
    """What a resource server sees: signature from the published JWKS, iss, aud, exp."""
    key = jwt.PyJWKClient(f"{idp.issuer_url()}/jwks").get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=[key.algorithm_name], audience=audience,
                      issuer=idp.issuer_url())


def user_tokens(idp: MockIdP, user: str = "alice", scope: str = "openid profile email",
                auth: tuple[str, str] = WEB, issuer: str = "default") -> dict[str, Any]:
    response = requests.post(token_url(idp, issuer), auth=auth, data={
        "grant_type": "password", "username": user, "password": "x", "scope": scope})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def exchange(idp: MockIdP, auth: tuple[str, str] | None = WEB, **data: str) -> requests.Response:
    return requests.post(token_url(idp), auth=auth, data={"grant_type": TOKEN_EXCHANGE, **data})


def refused(response: requests.Response, error: str, why: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert why in body.get("error_description", ""), body


# -- clients ----------------------------------------------------------------------------------

def test_authlib_exchange_with_basic_auth(mockidp: MockIdP) -> None:
    with OAuth2Session("web-app", "web-secret", scope="openid profile email") as session:
        session.fetch_token(token_url(mockidp), grant_type="password", username="alice",
                            password="x")
        subject = session.token["access_token"]
        token = session.fetch_token(
            token_url(mockidp), grant_type=TOKEN_EXCHANGE, subject_token=subject,
            subject_token_type=ACCESS, audience="orders-api", scope="openid profile")
    assert token["issued_token_type"] == ACCESS
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "openid profile"  # narrowed
    assert "refresh_token" not in token and "id_token" not in token
    claims = verified(mockidp, token["access_token"], "orders-api")
    assert claims["sub"] == "alice" and claims["client_id"] == "web-app"
    assert claims["name"] == "Alice Admin" and "email" not in claims
    assert "act" not in claims  # impersonation: no actor
    # The exchanged token is a working access token of this provider.
    info = requests.get(f"{mockidp.issuer_url()}/userinfo",
                        headers={"Authorization": f"Bearer {token['access_token']}"})
    assert info.status_code == 200 and info.json()["sub"] == "alice"
    exchanges = mockidp.calls(endpoint="token", grant_type=TOKEN_EXCHANGE)
    assert [(e.client_id, e.user, e.status) for e in exchanges] == [("web-app", "alice", 200)]


def test_openid_client_exchange_with_client_secret_basic(mockidp: MockIdP) -> None:
    subject = user_tokens(mockidp)["access_token"]
    actor = mockidp.mint("billing-service")
    result = run_node("token_exchange.mjs", mockidp.issuer_url(), "web-app", "web-secret",
                      subject, "orders-api", actor)
    exchanged = result["exchanged"]
    assert exchanged["issued_token_type"] == ACCESS
    assert exchanged["token_type"] == "bearer"  # openid-client lower-cases it
    claims = verified(mockidp, exchanged["access_token"], "orders-api")
    assert claims["sub"] == "alice" and claims["act"] == {"sub": "billing-service"}
    id_token = result["id_token"]
    assert id_token["issued_token_type"] == ID_TOKEN and id_token["token_type"] == "n_a"
    assert verified(mockidp, id_token["access_token"], "web-app")["sub"] == "alice"
    assert result["refused"]["error"] == "invalid_request"
    assert result["refused"]["status"] == 400


# -- what can be exchanged --------------------------------------------------------------------

def test_opaque_subject_tokens_and_requested_jwt(mockidp: MockIdP) -> None:
    mockidp.add_client("opaque-app", "opaque-secret", access_token_format="opaque")
    auth = ("opaque-app", "opaque-secret")
    subject = user_tokens(mockidp, auth=auth)["access_token"]
    assert subject.count(".") == 0
    plain = exchange(mockidp, auth=auth, subject_token=subject, subject_token_type=ACCESS)
    assert plain.status_code == 200, plain.text
    assert plain.json()["issued_token_type"] == ACCESS
    assert plain.json()["access_token"].count(".") == 0  # the client's format
    as_jwt = exchange(mockidp, auth=auth, subject_token=subject, subject_token_type=ACCESS,
                      requested_token_type=JWT_TYPE, audience="reports")
    assert as_jwt.status_code == 200, as_jwt.text
    body = as_jwt.json()
    assert body["issued_token_type"] == JWT_TYPE and body["token_type"] == "Bearer"
    assert verified(mockidp, body["access_token"], "reports")["sub"] == "alice"


def test_requested_id_token(mockidp: MockIdP) -> None:
    subject = user_tokens(mockidp)["access_token"]
    response = exchange(mockidp, subject_token=subject, subject_token_type=ACCESS,
                        requested_token_type=ID_TOKEN)
    assert response.status_code == 200, response.text
    body = response.json()
    # RFC 8693 §2.2.1: the issued token travels as access_token; it is no access token.
    assert body["issued_token_type"] == ID_TOKEN and body["token_type"] == "N_A"
    assert set(body) <= {"access_token", "issued_token_type", "token_type", "expires_in",
                         "scope"}
    claims = verified(mockidp, body["access_token"], "web-app")
    assert claims["sub"] == "alice" and claims["email"] == "alice@example.com"
    assert body["expires_in"] == claims["exp"] - claims["iat"]


def test_id_token_and_refresh_token_subjects(mockidp: MockIdP) -> None:
    tokens = user_tokens(mockidp, scope="openid profile offline_access")
    by_id = exchange(mockidp, subject_token=tokens["id_token"], subject_token_type=ID_TOKEN)
    assert by_id.status_code == 200, by_id.text
    assert claims_of(by_id.json()["access_token"])["sub"] == "alice"
    by_refresh = exchange(mockidp, subject_token=tokens["refresh_token"],
                          subject_token_type=REFRESH, audience="orders-api")
    assert by_refresh.status_code == 200, by_refresh.text
    claims = claims_of(by_refresh.json()["access_token"])
    assert claims["sub"] == "alice" and claims["scope"] == "openid profile offline_access"
    assert "refresh_token" not in by_refresh.json()
    # The refresh token was presented, not used up: it still refreshes.
    refreshed = requests.post(token_url(mockidp), auth=WEB, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    # Another client cannot present it.
    other = exchange(mockidp, auth=("someone-else", "x"), subject_token=refreshed.json()[
        "refresh_token"], subject_token_type=REFRESH)
    refused(other, "invalid_request", "subject_token rejected: refresh token was issued to "
            "another client")


def test_a_token_of_another_issuer_of_this_provider(mockidp: MockIdP) -> None:
    subject = user_tokens(mockidp, "carol", issuer="partner", auth=("p", "x"))["access_token"]
    response = exchange(mockidp, subject_token=subject, subject_token_type=ACCESS)
    assert response.status_code == 200, response.text
    claims = claims_of(response.json()["access_token"])
    assert claims["sub"] == "carol" and claims["iss"] == mockidp.issuer_url()


def test_external_jwts_signed_with_the_clients_key_or_secret(mockidp: MockIdP) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "up-1"}
    mockidp.add_client("gateway", SECRET, jwks={"keys": [jwk]})
    now = int(time.time())
    upstream = {"iss": "https://upstream.example", "sub": "bob", "exp": now + 300, "iat": now,
                "aud": "gateway", "scope": "profile"}
    for token in (jwt.encode(upstream, key, algorithm="RS256", headers={"kid": "up-1"}),
                  jwt.encode(upstream, SECRET, algorithm="HS256")):
        response = exchange(mockidp, auth=("gateway", SECRET), subject_token=token,
                            subject_token_type=JWT_TYPE)
        assert response.status_code == 200, response.text
        claims = claims_of(response.json()["access_token"])
        # bob is a configured user of this issuer: his claims apply.
        assert claims["sub"] == "bob" and claims["name"] == "Bob Builder"
        assert claims["scope"] == "profile"
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = exchange(mockidp, auth=("gateway", SECRET), subject_token=jwt.encode(
        upstream, stranger, algorithm="RS256", headers={"kid": "up-1"}),
        subject_token_type=JWT_TYPE)
    refused(response, "invalid_request", "subject_token rejected: RS256 signature does not "
            "verify with the client's jwks")
    response = exchange(mockidp, auth=("gateway", SECRET), subject_token=jwt.encode(
        {**upstream, "exp": now - 600}, key, algorithm="RS256", headers={"kid": "up-1"}),
        subject_token_type=JWT_TYPE)
    refused(response, "invalid_request", "expired")


def test_actor_tokens_make_act_claims_nested_for_prior_actors(mockidp: MockIdP) -> None:
    subject = user_tokens(mockidp)["access_token"]
    actor = mockidp.mint("api-gateway", claims={"act": {"sub": "edge-proxy"}})
    response = exchange(mockidp, subject_token=subject, subject_token_type=ACCESS,
                        actor_token=actor, actor_token_type=JWT_TYPE, audience="orders-api")
    assert response.status_code == 200, response.text
    claims = verified(mockidp, response.json()["access_token"], "orders-api")
    assert claims["sub"] == "alice"
    assert claims["act"] == {"sub": "api-gateway", "act": {"sub": "edge-proxy"}}
    # Introspection shows the delegation too.
    info = requests.post(f"{mockidp.issuer_url()}/introspect", auth=WEB,
                         data={"token": response.json()["access_token"]}).json()
    assert info["active"] is True and info["act"]["sub"] == "api-gateway"


def test_may_act_names_who_may_act(mockidp: MockIdP) -> None:
    subject = mockidp.mint("alice", claims={"may_act": {"sub": "api-gateway"}})
    allowed = exchange(mockidp, subject_token=subject, subject_token_type=ACCESS,
                       actor_token=mockidp.mint("api-gateway"), actor_token_type=ACCESS)
    assert allowed.status_code == 200, allowed.text
    other = exchange(mockidp, subject_token=subject, subject_token_type=ACCESS,
                     actor_token=mockidp.mint("intruder"), actor_token_type=ACCESS)
    refused(other, "invalid_request", "actor 'intruder' is not the one the subject token's "
            "may_act allows")


def test_scope_can_narrow_but_not_widen(mockidp: MockIdP) -> None:
    subject = user_tokens(mockidp, scope="openid email")["access_token"]
    narrower = exchange(mockidp, subject_token=subject, subject_token_type=ACCESS,
                        scope="email")
    assert narrower.status_code == 200 and narrower.json()["scope"] == "email"
    wider = exchange(mockidp, subject_token=subject, subject_token_type=ACCESS,
                     scope="email admin")
    refused(wider, "invalid_scope", "scope exceeds the subject token's scope: admin")


# -- refusals ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "why"), [
    ({}, "missing 'subject_token'"),
    ({"subject_token": "t"}, "missing 'subject_token_type'"),
    ({"subject_token_type": ACCESS}, "missing 'subject_token'"),
    ({"subject_token": "t", "subject_token_type": TT + "saml2"},
     "subject_token_type 'urn:ietf:params:oauth:token-type:saml2' is not supported"),
    ({"actor_token": "a"}, "missing 'actor_token_type'"),
    ({"actor_token_type": JWT_TYPE}, "missing 'actor_token'"),
    ({"requested_token_type": REFRESH}, "requested_token_type "
     "'urn:ietf:params:oauth:token-type:refresh_token' cannot be issued"),
    ({"requested_token_type": TT + "saml2"}, "cannot be issued"),
    ({"requested_token_type": "Bearer"}, "cannot be issued"),
])
def test_malformed_requests_are_invalid_request(mockidp: MockIdP, data: dict[str, str],
                                                why: str) -> None:
    subject = user_tokens(mockidp)["access_token"]
    full = {"subject_token": subject, "subject_token_type": ACCESS, **data}
    if "subject_token" in data or "subject_token_type" in data or not data:
        full = dict(data)
    refused(exchange(mockidp, **full), "invalid_request", why)


@pytest.mark.parametrize("kind", [
    # Every bad token but wrong_audience: a subject token's aud is not checked (a resource
    # server exchanges the tokens that were sent to it).
    "expired", "not_yet_valid", "issued_in_future", "wrong_issuer", "bad_signature",
    "unknown_kid", "alg_none", "hs256_public_key", "missing_exp", "missing_sub", "wrong_typ",
    "malformed_parts", "malformed_base64", "malformed_json", "rotated_out", "revoked",
])
@pytest.mark.parametrize("role", ["subject_token", "actor_token"])
def test_bad_subject_and_actor_tokens_are_invalid_request(mockidp: MockIdP, kind: str,
                                                          role: str) -> None:
    bad = mockidp.mint_bad(kind, "alice")
    good = mockidp.mint("alice")
    data = {"subject_token": good, "subject_token_type": ACCESS,
            role: bad, role + "_type": ACCESS}
    refused(exchange(mockidp, **data), "invalid_request", f"{role} rejected")


def test_revoked_and_expired_subject_tokens(mockidp: MockIdP) -> None:
    revoked = user_tokens(mockidp)["access_token"]
    assert requests.post(f"{mockidp.issuer_url()}/revoke", auth=WEB,
                         data={"token": revoked}).status_code == 200
    refused(exchange(mockidp, subject_token=revoked, subject_token_type=ACCESS),
            "invalid_request", "subject_token rejected: token has been revoked")
    expiring = user_tokens(mockidp)["access_token"]  # 300 s lifetime (fixtures/config.toml)
    mockidp.set_clock(advance=301)
    refused(exchange(mockidp, subject_token=expiring, subject_token_type=ACCESS),
            "invalid_request", "subject_token rejected: token has expired")


def test_an_unknown_opaque_subject_token(mockidp: MockIdP) -> None:
    refused(exchange(mockidp, subject_token="not-a-token", subject_token_type=ACCESS),
            "invalid_request", "subject_token rejected: unknown or expired access token")


def test_a_foreign_jwt_without_client_keys(mockidp: MockIdP) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({"iss": "https://elsewhere.example", "sub": "x",
                        "exp": int(time.time()) + 60}, key, algorithm="RS256")
    refused(exchange(mockidp, subject_token=token, subject_token_type=JWT_TYPE),
            "invalid_request", "has no keys to check an RS256 signature")


def test_client_authentication_still_applies(mockidp: MockIdP) -> None:
    subject = user_tokens(mockidp)["access_token"]
    refused(exchange(mockidp, auth=("web-app", "wrong"), subject_token=subject,
                     subject_token_type=ACCESS), "invalid_client", "wrong client secret", 401)
    refused(exchange(mockidp, auth=None, subject_token=subject, subject_token_type=ACCESS,
                     client_id="web-app"), "invalid_client", "is confidential", 401)


@pytest.mark.parametrize("junk", [
    "", "a", "a.b", "a.b.c", "e30.e30.e30", "\u00e9" * 3, "." * 9,
    "eyJhbGciOiJub25lIn0.eyJzdWIiOjF9.", "eyJhbGciOltdfQ.e30.x",
    "eyJhbGciOiJSUzI1NiJ9." + "W1tb" * 2000 + ".x",
])
def test_junk_never_makes_a_500(mockidp: MockIdP, junk: str) -> None:
    for token_type in (ACCESS, REFRESH, ID_TOKEN, JWT_TYPE, junk):
        response = exchange(mockidp, subject_token=junk, subject_token_type=token_type,
                            actor_token=junk, actor_token_type=token_type)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request"

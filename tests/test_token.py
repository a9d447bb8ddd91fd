"""Token endpoint (RFC 6749 §3.2, §4, §5, §6; RFC 7636): grants, client auth, exact errors."""

from __future__ import annotations

import base64

import jwt
import pytest
import requests

from mockidp import MockIdP

from .conftest import REDIRECT, code_for, pkce_pair, token_url


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def post(idp: MockIdP, data: dict, auth: tuple[str, str] | None = ("web-app", "web-secret"),
         issuer: str = "default", **kwargs) -> requests.Response:
    return requests.post(token_url(idp, issuer), data=data, auth=auth, **kwargs)


# -- authorization_code -----------------------------------------------------------------------

def test_code_exchange_returns_access_id_and_refresh_tokens(mockidp: MockIdP) -> None:
    code = code_for(mockidp, scope="openid profile email", nonce="n-1")
    response = post(mockidp, {"grant_type": "authorization_code", "code": code,
                              "redirect_uri": REDIRECT})
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid profile email"
    access = claims_of(body["access_token"])
    assert body["expires_in"] == access["exp"] - access["iat"] == 300  # config: 300 s
    for claim in ("iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"):
        assert claim in access
    assert access["sub"] == "alice" and access["aud"] == "web-app"
    assert access["client_id"] == "web-app" and access["scope"] == "openid profile email"
    assert access["roles"] == ["admin", "user"]  # a custom user claim
    id_token = claims_of(body["id_token"])
    assert id_token["aud"] == "web-app" and id_token["azp"] == "web-app"
    assert id_token["nonce"] == "n-1" and id_token["sub"] == "alice"
    assert {"auth_time", "at_hash", "iat", "exp"} <= id_token.keys()
    assert id_token["name"] == "Alice Admin" and id_token["email"] == "alice@example.com"
    assert body["refresh_token"]


def test_scopes_decide_which_standard_claims_appear(mockidp: MockIdP) -> None:
    code = code_for(mockidp, scope="openid")
    body = post(mockidp, {"grant_type": "authorization_code", "code": code,
                          "redirect_uri": REDIRECT}).json()
    id_token = claims_of(body["id_token"])
    assert "email" not in id_token and "name" not in id_token
    assert id_token["roles"] == ["admin", "user"]  # custom claims are always included


def test_no_openid_scope_no_id_token(mockidp: MockIdP) -> None:
    code = code_for(mockidp, scope="api")
    body = post(mockidp, {"grant_type": "authorization_code", "code": code,
                          "redirect_uri": REDIRECT}).json()
    assert "id_token" not in body and body["access_token"]


def test_audience_from_resource_or_audience_parameter(mockidp: MockIdP) -> None:
    code = code_for(mockidp)
    body = post(mockidp, {"grant_type": "authorization_code", "code": code,
                          "redirect_uri": REDIRECT, "resource": "https://api.example"}).json()
    assert claims_of(body["access_token"])["aud"] == "https://api.example"
    body = post(mockidp, {"grant_type": "client_credentials", "audience": "a1"},
                auth=("x", "y")).json()
    assert claims_of(body["access_token"])["aud"] == "a1"


def test_code_is_single_use_and_replay_revokes_its_refresh_token(mockidp: MockIdP) -> None:
    code = code_for(mockidp)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    first = post(mockidp, data)
    assert first.status_code == 200
    second = post(mockidp, data)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    refreshed = post(mockidp, {"grant_type": "refresh_token",
                               "refresh_token": first.json()["refresh_token"]})
    assert refreshed.json()["error"] == "invalid_grant"


def test_code_expires_on_the_provider_clock(mockidp: MockIdP) -> None:
    code = code_for(mockidp)
    mockidp.clock.advance(61)  # codes live 60 s
    response = post(mockidp, {"grant_type": "authorization_code", "code": code,
                              "redirect_uri": REDIRECT})
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("data, error", [
    ({"code": "not-a-code"}, "invalid_grant"),
    ({"redirect_uri": "http://localhost:3000/other"}, "invalid_grant"),
    ({"code": None}, "invalid_request"),
])
def test_code_errors(mockidp: MockIdP, data: dict, error: str) -> None:
    form = {"grant_type": "authorization_code", "code": code_for(mockidp),
            "redirect_uri": REDIRECT, **data}
    response = post(mockidp, {k: v for k, v in form.items() if v is not None})
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_code_issued_to_another_client_is_invalid_grant(mockidp: MockIdP) -> None:
    code = code_for(mockidp, client_id="somebody", redirect_uri="http://localhost/cb")
    response = post(mockidp, {"grant_type": "authorization_code", "code": code,
                              "redirect_uri": "http://localhost/cb"}, auth=("other", "x"))
    assert response.json()["error"] == "invalid_grant"


# -- PKCE -------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["S256", "plain"])
def test_pkce_right_verifier(mockidp: MockIdP, method: str) -> None:
    verifier, challenge = pkce_pair()
    code = code_for(mockidp, code_challenge=challenge if method == "S256" else verifier,
                    code_challenge_method=method)
    response = post(mockidp, {"grant_type": "authorization_code", "code": code,
                              "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("verifier", [None, "x" * 50, "short"])
def test_pkce_missing_or_wrong_verifier_is_invalid_grant(mockidp: MockIdP,
                                                         verifier: str | None) -> None:
    _, challenge = pkce_pair()
    code = code_for(mockidp, code_challenge=challenge, code_challenge_method="S256")
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if verifier is not None:
        data["code_verifier"] = verifier
    response = post(mockidp, data)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_pkce_no_downgrade_verifier_without_challenge(mockidp: MockIdP) -> None:
    verifier, _ = pkce_pair()
    code = code_for(mockidp)
    response = post(mockidp, {"grant_type": "authorization_code", "code": code,
                              "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert response.json()["error"] == "invalid_grant"


def test_public_client_code_flow_with_pkce(mockidp: MockIdP) -> None:
    verifier, challenge = pkce_pair()
    code = code_for(mockidp, client_id="spa", redirect_uri="http://localhost:5173/callback",
                    code_challenge=challenge, code_challenge_method="S256")
    response = post(mockidp, {"grant_type": "authorization_code", "code": code,
                              "client_id": "spa", "code_verifier": verifier,
                              "redirect_uri": "http://localhost:5173/callback"}, auth=None)
    assert response.status_code == 200, response.text


# -- refresh_token ----------------------------------------------------------------------------

def _tokens(idp: MockIdP, scope: str = "openid email") -> dict:
    code = code_for(idp, scope=scope)
    return post(idp, {"grant_type": "authorization_code", "code": code,
                      "redirect_uri": REDIRECT}).json()


def test_refresh_rotates_and_rejects_the_old_token(mockidp: MockIdP) -> None:
    first = _tokens(mockidp)
    response = post(mockidp, {"grant_type": "refresh_token",
                              "refresh_token": first["refresh_token"]})
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert claims_of(second["id_token"])["sub"] == "alice"
    reuse = post(mockidp, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    # reuse of a rotated token revokes the family: the newest one is dead too
    newest = post(mockidp, {"grant_type": "refresh_token",
                            "refresh_token": second["refresh_token"]})
    assert newest.json()["error"] == "invalid_grant"


def test_refresh_can_narrow_but_not_widen_scope(mockidp: MockIdP) -> None:
    tokens = _tokens(mockidp, "openid email profile")
    narrowed = post(mockidp, {"grant_type": "refresh_token", "scope": "openid",
                              "refresh_token": tokens["refresh_token"]}).json()
    assert narrowed["scope"] == "openid"
    widened = post(mockidp, {"grant_type": "refresh_token", "scope": "openid admin",
                             "refresh_token": narrowed["refresh_token"]})
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_scope"


def test_refresh_token_unknown_other_client_and_expired(mockidp: MockIdP) -> None:
    tokens = _tokens(mockidp)
    unknown = post(mockidp, {"grant_type": "refresh_token", "refresh_token": "nope"})
    assert unknown.json()["error"] == "invalid_grant"
    other = post(mockidp, {"grant_type": "refresh_token",
                           "refresh_token": tokens["refresh_token"]}, auth=("other", "x"))
    assert other.json()["error"] == "invalid_grant"
    mockidp.clock.advance(86401)
    expired = post(mockidp, {"grant_type": "refresh_token",
                             "refresh_token": tokens["refresh_token"]})
    assert expired.json()["error"] == "invalid_grant"


def test_rotation_can_be_turned_off() -> None:
    with MockIdP({"rotate_refresh_tokens": False}) as idp:
        code = code_for(idp, client_id="c", redirect_uri="http://localhost/cb")
        first = post(idp, {"grant_type": "authorization_code", "code": code,
                           "redirect_uri": "http://localhost/cb"}, auth=("c", "s")).json()
        for _ in range(2):
            again = post(idp, {"grant_type": "refresh_token",
                               "refresh_token": first["refresh_token"]}, auth=("c", "s"))
            assert again.status_code == 200 and "refresh_token" not in again.json()


# -- client_credentials and password -----------------------------------------------------------

def test_client_credentials_sub_is_client_id_with_client_claims(mockidp: MockIdP) -> None:
    response = post(mockidp, {"grant_type": "client_credentials", "scope": "orders:read"},
                    auth=("orders-service", "orders-secret"))
    body = response.json()
    assert response.status_code == 200 and "refresh_token" not in body
    assert "id_token" not in body
    access = claims_of(body["access_token"])
    assert access["sub"] == "orders-service" and access["aud"] == "orders-api"
    assert access["tenant"] == "acme" and access["scope"] == "orders:read"
    assert body["expires_in"] == 60  # the client's own lifetime


def test_client_credentials_refused_for_public_client(mockidp: MockIdP) -> None:
    response = post(mockidp, {"grant_type": "client_credentials", "client_id": "spa"},
                    auth=None)
    assert response.json()["error"] == "unauthorized_client"


def test_grant_not_allowed_for_client_is_unauthorized_client(mockidp: MockIdP) -> None:
    response = post(mockidp, {"grant_type": "password", "username": "a", "password": "b"},
                    auth=("orders-service", "orders-secret"))
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"


def test_password_grant(mockidp: MockIdP) -> None:
    ok = post(mockidp, {"grant_type": "password", "username": "bob", "password": "bob-password",
                        "scope": "openid email"})
    assert ok.status_code == 200
    assert claims_of(ok.json()["id_token"])["email"] == "bob@example.com"
    anyone = post(mockidp, {"grant_type": "password", "username": "zed", "password": "x"})
    assert claims_of(anyone.json()["access_token"])["sub"] == "zed"
    wrong = post(mockidp, {"grant_type": "password", "username": "bob", "password": "nope"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    missing = post(mockidp, {"grant_type": "password", "password": "x"})
    assert missing.json()["error"] == "invalid_request"


# -- client authentication and protocol errors --------------------------------------------------

def test_unknown_grant_type_is_unsupported_grant_type(mockidp: MockIdP) -> None:
    response = post(mockidp, {"grant_type": "urn:example:magic"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert post(mockidp, {}).json()["error"] == "invalid_request"


def test_wrong_secret_over_basic_is_401_with_www_authenticate(mockidp: MockIdP) -> None:
    response = post(mockidp, {"grant_type": "client_credentials"},
                    auth=("orders-service", "wrong"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_client_secret_post_and_missing_secret(mockidp: MockIdP) -> None:
    ok = post(mockidp, {"grant_type": "client_credentials", "client_id": "orders-service",
                        "client_secret": "orders-secret"}, auth=None)
    assert ok.status_code == 200
    missing = post(mockidp, {"grant_type": "client_credentials", "client_id": "orders-service"},
                   auth=None)
    assert missing.status_code == 401 and missing.json()["error"] == "invalid_client"
    assert "WWW-Authenticate" not in missing.headers


def test_two_authentication_methods_is_invalid_request(mockidp: MockIdP) -> None:
    response = post(mockidp, {"grant_type": "client_credentials", "client_secret": "x"},
                    auth=("a", "b"))
    assert response.json()["error"] == "invalid_request"


def test_basic_credentials_are_form_urlencoded(mockidp: MockIdP) -> None:
    mockidp.add_client("my client", "p@ss word:1")
    header = base64.b64encode(b"my+client:p%40ss+word%3A1").decode()
    response = post(mockidp, {"grant_type": "client_credentials"}, auth=None,
                    headers={"Authorization": f"Basic {header}"})
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["sub"] == "my client"


def test_any_client_accepted_by_default_but_strict_issuer_checks() -> None:
    with MockIdP({"strict": True, "clients": {"known": {"secret": "s"}}}) as idp:
        unknown = post(idp, {"grant_type": "client_credentials"}, auth=("stranger", "x"))
        assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
        known = post(idp, {"grant_type": "client_credentials"}, auth=("known", "s"))
        assert known.status_code == 200


def test_repeated_parameter_is_invalid_request(mockidp: MockIdP) -> None:
    response = requests.post(token_url(mockidp), auth=("a", "b"),
                             data=[("grant_type", "client_credentials"),
                                   ("grant_type", "client_credentials")])
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert "repeated" in response.json()["error_description"]

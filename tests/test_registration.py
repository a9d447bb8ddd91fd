"""Dynamic client registration (RFC 7591), then the registered client at work.

Authlib has only the server side of RFC 7591, so the registration call is plain requests; the
client it registers is then used, unchanged, by Authlib's OAuth2Session (client credentials,
the code flow with PKCE, refresh) to prove the provider really knows it: its secret, its
redirect URIs and its grant types are enforced like a configured client's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mockidp import MockIdP

TIMEOUT = 10.0
CALLBACK = "http://localhost:4000/callback"


def register(idp: MockIdP, metadata: Any, issuer: str = "default") -> requests.Response:
    return requests.post(f"{idp.issuer_url(issuer)}/register", json=metadata, timeout=TIMEOUT)


def registered(idp: MockIdP, metadata: dict[str, Any], issuer: str = "default"
               ) -> dict[str, Any]:
    response = register(idp, metadata, issuer)
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def refused(response: requests.Response, error: str, *named: str) -> str:
    """A 400 RFC 7591 §3.2.2 error whose description names every one of ``named``."""
    assert response.status_code == 400, (response.status_code, response.text)
    body = response.json()
    assert body["error"] == error, body
    description: str = body["error_description"]
    for name in named:
        assert name in description, (name, description)
    return description


def claims_of(idp: MockIdP, token: str, audience: str) -> dict[str, Any]:
    key = jwt.PyJWKClient(f"{idp.issuer_url()}/jwks").get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=[key.algorithm_name],
                                        audience=audience, issuer=idp.issuer_url())
    return claims


@pytest.fixture
def metadata(mockidp: MockIdP) -> dict[str, Any]:
    doc: dict[str, Any] = requests.get(
        f"{mockidp.issuer_url()}/.well-known/openid-configuration", timeout=TIMEOUT).json()
    return doc


def log_in(url: str) -> str:
    """The browser's part: follow the authorization endpoint to its redirect."""
    response = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 302, response.text
    location: str = response.headers["Location"]
    return location


# -- the registration answer ----------------------------------------------------------------------

def test_discovery_advertises_the_registration_endpoint(mockidp: MockIdP) -> None:
    base = mockidp.issuer_url()
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        doc = requests.get(base + path, timeout=TIMEOUT).json()
        assert doc["registration_endpoint"] == base + "/register"


def test_registration_answers_201_with_credentials_and_the_registered_metadata(
        mockidp: MockIdP) -> None:
    mockidp.set_clock(freeze="2031-05-01T00:00:00Z")
    body = registered(mockidp, {
        "redirect_uris": [CALLBACK], "client_name": "Shop", "scope": "openid email",
        "grant_types": ["authorization_code", "refresh_token"],
        "post_logout_redirect_uris": ["http://localhost:4000/"],
        "contacts": ["ops@example.com"], "logo_uri": "https://shop.example/logo.png",
        "frontchannel_logout_uri": "https://shop.example/logout",
        "software_statement_unknown_to_this_server": {"x": 1}, "tos_uri": None,
    })
    assert len(body["client_id"]) >= 16 and len(body["client_secret"]) >= 32
    assert body["client_id_issued_at"] == int(mockidp.clock.now())  # the provider clock
    assert body["client_id_issued_at"] == 1935360000  # 2031-05-01T00:00:00Z
    assert body["client_secret_expires_at"] == 0
    assert {k: v for k, v in body.items()
            if k not in ("client_id", "client_secret", "client_id_issued_at",
                         "client_secret_expires_at")} == {
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "post_logout_redirect_uris": ["http://localhost:4000/"],
        "client_name": "Shop", "scope": "openid email",
        "logo_uri": "https://shop.example/logo.png",
        "frontchannel_logout_uri": "https://shop.example/logout",
        "contacts": ["ops@example.com"],
    }  # unknown metadata ignored, null as absent (RFC 7591 §2)
    second = registered(mockidp, {"redirect_uris": [CALLBACK]})
    assert second["client_id"] != body["client_id"]
    assert second["client_secret"] != body["client_secret"]
    assert second["grant_types"] == ["authorization_code"]  # the RFC 7591 §2 default
    assert set(mockidp.clients()) >= {body["client_id"], second["client_id"]}


def test_public_clients_get_no_secret(mockidp: MockIdP) -> None:
    body = registered(mockidp, {"redirect_uris": [CALLBACK],
                                "token_endpoint_auth_method": "none"})
    assert "client_secret" not in body and "client_secret_expires_at" not in body
    assert body["token_endpoint_auth_method"] == "none"
    assert mockidp.clients()[body["client_id"]].secret is None


# -- Authlib uses the registered client -----------------------------------------------------------

@pytest.fixture
def confidential(mockidp: MockIdP) -> dict[str, Any]:
    return registered(mockidp, {
        "client_name": "Orders", "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_method": "client_secret_post",
    })


@pytest.fixture
def authlib_client(confidential: dict[str, Any]) -> Iterator[OAuth2Session]:
    with OAuth2Session(confidential["client_id"], confidential["client_secret"],
                       token_endpoint_auth_method="client_secret_post",
                       redirect_uri=CALLBACK, scope="openid profile email",
                       code_challenge_method="S256") as session:
        yield session


def test_authlib_client_credentials_with_the_registered_secret(
        mockidp: MockIdP, metadata: dict[str, Any], confidential: dict[str, Any],
        authlib_client: OAuth2Session) -> None:
    token = authlib_client.fetch_token(metadata["token_endpoint"],
                                       grant_type="client_credentials", scope="orders:read")
    claims = claims_of(mockidp, token["access_token"], confidential["client_id"])
    assert claims["sub"] == confidential["client_id"] and claims["scope"] == "orders:read"
    with OAuth2Session(confidential["client_id"], "not-the-secret",
                       token_endpoint_auth_method="client_secret_post") as impostor, \
            pytest.raises(OAuthError) as failure:
        impostor.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert failure.value.error == "invalid_client"


def test_authlib_code_flow_with_pkce_and_refresh(
        mockidp: MockIdP, metadata: dict[str, Any], confidential: dict[str, Any],
        authlib_client: OAuth2Session) -> None:
    verifier = generate_token(48)
    url, state = authlib_client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, login_hint="alice",
        nonce="n-0S6")
    location = log_in(url)
    assert location.startswith(CALLBACK + "?")
    token = authlib_client.fetch_token(metadata["token_endpoint"],
                                       authorization_response=location, state=state,
                                       code_verifier=verifier)
    id_token = claims_of(mockidp, token["id_token"], confidential["client_id"])
    assert id_token["sub"] == "alice" and id_token["nonce"] == "n-0S6"
    assert id_token["email"] == "alice@example.com"
    userinfo = authlib_client.get(metadata["userinfo_endpoint"])
    assert userinfo.json()["sub"] == "alice"
    refreshed = authlib_client.refresh_token(metadata["token_endpoint"],
                                             refresh_token=token["refresh_token"])
    assert claims_of(mockidp, refreshed["access_token"],
                     confidential["client_id"])["sub"] == "alice"


def test_the_registered_redirect_uris_and_grant_types_are_enforced(
        mockidp: MockIdP, metadata: dict[str, Any], confidential: dict[str, Any]) -> None:
    with OAuth2Session(confidential["client_id"], redirect_uri="http://evil.example/cb",
                       scope="openid") as other:
        url, _ = other.create_authorization_url(metadata["authorization_endpoint"],
                                                login_hint="alice")
    page = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert page.status_code == 400 and "not registered" in page.text  # shown, not redirected
    password = requests.post(metadata["token_endpoint"], data={
        "grant_type": "password", "username": "bob", "password": "bob-password",
        "client_id": confidential["client_id"],
        "client_secret": confidential["client_secret"]}, timeout=TIMEOUT)
    assert password.status_code == 400
    assert password.json()["error"] == "unauthorized_client"


def test_authlib_public_client_code_flow(mockidp: MockIdP, metadata: dict[str, Any]) -> None:
    spa = registered(mockidp, {"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none",
                               "grant_types": ["authorization_code"]})
    with OAuth2Session(spa["client_id"], token_endpoint_auth_method="none",
                       redirect_uri=CALLBACK, scope="openid",
                       code_challenge_method="S256") as session:
        verifier = generate_token(48)
        url, state = session.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, login_hint="bob")
        token = session.fetch_token(metadata["token_endpoint"],
                                    authorization_response=log_in(url), state=state,
                                    code_verifier=verifier)
    assert claims_of(mockidp, token["id_token"], spa["client_id"])["sub"] == "bob"
    assert "refresh_token" not in token  # not among its grant types


def test_authlib_private_key_jwt_with_registered_jwks(mockidp: MockIdP,
                                                      metadata: dict[str, Any]) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True),
           "kid": "reg-1", "use": "sig", "alg": "RS256"}
    body = registered(mockidp, {"grant_types": ["client_credentials"], "jwks": {"keys": [jwk]},
                                "token_endpoint_auth_method": "private_key_jwt"})
    assert "client_secret" not in body and body["jwks"] == {"keys": [jwk]}
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    url = metadata["token_endpoint"]
    with OAuth2Session(body["client_id"], pem, token_endpoint_auth_method=PrivateKeyJWT(
            url, headers={"kid": "reg-1"})) as session:
        token = session.fetch_token(url, grant_type="client_credentials")
    assert claims_of(mockidp, token["access_token"], body["client_id"])["sub"] == body[
        "client_id"]
    refused(register(mockidp, {"grant_types": ["client_credentials"],
                               "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata", "jwks", "private_key_jwt")


def test_metadata_maps_onto_the_client(mockidp: MockIdP, metadata: dict[str, Any]) -> None:
    body = registered(mockidp, {"redirect_uris": [CALLBACK],
                                "id_token_signed_response_alg": "ES256",
                                "backchannel_logout_uri": "https://shop.example/bc"})
    client = mockidp.clients()[body["client_id"]]
    assert client.id_token_signed_response_alg == "ES256"
    assert client.backchannel_logout_uri == "https://shop.example/bc"
    assert client.redirect_uris == (CALLBACK,)
    with OAuth2Session(body["client_id"], body["client_secret"], redirect_uri=CALLBACK,
                       scope="openid") as session:
        url, state = session.create_authorization_url(metadata["authorization_endpoint"],
                                                      login_hint="alice")
        token = session.fetch_token(metadata["token_endpoint"],
                                    authorization_response=log_in(url), state=state)
    assert jwt.get_unverified_header(token["id_token"])["alg"] == "ES256"


def test_registered_clients_are_gone_after_reset(mockidp: MockIdP) -> None:
    body = registered(mockidp, {"grant_types": ["client_credentials"]})
    token_url = mockidp.issuer_url() + "/token"
    wrong = requests.post(token_url, data={"grant_type": "client_credentials"},
                          auth=(body["client_id"], "wrong"), timeout=TIMEOUT)
    assert wrong.status_code == 401
    mockidp.reset()
    assert body["client_id"] not in mockidp.clients()
    anyone = requests.post(token_url, data={"grant_type": "client_credentials"},
                           auth=(body["client_id"], "wrong"), timeout=TIMEOUT)
    assert anyone.status_code == 200  # an unknown client again: the permissive default


def test_registration_is_per_issuer_journaled_and_scriptable(mockidp: MockIdP) -> None:
    body = registered(mockidp, {"grant_types": ["client_credentials"],
                                "client_name": "tenant app"}, issuer="tenant-r")
    assert body["client_id"] in mockidp.clients("tenant-r")
    assert body["client_id"] not in mockidp.clients()
    call = mockidp.calls(endpoint="register")[-1]
    assert (call.issuer, call.status, call.client_id) == ("tenant-r", 201, body["client_id"])
    assert call.params["client_name"] == "tenant app"
    mockidp.add_rule(endpoint="register", params={"client_name": "blocked"},
                     error={"error": "access_denied", "status": 403})
    blocked = register(mockidp, {"client_name": "blocked", "grant_types": ["password"]})
    assert blocked.status_code == 403 and blocked.json()["error"] == "access_denied"
    assert mockidp.calls(endpoint="register")[-1].status == 403


def test_rules_can_target_registration(mockidp: MockIdP) -> None:
    doc = requests.get(mockidp.url + "/_mockidp/openapi.json", timeout=TIMEOUT).json()
    assert "register" in doc["components"]["schemas"]["Match"]["properties"]["endpoint"]["enum"]


def test_cors_preflight_and_answer(mockidp: MockIdP) -> None:
    url = mockidp.issuer_url() + "/register"
    origin = {"Origin": "http://localhost:5173"}
    preflight = requests.options(url, headers={**origin,
                                               "Access-Control-Request-Method": "POST",
                                               "Access-Control-Request-Headers": "content-type"},
                                 timeout=TIMEOUT)
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == origin["Origin"]
    answer = requests.post(url, json={"grant_types": ["client_credentials"]}, headers=origin,
                           timeout=TIMEOUT)
    assert answer.status_code == 201
    assert answer.headers["Access-Control-Allow-Origin"] == origin["Origin"]


# -- RFC 7591 §3.2.2 errors -----------------------------------------------------------------------

@pytest.mark.parametrize(("metadata", "named"), [
    ({"redirect_uris": ["/callback"]}, "redirect_uris[0]"),
    ({"redirect_uris": ["http://localhost/cb#frag"]}, "redirect_uris[0]"),
    ({"redirect_uris": [CALLBACK, "myapp://cb"]}, "redirect_uris[1]"),
    ({"redirect_uris": CALLBACK}, "redirect_uris"),
    ({"redirect_uris": [""]}, "redirect_uris"),
    ({}, "redirect_uris"),  # the default grant is authorization_code, which redirects
    ({"redirect_uris": [CALLBACK], "post_logout_redirect_uris": ["nope"]},
     "post_logout_redirect_uris[0]"),
])
def test_invalid_redirect_uri(mockidp: MockIdP, metadata: dict[str, Any], named: str) -> None:
    before = set(mockidp.clients())
    refused(register(mockidp, metadata), "invalid_redirect_uri", named)
    assert set(mockidp.clients()) == before  # nothing half-registered
    assert mockidp.calls(endpoint="register")[-1].error == "invalid_redirect_uri"


@pytest.mark.parametrize(("metadata", "named"), [
    ({"grant_types": ["magic"]}, "grant_types[0]"),
    ({"grant_types": []}, "grant_types"),
    ({"grant_types": "client_credentials"}, "grant_types"),
    ({"grant_types": ["client_credentials"], "response_types": ["code"]}, "grant_types"),
    ({"redirect_uris": [CALLBACK], "response_types": ["code", "bogus"]}, "response_types[1]"),
    ({"redirect_uris": [CALLBACK], "response_types": []}, "response_types"),
    ({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"},
     "client_credentials"),
    ({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "magic"},
     "token_endpoint_auth_method"),
    ({"grant_types": ["client_credentials"], "client_name": 5}, "client_name"),
    ({"grant_types": ["client_credentials"], "contacts": "ops@example.com"}, "contacts"),
    ({"grant_types": ["client_credentials"], "logo_uri": "logo.png"}, "logo_uri"),
    ({"grant_types": ["client_credentials"], "jwks_uri": "https://a.example/jwks",
      "jwks": {"keys": []}}, "jwks"),
    ({"grant_types": ["client_credentials"], "jwks": {"keys": []}}, "jwks"),
    ({"grant_types": ["client_credentials"], "jwks": "keys"}, "jwks"),
    ({"grant_types": ["client_credentials"],
      "jwks": {"keys": [{"kty": "RSA", "n": "x", "e": "AQAB", "d": "secret"}]}}, "jwks"),
    ({"grant_types": ["client_credentials"], "id_token_signed_response_alg": "HS256"},
     "id_token_signed_response_alg"),
    ({"grant_types": ["client_credentials"], "id_token_signed_response_alg": "none"},
     "id_token_signed_response_alg"),
    ({"grant_types": ["client_credentials"], "dpop_bound_access_tokens": "yes"},
     "dpop_bound_access_tokens"),
])
def test_invalid_client_metadata_names_the_field(mockidp: MockIdP, metadata: dict[str, Any],
                                                 named: str) -> None:
    before = set(mockidp.clients())
    refused(register(mockidp, metadata), "invalid_client_metadata", named)
    assert set(mockidp.clients()) == before


@pytest.mark.parametrize(("data", "content_type", "named"), [
    (b'{"grant_types": ["client_credentials"]}', "text/plain", "Content-Type"),
    (b"grant_types=client_credentials", "application/x-www-form-urlencoded", "Content-Type"),
    (b'{"grant_types": ["client_credentials"]}', None, "Content-Type"),
    (b"", "application/json", "body"),
    (b'{"grant_types": ', "application/json", "JSON"),
    (b'[{"grant_types": ["client_credentials"]}]', "application/json", "JSON object"),
    (b'"client"', "application/json", "JSON object"),
    (b"null", "application/json", "JSON object"),
    (b'{"client_name": NaN, "grant_types": ["client_credentials"]}', "application/json",
     "NaN"),
    (b'{"client_name": "\xff"}', "application/json", "UTF-8"),
    (b"[" * 20000 + b"]" * 20000, "application/json", "body"),
    (b'{"x": ' + b"9" * 5000 + b"}", "application/json", "body"),
])
def test_bodies_that_are_not_a_metadata_object_are_refused(
        mockidp: MockIdP, data: bytes, content_type: str | None, named: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.post(mockidp.issuer_url() + "/register", data=data, headers=headers,
                             timeout=TIMEOUT)
    refused(response, "invalid_client_metadata", named)


def test_only_post_is_served(mockidp: MockIdP) -> None:
    response = requests.get(mockidp.issuer_url() + "/register", timeout=TIMEOUT)
    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"

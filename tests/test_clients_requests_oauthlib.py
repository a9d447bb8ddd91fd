"""requests-oauthlib (on oauthlib) against mockidp, unchanged.

oauthlib refuses plain-http URLs unless ``OAUTHLIB_INSECURE_TRANSPORT`` is set; mockidp serves
http on 127.0.0.1, so every test here sets it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from oauthlib.oauth2 import BackendApplicationClient, InvalidClientError
from requests_oauthlib import OAuth2Session

from mockidp import MockIdP

Metadata = dict[str, Any]


@pytest.fixture(autouse=True)
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def metadata(mockidp: MockIdP) -> Metadata:
    response = requests.get(f"{mockidp.issuer_url()}/.well-known/openid-configuration")
    assert response.status_code == 200
    doc: Metadata = response.json()
    return doc


def verified_claims(token: str, metadata: Metadata, audience: str) -> dict[str, Any]:
    """Claims of a token that verifies against the issuer's JWKS (PyJWT)."""
    key = jwt.PyJWKClient(metadata["jwks_uri"]).get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=["RS256", "ES256"],
                                        audience=audience, issuer=metadata["issuer"])
    return claims


def approve_with_hint(url: str) -> str:
    """GET the authorization URL (login_hint skips the page); the redirect Location."""
    response = requests.get(url, allow_redirects=False)
    assert response.status_code == 302, response.text
    location: str = response.headers["Location"]
    return location


def test_client_credentials_backend_application_client(metadata: Metadata) -> None:
    oauth = OAuth2Session(client=BackendApplicationClient(client_id="orders-service"))
    token = oauth.fetch_token(metadata["token_endpoint"], client_id="orders-service",
                              client_secret="orders-secret")
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 60
    assert "expires_at" in token
    assert "refresh_token" not in token  # RFC 6749 §4.4.3

    claims = verified_claims(token["access_token"], metadata, audience="orders-api")
    assert claims["sub"] == "orders-service"
    assert claims["client_id"] == "orders-service"
    assert claims["tenant"] == "acme"


def test_client_credentials_wrong_secret_raises_invalid_client(metadata: Metadata) -> None:
    oauth = OAuth2Session(client=BackendApplicationClient(client_id="orders-service"))
    with pytest.raises(InvalidClientError) as caught:
        oauth.fetch_token(metadata["token_endpoint"], client_id="orders-service",
                          client_secret="wrong")
    assert caught.value.error == "invalid_client"
    assert caught.value.status_code == 401


def test_authorization_code_pkce_confidential_client(metadata: Metadata) -> None:
    oauth = OAuth2Session("web-app", redirect_uri="http://localhost:3000/callback",
                          scope=["openid", "profile", "email"], pkce="S256")
    url, state = oauth.authorization_url(metadata["authorization_endpoint"],
                                         login_hint="alice", nonce="n-0S6_WzA2Mj")
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"] == [state]

    location = approve_with_hint(url)
    token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=location,
                              client_secret="web-secret")
    assert token["token_type"] == "Bearer"
    assert token["scope"] == ["openid", "profile", "email"]
    assert token["refresh_token"]

    id_claims = verified_claims(token["id_token"], metadata, audience="web-app")
    assert id_claims["sub"] == "alice" and id_claims["nonce"] == "n-0S6_WzA2Mj"

    userinfo = oauth.get(metadata["userinfo_endpoint"])
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["sub"] == "alice"
    assert userinfo.json()["email"] == "alice@example.com"
    assert userinfo.json()["name"] == "Alice Admin"


def test_authorization_code_pkce_public_client(metadata: Metadata) -> None:
    # `spa` is public (no secret) and strict (PKCE and a nonce required): client_id in the
    # body, no auth.
    oauth = OAuth2Session("spa", redirect_uri="http://localhost:5173/callback",
                          scope=["openid", "email"], pkce="S256")
    url, _state = oauth.authorization_url(metadata["authorization_endpoint"], login_hint="bob",
                                          nonce="n-0S6_WzA2Mj")
    location = approve_with_hint(url)
    token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=location,
                              include_client_id=True)
    assert token["scope"] == ["openid", "email"]

    id_claims = verified_claims(token["id_token"], metadata, audience="spa")
    assert id_claims["sub"] == "bob"
    assert id_claims["email"] == "bob@example.com"
    assert "name" not in id_claims  # no profile scope

    userinfo = oauth.get(metadata["userinfo_endpoint"])
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["email"] == "bob@example.com"

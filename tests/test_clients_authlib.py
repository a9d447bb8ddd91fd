"""Authlib (requests integration) against mockidp, unchanged.

Authlib builds every request itself: authorization URLs with PKCE S256 and nonce, token
requests with client_secret_basic / client_secret_post, refresh, bearer calls to userinfo.  ID
tokens are validated the way Authlib's own ``parse_id_token`` does it (joserfc, Authlib's JOSE
backend since 1.7, plus `authlib.oidc.core.CodeIDToken`), against the JWKS fetched over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt as jose_jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet

from mockidp import MockIdP

CLIENT_ID = "web-app"
CLIENT_SECRET = "web-secret"
REDIRECT = "http://localhost:3000/callback"
SCOPE = "openid profile email"

Metadata = dict[str, Any]


@pytest.fixture
def metadata(mockidp: MockIdP) -> Metadata:
    """The default issuer's discovery document: Authlib fetches nothing by itself."""
    response = requests.get(f"{mockidp.issuer_url()}/.well-known/openid-configuration")
    assert response.status_code == 200
    doc: Metadata = response.json()
    return doc


@pytest.fixture
def client() -> Iterator[OAuth2Session]:
    """The confidential ``web-app`` client, PKCE S256, client_secret_basic (Authlib default)."""
    with OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        scope=SCOPE,
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    ) as session:
        yield session


class LoginForm(HTMLParser):
    """The login page's form: its action, its named inputs and its submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method: str | None = None
        self.inputs: dict[str, str] = {}
        self.textareas: list[str] = []
        self.actions: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action, self.method = found.get("action"), found.get("method", "get").lower()
        elif tag == "input" and found.get("name"):
            self.inputs[found["name"]] = found.get("value", "")
        elif tag == "textarea" and found.get("name"):
            self.textareas.append(found["name"])
        elif tag == "button" and found.get("name") == "action":
            self.actions.append(found.get("value", ""))


def log_in_on_page(authorization_url: str, username: str, claims: dict[str, Any]) -> str:
    """Act as the browser: open the login page, fill it in, approve; the redirect Location."""
    with requests.Session() as browser:
        page = browser.get(authorization_url, allow_redirects=False)
        assert page.status_code == 200, page.text
        assert page.headers["Content-Type"].startswith("text/html")
        form = LoginForm()
        form.feed(page.text)
        assert form.method == "post" and form.action
        assert form.inputs.get("interaction"), "hidden interaction field missing"
        assert "username" in form.inputs and "claims" in form.textareas
        assert set(form.actions) == {"approve", "deny"}
        answer = browser.post(
            urljoin(page.url, form.action),
            data={
                "interaction": form.inputs["interaction"],
                "username": username,
                "claims": json.dumps(claims),
                "action": "approve",
            },
            allow_redirects=False,
        )
    assert answer.status_code in (302, 303), answer.text
    location: str = answer.headers["Location"]
    return location


def authorize_with_hint(
    client: OAuth2Session, metadata: Metadata, user: str = "alice"
) -> tuple[str, str, str]:
    """An Authlib-built authorization URL approved at once through ``login_hint``.

    Returns (authorization response URL, state, code_verifier)."""
    verifier = generate_token(48)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, login_hint=user
    )
    response = requests.get(url, allow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["Location"], state, verifier


def validated_id_token(
    token: dict[str, Any], metadata: Metadata, nonce: str, client_id: str = CLIENT_ID
) -> CodeIDToken:
    """Validate ``token["id_token"]`` as Authlib's ``parse_id_token`` does, with aud required."""
    jwks = requests.get(metadata["jwks_uri"]).json()
    decoded = jose_jwt.decode(
        token["id_token"],
        KeySet.import_key_set(jwks),
        algorithms=metadata["id_token_signing_alg_values_supported"],
    )
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {
            "iss": {"essential": True, "value": metadata["issuer"]},
            "aud": {"essential": True, "value": client_id},
            "nonce": {"essential": True},
            "at_hash": {"essential": True},
        },
        {"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate()
    return claims


def test_code_pkce_with_interactive_login(client: OAuth2Session, metadata: Metadata) -> None:
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]

    typed = {"department": "research", "clearance": 3}
    location = log_in_on_page(url, "bob", typed)
    assert location.startswith(REDIRECT + "?")
    assert parse_qs(urlsplit(location).query)["iss"] == [metadata["issuer"]]  # RFC 9207

    token = client.fetch_token(
        metadata["token_endpoint"], authorization_response=location, state=state,
        code_verifier=verifier,
    )
    assert token["token_type"] == "Bearer"
    assert {"access_token", "id_token", "refresh_token"} <= token.keys()

    claims = validated_id_token(token, metadata, nonce)
    assert claims["sub"] == "bob"
    assert claims["nonce"] == nonce
    assert claims["email"] == "bob@example.com"
    assert claims["department"] == "research" and claims["clearance"] == 3
    # The validation above is real: a wrong nonce or another access token is refused.
    with pytest.raises(InvalidClaimError, match="nonce"):
        validated_id_token(token, metadata, nonce="not-the-nonce")
    with pytest.raises(InvalidClaimError, match="at_hash"):
        validated_id_token({**token, "access_token": "another-token"}, metadata, nonce)

    userinfo = client.get(metadata["userinfo_endpoint"])
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["sub"] == "bob"
    assert userinfo.json()["name"] == "Bob Builder"
    assert userinfo.json()["department"] == "research"
    assert userinfo.json()["clearance"] == 3


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials(metadata: Metadata, method: str) -> None:
    sent: list[requests.PreparedRequest] = []
    with OAuth2Session("orders-service", "orders-secret",
                       token_endpoint_auth_method=method) as client:
        client.hooks["response"].append(lambda r, *a, **k: sent.append(r.request))
        token = client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")

    body = parse_qs(str(sent[0].body))
    if method == "client_secret_basic":
        assert sent[0].headers["Authorization"].startswith("Basic ")
        assert "client_secret" not in body
    else:
        assert "Authorization" not in sent[0].headers
        assert body["client_secret"] == ["orders-secret"]
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 60
    assert "refresh_token" not in token and "id_token" not in token  # RFC 6749 §4.4.3

    jwks = KeySet.import_key_set(requests.get(metadata["jwks_uri"]).json())
    claims = jose_jwt.decode(token["access_token"], jwks, algorithms=["RS256"]).claims
    assert claims["iss"] == metadata["issuer"]
    assert claims["aud"] == "orders-api"
    assert claims["sub"] == "orders-service"
    assert claims["client_id"] == "orders-service"
    assert claims["tenant"] == "acme"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_wrong_secret_is_invalid_client(metadata: Metadata,
                                                           method: str) -> None:
    with OAuth2Session("orders-service", "not-the-secret",
                       token_endpoint_auth_method=method) as client, \
            pytest.raises(OAuthError) as caught:
        client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert caught.value.error == "invalid_client"


def test_refresh_rotates_and_rejects_the_old_token(client: OAuth2Session,
                                                   metadata: Metadata) -> None:
    location, state, verifier = authorize_with_hint(client, metadata)
    first = dict(client.fetch_token(metadata["token_endpoint"], authorization_response=location,
                                    state=state, code_verifier=verifier))
    old_refresh = first["refresh_token"]

    second = dict(client.refresh_token(metadata["token_endpoint"]))
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != old_refresh, "rotation is on by default"
    userinfo = client.get(metadata["userinfo_endpoint"])  # the session now holds `second`
    assert userinfo.status_code == 200 and userinfo.json()["sub"] == "alice"

    with pytest.raises(OAuthError) as caught:
        client.refresh_token(metadata["token_endpoint"], refresh_token=old_refresh)
    assert caught.value.error == "invalid_grant"
    # Reuse of a rotated-away token revokes its whole family (RFC 9700 §4.14.2).
    with pytest.raises(OAuthError) as caught:
        client.refresh_token(metadata["token_endpoint"], refresh_token=second["refresh_token"])
    assert caught.value.error == "invalid_grant"


def test_code_is_single_use(client: OAuth2Session, metadata: Metadata) -> None:
    location, state, verifier = authorize_with_hint(client, metadata)
    first = dict(client.fetch_token(metadata["token_endpoint"], authorization_response=location,
                                    state=state, code_verifier=verifier))
    assert first["access_token"]

    with pytest.raises(OAuthError) as caught:
        client.fetch_token(metadata["token_endpoint"], authorization_response=location,
                           state=state, code_verifier=verifier)
    assert caught.value.error == "invalid_grant"
    # RFC 6749 §4.1.2: tokens issued from a replayed code are revoked.
    with pytest.raises(OAuthError) as caught:
        client.refresh_token(metadata["token_endpoint"], refresh_token=first["refresh_token"])
    assert caught.value.error == "invalid_grant"


def test_replayed_code_revokes_the_access_token_it_issued(client: OAuth2Session,
                                                          metadata: Metadata) -> None:
    # RFC 6749 §4.1.2: on a second use the server SHOULD revoke (when possible) every token
    # issued from the code; mockidp can (it revokes by jti) and its error says it does.
    location, state, verifier = authorize_with_hint(client, metadata)
    client.fetch_token(metadata["token_endpoint"], authorization_response=location,
                       state=state, code_verifier=verifier)
    assert client.get(metadata["userinfo_endpoint"]).status_code == 200

    with OAuth2Session(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT) as replayer, \
            pytest.raises(OAuthError) as caught:
        replayer.fetch_token(metadata["token_endpoint"], authorization_response=location,
                             state=state, code_verifier=verifier)
    assert caught.value.error == "invalid_grant"

    after = client.get(metadata["userinfo_endpoint"])  # the first access token, replayed code
    assert after.status_code == 401
    assert 'error="invalid_token"' in after.headers["WWW-Authenticate"]


def test_wrong_pkce_verifier_is_invalid_grant(client: OAuth2Session,
                                              metadata: Metadata) -> None:
    location, state, _verifier = authorize_with_hint(client, metadata)
    with pytest.raises(OAuthError) as caught:
        client.fetch_token(metadata["token_endpoint"], authorization_response=location,
                           state=state, code_verifier=generate_token(48))
    assert caught.value.error == "invalid_grant"
    assert "code_verifier" in (caught.value.description or "")

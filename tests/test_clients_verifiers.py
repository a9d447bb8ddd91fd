"""Resource-server verifiers against mockidp's tokens: PyJWT's `PyJWKClient` and jwcrypto.

Tokens come from the token endpoint over HTTP (code flow and client credentials), on the RS256
issuer ``default`` and the ES256 issuer ``partner``; keys come from the issuer's JWKS over
HTTP.  Both verifiers must accept them, and must refuse a token signed by another issuer's keys
and a token whose payload was altered.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from jwcrypto import jwk
from jwcrypto import jwt as jcjwt
from jwcrypto.common import JWException
from jwcrypto.jws import InvalidJWSSignature

from mockidp import MockIdP

CLIENT_ID = "web-app"
REDIRECT = "http://localhost:3000/callback"
# (issuer, its signing algorithm per fixtures/config.toml, a user of that issuer)
ISSUERS = [("default", "RS256", "alice"), ("partner", "ES256", "carol")]
by_issuer = pytest.mark.parametrize(("issuer", "alg", "user"), ISSUERS, ids=["RS256", "ES256"])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def code_flow_tokens(idp: MockIdP, issuer: str, user: str) -> tuple[dict[str, Any], str]:
    """(token response, nonce) of a code flow with PKCE, approved through login_hint."""
    base = idp.issuer_url(issuer)
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    authorized = requests.get(
        f"{base}/authorize",
        params={
            "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
            "scope": "openid profile email", "login_hint": user, "nonce": nonce,
            "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
    )
    assert authorized.status_code == 302, authorized.text
    code = parse_qs(urlsplit(authorized.headers["Location"]).query)["code"][0]
    response = requests.post(
        f"{base}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
              "code_verifier": verifier},
        auth=(CLIENT_ID, "web-secret"),
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens, nonce


def client_credentials_token(idp: MockIdP, issuer: str) -> str:
    response = requests.post(f"{idp.issuer_url(issuer)}/token",
                             data={"grant_type": "client_credentials"},
                             auth=("orders-service", "orders-secret"))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def tampered(token: str) -> str:
    """The same token with ``sub`` changed in the payload; header and signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "mallory"
    return ".".join([header, b64url(json.dumps(claims).encode()), signature])


def jwks_json(idp: MockIdP, issuer: str) -> str:
    response = requests.get(f"{idp.issuer_url(issuer)}/jwks")
    assert response.status_code == 200
    return response.text


# -- PyJWT ------------------------------------------------------------------------------------

def pyjwt_verify(idp: MockIdP, issuer: str, token: str, alg: str,
                 audience: str) -> dict[str, Any]:
    key = jwt.PyJWKClient(f"{idp.issuer_url(issuer)}/jwks").get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=[alg], audience=audience, issuer=idp.issuer_url(issuer),
        options={"require": ["iss", "sub", "aud", "exp", "iat"]},
    )
    return claims


@by_issuer
def test_pyjwt_verifies_code_flow_tokens(mockidp: MockIdP, issuer: str, alg: str,
                                         user: str) -> None:
    tokens, nonce = code_flow_tokens(mockidp, issuer, user)
    for token in (tokens["access_token"], tokens["id_token"]):
        assert jwt.get_unverified_header(token)["alg"] == alg

    access = pyjwt_verify(mockidp, issuer, tokens["access_token"], alg, audience=CLIENT_ID)
    assert access["sub"] == user
    assert access["scope"] == "openid profile email"

    id_claims = pyjwt_verify(mockidp, issuer, tokens["id_token"], alg, audience=CLIENT_ID)
    assert id_claims["sub"] == user
    assert id_claims["nonce"] == nonce
    digest = jwt.get_algorithm_by_name(alg).compute_hash_digest(tokens["access_token"].encode())
    assert id_claims["at_hash"] == b64url(digest[: len(digest) // 2])


@by_issuer
def test_pyjwt_enforces_client_credentials_audience(mockidp: MockIdP, issuer: str, alg: str,
                                                    user: str) -> None:
    token = client_credentials_token(mockidp, issuer)
    claims = pyjwt_verify(mockidp, issuer, token, alg, audience="orders-api")
    assert claims["sub"] == "orders-service" and claims["tenant"] == "acme"
    with pytest.raises(jwt.InvalidAudienceError):
        pyjwt_verify(mockidp, issuer, token, alg, audience="some-other-api")


@by_issuer
def test_pyjwt_rejects_another_issuers_token(mockidp: MockIdP, issuer: str, alg: str,
                                             user: str) -> None:
    foreign = mockidp.mint(user, issuer="other", audience=CLIENT_ID, alg=alg)
    with pytest.raises(jwt.PyJWKClientError):  # its kid is not in this issuer's JWKS
        pyjwt_verify(mockidp, issuer, foreign, alg, audience=CLIENT_ID)
    # Nor does it verify with this issuer's key for the same algorithm, whatever the kid says.
    own = next(k for k in jwt.PyJWKSet.from_json(jwks_json(mockidp, issuer)).keys
               if k.algorithm_name == alg)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(foreign, own.key, algorithms=[alg], audience=CLIENT_ID)


@by_issuer
def test_pyjwt_rejects_a_tampered_token(mockidp: MockIdP, issuer: str, alg: str,
                                        user: str) -> None:
    tokens, _nonce = code_flow_tokens(mockidp, issuer, user)
    for token in (tokens["access_token"], tokens["id_token"]):
        with pytest.raises(jwt.InvalidSignatureError):
            pyjwt_verify(mockidp, issuer, tampered(token), alg, audience=CLIENT_ID)


# -- jwcrypto ---------------------------------------------------------------------------------

def jwcrypto_verify(token: str, key: jwk.JWK | jwk.JWKSet,
                    check_claims: dict[str, Any]) -> dict[str, Any]:
    verified = jcjwt.JWT(jwt=token, key=key, check_claims=check_claims, expected_type="JWS")
    claims: dict[str, Any] = json.loads(verified.claims)
    return claims


@by_issuer
def test_jwcrypto_verifies_code_flow_tokens(mockidp: MockIdP, issuer: str, alg: str,
                                            user: str) -> None:
    tokens, nonce = code_flow_tokens(mockidp, issuer, user)
    keyset = jwk.JWKSet.from_json(jwks_json(mockidp, issuer))
    expected = {"iss": mockidp.issuer_url(issuer), "aud": CLIENT_ID, "exp": None, "iat": None,
                "sub": user}

    access = jwcrypto_verify(tokens["access_token"], keyset, expected)
    assert access["client_id"] == CLIENT_ID
    id_claims = jwcrypto_verify(tokens["id_token"], keyset, {**expected, "nonce": nonce})
    assert id_claims["email"]
    assert id_claims["auth_time"] <= id_claims["iat"]


@by_issuer
def test_jwcrypto_verifies_client_credentials_token(mockidp: MockIdP, issuer: str, alg: str,
                                                    user: str) -> None:
    token = client_credentials_token(mockidp, issuer)
    keyset = jwk.JWKSet.from_json(jwks_json(mockidp, issuer))
    claims = jwcrypto_verify(token, keyset, {"iss": mockidp.issuer_url(issuer),
                                             "aud": "orders-api", "exp": None,
                                             "sub": "orders-service", "tenant": "acme"})
    assert claims["client_id"] == "orders-service"
    with pytest.raises(jcjwt.JWTInvalidClaimValue):
        jwcrypto_verify(token, keyset, {"aud": "some-other-api"})


@by_issuer
def test_jwcrypto_rejects_another_issuers_token(mockidp: MockIdP, issuer: str, alg: str,
                                                user: str) -> None:
    foreign = mockidp.mint(user, issuer="other", audience=CLIENT_ID, alg=alg)
    keyset = jwk.JWKSet.from_json(jwks_json(mockidp, issuer))
    with pytest.raises(jcjwt.JWTMissingKey):
        jwcrypto_verify(foreign, keyset, {"aud": CLIENT_ID})
    own = next(k for k in keyset if k.get("alg") == alg)
    with pytest.raises(InvalidJWSSignature):
        jwcrypto_verify(foreign, own, {"aud": CLIENT_ID})


@by_issuer
def test_jwcrypto_rejects_a_tampered_token(mockidp: MockIdP, issuer: str, alg: str,
                                           user: str) -> None:
    tokens, _nonce = code_flow_tokens(mockidp, issuer, user)
    keyset = jwk.JWKSet.from_json(jwks_json(mockidp, issuer))
    for token in (tokens["access_token"], tokens["id_token"]):
        kid = jwt.get_unverified_header(token)["kid"]
        with pytest.raises(JWException):  # jwcrypto reports "Missing Key": none verified it
            jwcrypto_verify(tampered(token), keyset, {"aud": CLIENT_ID})
        with pytest.raises(InvalidJWSSignature):
            jwcrypto_verify(tampered(token), keyset.get_key(kid), {"aud": CLIENT_ID})

"""Discovery (OIDC Discovery 1.0, RFC 8414) and JWKS (RFC 7517)."""

from __future__ import annotations

import jwt
import requests

from mockidp import MockIdP
from mockidp.core.settings import SIGNING_ALGS


def test_openid_configuration_is_truthful(mockidp: MockIdP) -> None:
    doc = requests.get(f"{mockidp.issuer_url()}/.well-known/openid-configuration").json()
    issuer = mockidp.issuer_url()
    assert doc["issuer"] == issuer
    for key, path in {
        "authorization_endpoint": "/authorize",
        "token_endpoint": "/token",
        "userinfo_endpoint": "/userinfo",
        "jwks_uri": "/jwks",
        "introspection_endpoint": "/introspect",
        "revocation_endpoint": "/revoke",
        "end_session_endpoint": "/endsession",
    }.items():
        assert doc[key] == issuer + path
    assert doc["response_types_supported"] == [
        "code", "token", "id_token", "id_token token", "code id_token", "code token",
        "code id_token token"]
    assert doc["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert set(doc["grant_types_supported"]) == {
        "authorization_code", "implicit", "refresh_token", "client_credentials", "password",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    }
    assert doc["code_challenge_methods_supported"] == ["S256", "plain"]
    assert doc["id_token_signing_alg_values_supported"] == [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt",
        "none"
    ]
    # Features that do not work yet must be declared off, not left to defaults.
    assert doc["request_uri_parameter_supported"] is False
    assert doc["request_parameter_supported"] is False
    assert doc["claims_parameter_supported"] is True
    # Every advertised endpoint answers something other than 404.
    for key in ("jwks_uri", "userinfo_endpoint", "token_endpoint"):
        assert requests.get(doc[key]).status_code != 404


def test_every_advertised_grant_works(mockidp: MockIdP) -> None:
    doc = requests.get(f"{mockidp.issuer_url()}/.well-known/openid-configuration").json()
    # grant types other than authorization_code/refresh_token are exercised directly here;
    # the code and refresh flows have their own tests (test_token.py, test_clients_*.py).
    for grant, data in {
        "client_credentials": {},
        "password": {"username": "someone", "password": "x"},
    }.items():
        assert grant in doc["grant_types_supported"]
        response = requests.post(doc["token_endpoint"], data={"grant_type": grant, **data},
                                 auth=("any-client", "any-secret"))
        assert response.status_code == 200, response.text


def test_rfc8414_metadata_at_both_locations(mockidp: MockIdP) -> None:
    inserted = requests.get(f"{mockidp.url}/.well-known/oauth-authorization-server/default")
    appended = requests.get(f"{mockidp.issuer_url()}/.well-known/oauth-authorization-server")
    assert inserted.status_code == appended.status_code == 200
    assert inserted.json() == appended.json()
    doc = inserted.json()
    assert doc["issuer"] == mockidp.issuer_url()
    assert "userinfo_endpoint" not in doc
    assert doc["token_endpoint"] == mockidp.issuer_url() + "/token"


def test_issuers_are_created_on_first_use(mockidp: MockIdP) -> None:
    doc = requests.get(f"{mockidp.url}/tenant-42/.well-known/openid-configuration").json()
    assert doc["issuer"] == f"{mockidp.url}/tenant-42"
    assert requests.get(f"{mockidp.url}/tenant-42/jwks").json()["keys"]


def test_jwks_public_only_with_kid_kty_use_alg(mockidp: MockIdP) -> None:
    response = requests.get(f"{mockidp.issuer_url()}/jwks")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert {k["alg"] for k in keys} == set(SIGNING_ALGS)
    assert len({k["kid"] for k in keys}) == len(keys)
    for key in keys:
        assert {"kid", "kty", "use", "alg"} <= key.keys()
        assert key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys(), "private members leaked"


def test_rs256_is_default_and_verifies_with_pyjwk_client(mockidp: MockIdP) -> None:
    token = mockidp.mint("alice", audience="api")
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    signing_key = jwt.PyJWKClient(f"{mockidp.issuer_url()}/jwks").get_signing_key_from_jwt(token)
    claims = jwt.decode(token, signing_key.key, algorithms=["RS256"], audience="api",
                        issuer=mockidp.issuer_url())
    assert claims["sub"] == "alice"


def test_es256_issuer_signs_with_es256(mockidp: MockIdP) -> None:
    # fixtures/config.toml declares issuer "partner" with signing_alg = "ES256"
    token = mockidp.mint("carol", issuer="partner", audience="api")
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    signing_key = jwt.PyJWKClient(f"{mockidp.issuer_url('partner')}/jwks"
                                  ).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, signing_key.key, algorithms=["ES256"], audience="api")
    assert claims["email"] == "carol@partner.example"
    assert claims["iss"] == mockidp.issuer_url("partner")

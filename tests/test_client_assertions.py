"""JWT client authentication (RFC 7523 §2.2, OIDC Core §9) and the jwt-bearer grant (RFC 7523
§2.1), driven by real clients: Authlib (``PrivateKeyJWT``, ``ClientSecretJWT``,
``AssertionSession``), requests-oauthlib and openid-client (npm).  Every refusal is checked
for its exact RFC error code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import AssertionSession, OAuth2Session
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, OctKey, RSAKey
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session as OAuthlibSession

from mockidp import MockIdP
from mockidp.core.stores import MemoryStore

from .conftest import run_node, token_url

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PK_CLIENT = "pkjwt-app"  # private_key_jwt, inline jwks, method enforced
SECRET_CLIENT = "secret-jwt-app"  # client_secret_jwt, method enforced
SECRET = "client-secret-jwt-0123456789abcdef-0123456789abcdef-0123456789"  # 64 bytes: HS512
ISSUING_CLIENT = "assertion-issuer"  # signs its own jwt-bearer assertions; public client
STRANGER = "nobody-knows-me"  # registered nowhere
STRANGER_SECRET = "the-strangers-own-secret-0123456789abcdef"  # the provider cannot know it


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str, alg: str
               ) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith(("RS", "PS")) \
        else jwt.algorithms.ECAlgorithm
    return {**algorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig",
            "alg": alg}


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clients(mockidp: MockIdP, rsa_key: rsa.RSAPrivateKey) -> MockIdP:
    """Three registered clients: private_key_jwt, client_secret_jwt, and a public client with
    keys that signs its own jwt-bearer assertions."""
    jwks = {"keys": [public_jwk(rsa_key, "pk-1", "RS256")]}
    mockidp.add_client(PK_CLIENT, jwks=jwks, token_endpoint_auth_method="private_key_jwt")
    mockidp.add_client(SECRET_CLIENT, SECRET, token_endpoint_auth_method="client_secret_jwt")
    mockidp.add_client(ISSUING_CLIENT, jwks=jwks)
    return mockidp


def assertion_claims(idp: MockIdP, client_id: str = PK_CLIENT, **overrides: Any
                     ) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": token_url(idp),
                              "iat": now, "exp": now + 60, "jti": secrets.token_urlsafe(16)}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims: dict[str, Any], key: Any, alg: str = "RS256", kid: str | None = "pk-1") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)


def hmac_jwt(claims: dict[str, Any], secret: bytes) -> str:
    """HS256 by hand: PyJWT (rightly) refuses a PEM public key as an HMAC secret."""
    def part(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = part(b'{"alg":"HS256","typ":"JWT"}') + b"." + part(json.dumps(claims).encode())
    mac = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + part(mac)).decode()


def post_assertion(idp: MockIdP, assertion: str, url: str | None = None,
                   **data: str) -> requests.Response:
    return requests.post(url or token_url(idp), data={
        "grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion, **data})


def refused(response: requests.Response, error: str, why: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert why in body.get("error_description", ""), body


# -- a JWKS served over HTTP on 127.0.0.1, for jwks_uri ---------------------------------------

@dataclass
class JwksHost:
    url: str = ""
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    status: int = 200
    body: bytes | None = None
    fetches: int = 0


@pytest.fixture
def jwks_host() -> Iterator[JwksHost]:
    host = JwksHost()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host.fetches += 1
            body = host.body if host.body is not None else json.dumps(host.jwks).encode()
            self.send_response(host.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host.url = f"http://127.0.0.1:{server.server_port}/client/jwks.json"
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()


# -- discovery --------------------------------------------------------------------------------

def test_discovery_lists_the_jwt_methods_and_their_algorithms(mockidp: MockIdP) -> None:
    doc = requests.get(f"{mockidp.issuer_url()}/.well-known/openid-configuration").json()
    for endpoint in ("token", "introspection", "revocation"):
        methods = doc[f"{endpoint}_endpoint_auth_methods_supported"]
        assert {"client_secret_jwt", "private_key_jwt"} <= set(methods)
        algs = doc[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
        assert {"HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "EdDSA"} <= set(algs)
        assert "none" not in algs
    assert JWT_BEARER in doc["grant_types_supported"]
    oauth = requests.get(f"{mockidp.issuer_url()}/.well-known/oauth-authorization-server").json()
    assert "private_key_jwt" in oauth["token_endpoint_auth_methods_supported"]


# -- Authlib ----------------------------------------------------------------------------------

def test_authlib_private_key_jwt_with_inline_jwks(clients: MockIdP,
                                                  rsa_key: rsa.RSAPrivateKey) -> None:
    url = token_url(clients)
    with OAuth2Session(PK_CLIENT, pem(rsa_key),
                       token_endpoint_auth_method=PrivateKeyJWT(url, headers={"kid": "pk-1"})
                       ) as session:
        token = session.fetch_token(url, grant_type="client_credentials", scope="orders:read")
    access = claims_of(token["access_token"])
    assert access["client_id"] == access["sub"] == PK_CLIENT
    assert access["scope"] == "orders:read"
    (exchange,) = clients.calls(endpoint="token")
    assert exchange.client_id == PK_CLIENT and exchange.status == 200
    assert exchange.params["client_assertion_type"] == ASSERTION_TYPE
    assert exchange.unverified == ()  # a registered client's signature is always checked


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_authlib_client_secret_jwt(clients: MockIdP, alg: str) -> None:
    url = token_url(clients)
    with OAuth2Session(SECRET_CLIENT, SECRET,
                       token_endpoint_auth_method=ClientSecretJWT(url, alg=alg)) as session:
        token = session.fetch_token(url, grant_type="client_credentials")
    assert claims_of(token["access_token"])["client_id"] == SECRET_CLIENT


def test_authlib_private_key_jwt_es256_from_jwks_uri_cached_then_rotated(
        mockidp: MockIdP, jwks_host: JwksHost) -> None:
    first, second = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    jwks_host.jwks = {"keys": [public_jwk(first, "ec-1", "ES256")]}
    mockidp.add_client("remote-keys", jwks_uri=jwks_host.url)
    url = token_url(mockidp)

    def fetch(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
        auth = PrivateKeyJWT(url, alg="ES256", headers={"kid": kid})
        with OAuth2Session("remote-keys", ECKey.import_key(pem(key)),
                           token_endpoint_auth_method=auth) as session:
            return dict(session.fetch_token(url, grant_type="client_credentials"))

    fetch(first, "ec-1")
    fetch(first, "ec-1")
    assert jwks_host.fetches == 1  # the second assertion used the cached JWKS
    # The client rotates: a kid the cached document does not have makes one fresh fetch.
    jwks_host.jwks = {"keys": [public_jwk(second, "ec-2", "ES256")]}
    assert claims_of(fetch(second, "ec-2")["access_token"])["client_id"] == "remote-keys"
    assert jwks_host.fetches == 2


def test_authlib_private_key_jwt_at_introspection_and_revocation(
        clients: MockIdP, rsa_key: rsa.RSAPrivateKey) -> None:
    # Without a fixed audience Authlib signs for the URL it posts to: the introspection and
    # revocation endpoints accept their own URL as aud.
    url = token_url(clients)
    with OAuth2Session(PK_CLIENT, pem(rsa_key), token_endpoint_auth_method=PrivateKeyJWT(),
                       revocation_endpoint_auth_method=PrivateKeyJWT()) as session:
        token = session.fetch_token(url, grant_type="client_credentials")
        issuer = clients.issuer_url()
        info = session.introspect_token(f"{issuer}/introspect", token["access_token"])
        assert info.status_code == 200, info.text
        assert info.json()["active"] is True
        revoked = session.revoke_token(f"{issuer}/revoke", token["access_token"])
        assert revoked.status_code == 200, revoked.text
        info = session.introspect_token(f"{issuer}/introspect", token["access_token"])
        assert info.json() == {"active": False}


# -- requests-oauthlib ------------------------------------------------------------------------

def test_requests_oauthlib_client_credentials_with_a_client_assertion(
        clients: MockIdP, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # mockidp serves plain http here
    # include_client_id: without it requests-oauthlib adds HTTP Basic with an empty secret,
    # which is a second authentication method next to the assertion.
    session = OAuthlibSession(client=BackendApplicationClient(client_id=PK_CLIENT))
    token = session.fetch_token(
        token_url(clients), include_client_id=True, client_assertion_type=ASSERTION_TYPE,
        client_assertion=sign(assertion_claims(clients), rsa_key))
    assert claims_of(token["access_token"])["client_id"] == PK_CLIENT


# -- openid-client (npm) ----------------------------------------------------------------------

def test_openid_client_private_key_jwt(clients: MockIdP, rsa_key: rsa.RSAPrivateKey,
                                       tmp_path: Path) -> None:
    # openid-client signs for aud = the issuer identifier, exp = iat + 60, with nbf and jti.
    key_file = tmp_path / "client.pem"
    key_file.write_bytes(pem(rsa_key))
    result = run_node("assertions_client_auth.mjs", clients.issuer_url(), PK_CLIENT,
                      "private_key_jwt", str(key_file), "pk-1")
    assert result["access"]["client_id"] == PK_CLIENT
    assert result["introspection"]["active"] is True


def test_openid_client_client_secret_jwt(clients: MockIdP) -> None:
    result = run_node("assertions_client_auth.mjs", clients.issuer_url(), SECRET_CLIENT,
                      "client_secret_jwt", SECRET)
    assert result["access"]["client_id"] == SECRET_CLIENT
    assert result["introspection"]["active"] is True


# -- what is accepted -------------------------------------------------------------------------

def test_aud_may_be_the_issuer_or_the_token_endpoint(clients: MockIdP,
                                                     rsa_key: rsa.RSAPrivateKey) -> None:
    for aud in (clients.issuer_url(), token_url(clients), [token_url(clients), "other"]):
        response = post_assertion(clients, sign(assertion_claims(clients, aud=aud), rsa_key))
        assert response.status_code == 200, (aud, response.text)


def test_a_little_clock_skew_is_tolerated(clients: MockIdP, rsa_key: rsa.RSAPrivateKey) -> None:
    now = int(time.time())
    claims = assertion_claims(clients, iat=now + 20, nbf=now + 20, exp=now - 20)
    assert post_assertion(clients, sign(claims, rsa_key)).status_code == 200


def test_client_id_may_accompany_the_assertion(clients: MockIdP,
                                               rsa_key: rsa.RSAPrivateKey) -> None:
    response = post_assertion(clients, sign(assertion_claims(clients), rsa_key),
                              client_id=PK_CLIENT)
    assert response.status_code == 200, response.text


# -- refusals: invalid_client with what failed ------------------------------------------------

@pytest.mark.parametrize(("overrides", "why"), [
    ({"exp": int(time.time()) - 600}, "expired"),
    ({"exp": None}, "missing 'exp'"),
    ({"exp": "soon"}, "'exp' must be a number"),
    ({"exp": float("inf")}, "'exp' must be a number"),
    ({"iat": float("nan")}, "'iat' must be a number"),
    ({"nbf": int(time.time()) + 600}, "not valid yet"),
    ({"iat": int(time.time()) + 600}, "issued in the future"),
    ({"jti": None}, "missing 'jti'"),
    ({"aud": "https://elsewhere.example/token"}, "does not name this provider"),
    ({"aud": None}, "missing 'aud'"),
    ({"iss": "someone-else"}, "'iss' must be the client id"),
    ({"sub": None}, "missing 'sub'"),
], ids=["expired", "no-exp", "exp-not-a-number", "exp-infinite", "iat-nan", "nbf-future",
        "iat-future", "no-jti", "wrong-aud", "no-aud", "wrong-iss", "no-sub"])
def test_bad_claims_are_invalid_client(clients: MockIdP, rsa_key: rsa.RSAPrivateKey,
                                       overrides: dict[str, Any], why: str) -> None:
    response = post_assertion(clients, sign(assertion_claims(clients, **overrides), rsa_key))
    refused(response, "invalid_client", why, 401)


def test_expiry_is_judged_on_the_provider_clock(clients: MockIdP,
                                                rsa_key: rsa.RSAPrivateKey) -> None:
    assertion = sign(assertion_claims(clients), rsa_key)  # valid for 60 s of real time
    clients.set_clock(advance=3600)
    refused(post_assertion(clients, assertion), "invalid_client", "expired", 401)


def test_a_replayed_assertion_is_invalid_client(clients: MockIdP,
                                                rsa_key: rsa.RSAPrivateKey) -> None:
    assertion = sign(assertion_claims(clients), rsa_key)
    assert post_assertion(clients, assertion).status_code == 200
    refused(post_assertion(clients, assertion), "invalid_client", "already used (replay)", 401)


def test_a_raced_replay_succeeds_exactly_once(clients: MockIdP,
                                              rsa_key: rsa.RSAPrivateKey) -> None:
    assertion = sign(assertion_claims(clients), rsa_key)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: post_assertion(clients, assertion).status_code,
                                 range(8)))
    assert sorted(statuses) == [200] + [401] * 7


def test_assertions_sent_to_the_introspection_endpoint_do_not_work_at_the_token_endpoint(
        clients: MockIdP, rsa_key: rsa.RSAPrivateKey) -> None:
    claims = assertion_claims(clients, aud=f"{clients.issuer_url()}/introspect")
    refused(post_assertion(clients, sign(claims, rsa_key)), "invalid_client",
            "does not name this provider", 401)


@pytest.mark.parametrize(("how", "why"), [
    ("other-key", "RS256 signature does not verify"),
    ("unknown-kid", "no key in the client's jwks fits"),
    ("alg-none", "alg 'none' is not accepted"),
    ("hs256-public-key", "registered for token_endpoint_auth_method private_key_jwt"),
    ("es256-with-rsa-jwks", "no key in the client's jwks fits"),
])
def test_bad_signatures_are_invalid_client(clients: MockIdP, rsa_key: rsa.RSAPrivateKey,
                                           other_rsa_key: rsa.RSAPrivateKey, how: str,
                                           why: str) -> None:
    claims = assertion_claims(clients)
    if how == "other-key":
        assertion = sign(claims, other_rsa_key)
    elif how == "unknown-kid":
        assertion = sign(claims, rsa_key, kid="nope")
    elif how == "alg-none":
        assertion = jwt.encode(claims, None, algorithm="none")
    elif how == "hs256-public-key":  # algorithm confusion: the public key as an HMAC secret
        assertion = hmac_jwt(claims, rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    else:
        assertion = sign(claims, ec.generate_private_key(ec.SECP256R1()), alg="ES256")
    refused(post_assertion(clients, assertion), "invalid_client", why, 401)


def test_hmac_for_a_client_without_a_secret_is_invalid_client(
        clients: MockIdP, rsa_key: rsa.RSAPrivateKey) -> None:
    # Algorithm confusion again, for a client whose method is not fixed: keys, no secret.
    # The client is registered, so permissive mode does not take its assertion unverified.
    public = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assertion = hmac_jwt(assertion_claims(clients, ISSUING_CLIENT), public)
    refused(post_assertion(clients, assertion), "invalid_client",
            f"client '{ISSUING_CLIENT}' has no secret to check an HS256 signature", 401)


def test_client_secret_jwt_with_the_wrong_secret_is_invalid_client(clients: MockIdP) -> None:
    claims = assertion_claims(clients, SECRET_CLIENT)
    assertion = jwt.encode(claims, "x" * 64, algorithm="HS256")
    refused(post_assertion(clients, assertion), "invalid_client",
            "HS256 signature does not verify with the client's secret", 401)


def test_a_registered_clients_signature_is_checked_in_strict_mode_too() -> None:
    with MockIdP({"strict": True, "clients": {SECRET_CLIENT: {"secret": SECRET}}}) as idp:
        good = jwt.encode(assertion_claims(idp, SECRET_CLIENT), SECRET, algorithm="HS256")
        assert post_assertion(idp, good).status_code == 200
        bad = jwt.encode(assertion_claims(idp, SECRET_CLIENT), "x" * 64, algorithm="HS256")
        refused(post_assertion(idp, bad), "invalid_client",
                "HS256 signature does not verify with the client's secret", 401)
        assert [e.unverified for e in idp.calls(endpoint="token")] == [(), ()]


def test_unregistered_clients_cannot_use_jwt_methods_in_strict_mode(
        rsa_key: rsa.RSAPrivateKey) -> None:
    # A strict issuer knows only registered clients: an unknown one has no secret or key to
    # check its assertion with, whatever it signed.
    with MockIdP({"strict": True}) as idp:
        claims = assertion_claims(idp, "nobody-knows-me")
        for method, assertion in [("client_secret_jwt", jwt.encode(claims, "y" * 64, "HS256")),
                                  ("private_key_jwt", sign(claims, rsa_key))]:
            refused(post_assertion(idp, assertion), "invalid_client",
                    f"unknown client 'nobody-knows-me' (the issuer is strict): {method} needs "
                    "a registered client", 401)


def test_client_id_must_match_the_assertion(clients: MockIdP,
                                            rsa_key: rsa.RSAPrivateKey) -> None:
    response = post_assertion(clients, sign(assertion_claims(clients), rsa_key),
                              client_id="web-app")
    refused(response, "invalid_client", "differs from the client_assertion's 'sub'", 401)


def test_the_registered_method_is_enforced(clients: MockIdP, rsa_key: rsa.RSAPrivateKey) -> None:
    # A private_key_jwt client cannot fall back to a secret, or to nothing at all...
    response = requests.post(token_url(clients), data={"grant_type": "client_credentials"},
                             auth=(PK_CLIENT, "guess"))
    refused(response, "invalid_client",
            "registered for token_endpoint_auth_method private_key_jwt, not client_secret_basic",
            401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    response = requests.post(token_url(clients), data={"grant_type": "client_credentials",
                                                       "client_id": PK_CLIENT})
    refused(response, "invalid_client", "private_key_jwt, not none", 401)
    # ...and a client_secret_jwt client cannot send its secret in the clear.
    response = requests.post(token_url(clients), data={"grant_type": "client_credentials"},
                             auth=(SECRET_CLIENT, SECRET))
    refused(response, "invalid_client", "client_secret_jwt, not client_secret_basic", 401)
    # A client registered for client_secret_post may not use a client_secret_jwt assertion.
    clients.add_client("post-only", SECRET, token_endpoint_auth_method="client_secret_post")
    assertion = jwt.encode(assertion_claims(clients, "post-only"), SECRET, algorithm="HS256")
    refused(post_assertion(clients, assertion), "invalid_client",
            "client_secret_post, not client_secret_jwt", 401)
    response = requests.post(token_url(clients), data={"grant_type": "client_credentials"},
                             auth=("post-only", SECRET))
    refused(response, "invalid_client", "client_secret_post, not client_secret_basic", 401)
    response = requests.post(token_url(clients), data={
        "grant_type": "client_credentials", "client_id": "post-only", "client_secret": SECRET})
    assert response.status_code == 200, response.text


def test_malformed_assertion_requests(clients: MockIdP, rsa_key: rsa.RSAPrivateKey) -> None:
    url = token_url(clients)
    good = sign(assertion_claims(clients), rsa_key)
    cases: list[tuple[dict[str, str], tuple[str, str] | None, str, str, int]] = [
        ({"client_assertion_type": "urn:example:saml"}, None, "invalid_client",
         "unsupported client_assertion_type", 401),
        ({"client_assertion_type": ""}, None, "invalid_request", "go together", 400),
        ({"client_secret": "x"}, None, "invalid_request", "another method", 400),
        ({}, ("web-app", "web-secret"), "invalid_request", "another method", 400),
    ]
    for extra, auth, error, why, status in cases:
        data = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": good, **extra}
        refused(requests.post(url, data=data, auth=auth), error, why, status)
    response = requests.post(url, data={"grant_type": "client_credentials",
                                        "client_assertion_type": ASSERTION_TYPE})
    refused(response, "invalid_request", "go together")


@pytest.mark.parametrize("assertion", [
    "abc", "a.b.c", "a.b.c.d.e", "e30.e30.", "W10.W10.sig", "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.x",
    "\u00e9t\u00e9.\u00e9.\u00e9", "." * 2, "e30." + "A" * 5000 + ".x",
    # alg as a list; a payload nested deeper than any JSON parser's recursion limit
    base64.urlsafe_b64encode(b'{"alg":["HS256"]}').decode().rstrip("=") + ".e30.x",
    "eyJhbGciOiJSUzI1NiJ9." + base64.urlsafe_b64encode(b"[" * 5000).decode() + ".x",
])
def test_garbage_assertions_are_invalid_client_never_a_500(clients: MockIdP,
                                                           assertion: str) -> None:
    response = post_assertion(clients, assertion)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(("setup", "why"), [  # one text for all: no port scanning (issue 11)
    ("unreachable", "did not give a usable JWK Set"),
    ("http-500", "did not give a usable JWK Set"),
    ("not-json", "did not give a usable JWK Set"),
    ("not-a-jwk-set", "did not give a usable JWK Set"),
])
def test_jwks_uri_failures_are_invalid_client(mockidp: MockIdP, jwks_host: JwksHost,
                                              rsa_key: rsa.RSAPrivateKey, setup: str,
                                              why: str) -> None:
    uri = jwks_host.url
    if setup == "unreachable":
        import socket
        with socket.socket() as spare:  # a port nothing listens on
            spare.bind(("127.0.0.1", 0))
            uri = f"http://127.0.0.1:{spare.getsockname()[1]}/jwks.json"
    elif setup == "http-500":
        jwks_host.status = 500
    elif setup == "not-json":
        jwks_host.body = b"<html>"
    else:
        jwks_host.body = b'{"kty": "RSA"}'
    mockidp.add_client("remote", jwks_uri=uri)
    assertion = sign(assertion_claims(mockidp, "remote"), rsa_key)
    refused(post_assertion(mockidp, assertion), "invalid_client", why, 401)


# -- unregistered clients: permissive mode takes their assertions unverified ------------------

def secret_jwt_session(client_id: str, secret: str, url: str) -> OAuth2Session:
    """Authlib's client_secret_jwt as its documentation sets it up (introspection and
    revocation sign for the URL they post to)."""
    session = OAuth2Session(client_id, secret, token_endpoint_auth_method="client_secret_jwt",
                            revocation_endpoint_auth_method=ClientSecretJWT())
    session.register_client_auth_method(ClientSecretJWT(url))
    return session


def stranger_jwt(idp: MockIdP, **overrides: Any) -> str:
    """A client_secret_jwt assertion of the unregistered client, HS256 with its own secret."""
    return hmac_jwt(assertion_claims(idp, STRANGER, **overrides), STRANGER_SECRET.encode())


def test_authlib_client_secret_jwt_as_an_unregistered_client(mockidp: MockIdP) -> None:
    url = token_url(mockidp)
    with secret_jwt_session(STRANGER, STRANGER_SECRET, url) as session:
        token = session.fetch_token(url, grant_type="client_credentials", scope="orders:read")
        info = session.introspect_token(f"{mockidp.issuer_url()}/introspect",
                                        token["access_token"])
    assert info.status_code == 200 and info.json()["active"] is True, info.text
    access = claims_of(token["access_token"])
    assert access["client_id"] == access["sub"] == STRANGER
    assert access["scope"] == "orders:read"
    (exchange,) = mockidp.calls(endpoint="token")
    assert exchange.status == 200 and exchange.client_id == STRANGER
    assert exchange.unverified == ("client_assertion",)
    assert mockidp.calls(endpoint="introspect")[0].unverified == ("client_assertion",)
    # The journal's JSON and the dashboard say so too.
    journal = requests.get(f"{mockidp.url}/_mockidp/journal?endpoint=token").json()
    assert journal["calls"][0]["unverified"] == ["client_assertion"]
    entries = mockidp.dashboard()["journal"]["entries"]
    assert [e["unverified"] for e in entries] == [["client_assertion"]] * 2
    page = requests.get(mockidp.url + "/").text
    assert "unverified</span> <code>client_assertion</code> (signature not checked" in page


def test_authlib_client_secret_jwt_as_an_unregistered_client_in_strict_mode() -> None:
    with MockIdP({"strict": True}) as idp:
        url = token_url(idp)
        with secret_jwt_session(STRANGER, STRANGER_SECRET, url) as session, \
                pytest.raises(OAuthError) as raised:
            session.fetch_token(url, grant_type="client_credentials")
        assert raised.value.error == "invalid_client"
        assert "unknown client 'nobody-knows-me' (the issuer is strict): client_secret_jwt " \
            "needs a registered client" in str(raised.value.description)
        (exchange,) = idp.calls(endpoint="token")
        assert (exchange.status, exchange.error, exchange.unverified) == (
            401, "invalid_client", ())


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_authlib_private_key_jwt_as_an_unregistered_client(
        mockidp: MockIdP, rsa_key: rsa.RSAPrivateKey, alg: str) -> None:
    # No jwks, no jwks_uri: the provider cannot know the key.
    url = token_url(mockidp)
    with OAuth2Session(STRANGER, pem(rsa_key),
                       token_endpoint_auth_method=PrivateKeyJWT(url, alg=alg)) as session:
        token = session.fetch_token(url, grant_type="client_credentials")
    assert claims_of(token["access_token"])["client_id"] == STRANGER
    (exchange,) = mockidp.calls(endpoint="token")
    assert exchange.unverified == ("client_assertion",)


@pytest.mark.parametrize(("overrides", "why"), [
    ({"exp": int(time.time()) - 600}, "expired"),
    ({"exp": None}, "missing 'exp'"),
    ({"nbf": int(time.time()) + 600}, "not valid yet"),
    ({"iat": int(time.time()) + 600}, "issued in the future"),
    ({"aud": "https://elsewhere.example/token"}, "does not name this provider"),
    ({"aud": None}, "missing 'aud'"),
    ({"iss": "someone-else"}, "'iss' must be the client id"),
    ({"jti": None}, "missing 'jti'"),
    ({"alg": "none"}, "alg 'none' is not accepted"),
], ids=["expired", "no-exp", "nbf-future", "iat-future", "wrong-aud", "no-aud", "wrong-iss",
        "no-jti", "alg-none"])
def test_an_unverified_client_assertion_must_pass_every_other_check(
        mockidp: MockIdP, overrides: dict[str, Any], why: str) -> None:
    assert post_assertion(mockidp, stranger_jwt(mockidp)).status_code == 200
    if overrides.pop("alg", None) == "none":
        bad = jwt.encode(assertion_claims(mockidp, STRANGER), None, algorithm="none")
    else:
        bad = stranger_jwt(mockidp, **overrides)
    refused(post_assertion(mockidp, bad), "invalid_client", why, 401)
    assert [e.unverified for e in mockidp.calls(endpoint="token")] == [("client_assertion",), ()]


def test_an_unverified_client_assertion_is_single_use(mockidp: MockIdP) -> None:
    assertion = stranger_jwt(mockidp)
    assert post_assertion(mockidp, assertion).status_code == 200
    refused(post_assertion(mockidp, assertion), "invalid_client", "already used (replay)", 401)


def test_an_unverified_client_assertion_expires_on_the_provider_clock(mockidp: MockIdP) -> None:
    assert post_assertion(mockidp, stranger_jwt(mockidp)).status_code == 200
    mockidp.set_clock(advance=3600)  # the next one is valid for 60 s of real time
    refused(post_assertion(mockidp, stranger_jwt(mockidp)), "invalid_client", "expired", 401)


def test_replay_cache_forgets_expired_jtis() -> None:
    # Memory stays bounded: an entry lives until its assertion expires (provider clock).
    store = MemoryStore()
    for i in range(300):
        assert store.first_use("assertion", f"old-{i}", expires_at=100.0, now=50.0)
    assert not store.first_use("assertion", "old-1", expires_at=100.0, now=99.0)
    for i in range(300):
        store.first_use("assertion", f"new-{i}", expires_at=1000.0, now=200.0)
    assert store.counts()["replay_cache"] < 300 + 256
    # expired: usable again
    assert store.first_use("assertion", "old-1", expires_at=300.0, now=200.0)


# -- the jwt-bearer grant (RFC 7523 §2.1) -----------------------------------------------------

def test_authlib_assertion_session_with_a_client_signed_assertion(
        clients: MockIdP, rsa_key: rsa.RSAPrivateKey) -> None:
    url = token_url(clients)
    session = AssertionSession(url, issuer=ISSUING_CLIENT, subject="alice", audience=url,
                               key=RSAKey.import_key(pem(rsa_key)),
                               header={"alg": "RS256", "kid": "pk-1"},
                               client_id=ISSUING_CLIENT, scope="openid email")
    with session:
        token = session.refresh_token()
    access = claims_of(token["access_token"])
    assert access["sub"] == "alice" and access["client_id"] == ISSUING_CLIENT
    assert access["email"] == "alice@example.com"  # the configured user's claims apply
    assert claims_of(token["id_token"])["sub"] == "alice"
    assert "refresh_token" not in token


def test_an_assertion_minted_by_this_provider(mockidp: MockIdP) -> None:
    url = token_url(mockidp)
    assertion = mockidp.mint("bob", claims={"aud": url})
    with OAuth2Session("web-app", "web-secret") as session:
        token = session.fetch_token(url, grant_type=JWT_BEARER, assertion=assertion,
                                    scope="profile")
    access = claims_of(token["access_token"])
    assert access["sub"] == "bob" and access["name"] == "Bob Builder"
    assert access["client_id"] == "web-app"
    (exchange,) = mockidp.calls(endpoint="token")
    assert exchange.grant_type == JWT_BEARER and exchange.user == "bob"


def test_an_assertion_from_another_issuer_of_this_provider(mockidp: MockIdP) -> None:
    url = token_url(mockidp)
    assertion = mockidp.mint("carol", issuer="partner", claims={"aud": url})
    response = requests.post(url, data={"grant_type": JWT_BEARER, "assertion": assertion},
                             auth=("web-app", "web-secret"))
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["sub"] == "carol"


@pytest.mark.parametrize("kind", [
    "expired", "not_yet_valid", "issued_in_future", "wrong_issuer", "wrong_audience",
    "bad_signature", "unknown_kid", "alg_none", "hs256_public_key", "missing_exp",
    "missing_sub", "wrong_typ", "malformed_parts", "malformed_base64", "malformed_json",
    "rotated_out", "revoked",
])
def test_every_bad_token_is_refused_as_an_assertion(mockidp: MockIdP, kind: str) -> None:
    url = token_url(mockidp)
    assertion = mockidp.mint_bad(kind, "alice", claims={"aud": url})
    response = requests.post(url, data={"grant_type": JWT_BEARER, "assertion": assertion},
                             auth=("web-app", "web-secret"))
    refused(response, "invalid_grant", "assertion rejected")


@pytest.mark.parametrize(("make", "why"), [
    ("untrusted-issuer", "issuer 'https://idp.example' is not trusted"),
    ("other-client", "is not trusted"),
    ("wrong-aud", "does not name this provider"),
    ("no-exp", "missing 'exp'"),
    ("no-sub", "missing 'sub'"),
    ("wrong-key", "signature does not verify"),
])
def test_jwt_bearer_refusals_are_invalid_grant(clients: MockIdP, rsa_key: rsa.RSAPrivateKey,
                                               other_rsa_key: rsa.RSAPrivateKey, make: str,
                                               why: str) -> None:
    claims = assertion_claims(clients, ISSUING_CLIENT, sub="alice")
    key = rsa_key
    if make == "untrusted-issuer":
        claims["iss"] = "https://idp.example"
    elif make == "other-client":
        claims["iss"] = PK_CLIENT
    elif make == "wrong-aud":
        claims["aud"] = "https://elsewhere.example"
    elif make == "no-exp":
        del claims["exp"]
    elif make == "no-sub":
        del claims["sub"]
    else:
        key = other_rsa_key
    response = requests.post(token_url(clients), data={
        "grant_type": JWT_BEARER, "assertion": sign(claims, key), "client_id": ISSUING_CLIENT})
    refused(response, "invalid_grant", why)


def test_a_jwt_bearer_assertion_with_a_jti_is_single_use(mockidp: MockIdP) -> None:
    url = token_url(mockidp)
    assertion = mockidp.mint("alice", claims={"aud": url})
    data = {"grant_type": JWT_BEARER, "assertion": assertion}
    assert requests.post(url, data=data, auth=("web-app", "web-secret")).status_code == 200
    refused(requests.post(url, data=data, auth=("web-app", "web-secret")), "invalid_grant",
            "already used (replay)")


def stranger_session(idp: MockIdP, subject: str = "alice", **kwargs: Any) -> AssertionSession:
    """Authlib's jwt-bearer client for the unregistered client, signing its own assertions
    with HS256 and its secret (RFC 7523 section 2.1)."""
    url = token_url(idp)
    return AssertionSession(url, issuer=STRANGER, subject=subject, audience=url,
                            key=OctKey.import_key(STRANGER_SECRET), header={"alg": "HS256"},
                            client_id=STRANGER, **kwargs)


def test_authlib_jwt_bearer_from_an_unregistered_issuer(mockidp: MockIdP) -> None:
    with stranger_session(mockidp, scope="openid email") as session:
        token = session.refresh_token()
    access = claims_of(token["access_token"])
    assert access["sub"] == "alice" and access["client_id"] == STRANGER
    assert access["email"] == "alice@example.com"  # the configured user's claims apply
    assert claims_of(token["id_token"])["sub"] == "alice"
    (exchange,) = mockidp.calls(endpoint="token")
    assert exchange.grant_type == JWT_BEARER and exchange.user == "alice"
    assert exchange.unverified == ("assertion",)
    journal = requests.get(f"{mockidp.url}/_mockidp/journal?endpoint=token").json()
    assert journal["calls"][0]["unverified"] == ["assertion"]


def test_authlib_jwt_bearer_from_an_unregistered_issuer_in_strict_mode() -> None:
    with MockIdP({"strict": True}) as idp:
        with stranger_session(idp) as session, pytest.raises(OAuth2Error) as raised:
            session.refresh_token()
        assert raised.value.error == "invalid_client"
        assert "unknown client 'nobody-knows-me' (the issuer is strict)" in str(
            raised.value.description)
        (exchange,) = idp.calls(endpoint="token")
        assert (exchange.status, exchange.unverified) == (401, ())


def test_both_assertions_of_an_unregistered_client_are_journaled_unverified(
        mockidp: MockIdP) -> None:
    # The client authenticates with client_secret_jwt and presents a jwt-bearer assertion it
    # signed: neither signature can be checked.
    url = token_url(mockidp)
    grant = hmac_jwt(assertion_claims(mockidp, STRANGER, sub="bob"), STRANGER_SECRET.encode())
    with secret_jwt_session(STRANGER, STRANGER_SECRET, url) as session:
        token = session.fetch_token(url, grant_type=JWT_BEARER, assertion=grant)
    assert claims_of(token["access_token"])["sub"] == "bob"
    (exchange,) = mockidp.calls(endpoint="token")
    assert exchange.unverified == ("client_assertion", "assertion")


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_an_unregistered_clients_jwt_bearer_assertion_signed_with_a_key(
        mockidp: MockIdP, alg: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256" \
        else ec.generate_private_key(ec.SECP256R1())
    assertion = sign(assertion_claims(mockidp, STRANGER, sub="carol"), key, alg=alg)
    response = requests.post(token_url(mockidp), data={
        "grant_type": JWT_BEARER, "assertion": assertion, "client_id": STRANGER})
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["sub"] == "carol"
    assert mockidp.calls(endpoint="token")[0].unverified == ("assertion",)


@pytest.mark.parametrize(("overrides", "why"), [
    ({"exp": int(time.time()) - 600}, "expired"),
    ({"exp": None}, "missing 'exp'"),
    ({"nbf": int(time.time()) + 600}, "not valid yet"),
    ({"aud": "https://elsewhere.example/token"}, "does not name this provider"),
    ({"sub": None}, "missing 'sub'"),
    ({"iss": "https://idp.example"}, "issuer 'https://idp.example' is not trusted"),
    ({"iss": SECRET_CLIENT}, f"issuer '{SECRET_CLIENT}' is not trusted"),
], ids=["expired", "no-exp", "nbf-future", "wrong-aud", "no-sub", "untrusted-issuer",
        "other-client"])
def test_an_unverified_jwt_bearer_assertion_must_pass_every_other_check(
        clients: MockIdP, overrides: dict[str, Any], why: str) -> None:
    def post(**claims: Any) -> requests.Response:
        assertion = hmac_jwt(assertion_claims(clients, STRANGER, **{"sub": "alice", **claims}),
                             STRANGER_SECRET.encode())
        return requests.post(token_url(clients), data={
            "grant_type": JWT_BEARER, "assertion": assertion, "client_id": STRANGER})

    assert post().status_code == 200
    refused(post(**overrides), "invalid_grant", why)
    assert [e.unverified for e in clients.calls(endpoint="token")] == [("assertion",), ()]


def test_an_unverified_jwt_bearer_assertion_with_a_jti_is_single_use(mockidp: MockIdP) -> None:
    assertion = hmac_jwt(assertion_claims(mockidp, STRANGER, sub="alice"),
                         STRANGER_SECRET.encode())
    data = {"grant_type": JWT_BEARER, "assertion": assertion, "client_id": STRANGER}
    assert requests.post(token_url(mockidp), data=data).status_code == 200
    refused(requests.post(token_url(mockidp), data=data), "invalid_grant",
            "already used (replay)")


def test_jwt_bearer_without_an_assertion_is_invalid_request(mockidp: MockIdP) -> None:
    response = requests.post(token_url(mockidp), data={"grant_type": JWT_BEARER},
                             auth=("web-app", "web-secret"))
    refused(response, "invalid_request", "missing 'assertion'")


def test_jwt_bearer_with_private_key_jwt_client_authentication(
        clients: MockIdP, rsa_key: rsa.RSAPrivateKey) -> None:
    # Both at once: the client authenticates with its key and presents the provider's
    # assertion (each JWT has its own jti and audience check).
    url = token_url(clients)
    with OAuth2Session(PK_CLIENT, pem(rsa_key),
                       token_endpoint_auth_method=PrivateKeyJWT(url, headers={"kid": "pk-1"})
                       ) as session:
        token = session.fetch_token(url, grant_type=JWT_BEARER,
                                    assertion=clients.mint("alice", claims={"aud": url}))
    access = claims_of(token["access_token"])
    assert access["sub"] == "alice" and access["client_id"] == PK_CLIENT


def test_private_key_jwt_at_the_pushed_authorization_request_endpoint(
        clients: MockIdP, rsa_key: rsa.RSAPrivateKey) -> None:
    par = f"{clients.issuer_url()}/par"
    response = requests.post(par, data={
        "response_type": "code", "redirect_uri": "http://localhost:3000/callback",
        "scope": "openid", "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": sign(assertion_claims(clients, aud=par), rsa_key)})
    assert response.status_code == 201, response.text
    assert response.json()["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")

"""The Keycloak profile, proven with python-keycloak exactly as an application uses it
(``KeycloakOpenID(server_url=..., realm_name=...)``, only the server URL differs, the legacy
``/auth/`` one too): discovery, the password, client-credentials and refresh grants,
``decode_token`` against the realm's certs, userinfo, introspection, ``public_key()`` and
logout (which accepts only 204).  Bad tokens of the profile's kinds are refused by
``decode_token`` with the claims checks an application gives it, and by the realm's own
userinfo, and by an Express API with express-oauth2-jwt-bearer
(tests/node/keycloak_express.mjs).  keycloak-js in Chromium is
tests/test_profile_keycloak_browser.py."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.serialization import load_der_public_key
from jwcrypto.common import JWException
from keycloak import KeycloakOpenID
from keycloak.exceptions import KeycloakError, KeycloakPostError

from mockidp import MockIdP

from .conftest import NODE_DIR, run_node

REALM = "myrealm"
CONFIG: dict[str, Any] = {
    "users": {
        "alice": {"password": "alice", "claims": {
            "email": "alice@example.com", "name": "Alice Liddell", "roles": ["admin", "orders"],
        }},
        "bob": {"password": "bob", "claims": {"email": "bob@example.com", "roles": ["orders"]}},
    },
    "clients": {"orders": {
        "secret": "orders-secret",
        "grant_types": ["password", "client_credentials", "refresh_token", "authorization_code"],
        "post_logout_redirect_uris": ["http://app.example/bye"],
    }},
    "issuers": {REALM: {"profile": "keycloak"}, "plain": {}},
}


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture(scope="module")
def idp() -> Iterator[MockIdP]:
    with MockIdP(config=CONFIG) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(idp: MockIdP) -> None:
    idp.reset()


def keycloak_at(server_url: str, client_id: str = "orders",
                secret: str | None = "orders-secret") -> KeycloakOpenID:
    return KeycloakOpenID(server_url=server_url, realm_name=REALM, client_id=client_id,
                          client_secret_key=secret)


@pytest.mark.parametrize("context", ["/", "/auth/"], ids=["realms", "legacy-auth"])
def test_python_keycloak_signs_in_refreshes_introspects_and_logs_out(idp: MockIdP,
                                                                    context: str) -> None:
    keycloak = keycloak_at(idp.url + context)
    issuer = f"{idp.url}{context.rstrip('/')}/realms/{REALM}"
    assert keycloak.well_known()["issuer"] == issuer

    tokens = keycloak.token("alice", "alice")
    assert tokens["token_type"] == "Bearer" and tokens["not-before-policy"] == 0
    assert tokens["refresh_expires_in"] > 0 and tokens["scope"] == "openid profile email"
    access = keycloak.decode_token(tokens["access_token"],
                                   check_claims={"iss": issuer, "typ": "Bearer", "exp": None})
    assert access["preferred_username"] == "alice" and access["azp"] == "orders"
    assert access["aud"] == "account" and access["email"] == "alice@example.com"
    assert set(access["realm_access"]["roles"]) == {
        "admin", "orders", "default-roles-myrealm", "offline_access", "uma_authorization"}
    assert "view-profile" in access["resource_access"]["account"]["roles"]
    assert access["sid"] == access["session_state"] == tokens["session_state"]
    assert "openid" in access["scope"].split()
    # the ID token and the refresh token are JWTs of the realm too (keycloak-js decodes both)
    id_token = keycloak.decode_token(tokens["id_token"], check_claims={"typ": "ID"})
    assert id_token["aud"] == "orders" and id_token["sid"] == access["sid"]
    assert "realm_access" not in id_token
    refresh = keycloak.decode_token(tokens["refresh_token"], check_claims={"typ": "Refresh"})
    assert refresh["sid"] == access["sid"] and refresh["azp"] == "orders"
    assert refresh["exp"] - refresh["iat"] == tokens["refresh_expires_in"]

    userinfo = keycloak.userinfo(tokens["access_token"])
    assert userinfo["sub"] == access["sub"] and userinfo["preferred_username"] == "alice"
    assert userinfo["email"] == "alice@example.com" and "realm_access" not in userinfo

    refreshed = keycloak.refresh_token(tokens["refresh_token"])
    again = keycloak.decode_token(refreshed["access_token"])
    assert again["sid"] == access["sid"] and again["jti"] != access["jti"]
    introspection = keycloak.introspect(refreshed["access_token"])
    assert introspection["active"] is True and introspection["username"] == "alice"
    assert introspection["realm_access"] == access["realm_access"]

    assert keycloak.logout(refreshed["refresh_token"]) == {}  # 204: nothing else passes
    assert keycloak.introspect(refreshed["access_token"]) == {"active": False}
    with pytest.raises(KeycloakPostError) as refused:
        keycloak.refresh_token(refreshed["refresh_token"])
    assert refused.value.response_code == 400
    assert json.loads(refused.value.response_body)["error"] == "invalid_grant"
    idp.assert_called(1, endpoint="endsession", issuer=REALM, client_id="orders", status=204)

    service = keycloak.token(grant_type="client_credentials")
    account = keycloak.decode_token(service["access_token"], check_claims={"iss": issuer})
    assert account["preferred_username"] == "service-account-orders"
    assert account["azp"] == "orders" and "sid" not in account
    assert "default-roles-myrealm" in account["realm_access"]["roles"]
    assert "refresh_token" not in service and service["refresh_expires_in"] == 0


def test_the_realm_document_carries_the_active_signing_key(idp: MockIdP) -> None:
    keycloak = keycloak_at(idp.url)
    der = base64.b64decode(keycloak.public_key())
    public = load_der_public_key(der)
    certs = keycloak.certs()["keys"]
    active = next(k for k in certs if k["kty"] == "RSA" and k["alg"] == "RS256")
    n = int.from_bytes(base64.urlsafe_b64decode(active["n"] + "=="), "big")
    assert public.public_numbers().n == n  # type: ignore[union-attr]
    realm = requests.get(f"{idp.url}/realms/{REALM}", timeout=5).json()
    assert realm["realm"] == REALM and realm["tokens-not-before"] == 0
    assert realm["token-service"] == f"{idp.url}/realms/{REALM}/protocol/openid-connect"
    legacy = requests.get(f"{idp.url}/auth/realms/{REALM}", timeout=5).json()
    assert legacy["token-service"].startswith(f"{idp.url}/auth/realms/{REALM}/")
    # a token signed with that key verifies with the realm key alone (PEM, as apps do)
    pem = ("-----BEGIN PUBLIC KEY-----\n" + keycloak.public_key()
           + "\n-----END PUBLIC KEY-----")
    from jwcrypto import jwk
    key = jwk.JWK.from_pem(pem.encode())
    token = keycloak.token("bob", "bob")["access_token"]
    assert keycloak.decode_token(token, key=key)["preferred_username"] == "bob"


def test_discovery_names_keycloak_paths_and_generic_issuers_stay(idp: MockIdP) -> None:
    base = f"{idp.url}/realms/{REALM}"
    doc = requests.get(f"{base}/.well-known/openid-configuration", timeout=5).json()
    oidc = f"{base}/protocol/openid-connect"
    assert doc["authorization_endpoint"] == f"{oidc}/auth"
    assert doc["token_endpoint"] == f"{oidc}/token"
    assert doc["userinfo_endpoint"] == f"{oidc}/userinfo"
    assert doc["jwks_uri"] == f"{oidc}/certs"
    assert doc["end_session_endpoint"] == f"{oidc}/logout"
    assert doc["introspection_endpoint"] == f"{oidc}/token/introspect"
    assert doc["revocation_endpoint"] == f"{oidc}/revoke"
    assert doc["device_authorization_endpoint"] == f"{oidc}/auth/device"
    assert doc["pushed_authorization_request_endpoint"] == f"{oidc}/ext/par/request"
    assert doc["registration_endpoint"] == f"{base}/clients-registrations/openid-connect"
    assert doc["check_session_iframe"] == f"{oidc}/login-status-iframe.html"
    assert "RS256" in doc["id_token_signing_alg_values_supported"]
    header = json.loads(base64.urlsafe_b64decode(
        idp.mint("alice", issuer=REALM).split(".")[0] + "=="))
    assert header["alg"] == "RS256"
    minted = claims_of(idp.mint("alice", issuer=REALM, scope="openid"))
    assert minted["typ"] == "Bearer" and minted["iss"] == base
    assert "admin" in minted["realm_access"]["roles"]
    # the generic issuers are as before; the realm is no generic issuer
    assert requests.get(f"{idp.url}/plain/.well-known/openid-configuration",
                        timeout=5).json()["issuer"] == f"{idp.url}/plain"
    assert requests.get(f"{idp.url}/{REALM}/.well-known/openid-configuration",
                        timeout=5).status_code == 404
    assert "realm_access" not in claims_of(idp.mint("alice", issuer="plain"))


@pytest.mark.parametrize("kind", ["keycloak_other_realm", "keycloak_refresh_token",
                                  "keycloak_id_token"])
def test_bad_tokens_of_the_profile_are_refused(idp: MockIdP, kind: str) -> None:
    keycloak = keycloak_at(idp.url)
    issuer = f"{idp.url}/realms/{REALM}"
    checks = {"iss": issuer, "typ": "Bearer", "exp": None}
    good = idp.mint("alice", issuer=REALM, client_id="orders", scope="openid")
    assert keycloak.decode_token(good, check_claims=checks)["typ"] == "Bearer"
    assert keycloak.userinfo(good)["sub"] == "alice"
    bad = idp.mint_bad(kind, "alice", issuer=REALM, client_id="orders", scope="openid")
    assert kind in idp.bad_token_kinds()
    assert keycloak.decode_token(bad)["sub"] == "alice"  # the signature is good...
    with pytest.raises(JWException):  # ...the claims an application checks are not
        keycloak.decode_token(bad, check_claims=checks)
    with pytest.raises(KeycloakError) as refused:
        keycloak.userinfo(bad)
    assert refused.value.response_code == 401
    assert json.loads(refused.value.response_body)["error"] == "invalid_token"


def test_refresh_and_id_tokens_are_no_access_tokens_and_realms_keep_their_keys() -> None:
    config = {**CONFIG, "issuers": {REALM: {"profile": "keycloak"},
                                    "other": {"profile": "keycloak"}}}
    with MockIdP(config=config) as idp:
        keycloak = keycloak_at(idp.url)
        tokens = keycloak.token("alice", "alice")
        for name in ("refresh_token", "id_token"):
            with pytest.raises(KeycloakError) as refused:
                keycloak.userinfo(tokens[name])
            assert refused.value.response_code == 401, name
        elsewhere = KeycloakOpenID(server_url=idp.url, realm_name="other", client_id="orders",
                                   client_secret_key="orders-secret")
        foreign = elsewhere.token("alice", "alice")["access_token"]
        assert claims_of(foreign)["iss"] == f"{idp.url}/realms/other"
        with pytest.raises(JWException):  # signed with the other realm's key
            keycloak.decode_token(foreign)
        with pytest.raises(KeycloakError):
            keycloak.userinfo(foreign)


def test_logout_redirects_browsers_and_refuses_bad_back_channel_requests(idp: MockIdP
                                                                         ) -> None:
    oidc = f"{idp.url}/realms/{REALM}/protocol/openid-connect"
    tokens = keycloak_at(idp.url).token("alice", "alice")
    page = requests.get(f"{oidc}/logout", params={
        "id_token_hint": tokens["id_token"], "client_id": "orders",
        "post_logout_redirect_uri": "http://app.example/bye", "state": "s1"},
        allow_redirects=False, timeout=5)
    assert page.status_code == 302
    assert page.headers["Location"] == "http://app.example/bye?state=s1"
    refused = requests.post(f"{oidc}/logout", data={
        "client_id": "orders", "client_secret": "orders-secret", "refresh_token": "nope"},
        timeout=5)
    assert refused.status_code == 400 and refused.json() == {
        "error": "invalid_grant", "error_description": "Invalid refresh token"}
    wrong = requests.post(f"{oidc}/logout", data={
        "client_id": "orders", "client_secret": "wrong",
        "refresh_token": tokens["refresh_token"]}, timeout=5)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    idp.assert_called(1, endpoint="endsession", status=400, error="invalid_grant")
    with pytest.raises(KeycloakPostError):  # another client's refresh token
        keycloak_at(idp.url, "someone-else", None).logout(tokens["refresh_token"])
    assert keycloak_at(idp.url).logout(tokens["refresh_token"]) == {}  # still live till now


def test_bad_input_on_keycloak_paths_answers_keycloak_errors(idp: MockIdP) -> None:
    base = f"{idp.url}/realms/{REALM}"
    oidc = f"{base}/protocol/openid-connect"
    answers = [
        requests.post(f"{oidc}/token", data={"grant_type": "nope"}, timeout=5),
        requests.post(f"{oidc}/token", data={"grant_type": "password", "client_id": "orders",
                                             "client_secret": "orders-secret",
                                             "username": "alice", "password": "x"}, timeout=5),
        requests.post(f"{oidc}/token", data=b"\xff\xfe", timeout=5,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}),
        requests.post(f"{oidc}/token/introspect", data={"token": "x", "client_id": "orders",
                                                        "client_secret": "bad"}, timeout=5),
        requests.get(f"{oidc}/userinfo", headers={"Authorization": "Bearer a.b.c"}, timeout=5),
        requests.post(f"{oidc}/revoke", data={"client_id": "orders"}, timeout=5),
    ]
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.text
        body = answer.json()
        assert set(body) <= {"error", "error_description"} and body["error"], body
    init = requests.get(f"{oidc}/login-status-iframe.html/init", timeout=5)
    assert init.status_code == 400
    for path in ("x", "/protocol/openid-connect/nothing", "/protocol", "/account"):
        assert requests.get(base + path, timeout=5).status_code == 404, path
    assert requests.delete(f"{base}", timeout=5).status_code == 405


def test_keycloak_js_pages_and_cors(idp: MockIdP) -> None:
    oidc = f"{idp.url}/realms/{REALM}/protocol/openid-connect"
    for page in ("login-status-iframe.html", "3p-cookies/step1.html",
                 "3p-cookies/step2.html"):
        answer = requests.get(f"{oidc}/{page}", timeout=5)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(
            "text/html")
        assert "X-Frame-Options" not in answer.headers  # keycloak-js frames them
        assert "postMessage" in answer.text
    init = requests.get(f"{oidc}/login-status-iframe.html/init", params={
        "client_id": "app", "origin": "http://localhost:3000"}, timeout=5)
    assert init.status_code == 204 and init.headers["X-Keycloak-Session-State"] == ""
    origin = {"Origin": "http://localhost:3000"}
    preflight = requests.options(f"{oidc}/token", headers={
        **origin, "Access-Control-Request-Method": "POST"}, timeout=5)
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    token = requests.post(f"{oidc}/token", headers=origin, data={
        "grant_type": "password", "client_id": "spa", "username": "bob", "password": "bob"},
        timeout=5)
    assert token.status_code == 200
    assert token.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert token.headers["Access-Control-Allow-Credentials"] == "true"


def test_an_express_api_accepts_realm_tokens_and_refuses_the_bad_kinds(idp: MockIdP) -> None:
    if not (NODE_DIR / "node_modules" / "express-oauth2-jwt-bearer").is_dir():
        pytest.skip("tests/node/node_modules is missing: npm ci --prefix tests/node")
    keycloak = keycloak_at(idp.url)
    alice = keycloak.token("alice", "alice")
    tokens = {
        "alice": alice["access_token"],
        "service": keycloak.token(grant_type="client_credentials")["access_token"],
        "refresh": alice["refresh_token"],
        "id": alice["id_token"],
        **{kind: idp.mint_bad(kind, "alice", issuer=REALM, client_id="orders", scope="openid")
           for kind in ("keycloak_other_realm", "keycloak_refresh_token", "keycloak_id_token")},
    }
    seen = run_node("keycloak_express.mjs", f"{idp.url}/realms/{REALM}", json.dumps(tokens))
    assert seen["alice"] == [200, {"user": "alice"}]
    # a service account has no "orders" realm role (claimCheck's refusal)
    assert seen["service"] == [401, {"error": "invalid_token", "message": "Invalid Token"}]
    expected = {"refresh": "'aud'", "id": "'aud'", "keycloak_other_realm": "'iss'",
                "keycloak_refresh_token": "'typ'", "keycloak_id_token": "'typ'"}
    for name, claim in expected.items():
        assert seen[name] == [401, {"error": "invalid_token",
                                    "message": f"Unexpected {claim} value"}], name


# python-keycloak hands its ``verify`` path to httpx too (for its async calls), which warns
@pytest.mark.filterwarnings("ignore:`verify=<str>` is deprecated:DeprecationWarning")
def test_python_keycloak_over_https_trusting_the_servers_certificate() -> None:
    with MockIdP(config=CONFIG, tls=True) as idp:
        assert idp.url.startswith("https://")
        keycloak = KeycloakOpenID(server_url=idp.url + "/auth/", realm_name=REALM,
                                  client_id="orders", client_secret_key="orders-secret",
                                  verify=str(idp.tls_cert))
        tokens = keycloak.token("alice", "alice")
        claims = keycloak.decode_token(tokens["access_token"])
        assert claims["iss"] == f"{idp.url}/auth/realms/{REALM}"
        assert keycloak.logout(tokens["refresh_token"]) == {}

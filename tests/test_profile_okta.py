"""The Okta profile driven by Okta's own verifiers, as an API or web app uses them: the Python
okta-jwt-verifier (``AccessTokenVerifier``, ``IDTokenVerifier``, ``JWTVerifier``) and the Node
@okta/jwt-verifier (``verifyAccessToken``, ``verifyIdToken``, ``assertClaims``), on tokens from
the ``/oauth2/{server}/v1/token`` endpoint (client credentials, password, authorization code
through the login page, refresh) over real HTTPS (both verifiers refuse an http issuer; only
mockidp's certificate is trusted, through ``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE`` and
``NODE_EXTRA_CA_CERTS``).  Userinfo, introspection, revocation and logout are called as Okta
documents them; Okta's bad-token kinds are refused by the verifiers; bad input on the Okta paths
answers Okta's error shape, never a 500."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from okta_jwt_verifier import AccessTokenVerifier, IDTokenVerifier, JWTVerifier
from okta_jwt_verifier.exceptions import JWTValidationException

from mockidp import MockIdP
from mockidp.core.errors import MockIdPError
from mockidp.core.settings import load_settings, with_profiles

from .a11y import elements, form_fields
from .conftest import pkce_pair, query_of, run_node
from .local_server import mockidp_serve

REDIRECT = "http://localhost:3000/callback"
BYE = "http://localhost:3000/bye"
CONFIG: dict[str, Any] = {
    "users": {
        "alice@example.com": {"password": "pw", "claims": {
            "email": "alice@example.com", "name": "Alice Example",
            "groups": ["Everyone", "Admins"]}},
        "bob@example.com": {"claims": {"uid": "00ubobbobbobbobbob1", "groups": ["Everyone"]}},
    },
    "clients": {
        "0oaweb": {"secret": "web-secret", "redirect_uris": [REDIRECT],
                   "post_logout_redirect_uris": [BYE]},
        "0oasvc": {"secret": "svc-secret", "grant_types": ["client_credentials"]},
    },
    "issuers": {
        "okta": {"profile": "okta", "authorization_server": "default"},
        "payments": {"profile": "okta", "authorization_server": "aus1payments",
                     "audience": "api://payments"},
        "plain": {},
    },
}
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture(scope="module")
def okta() -> Iterator[MockIdP]:
    """One HTTPS mockidp holding two Okta authorization servers and a generic issuer, its
    certificate trusted by requests (the verifier's synchronous calls) as an app would."""
    with pytest.MonkeyPatch.context() as patch, MockIdP(config=CONFIG, tls=True) as idp:
        patch.setenv("REQUESTS_CA_BUNDLE", str(idp.tls_cert))
        yield idp


def issuer_of(idp: MockIdP, server: str = "default") -> str:
    return f"{idp.url}/oauth2/{server}"


def token(idp: MockIdP, server: str = "default", **form: str) -> dict[str, Any]:
    answer = requests.post(f"{issuer_of(idp, server)}/v1/token", data=form, timeout=10)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def claims_of(token_string: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token_string, options={"verify_signature": False})
    return claims


def verify_access(issuer: str, token_string: str, audience: str = "api://default") -> None:
    """What a (synchronous: Flask, Django) API does with Okta's Python verifier."""
    AccessTokenVerifier(issuer=issuer, audience=audience).verify_sync(token_string)


def verify_id(issuer: str, token_string: str, client_id: str, nonce: str | None = None) -> None:
    IDTokenVerifier(issuer=issuer, client_id=client_id).verify_sync(token_string, nonce=nonce)


# The verifier's async calls download keys with aiohttp, whose default TLS context is made
# when aiohttp is imported: an async app trusts mockidp's certificate with SSL_CERT_FILE set
# when it starts.  So these run in a fresh Python process, as that app would.
ASYNC_APP = """
import asyncio, json, sys, warnings
from okta_jwt_verifier import AccessTokenVerifier, IDTokenVerifier, JWTVerifier
warnings.simplefilter("ignore", DeprecationWarning)

async def check(case):
    issuer, kind, token = case["issuer"], case["kind"], case["token"]
    try:
        if kind == "access":
            await AccessTokenVerifier(issuer=issuer, audience=case["audience"]).verify(token)
        elif kind == "id":
            await IDTokenVerifier(issuer=issuer, client_id=case["client_id"]).verify(
                token, nonce=case.get("nonce"))
        elif kind == "legacy_access":
            await JWTVerifier(issuer=issuer, audience=case["audience"]).verify_access_token(
                token)
        else:
            await JWTVerifier(issuer=issuer, client_id=case["client_id"]).verify_id_token(
                token, nonce=case.get("nonce"))
        return "ok"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"

async def main():
    cases = json.load(sys.stdin)
    print(json.dumps({c["name"]: await check(c) for c in cases}))

asyncio.run(main())
"""


def async_verify(idp: MockIdP, cases: list[dict[str, Any]]) -> dict[str, str]:
    """Each case's result in an async app: ``ok`` or the exception."""
    env = {**os.environ, "SSL_CERT_FILE": str(idp.tls_cert)}
    result = subprocess.run([sys.executable, "-c", ASYNC_APP], input=json.dumps(cases),
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    answer: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def node_verify(idp: MockIdP, cases: list[dict[str, Any]],
                server: str = "default") -> dict[str, Any]:
    return run_node("okta_verify.mjs", issuer_of(idp, server), json.dumps(cases),
                    env={"NODE_EXTRA_CA_CERTS": str(idp.tls_cert)})


def password_tokens(idp: MockIdP, scope: str = "openid profile email offline_access"
                    ) -> dict[str, Any]:
    return token(idp, grant_type="password", username="alice@example.com", password="pw",
                 client_id="0oaweb", client_secret="web-secret", scope=scope)


# -- where --------------------------------------------------------------------------------------

def test_discovery_keys_and_paths_are_oktas(okta: MockIdP) -> None:
    issuer = issuer_of(okta)
    for well_known in ("openid-configuration", "oauth-authorization-server"):
        doc = requests.get(f"{issuer}/.well-known/{well_known}", timeout=10).json()
        assert doc["issuer"] == issuer
        assert doc["authorization_endpoint"] == f"{issuer}/v1/authorize"
        assert doc["token_endpoint"] == f"{issuer}/v1/token"
        assert doc["jwks_uri"] == f"{issuer}/v1/keys"
        assert doc["introspection_endpoint"] == f"{issuer}/v1/introspect"
        assert doc["revocation_endpoint"] == f"{issuer}/v1/revoke"
        assert doc["device_authorization_endpoint"] == f"{issuer}/v1/device/authorize"
        assert doc["pushed_authorization_request_endpoint"] == f"{issuer}/v1/par"
    doc = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    assert doc["userinfo_endpoint"] == f"{issuer}/v1/userinfo"
    assert doc["end_session_endpoint"] == f"{issuer}/v1/logout"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "registration_endpoint" not in doc
    keys = requests.get(f"{issuer}/v1/keys", timeout=10).json()["keys"]
    assert keys and {k["kty"] for k in keys} == {"RSA"}
    # another authorization server of the same org, and a generic issuer beside them
    other = requests.get(f"{issuer_of(okta, 'aus1payments')}/.well-known/openid-configuration",
                         timeout=10).json()
    assert other["issuer"] == issuer_of(okta, "aus1payments")
    assert requests.get(f"{okta.url}/plain/.well-known/openid-configuration",
                        timeout=10).json()["issuer"] == f"{okta.url}/plain"
    assert okta.issuer("okta").settings.signing_alg == "RS256"


# -- tokens, verified by okta-jwt-verifier (Python) ---------------------------------------------

def test_client_credentials_token_verifies_and_is_okta_shaped(okta: MockIdP) -> None:
    body = token(okta, grant_type="client_credentials", client_id="0oasvc",
                 client_secret="svc-secret", scope="payments:read")
    assert body["token_type"] == "Bearer" and body["scope"] == "payments:read"
    verify_access(issuer_of(okta), body["access_token"])
    claims = claims_of(body["access_token"])
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "RS256"
    assert claims["ver"] == 1 and claims["jti"].startswith("AT.")
    assert claims["aud"] == "api://default"
    assert claims["cid"] == "0oasvc" and claims["sub"] == "0oasvc"
    assert claims["scp"] == ["payments:read"]
    assert "uid" not in claims and "scope" not in claims and "client_id" not in claims


def test_password_grant_tokens_verify_with_every_python_verifier(okta: MockIdP) -> None:
    issuer = issuer_of(okta)
    body = password_tokens(okta)
    access, id_token = body["access_token"], body["id_token"]
    verify_access(issuer, access)
    verify_id(issuer, id_token, "0oaweb")
    with pytest.warns(DeprecationWarning):  # the deprecated verifier an older app still uses
        legacy = JWTVerifier(issuer=issuer, client_id="0oaweb", audience="api://default")
    legacy.verify_access_token_sync(access)
    legacy.verify_id_token_sync(id_token)
    at = claims_of(access)
    assert at["sub"] == "alice@example.com"  # the login
    assert at["uid"].startswith("00u") and len(at["uid"]) == 20
    assert at["cid"] == "0oaweb" and at["ver"] == 1
    assert at["scp"] == ["openid", "profile", "email", "offline_access"]
    assert at["groups"] == ["Everyone", "Admins"]
    assert isinstance(at["auth_time"], int)
    assert not {"scope", "client_id", "azp", "sid"} & set(at)
    it = claims_of(id_token)
    assert it["sub"] == at["uid"] and it["aud"] == "0oaweb" and it["ver"] == 1
    assert it["jti"].startswith("ID.") and it["amr"] == ["pwd"]
    assert it["idp"].startswith("00o") and it["preferred_username"] == "alice@example.com"
    assert it["name"] == "Alice Example" and it["email"] == "alice@example.com"
    assert "at_hash" in it and "azp" not in it
    # the same user, the same uid, on every authorization server of the org
    other = token(okta, "aus1payments", grant_type="password", username="alice@example.com",
                  password="pw", client_id="0oaweb", client_secret="web-secret",
                  scope="openid")
    assert claims_of(other["access_token"])["uid"] == at["uid"]
    verify_access(issuer_of(okta, "aus1payments"), other["access_token"], "api://payments")


def test_a_users_own_uid_is_kept(okta: MockIdP) -> None:
    token_string = okta.mint("bob@example.com", issuer="okta", scope="openid")
    claims = claims_of(token_string)
    assert claims["uid"] == "00ubobbobbobbobbob1" and claims["sub"] == "bob@example.com"
    verify_access(issuer_of(okta), token_string)  # mint() makes tokens the verifier accepts


def test_refresh_gives_new_tokens_that_verify(okta: MockIdP) -> None:
    first = password_tokens(okta)
    again = token(okta, grant_type="refresh_token", refresh_token=first["refresh_token"],
                  client_id="0oaweb", client_secret="web-secret")
    assert again["access_token"] != first["access_token"]
    verify_access(issuer_of(okta), again["access_token"])
    verify_id(issuer_of(okta), again["id_token"], "0oaweb")
    assert claims_of(again["access_token"])["uid"] == claims_of(first["access_token"])["uid"]


def login_code(idp: MockIdP, http: requests.Session, **params: str) -> str:
    """The browser's part of the code flow: Okta's /v1/authorize, mockidp's login page (one
    click on alice), the redirect back with the code."""
    page = http.get(f"{issuer_of(idp)}/v1/authorize", timeout=10, params={
        "client_id": "0oaweb", "response_type": "code", "redirect_uri": REDIRECT,
        "scope": "openid profile email", "state": "st-1", **params})
    assert page.status_code == 200 and "imitating Okta" in page.text, page.text
    action = elements(page.text, "form")[0].attrs["action"]
    assert action.startswith("/oauth2/default/v1/")
    answer = http.post(idp.url + action, data={**form_fields(page.text),
                                               "pick": "alice@example.com"},
                       allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    query = query_of(location)
    assert query["state"] == "st-1" and query["iss"] == issuer_of(idp)
    return query["code"]


def test_authorization_code_through_the_login_page(okta: MockIdP) -> None:
    verifier, challenge = pkce_pair()
    with requests.Session() as http:
        code = login_code(okta, http, nonce="n-0S6_WzA2Mj", code_challenge=challenge,
                          code_challenge_method="S256")
        body = token(okta, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                     code_verifier=verifier, client_id="0oaweb", client_secret="web-secret")
    issuer = issuer_of(okta)
    verify_access(issuer, body["access_token"])
    verify_id(issuer, body["id_token"], "0oaweb", nonce="n-0S6_WzA2Mj")
    with pytest.raises(JWTValidationException, match="nonce"):
        IDTokenVerifier(issuer=issuer, client_id="0oaweb").verify_sync(body["id_token"],
                                                                        nonce="other")
    with pytest.raises(JWTValidationException, match="aud"):
        IDTokenVerifier(issuer=issuer, client_id="0oaother").verify_sync(body["id_token"])
    assert claims_of(body["id_token"])["nonce"] == "n-0S6_WzA2Mj"


# -- userinfo, introspection, revocation, logout ------------------------------------------------

def test_userinfo_introspection_and_revocation(okta: MockIdP) -> None:
    issuer = issuer_of(okta)
    body = password_tokens(okta)
    access = body["access_token"]
    uid = claims_of(access)["uid"]
    bearer = {"Authorization": f"Bearer {access}"}
    info = requests.get(f"{issuer}/v1/userinfo", headers=bearer, timeout=10).json()
    assert info["sub"] == uid and info["email"] == "alice@example.com"
    assert info["preferred_username"] == "alice@example.com"
    assert not {"ver", "cid", "uid", "scp"} & set(info)
    auth = ("0oaweb", "web-secret")
    active = requests.post(f"{issuer}/v1/introspect", auth=auth, timeout=10, data={
        "token": access, "token_type_hint": "access_token"}).json()
    assert active == {
        "active": True, "scope": "openid profile email offline_access",
        "username": "alice@example.com", "exp": active["exp"], "iat": active["iat"],
        "sub": "alice@example.com", "aud": "api://default", "iss": issuer,
        "jti": claims_of(access)["jti"], "token_type": "Bearer", "client_id": "0oaweb",
        "uid": uid}
    refresh = requests.post(f"{issuer}/v1/introspect", auth=auth, timeout=10,
                            data={"token": body["refresh_token"]}).json()
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    revoked = requests.post(f"{issuer}/v1/revoke", auth=auth, timeout=10,
                            data={"token": access, "token_type_hint": "access_token"})
    assert revoked.status_code == 200
    assert requests.post(f"{issuer}/v1/introspect", auth=auth, timeout=10,
                         data={"token": access}).json() == {"active": False}
    refused = requests.get(f"{issuer}/v1/userinfo", headers=bearer, timeout=10)
    assert refused.status_code == 401 and "invalid_token" in refused.headers["WWW-Authenticate"]


def test_logout_redirects_with_state(okta: MockIdP) -> None:
    issuer = issuer_of(okta)
    with requests.Session() as http:
        code = login_code(okta, http)
        body = token(okta, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                     client_id="0oaweb", client_secret="web-secret")
        answer = http.get(f"{issuer}/v1/logout", allow_redirects=False, timeout=10, params={
            "id_token_hint": body["id_token"], "post_logout_redirect_uri": BYE,
            "state": "bye-state"})
        assert answer.status_code == 302, answer.text
        assert answer.headers["Location"] == f"{BYE}?state=bye-state"
        # the session is over: the next authorize shows the login page again
        page = http.get(f"{issuer}/v1/authorize", timeout=10, params={
            "client_id": "0oaweb", "response_type": "code", "redirect_uri": REDIRECT,
            "scope": "openid", "state": "s"}, allow_redirects=False)
        assert page.status_code == 200 and "imitating Okta" in page.text
    unregistered = requests.get(f"{issuer}/v1/logout", allow_redirects=False, timeout=10,
                                params={"id_token_hint": body["id_token"],
                                        "post_logout_redirect_uri": "http://evil.test/"})
    assert unregistered.status_code == 400


# -- bad tokens ---------------------------------------------------------------------------------

BAD_FOR_EVERY_VERIFIER = ("okta_id_token", "okta_other_server", "okta_org_server",
                          "wrong_audience", "wrong_issuer", "expired", "bad_signature",
                          "hs256_public_key", "alg_none", "unknown_kid")


@pytest.mark.parametrize("kind", BAD_FOR_EVERY_VERIFIER)
def test_bad_tokens_are_refused_by_the_python_verifier(okta: MockIdP, kind: str) -> None:
    bad = okta.mint_bad(kind, "alice@example.com", issuer="okta", client_id="0oaweb",
                        scope="openid profile")
    with pytest.raises(JWTValidationException):
        AccessTokenVerifier(issuer=issuer_of(okta)).verify_sync(bad)


def test_the_okta_kinds_are_in_the_catalogue(okta: MockIdP) -> None:
    kinds = okta.bad_token_kinds()
    for kind in ("okta_other_cid", "okta_id_token", "okta_other_server", "okta_org_server"):
        assert kind in kinds and kinds[kind].startswith("(Okta) ")
    good = claims_of(okta.mint("alice@example.com", issuer="okta", client_id="0oaweb"))
    as_id = claims_of(okta.mint_bad("okta_id_token", "alice@example.com", issuer="okta",
                                    client_id="0oaweb"))
    assert as_id["aud"] == "0oaweb" and as_id["sub"] == good["uid"] and "scp" not in as_id
    other = claims_of(okta.mint_bad("okta_other_cid", "alice@example.com", issuer="okta",
                                    client_id="0oaweb"))
    assert other["cid"] != "0oaweb" and other["cid"].startswith("0oa")
    assert claims_of(okta.mint_bad("okta_other_server", issuer="okta"))["iss"] == \
        issuer_of(okta, "default-other")


def test_an_async_app_verifies_our_tokens_and_refuses_the_bad_kinds(okta: MockIdP) -> None:
    issuer = issuer_of(okta)
    verifier, challenge = pkce_pair()
    with requests.Session() as http:
        code = login_code(okta, http, nonce="py-nonce", code_challenge=challenge,
                          code_challenge_method="S256")
        flow = token(okta, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                     code_verifier=verifier, client_id="0oaweb", client_secret="web-secret")
    refreshed = token(okta, grant_type="refresh_token", client_id="0oaweb",
                      client_secret="web-secret",
                      refresh_token=password_tokens(okta)["refresh_token"])
    m2m = token(okta, grant_type="client_credentials", client_id="0oasvc",
                client_secret="svc-secret", scope="payments:read")["access_token"]
    access = {"issuer": issuer, "kind": "access", "audience": "api://default"}
    id_of = {"issuer": issuer, "kind": "id", "client_id": "0oaweb"}
    good = [
        {**access, "name": "code_access", "token": flow["access_token"]},
        {**id_of, "name": "code_id", "token": flow["id_token"], "nonce": "py-nonce"},
        {**access, "name": "m2m", "token": m2m},
        {**access, "name": "refreshed", "token": refreshed["access_token"]},
        {**id_of, "name": "refreshed_id", "token": refreshed["id_token"]},
        {**access, "kind": "legacy_access", "name": "legacy_access",
         "token": flow["access_token"]},
        {**id_of, "kind": "legacy_id", "name": "legacy_id", "token": flow["id_token"],
         "nonce": "py-nonce"},
    ]
    bad = [
        {**id_of, "name": "wrong_nonce", "token": flow["id_token"], "nonce": "other"},
        {**access, "name": "id_token_as_access", "token": flow["id_token"]},
        {**access, "name": "other_audience", "token": m2m, "audience": "api://payments"},
        {**access, "name": "other_server", "token": m2m,
         "issuer": issuer_of(okta, "aus1payments")},
        *({**access, "name": kind, "token": okta.mint_bad(
            kind, "alice@example.com", issuer="okta", client_id="0oaweb")}
          for kind in BAD_FOR_EVERY_VERIFIER),
    ]
    results = async_verify(okta, good + bad)
    assert all(results[c["name"]] == "ok" for c in good), results
    for case in bad:
        assert results[case["name"]].startswith("JWTValidationException"), (case["name"],
                                                                            results)


# -- @okta/jwt-verifier (Node) ------------------------------------------------------------------

@needs_node
def test_node_verifier_accepts_our_tokens_and_refuses_the_bad_kinds(okta: MockIdP) -> None:
    verifier, challenge = pkce_pair()
    with requests.Session() as http:
        code = login_code(okta, http, nonce="node-nonce", code_challenge=challenge,
                          code_challenge_method="S256")
        flow = token(okta, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                     code_verifier=verifier, client_id="0oaweb", client_secret="web-secret")
    m2m = token(okta, grant_type="client_credentials", client_id="0oasvc",
                client_secret="svc-secret", scope="payments:read")["access_token"]
    refreshed = token(okta, grant_type="refresh_token", client_id="0oaweb",
                      client_secret="web-secret", refresh_token=password_tokens(okta)[
                          "refresh_token"])["access_token"]

    def bad(kind: str) -> str:
        return okta.mint_bad(kind, "alice@example.com", issuer="okta", client_id="0oaweb",
                             scope="openid profile")

    cid = {"cid": "0oaweb"}
    cases = [
        {"name": "code_access", "token": flow["access_token"], "assertClaims": {
            **cid, "scp.includes": ["openid", "profile"]}},
        {"name": "code_id", "kind": "id", "token": flow["id_token"], "clientId": "0oaweb",
         "nonce": "node-nonce"},
        {"name": "id_wrong_nonce", "kind": "id", "token": flow["id_token"],
         "clientId": "0oaweb", "nonce": "other"},
        {"name": "m2m", "token": m2m, "assertClaims": {"cid": "0oasvc", "sub": "0oasvc"}},
        {"name": "refreshed", "token": refreshed, "assertClaims": cid},
        {"name": "groups", "token": flow["access_token"],
         "assertClaims": {"groups.includes": "Admins"}},
        {"name": "okta_other_cid", "token": bad("okta_other_cid"), "assertClaims": cid},
        *({"name": kind, "token": bad(kind), "assertClaims": cid}
          for kind in BAD_FOR_EVERY_VERIFIER),
        {"name": "real_id_token_as_access", "token": flow["id_token"], "assertClaims": cid},
        {"name": "other_server_audience", "token": flow["access_token"],
         "audience": "api://payments"},
    ]
    results = node_verify(okta, cases)
    for name in ("code_access", "code_id", "m2m", "refreshed", "groups"):
        assert results[name]["ok"], (name, results[name])
    assert results["code_access"]["claims"]["uid"].startswith("00u")
    assert results["code_id"]["claims"]["nonce"] == "node-nonce"
    refused = [c["name"] for c in cases if c["name"] not in
               ("code_access", "code_id", "m2m", "refreshed", "groups")]
    for name in refused:
        assert results[name]["ok"] is False, (name, results[name])
    assert "cid" in results["okta_other_cid"]["error"]
    assert "nonce" in results["id_wrong_nonce"]["error"]
    # the payments server: its own issuer and audience
    payments = token(okta, "aus1payments", grant_type="client_credentials",
                     client_id="0oasvc", client_secret="svc-secret", scope="pay")
    other = node_verify(okta, [{"name": "own", "token": payments["access_token"],
                                "audience": "api://payments"},
                               {"name": "default_token", "token": m2m,
                                "audience": "api://payments"}], "aus1payments")
    assert other["own"]["ok"] and other["default_token"]["ok"] is False


# -- bad input on the Okta paths ----------------------------------------------------------------

BAD_REQUESTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("POST", "/v1/token", {}),
    ("POST", "/v1/token", {"grant_type": "nope"}),
    ("POST", "/v1/token", {"grant_type": "password", "username": "alice@example.com",
                           "password": "wrong", "client_id": "0oaweb",
                           "client_secret": "web-secret"}),
    ("POST", "/v1/token", {"grant_type": "authorization_code", "code": "x",
                           "client_id": "0oaweb", "client_secret": "web-secret"}),
    ("POST", "/v1/token", {"grant_type": "refresh_token", "refresh_token": "x",
                           "client_id": "0oaweb", "client_secret": "web-secret"}),
    ("POST", "/v1/token", {"grant_type": "client_credentials", "client_id": "0oasvc",
                           "client_secret": "wrong"}),
    ("POST", "/v1/token", {"grant_type": ["password", "password"]}),  # type: ignore[dict-item]
    ("POST", "/v1/introspect", {}),
    ("POST", "/v1/revoke", {"client_id": "0oaweb", "client_secret": "web-secret"}),
    ("POST", "/v1/par", {}),
    ("POST", "/v1/device/authorize", {}),
    ("GET", "/v1/userinfo", {}),
    ("POST", "/v1/userinfo", {"access_token": "not-a-token"}),
    ("GET", "/v1/keys", {"x": "\x00"}),
)


@pytest.mark.parametrize(("method", "path", "form"), BAD_REQUESTS)
def test_bad_input_gets_oktas_error_shape(okta: MockIdP, method: str, path: str,
                                          form: dict[str, str]) -> None:
    url = issuer_of(okta) + path
    answer = (requests.get(url, params=form, timeout=10) if method == "GET"
              else requests.post(url, data=form, timeout=10))
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400 and answer.content:
        body = answer.json()
        assert set(body) == {"error", "error_description"}, body
        assert body["error"] and body["error_description"]


def test_bad_browser_input_gets_a_page_not_a_500(okta: MockIdP) -> None:
    issuer = issuer_of(okta)
    for path, params in (("/v1/authorize", {}), ("/v1/authorize", {"client_id": "0oaweb"}),
                         ("/v1/logout", {"id_token_hint": "x.y.z"}),
                         ("/v1/logout", {"post_logout_redirect_uri": "not a url"}),
                         ("/activate", {"user_code": "NOPE-NOPE"})):
        answer = requests.get(issuer + path, params=params, allow_redirects=False, timeout=10)
        assert 400 <= answer.status_code < 500 or answer.status_code in (200, 302), answer.text
    json_body = requests.post(f"{issuer}/v1/token", data=b"{not json", timeout=10,
                              headers={"Content-Type": "application/json"})
    assert json_body.status_code == 400 and json_body.json()["error"] == "invalid_request"


# -- configuration ------------------------------------------------------------------------------

def test_options_and_config_errors() -> None:
    with pytest.raises(MockIdPError, match=r"issuers.x.authorization_server: expected"):
        MockIdP(config={"issuers": {"x": {"profile": "okta",
                                          "authorization_server": "a/b"}}})
    with pytest.raises(MockIdPError, match=r"mount '/oauth2/default' is already issuer"):
        MockIdP(config={"issuers": {"x": {"profile": "okta"}, "y": {"profile": "okta"}}})
    with pytest.raises(MockIdPError, match=r"issuers.x.realm: the okta profile takes no"):
        MockIdP(config={"issuers": {"x": {"profile": "okta", "realm": "r"}}})
    with pytest.raises(MockIdPError, match=r"issuers.x.audience: the generic profile"):
        MockIdP(config={"issuers": {"x": {"audience": "api://x"}}})
    settings = with_profiles(load_settings(None), ["okta:okta:authorization_server=aus9"],
                             "--profile")
    assert settings.issuers["okta"]["authorization_server"] == "aus9"
    with MockIdP(config=settings) as idp:
        claims = claims_of(idp.mint("carol", issuer="okta"))
        assert urlsplit(claims["iss"]).path == "/oauth2/aus9"
        assert claims["aud"] == "api://aus9"
        # an audience asked for wins over the server's
        assert claims_of(idp.mint("carol", issuer="okta", audience="api://x"))["aud"] == \
            "api://x"


def test_refresh_tokens_only_with_offline_access(okta: MockIdP) -> None:
    assert "refresh_token" not in password_tokens(okta, scope="openid profile")
    assert "refresh_token" in password_tokens(okta, scope="openid offline_access")


def test_the_debugger_tells_okta_access_tokens_from_id_tokens(okta: MockIdP) -> None:
    body = password_tokens(okta)
    assert okta.inspect_token(body["access_token"])["kind"] == "access token"
    assert okta.inspect_token(body["id_token"])["kind"] == "ID token"
    assert okta.inspect_token(body["access_token"])["verdict"] == "valid"


@needs_node
def test_mockidp_serve_tls_with_the_profile_from_the_environment(tmp_path: Path) -> None:
    """The one-line docker-compose service: ``MOCKIDP_PROFILES=okta:okta mockidp serve --tls``,
    its certificate given to the app, Okta's verifiers pointed at it."""
    env = {"MOCKIDP_PROFILES": "okta:okta"}
    with mockidp_serve("--port", "0", "--tls", "--keys-dir", str(tmp_path), env=env) as served:
        generic = served.issuer()
        assert generic is not None, served.output
        base = generic.rsplit("/", 1)[0]
        cert = tmp_path / "_tls" / "cert.pem"
        issuer = f"{base}/oauth2/default"
        answer = None
        for _ in range(300):  # the banner may come a moment before the socket listens
            with contextlib.suppress(requests.ConnectionError):
                answer = requests.post(f"{issuer}/v1/token", verify=str(cert), timeout=10, data={
                    "grant_type": "client_credentials", "client_id": "0oaapi",
                    "client_secret": "s", "scope": "orders:read"})
                break
            time.sleep(0.05)
        assert answer is not None and answer.status_code == 200, served.output
        access = answer.json()["access_token"]
        results = run_node("okta_verify.mjs", issuer, json.dumps([
            {"name": "m2m", "token": access, "assertClaims": {"cid": "0oaapi"}}]),
            env={"NODE_EXTRA_CA_CERTS": str(cert)})
        assert results["m2m"]["ok"], results
        assert results["m2m"]["claims"]["scp"] == ["orders:read"]

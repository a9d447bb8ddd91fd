"""The Auth0 profile driven by Auth0's own SDKs, as an application uses them: auth0-python
(`GetToken`, `Users`, `RevokeToken`, `Passwordless`, `TokenVerifier` with
`AsymmetricSignatureVerifier`) against ``https://{domain}`` (the one thing changed: the
domain, ``127.0.0.1:{port}`` of a ``MockIdP(tls=True)`` whose CA requests trusts through
``REQUESTS_CA_BUNDLE``), and express-oauth2-jwt-bearer protecting a real express route
(tests/node/auth0_api.mjs, ``NODE_EXTRA_CA_CERTS``).  Bad input on the profile's paths
answers Auth0's error shape, never a 500."""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from auth0.authentication import GetToken, Passwordless, RevokeToken, Users
from auth0.authentication.exceptions import Auth0Error, TokenValidationError
from auth0.authentication.pushed_authorization_requests import PushedAuthorizationRequests
from auth0.authentication.token_verifier import (
    AsymmetricSignatureVerifier,
    TokenVerifier,
)

from mockidp import MockIdP
from mockidp.core.errors import MockIdPError
from mockidp.core.settings import load_settings, with_profiles
from tests.conftest import pkce_pair, query_of, run_node

API = "https://api.shop.example"
REDIRECT = "http://localhost:3000/callback"
REALM = "Username-Password-Authentication"
WEB_SECRET = "web-secret-of-at-least-32-bytes!!"  # HS256 wants 32 bytes
CONFIG = {
    "users": {
        "alice": {"password": "wonderland", "claims": {
            "email": "alice@example.com", "permissions": ["read:orders", "write:orders"]}},
        "bob": {},
    },
    "clients": {
        "m2m": {"secret": "m2m-secret", "claims": {"permissions": ["read:orders"]}},
        "m2m-default": {"secret": "other-secret", "audience": [API]},
        "web": {"secret": WEB_SECRET, "redirect_uris": [REDIRECT],
                "post_logout_redirect_uris": ["http://localhost:3000/bye"]},
        "spa": {"redirect_uris": [REDIRECT]},
    },
    "issuers": {"shop": {"profile": "auth0"},
                "eu": {"profile": "auth0", "mount": "/eu"},
                "plain": {}},
}


@pytest.fixture(scope="module")
def idp() -> Iterator[MockIdP]:
    with pytest.MonkeyPatch.context() as patch:
        server = MockIdP(config=CONFIG, tls=True)
        with server:
            patch.setenv("REQUESTS_CA_BUNDLE", str(server.tls_cert))
            yield server


@pytest.fixture
def domain(idp: MockIdP) -> str:
    """What an application configures as its Auth0 domain."""
    return urlsplit(idp.url).netloc


def verifier(idp: MockIdP, audience: str = "web") -> TokenVerifier:
    """auth0-python's ID-token verifier, as its README builds one."""
    signature = AsymmetricSignatureVerifier(f"{idp.url}/.well-known/jwks.json")
    return TokenVerifier(signature_verifier=signature, issuer=f"{idp.url}/",
                         audience=audience)


def claims_of(idp: MockIdP, token: str, audience: str | None = None) -> dict:
    """The claims of a token, its RS256 signature checked against the tenant's JWKS."""
    trust = ssl.create_default_context(cafile=str(idp.tls_cert))
    keys = jwt.PyJWKClient(f"{idp.url}/.well-known/jwks.json", ssl_context=trust)
    key = keys.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], issuer=f"{idp.url}/",
                      audience=audience, options={"verify_aud": audience is not None})


def test_discovery_and_keys_are_auth0s(idp: MockIdP) -> None:
    base = idp.url
    doc = requests.get(f"{base}/.well-known/openid-configuration", timeout=5).json()
    assert doc["issuer"] == f"{base}/"
    assert doc["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert doc["token_endpoint"] == f"{base}/oauth/token"
    assert doc["authorization_endpoint"] == f"{base}/authorize"
    assert doc["userinfo_endpoint"] == f"{base}/userinfo"
    assert doc["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert doc["end_session_endpoint"] == f"{base}/oidc/logout"
    assert doc["device_authorization_endpoint"] == f"{base}/oauth/device/code"
    assert doc["registration_endpoint"] == f"{base}/oidc/register"
    assert doc["pushed_authorization_request_endpoint"] == f"{base}/oauth/par"
    assert "introspection_endpoint" not in doc
    assert "http://auth0.com/oauth/grant-type/password-realm" in doc["grant_types_supported"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256", "PS256"]
    keys = requests.get(doc["jwks_uri"], timeout=5).json()["keys"]
    assert keys and {k["kty"] for k in keys} == {"RSA"}
    # ``mount`` moves a tenant; generic issuers live beside them
    eu = requests.get(f"{base}/eu/.well-known/openid-configuration", timeout=5).json()
    assert eu["issuer"] == f"{base}/eu/" and eu["token_endpoint"] == f"{base}/eu/oauth/token"
    plain = requests.get(f"{base}/plain/.well-known/openid-configuration", timeout=5).json()
    assert plain["issuer"] == f"{base}/plain"
    page = requests.get(f"{base}/authorize", params={
        "client_id": "web", "response_type": "code", "redirect_uri": REDIRECT,
        "scope": "openid"}, timeout=5)
    assert page.status_code == 200 and "imitating Auth0" in page.text


def test_client_credentials_m2m_token(idp: MockIdP, domain: str) -> None:
    token = GetToken(domain, "m2m", client_secret="m2m-secret").client_credentials(API)
    assert token["token_type"] == "Bearer" and "refresh_token" not in token
    claims = claims_of(idp, token["access_token"], API)
    assert claims["sub"] == "m2m@clients" and claims["azp"] == "m2m"
    assert claims["gty"] == "client-credentials" and claims["aud"] == API
    assert claims["permissions"] == ["read:orders"] and claims["scope"] == "read:orders"
    assert "client_id" not in claims
    # no audience and no default audience: Auth0's 403
    with pytest.raises(Auth0Error) as refused:
        GetToken(domain, "m2m", client_secret="m2m-secret").client_credentials("")
    assert refused.value.status_code == 403 and refused.value.error_code == "access_denied"
    assert "audience" in refused.value.message
    # the client's configured audience is its default
    default = GetToken(domain, "m2m-default", client_secret="other-secret")
    assert claims_of(idp, default.client_credentials("")["access_token"], API)["aud"] == API
    with pytest.raises(Auth0Error) as wrong:
        GetToken(domain, "m2m", client_secret="nope").client_credentials(API)
    assert wrong.value.error_code == "invalid_client"


def test_login_password_realm_refresh_userinfo_and_revoke(idp: MockIdP, domain: str) -> None:
    auth = GetToken(domain, "web", client_secret=WEB_SECRET)
    token = auth.login("alice", "wonderland", realm=REALM, audience=API,
                       scope="openid profile email offline_access")
    assert set(token) >= {"access_token", "id_token", "refresh_token", "expires_in", "scope"}
    access = claims_of(idp, token["access_token"], API)
    assert access["aud"] == [API, f"{idp.url}/userinfo"] and access["azp"] == "web"
    assert access["permissions"] == ["read:orders", "write:orders"]
    assert access["gty"] == "password"
    assert access["scope"] == "openid profile email offline_access"
    ident = verifier(idp).verify(token["id_token"])
    assert ident["sub"] == "alice" and ident["email"] == "alice@example.com"
    assert ident["email_verified"] is True and ident["nickname"] == "alice"
    assert ident["name"] == "alice@example.com" and ident["picture"].startswith("https://")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", ident["updated_at"])
    assert "permissions" not in ident
    info = Users(domain).userinfo(token["access_token"])
    assert info["sub"] == "alice" and info["email"] == "alice@example.com"
    assert info["nickname"] == "alice" and "permissions" not in info
    # refresh: new tokens, the refresh token kept (no rotation by default)
    again = auth.refresh_token(token["refresh_token"])
    assert "refresh_token" not in again
    assert verifier(idp).verify(again["id_token"])["sub"] == "alice"
    assert claims_of(idp, again["access_token"], API)["aud"] == [API, f"{idp.url}/userinfo"]
    assert auth.refresh_token(token["refresh_token"])["access_token"]
    # revocation, then the refresh token is refused in Auth0's error shape
    RevokeToken(domain, "web", client_secret=WEB_SECRET).revoke_refresh_token(
        token["refresh_token"])
    with pytest.raises(Auth0Error) as refused:
        auth.refresh_token(token["refresh_token"])
    assert refused.value.status_code == 400 and refused.value.error_code == "invalid_grant"
    # the plain password grant; a wrong password; no offline_access: no refresh token
    plain = auth.login("alice", "wonderland", scope="openid", grant_type="password")
    assert "refresh_token" not in plain
    assert claims_of(idp, plain["access_token"], f"{idp.url}/userinfo")["aud"] == \
        f"{idp.url}/userinfo"  # no audience: a token for /userinfo alone
    with pytest.raises(Auth0Error) as wrong:
        auth.login("alice", "not-it", realm=REALM, scope="openid")
    assert wrong.value.error_code == "invalid_grant"


def login_code(idp: MockIdP, http: requests.Session, **params: str) -> str:
    """Log in on the tenant's login page as a browser would, and return the code (at once
    when the browser's login session is still there)."""
    page = http.get(f"{idp.url}/authorize", params={
        "client_id": "web", "response_type": "code", "redirect_uri": REDIRECT,
        "scope": "openid profile email offline_access", "audience": API, "state": "st",
        **params}, timeout=5, allow_redirects=False)
    if page.status_code == 302:
        return query_of(page.headers["Location"])["code"]
    assert page.status_code == 200, page.text
    interaction = re.search(r'name="interaction" value="([^"]+)"', page.text)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert interaction and action
    answer = http.post(requests.compat.urljoin(page.url, action.group(1)), data={
        "interaction": interaction.group(1), "username": "alice", "action": "approve"},
        allow_redirects=False, timeout=5)
    assert answer.status_code in (302, 303), answer.text
    assert answer.headers["Location"].startswith(REDIRECT)
    found = query_of(answer.headers["Location"])
    assert found["state"] == "st"
    return found["code"]


def test_authorization_code_from_the_login_page(idp: MockIdP, domain: str) -> None:
    with requests.Session() as http:
        http.verify = str(idp.tls_cert)
        code = login_code(idp, http, nonce="n-0S6")
        token = GetToken(domain, "web", client_secret=WEB_SECRET).authorization_code(
            code, REDIRECT)
        ident = verifier(idp).verify(token["id_token"], nonce="n-0S6")
        assert ident["sub"] == "alice" and ident["sid"]
        with pytest.raises(TokenValidationError, match="Nonce"):
            verifier(idp).verify(token["id_token"], nonce="another")
        assert Users(domain).userinfo(token["access_token"])["email"] == "alice@example.com"
        # a public client with PKCE
        code_verifier, challenge = pkce_pair()
        page_code = login_code(idp, http, client_id="spa", code_challenge=challenge,
                               code_challenge_method="S256")
        spa = GetToken(domain, "spa").authorization_code_pkce(code_verifier, page_code,
                                                              REDIRECT)
        assert verifier(idp, "spa").verify(spa["id_token"])["sub"] == "alice"
        # /v2/logout ends the login session and sends the browser to returnTo
        bye = http.get(f"{idp.url}/v2/logout", params={
            "client_id": "web", "returnTo": "http://localhost:3000/bye"},
            allow_redirects=False, timeout=5)
        assert bye.status_code in (302, 303)
        assert bye.headers["Location"] == "http://localhost:3000/bye"
        relogin = http.get(f"{idp.url}/authorize", params={
            "client_id": "web", "response_type": "code", "redirect_uri": REDIRECT,
            "scope": "openid", "prompt": "none"}, allow_redirects=False, timeout=5)
        assert query_of(relogin.headers["Location"])["error"] == "login_required"
        # OIDC RP-initiated logout at /oidc/logout, with state
        oidc = http.get(f"{idp.url}/oidc/logout", params={
            "id_token_hint": token["id_token"], "state": "s1",
            "post_logout_redirect_uri": "http://localhost:3000/bye"},
            allow_redirects=False, timeout=5)
        assert oidc.headers["Location"] == "http://localhost:3000/bye?state=s1"
        unknown = http.get(f"{idp.url}/v2/logout", params={
            "client_id": "web", "returnTo": "http://evil.example/"}, timeout=5)
        assert unknown.status_code == 400


def test_passwordless_email_code(idp: MockIdP, domain: str) -> None:
    start = Passwordless(domain, "web", client_secret=WEB_SECRET).email(
        "carol@example.com", send="code")
    assert start["email"] == "carol@example.com" and start["email_verified"] is False
    assert re.fullmatch(r"[0-9a-f]{24}", start["_id"])
    idp.assert_called(endpoint="passwordless_start", issuer="shop")
    auth = GetToken(domain, "web", client_secret=WEB_SECRET)
    token = auth.passwordless_login("carol@example.com", "123456", realm="email",
                                    scope="openid profile email", audience=API)
    ident = verifier(idp).verify(token["id_token"])
    assert ident["sub"] == "carol@example.com" and ident["email"] == "carol@example.com"
    sms = Passwordless(domain, "web", client_secret=WEB_SECRET).sms("+15550100")
    assert sms["phone_number"] == "+15550100" and sms["phone_verified"] is False
    # a configured user's code is their password
    with pytest.raises(Auth0Error) as wrong:
        auth.passwordless_login("alice", "000000", realm="email", scope="openid",
                                audience=API)
    assert wrong.value.error_code == "invalid_grant"
    with pytest.raises(Auth0Error) as bad:
        Passwordless(domain, "web").email("", send="code")
    assert bad.value.status_code == 400 and bad.value.error_code == "bad.email"


def test_bad_tokens_are_refused_by_auth0_python(idp: MockIdP, domain: str) -> None:
    good = idp.mint_bad("auth0_other_tenant", "alice", issuer="shop", client_id="web",
                        scope="openid", audience="web")
    with pytest.raises(TokenValidationError, match="Issuer"):
        verifier(idp).verify(good)
    hs256 = idp.mint_bad("auth0_hs256_client_secret", "alice", issuer="shop",
                         client_id="web", scope="openid", audience="web")
    assert jwt.get_unverified_header(hs256)["alg"] == "HS256"
    assert jwt.decode(hs256, WEB_SECRET, algorithms=["HS256"],  # really the secret's
                      options={"verify_aud": False})["sub"] == "alice"
    with pytest.raises(TokenValidationError, match="HS256"):
        verifier(idp).verify(hs256)
    m2m = idp.mint_bad("auth0_m2m_token", "alice", issuer="shop", client_id="web",
                       audience=API, scope="openid")
    assert jwt.decode(m2m, options={"verify_signature": False})["sub"] == "web@clients"
    with pytest.raises(TokenValidationError, match="Audience"):
        verifier(idp).verify(m2m)
    # /userinfo refuses tokens without the userinfo audience, as Auth0 does
    for kind in ("auth0_m2m_token", "auth0_no_userinfo_audience"):
        token = idp.mint_bad(kind, "alice", issuer="shop", client_id="web", audience=API,
                             scope="openid")
        with pytest.raises(Auth0Error) as refused:
            Users(domain).userinfo(token)
        assert refused.value.status_code == 401
        assert refused.value.error_code == "invalid_token"
    machine = GetToken(domain, "m2m", client_secret="m2m-secret").client_credentials(API)
    with pytest.raises(Auth0Error) as refused:
        Users(domain).userinfo(machine["access_token"])
    assert refused.value.status_code == 401
    assert "auth0_other_tenant" in idp.bad_token_kinds()


def test_express_oauth2_jwt_bearer_protects_a_route(idp: MockIdP, domain: str) -> None:
    auth = GetToken(domain, "web", client_secret=WEB_SECRET)
    user = auth.login("alice", "wonderland", realm=REALM, audience=API, scope="openid")
    machine = GetToken(domain, "m2m", client_secret="m2m-secret").client_credentials(API)
    tokens = {
        "user": user["access_token"],
        "m2m": machine["access_token"],
        "minted": idp.mint("alice", issuer="shop", audience=API),
        "auth0_other_tenant": idp.mint_bad("auth0_other_tenant", issuer="shop",
                                           audience=API),
        "auth0_hs256_client_secret": idp.mint_bad("auth0_hs256_client_secret",
                                                  issuer="shop", client_id="web",
                                                  audience=API),
        "auth0_m2m_token": idp.mint_bad("auth0_m2m_token", issuer="shop", audience=API),
        "userinfo_only": auth.login("alice", "wonderland", scope="openid")["access_token"],
        "wrong_issuer": idp.mint_bad("wrong_issuer", issuer="shop", audience=API),
        "expired": idp.mint_bad("expired", issuer="shop", audience=API),
        "eu_tenant": idp.mint("alice", issuer="eu", audience=API),
    }
    result = run_node("auth0_api.mjs", f"{idp.url}/", API, json.dumps(tokens),
                      env={"NODE_EXTRA_CA_CERTS": str(idp.tls_cert)})
    seen = result["results"]
    # any valid token of the tenant passes the API route; only user tokens pass the user route
    for name in ("user", "m2m", "minted"):
        assert seen[name]["api"]["status"] == 200, (name, seen[name])
        assert seen[name]["api"]["body"]["sub"] in ("alice", "m2m@clients")
    assert seen["user"]["user"]["status"] == 200
    for name in ("m2m", "auth0_m2m_token"):
        assert seen[name]["user"]["status"] == 401
        assert 'error="invalid_token"' in seen[name]["user"]["www_authenticate"]
    reasons = {"auth0_other_tenant": "'iss'", "auth0_hs256_client_secret": "HS256",
               "userinfo_only": "'aud'", "wrong_issuer": "'iss'", "expired": "'exp'",
               "eu_tenant": "key"}  # another tenant's keys are not this one's
    for name, reason in reasons.items():
        answer = seen[name]["api"]
        assert answer["status"] == 401, (name, answer)
        challenge = answer["www_authenticate"]
        assert challenge.startswith('Bearer realm="api", error="invalid_token"'), challenge
        assert reason in challenge.split("error_description=")[1], (name, challenge)
    assert seen["none"]["api"]["status"] == 401
    assert seen["none"]["api"]["www_authenticate"].startswith('Bearer realm="api"')
    assert "error=" not in seen["none"]["api"]["www_authenticate"]


@pytest.mark.parametrize("path, body, content_type", [
    ("/oauth/token", b"{not json", "application/json"),
    ("/oauth/token", b"[1, 2]", "application/json"),
    ("/oauth/token", b'"grant"', "application/json"),
    ("/oauth/token", b"", "application/json"),
    ("/oauth/token", b'{"grant_type": 7}', "application/json"),
    ("/oauth/token", b'{"grant_type": ["password"], "username": {}}', "application/json"),
    ("/oauth/token", b'{"grant_type": "http://auth0.com/oauth/grant-type/password-realm",'
                     b' "username": null, "password": 3}', "application/json"),
    ("/oauth/token", b'{"grant_type": "client_credentials", "client_id": "m2m", '
                     b'"client_secret": "m2m-secret", "audience": ["a", "b"]}',
     "application/json"),
    ("/oauth/token", b"\xff\xfe", "application/json"),
    ("/oauth/token", b'{"a": NaN}', "application/json"),
    ("/oauth/revoke", b'{"client_id": "web", "client_secret": "web-secret-of-at-least-32-bytes!!"}',
     "application/json"),
    ("/oauth/revoke", b"{", "application/json"),
    ("/oauth/device/code", b'{"scope": "openid"}', "application/json"),
    ("/oauth/par", b"{", "application/json"),
    ("/passwordless/start", b"{", "application/json"),
    ("/passwordless/start", b'{"client_id": "web", "connection": "fax"}', "application/json"),
    ("/passwordless/start", b'{"client_id": "web", "connection": "sms", "send": "x"}',
     "application/json"),
    ("/passwordless/start", b'{"connection": "email", "email": "a@b.c"}', "application/json"),
    ("/passwordless/start", b"client_id=web&connection=email",
     "application/x-www-form-urlencoded"),
    ("/oidc/register", b'{"redirect_uris": 5}', "application/json"),
])
def test_bad_input_answers_auth0s_error_shape(idp: MockIdP, path: str, body: bytes,
                                              content_type: str) -> None:
    answer = requests.post(f"{idp.url}{path}", data=body, timeout=5,
                           headers={"Content-Type": content_type})
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    error = answer.json()
    assert isinstance(error["error"], str) and error["error"]
    assert set(error) <= {"error", "error_description"}


def test_rules_and_the_journal_see_the_tenant(idp: MockIdP, domain: str) -> None:
    idp.add_rule(endpoint="token", issuer="shop", error="temporarily_unavailable", times=1)
    with pytest.raises(Auth0Error) as refused:
        GetToken(domain, "m2m", client_secret="m2m-secret").client_credentials(API)
    assert refused.value.error_code == "temporarily_unavailable"
    GetToken(domain, "m2m", client_secret="m2m-secret").client_credentials(API)
    idp.check_rules()
    call = idp.calls(endpoint="token", issuer="shop")[-1]
    assert call.params["audience"] == API and call.params["client_id"] == "m2m"


def test_par_device_code_and_registration_at_auth0s_paths(idp: MockIdP, domain: str) -> None:
    pushed = PushedAuthorizationRequests(domain, "web", client_secret=WEB_SECRET)
    answer = pushed.pushed_authorization_request(response_type="code", redirect_uri=REDIRECT,
                                                 scope="openid", state="par-1",
                                                 login_hint="alice")
    assert answer["request_uri"].startswith("urn:") and answer["expires_in"] > 0
    login = requests.get(f"{idp.url}/authorize", params={
        "client_id": "web", "request_uri": answer["request_uri"]},
        allow_redirects=False, timeout=5)
    assert login.status_code == 302 and query_of(login.headers["Location"])["state"] == "par-1"
    # the device flow, JSON bodies as Auth0's docs post them
    device = requests.post(f"{idp.url}/oauth/device/code", timeout=5, json={
        "client_id": "web", "client_secret": WEB_SECRET, "scope": "openid offline_access",
        "audience": API}).json()
    assert device["verification_uri"] == f"{idp.url}/activate"
    idp.approve_device(device["user_code"], user="alice", issuer="shop")
    token = requests.post(f"{idp.url}/oauth/token", timeout=5, json={
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": device["device_code"], "client_id": "web",
        "client_secret": WEB_SECRET}).json()
    assert claims_of(idp, token["access_token"], API)["aud"] == [API, f"{idp.url}/userinfo"]
    assert verifier(idp).verify(token["id_token"])["sub"] == "alice" and token["refresh_token"]
    # dynamic client registration at /oidc/register
    made = requests.post(f"{idp.url}/oidc/register", timeout=5, json={
        "client_name": "made", "redirect_uris": [REDIRECT]})
    assert made.status_code == 201 and made.json()["client_id"]


def test_options_and_command_line(idp: MockIdP) -> None:
    with pytest.raises(MockIdPError, match=r"issuers.x.mount: expected '' \(the server root\)"):
        MockIdP(config={"issuers": {"x": {"profile": "auth0", "mount": "/x/"}}})
    with pytest.raises(MockIdPError, match=r"issuers.x.tenant_id: the auth0 profile takes no"):
        MockIdP(config={"issuers": {"x": {"profile": "auth0", "tenant_id": "t"}}})
    settings = with_profiles(load_settings(None), ["auth0:shop:mount=/tenant"], "--profile")
    assert settings.issuers["shop"]["profile"] == "auth0"
    assert settings.issuers["shop"]["mount"] == "/tenant"
    minted = jwt.decode(idp.mint("alice", issuer="shop", audience=API, scope="openid"),
                        options={"verify_signature": False})
    assert minted["iss"] == f"{idp.url}/" and minted["aud"] == [API, f"{idp.url}/userinfo"]
    assert idp.bad_token_kinds()["auth0_m2m_token"].startswith("(Auth0) ")

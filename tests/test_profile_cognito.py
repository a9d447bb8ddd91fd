"""The Cognito profile as its users meet it: aws-jwt-verify (`CognitoJwtVerifier`, the JWKS
taken from the stand-in in the ways its README documents) verifying tokens of the hosted UI's
token endpoint (authorization code through the login page, client credentials, refresh) and
rejecting the bad kinds; a Python API checking tokens the way Cognito's docs say (PyJWT,
jwcrypto); userInfo, revoke, logout; config errors; bad input in Cognito's error shape."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
import requests
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt

from mockidp import MockIdP
from mockidp.core.errors import MockIdPError
from mockidp.core.settings import load_settings, with_profiles

from .a11y import elements, form_fields
from .conftest import pkce_pair, query_of, run_node

POOL = "us-east-1_Example"
ISS = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
CALLBACK = "http://localhost:3000/callback"
CONFIG: dict[str, Any] = {
    "users": {
        "alice": {"claims": {"email": "alice@example.com", "groups": ["admin", "staff"],
                             "name": "Alice"}},
        "bob": {"claims": {"email": "bob@example.com"}},
    },
    "clients": {
        "webclient": {"secret": "web-secret", "redirect_uris": [CALLBACK],
                      "post_logout_redirect_uris": ["http://localhost:3000/bye"]},
        "m2m": {"secret": "m2m-secret", "grant_types": ["client_credentials"]},
    },
    "issuers": {"pool": {"profile": "cognito", "user_pool_id": POOL}, "plain": {}},
}


@pytest.fixture(scope="module")
def idp() -> Any:
    with MockIdP(config=CONFIG) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(idp: MockIdP) -> None:
    idp.reset()


def claims_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def hosted_ui_login(idp: MockIdP, http: requests.Session, user: str = "alice",
                    scope: str = "openid email aws.cognito.signin.user.admin",
                    **extra: str) -> dict[str, Any]:
    """The browser's part of the code flow: /oauth2/authorize shows our login page, the
    form is posted as a person would, the redirect carries the code; then the app's part:
    the code at /oauth2/token with client_secret_basic and PKCE (as Cognito documents)."""
    verifier, challenge = pkce_pair()
    page = http.get(f"{idp.url}/oauth2/authorize", params={
        "client_id": "webclient", "response_type": "code", "redirect_uri": CALLBACK,
        "scope": scope, "state": "s1", "code_challenge": challenge,
        "code_challenge_method": "S256", **extra}, timeout=10)
    assert page.status_code == 200 and "imitating Amazon Cognito" in page.text
    form = elements(page.text, "form")[0]
    assert form.attrs["action"] == "/login"
    answer = http.post(idp.url + form.attrs["action"], data={
        **form_fields(page.text), "username": user, "action": "approve"},
        allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.text
    query = query_of(answer.headers["Location"])
    assert query["state"] == "s1"
    tokens = http.post(f"{idp.url}/oauth2/token", auth=("webclient", "web-secret"), data={
        "grant_type": "authorization_code", "code": query["code"], "redirect_uri": CALLBACK,
        "client_id": "webclient", "code_verifier": verifier}, timeout=10)
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body


def verify_with_aws_jwt_verify(idp: MockIdP, checks: list[dict[str, Any]],
                               jwks: str = "cache", base: str | None = None,
                               env: dict[str, str] | None = None) -> dict[str, Any]:
    spec = {"base": base or idp.url, "userPoolId": POOL, "jwks": jwks, "checks": checks}
    return run_node("cognito_verify.mjs", json.dumps(spec), env=env)


def test_the_pool_documents_and_the_hosted_ui_live_where_cognito_puts_them(
        idp: MockIdP) -> None:
    base = idp.url
    doc = requests.get(f"{base}/{POOL}/.well-known/openid-configuration", timeout=5).json()
    assert doc == {
        "issuer": ISS,
        "authorization_endpoint": f"{base}/oauth2/authorize",
        "token_endpoint": f"{base}/oauth2/token",
        "userinfo_endpoint": f"{base}/oauth2/userInfo",
        "jwks_uri": f"{base}/{POOL}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/oauth2/revoke",
        "end_session_endpoint": f"{base}/logout",
        "response_types_supported": ["code", "token"],
        "scopes_supported": ["openid", "email", "phone", "profile"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }
    keys = requests.get(doc["jwks_uri"], timeout=5).json()["keys"]
    assert keys and all(k["kty"] == "RSA" and k["alg"] == "RS256" and k["use"] == "sig"
                        for k in keys)
    assert requests.get(f"{base}/{POOL}/oauth2/token", timeout=5).status_code == 404
    # a generic issuer beside it is untouched
    plain = requests.get(f"{base}/plain/.well-known/openid-configuration", timeout=5).json()
    assert plain["issuer"] == f"{base}/plain" and plain["token_endpoint"] == f"{base}/plain/token"
    assert idp.issuer("pool").settings.signing_alg == "RS256"
    shown = next(i for i in idp.dashboard(base)["issuers"] if i["name"] == "pool")
    assert shown["profile"] == "Amazon Cognito"


def test_code_flow_refresh_and_m2m_tokens_verify_with_aws_jwt_verify(idp: MockIdP) -> None:
    with requests.Session() as http:
        first = hosted_ui_login(idp, http, nonce="n-0S6")
    assert set(first) == {"access_token", "id_token", "refresh_token", "token_type",
                          "expires_in"}
    refreshed = requests.post(f"{idp.url}/oauth2/token", auth=("webclient", "web-secret"),
                              data={"grant_type": "refresh_token",
                                    "refresh_token": first["refresh_token"]}, timeout=5)
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert "refresh_token" not in second and {"access_token", "id_token"} <= set(second)
    m2m = requests.post(f"{idp.url}/oauth2/token", auth=("m2m", "m2m-secret"), data={
        "grant_type": "client_credentials", "scope": "orders/read orders/write"}, timeout=5)
    assert m2m.status_code == 200, m2m.text
    assert "refresh_token" not in m2m.json() and "id_token" not in m2m.json()
    checks = [
        {"name": "access", "token": first["access_token"], "tokenUse": "access",
         "clientId": "webclient", "groups": ["admin"]},
        {"name": "id", "token": first["id_token"], "tokenUse": "id", "clientId": "webclient"},
        {"name": "access2", "token": second["access_token"], "tokenUse": "access",
         "clientId": "webclient"},
        {"name": "id2", "token": second["id_token"], "tokenUse": "id", "clientId": "webclient"},
        {"name": "m2m", "token": m2m.json()["access_token"], "tokenUse": "access",
         "clientId": ["m2m", "webclient"]},
    ]
    for jwks in ("cache", "fetcher"):
        verified = verify_with_aws_jwt_verify(idp, checks, jwks)
        assert all(verified[c["name"]]["ok"] for c in checks), verified
    assert verified["_fetched"] == [f"{ISS}/.well-known/jwks.json"]  # Cognito's URI, mapped
    access, id_token = verified["access"]["payload"], verified["id"]["payload"]
    assert access["iss"] == ISS and access["token_use"] == "access"
    assert access["client_id"] == "webclient" and "aud" not in access
    assert access["username"] == "alice" and access["version"] == 2
    assert access["scope"] == "openid email aws.cognito.signin.user.admin"
    assert access["cognito:groups"] == ["admin", "staff"]
    assert {"auth_time", "event_id", "origin_jti", "jti", "sub", "exp", "iat"} <= set(access)
    assert len(access["sub"]) == 36 and access["sub"].count("-") == 4  # a UUID
    assert id_token["token_use"] == "id" and id_token["aud"] == "webclient"
    assert id_token["cognito:username"] == "alice" and id_token["sub"] == access["sub"]
    assert id_token["cognito:groups"] == ["admin", "staff"]
    assert id_token["email"] == "alice@example.com" and id_token["email_verified"] is True
    assert id_token["nonce"] == "n-0S6" and "at_hash" in id_token
    assert id_token["origin_jti"] == access["origin_jti"]
    assert id_token["event_id"] == access["event_id"]
    # a refresh keeps the user, the sign-in (origin_jti, event_id) and the auth_time
    access2 = verified["access2"]["payload"]
    assert access2["sub"] == access["sub"] and access2["jti"] != access["jti"]
    assert (access2["origin_jti"], access2["event_id"], access2["auth_time"]) == (
        access["origin_jti"], access["event_id"], access["auth_time"])
    machine = verified["m2m"]["payload"]
    assert machine["sub"] == "m2m" and machine["client_id"] == "m2m"
    assert machine["token_use"] == "access" and machine["scope"] == "orders/read orders/write"
    assert "username" not in machine and "aud" not in machine
    # the same user is the same sub in another sign-in; another user is another sub
    with requests.Session() as http:
        again = claims_of(hosted_ui_login(idp, http)["access_token"])
    with requests.Session() as http:
        bob = claims_of(hosted_ui_login(idp, http, user="bob")["access_token"])
    assert again["sub"] == access["sub"] and bob["sub"] != access["sub"]


def test_bad_tokens_are_rejected_by_aws_jwt_verify(idp: MockIdP) -> None:
    with requests.Session() as http:
        tokens = hosted_ui_login(idp, http)
    minted = idp.mint("alice", issuer="pool", client_id="webclient", scope="openid")

    def bad(kind: str) -> str:
        return idp.mint_bad(kind, "alice", issuer="pool", client_id="webclient",
                            scope="openid")

    checks = [
        {"name": "minted", "token": minted, "tokenUse": "access", "clientId": "webclient"},
        # the pool's real ID token where an access token is expected
        {"name": "id_as_access", "token": tokens["id_token"], "tokenUse": "access",
         "clientId": "webclient"},
        {"name": "kind_id_as_access", "token": bad("cognito_id_as_access"),
         "tokenUse": "access", "clientId": "webclient"},
        {"name": "other_client", "token": bad("cognito_other_client"), "tokenUse": "access",
         "clientId": "webclient"},
        {"name": "access_of_other_client", "token": tokens["access_token"],
         "tokenUse": "access", "clientId": "another-app"},
        {"name": "other_pool", "token": bad("cognito_other_pool"), "tokenUse": "access",
         "clientId": "webclient"},
        {"name": "expired", "token": bad("expired"), "tokenUse": "access",
         "clientId": "webclient"},
        {"name": "not_in_group", "token": minted, "tokenUse": "access",
         "clientId": "webclient", "groups": ["finance"]},
    ]
    verified = verify_with_aws_jwt_verify(idp, checks)
    assert verified["minted"]["ok"], verified
    errors = {name: result.get("error") for name, result in verified.items()
              if name != "_fetched"}
    assert errors == {
        "minted": None,
        "id_as_access": "CognitoJwtInvalidTokenUseError",
        "kind_id_as_access": "CognitoJwtInvalidTokenUseError",
        "other_client": "CognitoJwtInvalidClientIdError",
        "access_of_other_client": "CognitoJwtInvalidClientIdError",
        # CognitoJwtVerifier knows its pool's issuers only
        "other_pool": "ParameterValidationError",
        "expired": "JwtExpiredError",
        "not_in_group": "CognitoJwtInvalidGroupError",
    }, verified
    assert "issuer not configured" in verified["other_pool"]["message"]
    kinds = idp.bad_token_kinds()
    assert {"cognito_id_as_access", "cognito_other_client", "cognito_other_pool"} <= set(kinds)


def test_aws_jwt_verify_downloads_the_jwks_over_https_with_its_own_fetcher() -> None:
    """aws-jwt-verify's own SimpleFetcher speaks HTTPS only: against ``tls=True`` with the
    stand-in's CA in NODE_EXTRA_CA_CERTS."""
    with MockIdP(config=CONFIG, tls=True) as server:
        token = requests.post(f"{server.url}/oauth2/token", auth=("m2m", "m2m-secret"), data={
            "grant_type": "client_credentials", "scope": "orders/read"},
            verify=server.tls_cert, timeout=5).json()["access_token"]
        verified = verify_with_aws_jwt_verify(
            server, [{"name": "m2m", "token": token, "tokenUse": "access", "clientId": "m2m"}],
            jwks="https", env={"NODE_EXTRA_CA_CERTS": str(server.tls_cert)})
    assert verified["m2m"]["ok"], verified
    assert verified["m2m"]["payload"]["iss"] == ISS


def test_a_python_api_verifies_tokens_as_cognito_documents(idp: MockIdP) -> None:
    """Cognito's "Verifying a JSON web token": signature by the pool's JWKS, ``iss``, ``exp``,
    ``token_use``, and ``aud`` (ID token) or ``client_id`` (access token)."""
    with requests.Session() as http:
        tokens = hosted_ui_login(idp, http)
    # PyJWT, with the JWKS URI mapped to the stand-in
    jwks = jwt.PyJWKClient(f"{idp.url}/{POOL}/.well-known/jwks.json")
    access = jwt.decode(tokens["access_token"],
                        jwks.get_signing_key_from_jwt(tokens["access_token"]).key,
                        algorithms=["RS256"], issuer=ISS,
                        options={"require": ["exp", "iss", "token_use", "client_id"],
                                 "verify_aud": False})
    assert access["token_use"] == "access" and access["client_id"] == "webclient"
    id_claims = jwt.decode(tokens["id_token"],
                           jwks.get_signing_key_from_jwt(tokens["id_token"]).key,
                           algorithms=["RS256"], issuer=ISS, audience="webclient")
    assert id_claims["token_use"] == "id"
    # jwcrypto, with the JWKS downloaded once
    keyset = jwcrypto_jwk.JWKSet.from_json(
        requests.get(f"{idp.url}/{POOL}/.well-known/jwks.json", timeout=5).text)
    checked = jwcrypto_jwt.JWT(jwt=tokens["access_token"], key=keyset, algs=["RS256"],
                               check_claims={"iss": ISS, "exp": None, "token_use": "access",
                                             "client_id": "webclient"})
    assert json.loads(checked.claims)["username"] == "alice"
    with pytest.raises(jwcrypto_jwt.JWTInvalidClaimValue):
        jwcrypto_jwt.JWT(jwt=tokens["id_token"], key=keyset, algs=["RS256"],
                         check_claims={"iss": ISS, "token_use": "access"})


def test_userinfo_revoke_and_logout(idp: MockIdP) -> None:
    base = idp.url
    with requests.Session() as http:
        tokens = hosted_ui_login(idp, http, scope="openid email profile")
        me = http.get(f"{base}/oauth2/userInfo",
                      headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=5)
        assert me.status_code == 200, me.text
        info = me.json()
        assert info["sub"] == claims_of(tokens["access_token"])["sub"]
        assert info["username"] == "alice" and info["email"] == "alice@example.com"
        assert info["email_verified"] == "true" and info["name"] == "Alice"  # as strings
        assert not {"token_use", "client_id", "cognito:groups", "scope"} & set(info)
        # logout: Cognito's logout_uri is where it redirects, and the session ends
        out = http.get(f"{base}/logout", params={
            "client_id": "webclient", "logout_uri": "http://localhost:3000/bye"},
            allow_redirects=False, timeout=5)
        assert out.status_code in (302, 303)
        assert out.headers["Location"] == "http://localhost:3000/bye"
        stray = http.get(f"{base}/logout", params={
            "client_id": "webclient", "logout_uri": "http://evil.example/"},
            allow_redirects=False, timeout=5)
        assert stray.status_code == 400 and "Location" not in stray.headers
    # an M2M token has no openid scope: userInfo refuses it
    m2m = requests.post(f"{base}/oauth2/token", auth=("m2m", "m2m-secret"), data={
        "grant_type": "client_credentials", "scope": "orders/read"}, timeout=5).json()
    refused = requests.get(f"{base}/oauth2/userInfo",
                           headers={"Authorization": f"Bearer {m2m['access_token']}"},
                           timeout=5)
    assert refused.status_code == 401 and "invalid_token" in refused.headers["WWW-Authenticate"]
    # revoke the refresh token (client authenticated, as Cognito requires): 200, then the
    # refresh token no longer works
    revoked = requests.post(f"{base}/oauth2/revoke", auth=("webclient", "web-secret"),
                            data={"token": tokens["refresh_token"]}, timeout=5)
    assert revoked.status_code == 200
    after = requests.post(f"{base}/oauth2/token", auth=("webclient", "web-secret"), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, timeout=5)
    assert after.status_code == 400 and after.json() == {"error": "invalid_grant"}
    # a minted pool token is the pool's own (owns: userInfo finds the issuer by iss)
    minted = idp.mint("bob", issuer="pool", scope="openid email")
    assert claims_of(minted)["iss"] == ISS
    assert requests.get(f"{base}/oauth2/userInfo", headers={
        "Authorization": f"Bearer {minted}"}, timeout=5).json()["email"] == "bob@example.com"
    assert idp.issuer_of(ISS) is idp.issuer("pool")


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "body"), [
    ("post", "/oauth2/token", {"data": {"grant_type": "nope"}}, 400,
     {"error": "unsupported_grant_type"}),
    ("post", "/oauth2/token", {"data": {"grant_type": "authorization_code", "code": "x",
                                        "redirect_uri": CALLBACK, "client_id": "webclient",
                                        "client_secret": "web-secret"}}, 400,
     {"error": "invalid_grant"}),
    ("post", "/oauth2/token", {"data": {"grant_type": "refresh_token", "client_id": "webclient",
                                        "client_secret": "web-secret"}}, 400,
     {"error": "invalid_request"}),
    ("post", "/oauth2/token", {"data": {"grant_type": "client_credentials",
                                        "client_id": "m2m", "client_secret": "wrong"}}, 401,
     {"error": "invalid_client"}),
    ("post", "/oauth2/token", {"data": b"\xff\xfe", "headers": {
        "Content-Type": "application/x-www-form-urlencoded"}}, 400, {"error": "invalid_request"}),
    ("post", "/oauth2/revoke", {"data": {"client_id": "webclient",
                                         "client_secret": "web-secret"}}, 400,
     {"error": "invalid_request"}),
    ("get", "/oauth2/userInfo", {"headers": {"Authorization": "Bearer not-a-token"}}, 401, None),
    ("get", "/oauth2/userInfo", {}, 401, None),
    ("get", "/logout", {"params": {"client_id": "webclient", "logout_uri": "not a url"}}, 400,
     None),
    ("get", "/oauth2/authorize", {"params": {"response_type": "code"}}, 400, None),
    ("get", "/oauth2/authorize", {"params": {"client_id": "webclient",
                                             "redirect_uri": "http://evil.example/cb",
                                             "response_type": "code"}}, 400, None),
    ("get", "/oauth2/token", {}, 405, None),
    ("get", f"/{POOL}/.well-known/nothing", {}, 404, None),
])
def test_bad_input_answers_cognito_errors_never_a_500(idp: MockIdP, method: str, path: str,
                                                       kwargs: dict[str, Any], status: int,
                                                       body: dict[str, Any] | None) -> None:
    answer = requests.request(method, idp.url + path, allow_redirects=False, timeout=5,
                              **kwargs)
    assert answer.status_code == status, answer.text
    if body is not None:
        assert answer.json() == body


def test_two_pools_need_a_mount_for_the_second_hosted_ui() -> None:
    two = {"issuers": {"a": {"profile": "cognito", "user_pool_id": "us-east-1_Aaa"},
                       "b": {"profile": "cognito", "user_pool_id": "eu-west-1_Bbb"}}}
    with pytest.raises(MockIdPError, match=r"issuers\.b: mount '/oauth2/authorize' is already "
                                           r"issuer 'a's; give one of them another mount"):
        MockIdP(config=two)
    two["issuers"]["b"]["mount"] = "/b"
    with MockIdP(config={**two, "clients": CONFIG["clients"]}) as server:
        doc = requests.get(f"{server.url}/eu-west-1_Bbb/.well-known/openid-configuration",
                           timeout=5).json()
        assert doc["issuer"] == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Bbb"
        assert doc["token_endpoint"] == f"{server.url}/b/oauth2/token"
        assert doc["jwks_uri"] == f"{server.url}/eu-west-1_Bbb/.well-known/jwks.json"
        first = requests.get(f"{server.url}/us-east-1_Aaa/.well-known/openid-configuration",
                             timeout=5).json()
        assert first["token_endpoint"] == f"{server.url}/oauth2/token"
        for url, iss in ((f"{server.url}/oauth2/token", "us-east-1_Aaa"),
                         (f"{server.url}/b/oauth2/token", "eu-west-1_Bbb")):
            token = requests.post(url, auth=("m2m", "m2m-secret"), data={
                "grant_type": "client_credentials"}, timeout=5).json()["access_token"]
            assert claims_of(token)["iss"].endswith("/" + iss)
    with pytest.raises(MockIdPError, match=r"issuers\.c: mount '/us-east-1_Aaa' is already "
                                           r"issuer 'a's"):
        MockIdP(config={"issuers": {"a": two["issuers"]["a"], "c": {
            "profile": "cognito", "user_pool_id": "us-east-1_Aaa", "mount": "/c"}}})


def test_options_defaults_and_their_errors() -> None:
    # the pool id defaults to the issuer's name; the region comes from it
    with MockIdP(config={"issuers": {"eu-central-1_Pool9": {"profile": "cognito"}}}) as server:
        doc = requests.get(f"{server.url}/eu-central-1_Pool9/.well-known/openid-configuration",
                           timeout=5).json()
        assert doc["issuer"] == \
            "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_Pool9"
    custom = {"issuers": {"p": {"profile": "cognito", "user_pool_id": POOL,
                                "issuer": "http://localhost:9229/us-east-1_Example"}}}
    with MockIdP(config=custom) as server:
        token = server.mint("alice", issuer="p")
        assert claims_of(token)["iss"] == "http://localhost:9229/us-east-1_Example"
        assert requests.get(f"{server.url}/oauth2/userInfo", headers={
            "Authorization": f"Bearer {server.mint('alice', issuer='p', scope='openid')}"},
            timeout=5).status_code == 200
    for options, field in (({"user_pool_id": "Example"}, "user_pool_id"),
                           ({}, "user_pool_id"),
                           ({"user_pool_id": POOL, "region": "Mars"}, "region"),
                           ({"user_pool_id": POOL, "issuer": "cognito"}, "issuer"),
                           ({"user_pool_id": POOL, "mount": "b/"}, "mount"),
                           ({"user_pool_id": POOL, "tenant_id": "t"}, "tenant_id")):
        with pytest.raises(MockIdPError, match=rf"issuers\.pool\.{field}: "):
            MockIdP(config={"issuers": {"pool": {"profile": "cognito", **options}}})
    with pytest.raises(MockIdPError, match=r"expected a user pool id like 'us-east-1_Example'"):
        MockIdP(config={"issuers": {"pool": {"profile": "cognito"}}})
    settings = with_profiles(load_settings(None), [f"cognito:{POOL}"], "--profile")
    with MockIdP(config=settings) as server:
        assert claims_of(server.mint("x", issuer=POOL))["iss"] == ISS


def test_rules_and_the_journal_see_the_hosted_ui_by_endpoint_name(idp: MockIdP) -> None:
    idp.add_rule(endpoint="token", issuer="pool", error="invalid_grant", times=1)
    refused = requests.post(f"{idp.url}/oauth2/token", auth=("m2m", "m2m-secret"), data={
        "grant_type": "client_credentials"}, timeout=5)
    assert refused.status_code == 400 and refused.json() == {"error": "invalid_grant"}
    granted = requests.post(f"{idp.url}/oauth2/token", auth=("m2m", "m2m-secret"), data={
        "grant_type": "client_credentials"}, timeout=5)
    assert granted.status_code == 200
    idp.check_rules()
    idp.assert_called(2, endpoint="token", issuer="pool")
    requests.get(f"{idp.url}/{POOL}/.well-known/jwks.json", timeout=5)
    idp.assert_called(1, endpoint="jwks", issuer="pool")

"""RP-initiated logout (OIDC RP-Initiated Logout 1.0) and CORS for browser apps."""

from __future__ import annotations

import pytest
import requests

from mockidp import MockIdP

from .conftest import REDIRECT, authorize, query_of

BASE = {"client_id": "web-app", "redirect_uri": REDIRECT, "response_type": "code"}


def logged_in(idp: MockIdP, http: requests.Session) -> str:
    response = authorize(idp, session=http, **BASE, login_hint="alice", scope="openid")
    code = query_of(response.headers["Location"])["code"]
    tokens = http.post(f"{idp.issuer_url()}/token", auth=("web-app", "web-secret"),
                       data={"grant_type": "authorization_code", "code": code,
                             "redirect_uri": REDIRECT}).json()
    return str(tokens["id_token"])


def test_end_session_redirects_with_state_and_ends_the_session(
    mockidp: MockIdP, http: requests.Session
) -> None:
    id_token = logged_in(mockidp, http)
    assert "code=" in authorize(mockidp, session=http, **BASE, prompt="none").headers["Location"]
    response = http.get(f"{mockidp.issuer_url()}/endsession", allow_redirects=False,
                        params={"id_token_hint": id_token, "state": "bye",
                                "post_logout_redirect_uri": "http://localhost:3000/"})
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost:3000/?state=bye"
    after = authorize(mockidp, session=http, **BASE, prompt="none")
    assert query_of(after.headers["Location"])["error"] == "login_required"


def test_end_session_without_redirect_shows_signed_out_page(
    mockidp: MockIdP, http: requests.Session
) -> None:
    logged_in(mockidp, http)
    response = http.get(f"{mockidp.issuer_url()}/endsession")
    assert response.status_code == 200 and "signed out" in response.text.lower()
    after = authorize(mockidp, session=http, **BASE, prompt="none")
    assert query_of(after.headers["Location"])["error"] == "login_required"


@pytest.mark.parametrize("params", [
    {"post_logout_redirect_uri": "http://evil.example/", "client_id": "web-app"},
    {"post_logout_redirect_uri": "javascript:alert(1)"},
    {"id_token_hint": "forged.token.value"},
])
def test_end_session_refuses_untrusted_input_with_a_page(mockidp: MockIdP, params: dict) -> None:
    response = requests.get(f"{mockidp.issuer_url()}/endsession", params=params,
                            allow_redirects=False)
    assert response.status_code == 400 and "Location" not in response.headers


# -- CORS ---------------------------------------------------------------------------------------

ORIGIN = "http://localhost:5173"


@pytest.mark.parametrize("path, method", [
    ("/.well-known/openid-configuration", "GET"),
    ("/jwks", "GET"),
    ("/token", "POST"),
    ("/userinfo", "GET"),
    ("/introspect", "POST"),
    ("/revoke", "POST"),
])
def test_preflight_is_answered_and_origin_reflected(mockidp: MockIdP, path: str,
                                                    method: str) -> None:
    response = requests.options(
        mockidp.issuer_url() + path,
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": method,
                 "Access-Control-Request-Headers": "authorization, content-type"},
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert method in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


def test_cors_headers_also_on_errors(mockidp: MockIdP) -> None:
    token_error = requests.post(f"{mockidp.issuer_url()}/token", data={"grant_type": "nope"},
                                headers={"Origin": ORIGIN})
    assert token_error.status_code == 400
    assert token_error.headers["Access-Control-Allow-Origin"] == ORIGIN
    userinfo_error = requests.get(f"{mockidp.issuer_url()}/userinfo",
                                  headers={"Origin": ORIGIN, "Authorization": "Bearer x"})
    assert userinfo_error.status_code == 401
    assert userinfo_error.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "WWW-Authenticate" in userinfo_error.headers["Access-Control-Expose-Headers"]


def test_no_cors_on_the_authorization_endpoint(mockidp: MockIdP) -> None:
    response = requests.get(f"{mockidp.issuer_url()}/authorize", allow_redirects=False,
                            params={**BASE, "login_hint": "alice"}, headers={"Origin": ORIGIN})
    assert response.status_code == 302
    assert "Access-Control-Allow-Origin" not in response.headers

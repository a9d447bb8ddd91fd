"""Authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1.2): login, modes, errors."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests

from mockidp import MockIdP

from .conftest import REDIRECT, authorize, fragment_of, query_of

BASE = {"client_id": "web-app", "redirect_uri": REDIRECT, "response_type": "code"}


def login_form(page: str) -> dict[str, str]:
    match = re.search(r'name="interaction" value="([^"]+)"', page)
    assert match, "no login form in page"
    return {"interaction": match.group(1)}


def test_login_hint_approves_at_once_with_state_and_iss(mockidp: MockIdP) -> None:
    response = authorize(mockidp, **BASE, login_hint="alice", state="s-1")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    params = query_of(location)
    assert params["state"] == "s-1" and params["code"]
    assert params["iss"] == mockidp.issuer_url()  # RFC 9207


def test_redirect_uri_query_is_preserved(mockidp: MockIdP) -> None:
    response = authorize(mockidp, client_id="any", redirect_uri="http://localhost/cb?x=1",
                         response_type="code", login_hint="alice")
    params = query_of(response.headers["Location"])
    assert params["x"] == "1" and params["code"]


def test_fragment_response_mode(mockidp: MockIdP) -> None:
    response = authorize(mockidp, **BASE, login_hint="alice", state="st",
                         response_mode="fragment")
    location = response.headers["Location"]
    assert urlsplit(location).query == ""
    assert fragment_of(location)["state"] == "st" and fragment_of(location)["code"]


def test_form_post_response_mode(mockidp: MockIdP) -> None:
    response = authorize(mockidp, **BASE, login_hint="alice", state="st",
                         response_mode="form_post")
    assert response.status_code == 200
    page = response.text
    assert f'action="{REDIRECT}"' in page
    assert 'name="state" value="st"' in page and 'name="code"' in page
    assert "http://" not in page.replace(REDIRECT, "").replace(mockidp.url, "")
    assert "<script src" not in page


def test_login_page_approve_with_claims(mockidp: MockIdP, http: requests.Session) -> None:
    page = authorize(mockidp, session=http, **BASE, scope="openid", state="abc")
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert 'name="username"' in page.text and 'name="claims"' in page.text
    assert "alice" in page.text  # configured users are offered
    form = {**login_form(page.text), "username": "dora", "claims": '{"role": "tester"}',
            "action": "approve"}
    answer = http.post(f"{mockidp.issuer_url()}/authorize/login", data=form,
                       allow_redirects=False)
    assert answer.status_code == 303
    params = query_of(answer.headers["Location"])
    assert params["state"] == "abc" and params["code"]
    token = http.post(f"{mockidp.issuer_url()}/token", auth=("web-app", "web-secret"),
                      data={"grant_type": "authorization_code", "code": params["code"],
                            "redirect_uri": REDIRECT}).json()
    info = http.get(f"{mockidp.issuer_url()}/userinfo",
                    headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert info == {"sub": "dora", "role": "tester"}


def test_login_page_deny_sends_access_denied(mockidp: MockIdP, http: requests.Session) -> None:
    page = authorize(mockidp, session=http, **BASE, state="xyz")
    answer = http.post(f"{mockidp.issuer_url()}/authorize/login",
                       data={**login_form(page.text), "action": "deny"}, allow_redirects=False)
    params = query_of(answer.headers["Location"])
    assert params["error"] == "access_denied" and params["state"] == "xyz"


@pytest.mark.parametrize("claims, message", [
    ("{not json", "must be JSON"),
    ("[1, 2]", "JSON object"),
    ('{"iss": "evil"}', "set by the provider"),
])
def test_login_page_bad_claims_shown_inline(mockidp: MockIdP, http: requests.Session,
                                            claims: str, message: str) -> None:
    page = authorize(mockidp, session=http, **BASE)
    form = {**login_form(page.text), "username": "dora", "claims": claims, "action": "approve"}
    answer = http.post(f"{mockidp.issuer_url()}/authorize/login", data=form,
                       allow_redirects=False)
    assert answer.status_code == 400 and message in answer.text
    # the interaction survives: fixing the claims completes the login
    form = {**login_form(answer.text), "username": "dora", "claims": "{}", "action": "approve"}
    fixed = http.post(f"{mockidp.issuer_url()}/authorize/login", data=form,
                      allow_redirects=False)
    assert fixed.status_code == 303 and "code=" in fixed.headers["Location"]


def test_login_page_loads_nothing_from_elsewhere(mockidp: MockIdP) -> None:
    page = authorize(mockidp, **BASE).text
    for pattern in (r"<script[^>]+src=", r"<link[^>]+href=", r"@import", r"url\(",
                    r"https?://(?!127\.0\.0\.1|localhost)"):
        assert not re.search(pattern, page), pattern
    assert "mock identity provider" in page.lower()


def test_interaction_is_single_use(mockidp: MockIdP, http: requests.Session) -> None:
    page = authorize(mockidp, session=http, **BASE)
    form = {**login_form(page.text), "username": "a", "action": "approve"}
    first = http.post(f"{mockidp.issuer_url()}/authorize/login", data=form,
                      allow_redirects=False)
    assert first.status_code == 303
    again = http.post(f"{mockidp.issuer_url()}/authorize/login", data=form,
                      allow_redirects=False)
    assert again.status_code == 400 and "Location" not in again.headers


def test_no_interactive_login_approves_default_user() -> None:
    with MockIdP({"interactive_login": False, "default_user": "dave"}) as idp:
        response = authorize(idp, client_id="c", redirect_uri="http://localhost/cb",
                             response_type="code")
        assert response.status_code == 302 and "code=" in response.headers["Location"]


def test_login_session_gives_sso_and_prompt_none(mockidp: MockIdP, http: requests.Session) -> None:
    none_first = authorize(mockidp, session=http, **BASE, prompt="none", state="q")
    params = query_of(none_first.headers["Location"])
    assert params["error"] == "login_required" and params["state"] == "q"
    authorize(mockidp, session=http, **BASE, login_hint="alice")
    silent = authorize(mockidp, session=http, **BASE, prompt="none")
    assert "code=" in silent.headers["Location"]
    forced = authorize(mockidp, session=http, **BASE, prompt="login")
    assert forced.status_code == 200 and 'name="username"' in forced.text


# -- errors shown as a page, never redirected ---------------------------------------------------

@pytest.mark.parametrize("params", [
    {"redirect_uri": REDIRECT, "response_type": "code"},                  # no client_id
    {"client_id": "x", "response_type": "code"},                          # no redirect_uri
    {"client_id": "x", "redirect_uri": "not-a-url", "response_type": "code"},
    {"client_id": "x", "redirect_uri": "http://e.x/cb#frag", "response_type": "code"},
    {"client_id": "web-app", "redirect_uri": "http://evil.example/cb", "response_type": "code"},
    {"client_id": "spa", "redirect_uri": "http://localhost:5173/other", "response_type": "code"},
])
def test_untrusted_redirect_is_shown_not_followed(mockidp: MockIdP, params: dict) -> None:
    response = authorize(mockidp, **params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "text/html" in response.headers["Content-Type"]


def test_single_registered_redirect_uri_may_be_omitted(mockidp: MockIdP) -> None:
    response = authorize(mockidp, client_id="spa", response_type="code", login_hint="alice",
                         code_challenge="a" * 43, code_challenge_method="S256")
    assert response.headers["Location"].startswith("http://localhost:5173/callback?code=")


# -- errors sent back to the client --------------------------------------------------------------

@pytest.mark.parametrize("params, error", [
    ({"response_type": None}, "invalid_request"),
    ({"response_type": "none"}, "unsupported_response_type"),
    ({"response_mode": "web_message"}, "invalid_request"),
    ({"code_challenge_method": "S256"}, "invalid_request"),
    ({"code_challenge": "a" * 43, "code_challenge_method": "S512"}, "invalid_request"),
    ({"code_challenge": "short"}, "invalid_request"),
    ({"prompt": "none login"}, "invalid_request"),
])
def test_request_errors_redirect_with_state(mockidp: MockIdP, params: dict, error: str) -> None:
    query = {**BASE, "state": "s", **params}
    response = authorize(mockidp, **{k: v for k, v in query.items() if v is not None})
    assert response.status_code == 302
    got = query_of(response.headers["Location"])
    assert got["error"] == error and got["state"] == "s" and got["error_description"]
    assert got["iss"] == mockidp.issuer_url()


def test_client_not_allowed_code_flow_gets_unauthorized_client(mockidp: MockIdP) -> None:
    mockidp.add_client("m2m", "s", redirect_uris=["http://localhost/cb"],
                       grant_types=["client_credentials"])
    response = authorize(mockidp, client_id="m2m", redirect_uri="http://localhost/cb",
                         response_type="code")
    assert query_of(response.headers["Location"])["error"] == "unauthorized_client"


def test_strict_client_requires_pkce(mockidp: MockIdP) -> None:
    response = authorize(mockidp, client_id="spa", redirect_uri="http://localhost:5173/callback",
                         response_type="code", login_hint="alice")
    params = query_of(response.headers["Location"])
    assert params["error"] == "invalid_request" and "PKCE" in params["error_description"]


def test_error_in_fragment_mode_goes_in_fragment(mockidp: MockIdP) -> None:
    response = authorize(mockidp, **{**BASE, "response_type": "none"},
                         response_mode="fragment")
    assert fragment_of(response.headers["Location"])["error"] == "unsupported_response_type"


def test_post_to_authorize_works_like_get(mockidp: MockIdP) -> None:
    response = requests.post(f"{mockidp.issuer_url()}/authorize",
                             data={**BASE, "login_hint": "alice"}, allow_redirects=False)
    assert response.status_code == 303 and "code=" in response.headers["Location"]

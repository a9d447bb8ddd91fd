"""The login page as a person meets it: one-click users, a typed username, claims of this login,
the users this browser signed in as lately, all with plain form posts (no JavaScript), labelled
and loading nothing from elsewhere."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests

from mockidp import MockIdP

from .a11y import elements, form_fields, page_problems, parse
from .conftest import REDIRECT, authorize, query_of

BASE = {"client_id": "web-app", "redirect_uri": REDIRECT, "response_type": "code",
        "scope": "openid profile email"}


def login_page(idp: MockIdP, http: requests.Session, issuer: str = "default",
               **params: str) -> requests.Response:
    page = authorize(idp, issuer, session=http, **{**BASE, **params})
    assert page.status_code == 200, page.text
    assert page.headers["Content-Type"].startswith("text/html")
    return page


def submit(idp: MockIdP, http: requests.Session, page: requests.Response,
           **fields: str) -> requests.Response:
    """Post the page's form as a browser would: its hidden fields, what was typed, and the
    name and value of the button pressed."""
    form = elements(page.text, "form")[0]
    action = form.attrs["action"]
    assert form.attrs["method"] == "post" and action.startswith("/")
    return http.post(idp.url + action, data={**form_fields(page.text), **fields},
                     allow_redirects=False)


def tokens_for(idp: MockIdP, http: requests.Session, answer: requests.Response) -> dict[str, Any]:
    assert answer.status_code == 303, answer.text
    code = query_of(answer.headers["Location"])["code"]
    response = http.post(f"{idp.issuer_url()}/token", auth=("web-app", "web-secret"),
                         data={"grant_type": "authorization_code", "code": code,
                               "redirect_uri": REDIRECT})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def id_claims(body: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(body["id_token"], options={"verify_signature": False})
    return claims


def pick_buttons(html: str) -> dict[str, str]:
    """value → visible text of every one-click button."""
    return {e.attrs["value"]: " ".join(e.text.split())
            for e in elements(html, "button", name="pick")}


# -- one click ----------------------------------------------------------------------------------

def test_every_configured_user_is_one_click_away(mockidp: MockIdP,
                                                 http: requests.Session) -> None:
    page = login_page(mockidp, http)
    buttons = pick_buttons(page.text)
    assert set(buttons) == {"alice", "bob"}
    assert "Alice Admin" in buttons["alice"] and "alice@example.com" in buttons["alice"]
    assert "Bob Builder" in buttons["bob"] and "bob@example.com" in buttons["bob"]
    assert all(e.attrs["type"] == "submit" for e in elements(page.text, "button", name="pick"))
    # exactly one button per user: the browser test clicks button[name=pick][value=alice]
    assert len(elements(page.text, "button", name="pick", value="alice")) == 1


def test_one_click_signs_in_as_that_user(mockidp: MockIdP, http: requests.Session) -> None:
    page = login_page(mockidp, http, state="s1")
    answer = submit(mockidp, http, page, pick="alice")
    assert query_of(answer.headers["Location"])["state"] == "s1"
    claims = id_claims(tokens_for(mockidp, http, answer))
    assert (claims["sub"], claims["name"], claims["email"]) == (
        "alice", "Alice Admin", "alice@example.com")
    login = mockidp.assert_called(1, endpoint="login")[0]
    assert login.user == "alice" and login.status == 303


def test_one_click_takes_the_claims_typed_for_this_login(mockidp: MockIdP,
                                                         http: requests.Session) -> None:
    page = login_page(mockidp, http)
    body = tokens_for(mockidp, http, submit(mockidp, http, page, pick="bob",
                                            claims='{"role": "tester"}'))
    access = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (access["sub"], access["role"]) == ("bob", "tester")
    assert id_claims(body)["name"] == "Bob Builder"


def test_a_picked_user_need_not_be_configured(mockidp: MockIdP, http: requests.Session) -> None:
    page = login_page(mockidp, http)
    claims = id_claims(tokens_for(mockidp, http, submit(mockidp, http, page, pick="zed")))
    assert claims["sub"] == "zed" and "name" not in claims


def test_pick_wins_over_a_typed_username_and_deny_still_denies(
    mockidp: MockIdP, http: requests.Session
) -> None:
    page = login_page(mockidp, http)
    claims = id_claims(tokens_for(mockidp, http,
                                  submit(mockidp, http, page, username="dora", pick="bob")))
    assert claims["sub"] == "bob"
    page = login_page(mockidp, http, prompt="login", state="d")
    denied = submit(mockidp, http, page, action="deny")
    params = query_of(denied.headers["Location"])
    assert (params["error"], params["state"]) == ("access_denied", "d")


# -- typing a username --------------------------------------------------------------------------

def test_typed_username_with_sign_in(mockidp: MockIdP, http: requests.Session) -> None:
    page = login_page(mockidp, http)
    field = elements(page.text, "input", id="username")[0]
    assert field.attrs["name"] == "username"
    answer = submit(mockidp, http, page, username="  dora ", action="approve")
    assert id_claims(tokens_for(mockidp, http, answer))["sub"] == "dora"


def test_enter_in_the_username_field_signs_in_as_typed(mockidp: MockIdP,
                                                       http: requests.Session) -> None:
    """Pressing Enter submits with the form's first submit button: it must be Sign in, not a
    one-click user."""
    page = login_page(mockidp, http)
    buttons = [e for e in parse(page.text) if e.tag == "button"]
    first = buttons[0]
    assert (first.attrs.get("name"), first.attrs.get("value")) == ("action", "approve")
    assert first.attrs.get("type") == "submit"
    assert elements(page.text, "button", name="action", value="deny")


def test_a_missing_username_is_said_next_to_the_field(mockidp: MockIdP,
                                                      http: requests.Session) -> None:
    page = login_page(mockidp, http)
    answer = submit(mockidp, http, page, username="", action="approve")
    assert answer.status_code == 400
    field = elements(answer.text, "input", id="username")[0]
    assert field.attrs.get("aria-invalid") == "true"
    error_id = field.attrs["aria-describedby"].split()[-1]
    assert "Enter a username" in elements(answer.text, "p", id=error_id)[0].text
    assert page_problems(answer.text, (mockidp.url,)) == []
    fixed = submit(mockidp, http, answer, username="erin", action="approve")
    assert id_claims(tokens_for(mockidp, http, fixed))["sub"] == "erin"


# -- claims of this login -----------------------------------------------------------------------

@pytest.mark.parametrize(("claims", "message"), [
    ("{not json", "must be JSON"),
    ('["admin"]', "JSON object"),
    ('{"sub": "root"}', "set by the provider"),
])
def test_bad_claims_are_shown_next_to_the_field_and_the_login_survives(
    mockidp: MockIdP, http: requests.Session, claims: str, message: str
) -> None:
    page = login_page(mockidp, http)
    answer = submit(mockidp, http, page, pick="alice", claims=claims)
    assert answer.status_code == 400 and "Location" not in answer.headers
    box = elements(answer.text, "textarea", id="claims")[0]
    assert box.attrs["name"] == "claims" and box.text == claims  # kept for fixing
    assert box.attrs.get("aria-invalid") == "true"
    described = box.attrs["aria-describedby"].split()
    errors = [e for e in parse(answer.text) if e.attrs.get("id") in described
              and "error" in e.attrs.get("class", "")]
    assert len(errors) == 1 and message in errors[0].text
    assert errors[0].attrs.get("role") == "alert"
    assert page_problems(answer.text, (mockidp.url,)) == []
    fixed = submit(mockidp, http, answer, pick="alice", claims='{"team": "red"}')
    body = tokens_for(mockidp, http, fixed)
    access = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (access["sub"], access["team"]) == ("alice", "red")


# -- users this browser signed in as lately ------------------------------------------------------

def cookie_of(value: Any) -> str:
    """A recent-logins cookie holding ``value`` (base64url JSON, as mockidp writes it)."""
    raw = json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def recent_section(html: str) -> list[str]:
    """The usernames offered under "Used recently in this browser", in order."""
    section = [e for e in parse(html) if e.tag == "section"
               and e.attrs.get("aria-labelledby") == "recent-heading"]
    if not section:
        return []
    return [b.attrs["value"] for b in _walk(section[0]) if b.tag == "button"]


def _walk(element: Any) -> list[Any]:
    out = []
    for child in element.children:
        out.append(child)
        out.extend(_walk(child))
    return out


def sign_in(idp: MockIdP, http: requests.Session, issuer: str = "default", **how: str) -> None:
    page = login_page(idp, http, issuer, prompt="login")
    answer = submit(idp, http, page, **how)
    assert answer.status_code == 303, answer.text


def test_recent_logins_come_back_as_one_click_buttons(mockidp: MockIdP,
                                                      http: requests.Session) -> None:
    assert recent_section(login_page(mockidp, http).text) == []
    sign_in(mockidp, http, username="dora", action="approve")
    cookie = next(c for c in http.cookies if c.name == "mockidp_recent")
    assert cookie.path == "/default/" and cookie.has_nonstandard_attr("HttpOnly")
    sign_in(mockidp, http, username="erin", action="approve")
    sign_in(mockidp, http, pick="alice")
    page = login_page(mockidp, http, prompt="login")
    assert recent_section(page.text) == ["erin", "dora"]  # newest first
    buttons = pick_buttons(page.text)
    assert "used recently" in buttons["alice"] and "used recently" not in buttons["bob"]
    # every username still has exactly one button
    assert len(elements(page.text, "button", name="pick", value="alice")) == 1
    answer = submit(mockidp, http, page, pick="dora")
    assert id_claims(tokens_for(mockidp, http, answer))["sub"] == "dora"
    page = login_page(mockidp, http, prompt="login")
    assert recent_section(page.text) == ["dora", "erin"]


def test_only_the_last_few_are_remembered(mockidp: MockIdP, http: requests.Session) -> None:
    for name in ("u1", "u2", "u3", "u4", "u5", "u6", "u7"):
        sign_in(mockidp, http, username=name, action="approve")
    assert recent_section(login_page(mockidp, http, prompt="login").text) == [
        "u7", "u6", "u5", "u4", "u3"]


def test_recent_logins_are_per_issuer_and_per_browser(mockidp: MockIdP,
                                                      http: requests.Session) -> None:
    sign_in(mockidp, http, username="dora", action="approve")
    assert recent_section(login_page(mockidp, http, "partner").text) == []
    with requests.Session() as other_browser:
        assert recent_section(login_page(mockidp, other_browser, prompt="login").text) == []
    assert recent_section(login_page(mockidp, http, prompt="login").text) == ["dora"]


@pytest.mark.parametrize("value", [
    "garbage", "!!!", cookie_of([]), cookie_of({"a": 1}), cookie_of([1, 2, {}]), "x" * 5000,
    cookie_of(["<script>alert(1)</script>", "  padded  ", "ok"]),
])
def test_a_tampered_cookie_is_harmless(mockidp: MockIdP, http: requests.Session,
                                       value: str) -> None:
    http.cookies.set("mockidp_recent", value, path="/default/")
    page = login_page(mockidp, http)
    assert "<script>" not in page.text
    assert set(recent_section(page.text)) <= {"<script>alert(1)</script>", "ok"}
    answer = submit(mockidp, http, page, username="dora", action="approve")
    assert answer.status_code == 303


def test_the_core_decides_what_is_remembered() -> None:
    from mockidp.protocol.loginpage import (
        RECENT_MAX,
        recent_logins,
        remember_login,
    )

    assert remember_login(["b", "a", "c"], "a") == ("a", "b", "c")
    assert remember_login([], "x" * 500) == ()
    assert recent_logins(["", " a", 5, None, "ok", "ok", "tab\there"]) == ("ok",)
    assert len(remember_login([f"u{i}" for i in range(20)], "new")) == RECENT_MAX


# -- JavaScript off, accessibility, offline ------------------------------------------------------

def test_the_page_is_a_plain_form_without_script(mockidp: MockIdP,
                                                 http: requests.Session) -> None:
    page = login_page(mockidp, http)
    assert not elements(page.text, "script")
    assert " on" not in "".join(f" {name}" for e in parse(page.text) for name in e.attrs
                                if name.startswith("on"))
    forms = elements(page.text, "form")
    assert len(forms) == 1 and forms[0].attrs["method"] == "post"
    assert urlsplit(forms[0].attrs["action"]).path == "/default/authorize/login"
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("state", ["fresh", "after-errors", "with-recent"])
def test_the_page_is_accessible_and_offline(mockidp: MockIdP, http: requests.Session,
                                            state: str) -> None:
    if state == "with-recent":
        sign_in(mockidp, http, username="dora", action="approve")
    page = login_page(mockidp, http, prompt="login")
    if state == "after-errors":
        page = submit(mockidp, http, page, username="x", claims="[")
        assert page.status_code == 400
    assert page_problems(page.text, (mockidp.url,)) == []
    assert elements(page.text, "html")[0].attrs["lang"] == "en"
    labels = {e.attrs["for"]: " ".join(e.text.split()) for e in elements(page.text, "label")}
    assert labels["username"] == "Username" and "claims" in labels["claims"].lower()
    assert "button:focus" in page.text  # a visible focus ring


def test_the_page_checker_finds_what_it_should() -> None:
    bad = ('<html><head><title>t</title><link rel="stylesheet" href="https://cdn.example/x.css">'
           '</head><body><h2>x</h2><input id="a" name="a"><button></button>'
           '<script src="https://cdn.example/x.js"></script></body></html>')
    problems = " | ".join(page_problems(bad, ("http://127.0.0.1:1",)))
    for expected in ("lang", "no label", "no text", "leaves the provider", "<h1>",
                     "focus", "banner", "script loaded"):
        assert expected in problems, expected

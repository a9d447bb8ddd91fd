"""The device authorization grant (RFC 8628), as real clients, a browser and a test meet it.

Authlib's OAuth2Session and openid-client (npm) drive the device authorization endpoint and
the polling; a browser-like requests.Session answers on the verification page; the test answers
through the doors (the pytest fixture's `approve_device`/`deny_device`, the control API).
Intervals and expiry run on the provider clock: tests freeze and advance it, never sleep.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from mockidp import MockIdP
from mockidp.core.errors import MockIdPError

from .conftest import run_node

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TIMEOUT = 10.0
USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")


# -- helpers --------------------------------------------------------------------------------------

def start(idp: MockIdP, client_id: str = "tv-app", secret: str | None = None,
          issuer: str = "default", **params: str) -> dict[str, Any]:
    """A device authorization request (RFC 8628 §3.1); the §3.2 answer."""
    data = {"scope": "openid profile email", **params}
    auth = (client_id, secret) if secret is not None else None
    if secret is None:
        data["client_id"] = client_id
    response = requests.post(f"{idp.issuer_url(issuer)}/device_authorization", data=data,
                             auth=auth, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def poll(idp: MockIdP, device_code: str, client_id: str = "tv-app", secret: str | None = None,
         issuer: str = "default") -> requests.Response:
    """One token request with the device code (RFC 8628 §3.4)."""
    data = {"grant_type": DEVICE_GRANT, "device_code": device_code}
    if secret is None:
        data["client_id"] = client_id
    return requests.post(f"{idp.issuer_url(issuer)}/token", data=data,
                         auth=(client_id, secret) if secret is not None else None,
                         timeout=TIMEOUT)


def error_of(response: requests.Response) -> str:
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.headers["Cache-Control"] == "no-store"
    error: str = response.json()["error"]
    return error


def verified(idp: MockIdP, token: str, audience: str, issuer: str = "default") -> dict[str, Any]:
    """The token's claims, its signature checked against the published JWKS (with leeway:
    these tests move the provider clock ahead of the real one)."""
    key = jwt.PyJWKClient(f"{idp.issuer_url(issuer)}/jwks").get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=[key.algorithm_name],
                                        audience=audience, issuer=idp.issuer_url(issuer),
                                        leeway=3600)
    return claims


@pytest.fixture
def frozen(mockidp: MockIdP) -> MockIdP:
    """The fixture's provider with its clock frozen (the fixture resets it after the test)."""
    mockidp.set_clock(freeze=True)
    return mockidp


# -- discovery and the device authorization endpoint ----------------------------------------------

def test_discovery_advertises_the_endpoint_and_the_grant(mockidp: MockIdP) -> None:
    base = mockidp.issuer_url()
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        doc = requests.get(base + path, timeout=TIMEOUT).json()
        assert doc["device_authorization_endpoint"] == base + "/device_authorization"
        assert DEVICE_GRANT in doc["grant_types_supported"]


def test_device_authorization_answer_has_every_rfc8628_field(frozen: MockIdP) -> None:
    answer = start(frozen)
    assert set(answer) == {"device_code", "user_code", "verification_uri",
                           "verification_uri_complete", "expires_in", "interval"}
    assert len(answer["device_code"]) >= 40
    assert USER_CODE.match(answer["user_code"]), answer["user_code"]
    assert answer["verification_uri"] == frozen.issuer_url() + "/device"
    assert answer["verification_uri_complete"] == (
        f"{frozen.issuer_url()}/device?user_code={answer['user_code']}")
    assert answer["expires_in"] == 600
    assert answer["interval"] == 5
    second = start(frozen)
    assert second["device_code"] != answer["device_code"]
    assert second["user_code"] != answer["user_code"]


def test_lifetime_and_interval_are_issuer_settings() -> None:
    config = {"device_code_lifetime": 120, "device_poll_interval": 2,
              "issuers": {"tv": {"device_poll_interval": 9}}}
    with MockIdP(config) as idp:
        answer = start(idp)
        assert (answer["expires_in"], answer["interval"]) == (120, 2)
        assert start(idp, issuer="tv")["interval"] == 9
    for bad, named in (({"device_poll_interval": 0}, "device_poll_interval"),
                       ({"device_code_lifetime": "600"}, "device_code_lifetime"),
                       ({"issuers": {"tv": {"device_poll_interval": True}}},
                        "issuers.tv.device_poll_interval")):
        with pytest.raises(MockIdPError, match="positive whole number of seconds") as failure:
            MockIdP(bad)
        assert named in str(failure.value)


def test_confidential_clients_authenticate_and_grant_types_are_checked(
        mockidp: MockIdP) -> None:
    url = mockidp.issuer_url() + "/device_authorization"
    wrong = requests.post(url, auth=("web-app", "wrong"), timeout=TIMEOUT)
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    nobody = requests.post(url, data={"scope": "openid"}, timeout=TIMEOUT)
    assert nobody.status_code == 401 and nobody.json()["error"] == "invalid_client"
    # orders-service may use client_credentials only (fixtures/config.toml)
    machine = requests.post(url, auth=("orders-service", "orders-secret"), timeout=TIMEOUT)
    assert machine.status_code == 400
    assert machine.json()["error"] == "unauthorized_client"
    assert start(mockidp, "web-app", "web-secret")["user_code"]
    repeated = requests.post(url, data=[("client_id", "tv"), ("scope", "a"), ("scope", "b")],
                             timeout=TIMEOUT)
    assert repeated.status_code == 400 and repeated.json()["error"] == "invalid_request"


# -- Authlib drives the polling -------------------------------------------------------------------

@pytest.fixture
def authlib_client() -> Iterator[OAuth2Session]:
    """The confidential ``web-app`` client (client_secret_basic, Authlib's default)."""
    with OAuth2Session("web-app", "web-secret", scope="openid profile email") as session:
        yield session


def test_authlib_device_flow_pending_then_approved_then_used_up(
        frozen: MockIdP, authlib_client: OAuth2Session) -> None:
    doc = requests.get(frozen.issuer_url() + "/.well-known/openid-configuration",
                       timeout=TIMEOUT).json()
    started = authlib_client.post(
        doc["device_authorization_endpoint"], data={"scope": "openid profile email"},
        auth=authlib_client.client_auth("client_secret_basic"), withhold_token=True)
    assert started.status_code == 200, started.text
    device = started.json()
    token_url = doc["token_endpoint"]

    with pytest.raises(OAuthError) as pending:
        authlib_client.fetch_token(token_url, grant_type=DEVICE_GRANT,
                                   device_code=device["device_code"])
    assert pending.value.error == "authorization_pending"

    answer = frozen.approve_device(device["user_code"], "alice", {"team": "tv"})
    assert answer["status"] == "approved" and answer["client_id"] == "web-app"
    frozen.clock.advance(device["interval"])
    token = authlib_client.fetch_token(token_url, grant_type=DEVICE_GRANT,
                                       device_code=device["device_code"])
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == "openid profile email"
    id_token = verified(frozen, token["id_token"], "web-app")
    assert id_token["sub"] == "alice" and id_token["email"] == "alice@example.com"
    assert id_token["team"] == "tv"  # claims given with the approval
    assert id_token["auth_time"] == int(frozen.clock.now()) - device["interval"]
    access = verified(frozen, token["access_token"], "web-app")
    assert access["client_id"] == "web-app" and access["sub"] == "alice"
    userinfo = authlib_client.get(doc["userinfo_endpoint"])
    assert userinfo.json()["sub"] == "alice"

    frozen.clock.advance(device["interval"])
    with pytest.raises(OAuthError) as again:  # exactly once (RFC 8628 §3.5, RFC 6749 §5.2)
        authlib_client.fetch_token(token_url, grant_type=DEVICE_GRANT,
                                   device_code=device["device_code"])
    assert again.value.error == "invalid_grant"
    refreshed = authlib_client.refresh_token(token_url, refresh_token=token["refresh_token"])
    assert verified(frozen, refreshed["access_token"], "web-app")["sub"] == "alice"


def test_no_openid_scope_no_id_token(frozen: MockIdP) -> None:
    device = start(frozen, scope="api:read")
    frozen.approve_device(device["user_code"], "bob")
    body = poll(frozen, device["device_code"]).json()
    assert "id_token" not in body
    assert verified(frozen, body["access_token"], "tv-app")["sub"] == "bob"
    assert body["scope"] == "api:read"


# -- every RFC 8628 §3.5 answer -------------------------------------------------------------------

def test_slow_down_when_polled_faster_than_the_interval_and_the_interval_grows(
        frozen: MockIdP) -> None:
    device = start(frozen)
    code = device["device_code"]
    assert error_of(poll(frozen, code)) == "authorization_pending"
    frozen.clock.advance(4)
    assert error_of(poll(frozen, code)) == "slow_down"  # 4 s < 5 s; now 10 s
    frozen.clock.advance(5)
    assert error_of(poll(frozen, code)) == "slow_down"  # 5 s < 10 s; now 15 s
    frozen.clock.advance(15)
    assert error_of(poll(frozen, code)) == "authorization_pending"
    frozen.approve_device(device["user_code"])
    frozen.clock.advance(14)
    assert error_of(poll(frozen, code)) == "slow_down"  # too fast even once approved; now 20 s
    frozen.clock.advance(20)
    assert poll(frozen, code).status_code == 200
    # the other device code keeps its own interval
    other = start(frozen)
    assert poll(frozen, other["device_code"]).json()["error"] == "authorization_pending"
    frozen.clock.advance(5)
    assert poll(frozen, other["device_code"]).json()["error"] == "authorization_pending"


def test_expired_token_after_expires_in(frozen: MockIdP) -> None:
    waiting = start(frozen)
    approved = start(frozen)
    frozen.approve_device(approved["user_code"])
    frozen.clock.advance(599)
    assert error_of(poll(frozen, waiting["device_code"])) == "authorization_pending"
    frozen.clock.advance(1)
    assert error_of(poll(frozen, waiting["device_code"])) == "expired_token"
    assert error_of(poll(frozen, approved["device_code"])) == "expired_token"
    with pytest.raises(MockIdPError, match="user_code"):
        frozen.approve_device(waiting["user_code"])


def test_access_denied_after_deny(frozen: MockIdP) -> None:
    device = start(frozen)
    answer = frozen.deny_device(device["user_code"].lower())
    assert answer["status"] == "denied" and answer["user_code"] == device["user_code"]
    assert error_of(poll(frozen, device["device_code"])) == "access_denied"
    frozen.clock.advance(5)
    assert error_of(poll(frozen, device["device_code"])) == "access_denied"
    with pytest.raises(MockIdPError, match="already answered"):
        frozen.approve_device(device["user_code"])


def test_invalid_grant_for_unknown_or_foreign_device_codes(frozen: MockIdP) -> None:
    device = start(frozen)
    frozen.approve_device(device["user_code"])
    assert error_of(poll(frozen, "no-such-device-code")) == "invalid_grant"
    stolen = poll(frozen, device["device_code"], client_id="other-app")
    assert error_of(stolen) == "invalid_grant"
    assert "another client" in stolen.json()["error_description"]
    assert poll(frozen, device["device_code"]).status_code == 200  # not spent by the thief
    missing = requests.post(frozen.issuer_url() + "/token",
                            data={"grant_type": DEVICE_GRANT, "client_id": "tv-app"},
                            timeout=TIMEOUT)
    assert error_of(missing) == "invalid_request"
    assert "device_code" in missing.json()["error_description"]


def test_tokens_are_issued_exactly_once_under_concurrent_polls(frozen: MockIdP) -> None:
    device = start(frozen)
    frozen.approve_device(device["user_code"])
    results: list[int] = []

    def one() -> None:
        results.append(poll(frozen, device["device_code"]).status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] + [400] * 7


def test_the_journal_and_rules_see_the_device_flow(frozen: MockIdP) -> None:
    frozen.add_rule(endpoint="device_authorization", client_id="flaky-tv",
                    error={"error": "temporarily_unavailable", "status": 503}, times="once")
    flaky = requests.post(frozen.issuer_url() + "/device_authorization",
                          data={"client_id": "flaky-tv"}, timeout=TIMEOUT)
    assert flaky.status_code == 503
    assert flaky.json()["error"] == "temporarily_unavailable"
    device = start(frozen, "flaky-tv")
    poll(frozen, device["device_code"], "flaky-tv")
    frozen.approve_device(device["user_code"], "bob")
    frozen.clock.advance(5)
    frozen.add_rule(endpoint="token", grant_type=DEVICE_GRANT, user="bob",
                    claims={"access_token": {"set": {"via": "device"}}})
    body = poll(frozen, device["device_code"], "flaky-tv").json()
    assert verified(frozen, body["access_token"], "flaky-tv")["via"] == "device"
    calls = frozen.calls(endpoint="token", grant_type=DEVICE_GRANT)
    assert [(c.status, c.error, c.user) for c in calls] == [
        (400, "authorization_pending", None), (200, None, "bob")]
    assert [c.status for c in frozen.calls(endpoint="device_authorization")] == [503, 200]


def test_old_device_codes_are_forgotten_so_memory_stays_bounded(frozen: MockIdP) -> None:
    store = frozen.issuer().store
    old = [start(frozen)["device_code"] for _ in range(70)]
    frozen.clock.advance(600)
    assert error_of(poll(frozen, old[0])) == "expired_token"
    frozen.clock.advance(3600)  # an hour past expiry, an expired code is swept
    for _ in range(60):
        start(frozen)
    assert store.counts()["device_authorizations"] < 70
    assert error_of(poll(frozen, old[0])) == "invalid_grant"


def test_rules_can_target_the_device_endpoints(mockidp: MockIdP) -> None:
    doc = requests.get(mockidp.url + "/_mockidp/openapi.json", timeout=TIMEOUT).json()
    endpoints = doc["components"]["schemas"]["Match"]["properties"]["endpoint"]["enum"]
    assert {"device_authorization", "device"} <= set(endpoints)
    mockidp.add_rule(endpoint="device", error={"error": "temporarily_unavailable",
                                               "description": "page down", "status": 503})
    page = requests.get(mockidp.issuer_url() + "/device", timeout=TIMEOUT)
    assert page.status_code == 503 and page.headers["Content-Type"].startswith("text/html")
    assert "temporarily_unavailable" in page.text and "page down" in page.text


# -- the verification page, as a browser ----------------------------------------------------------

class Form(HTMLParser):
    """The page's form: action, method, named inputs, textareas, submit buttons, alerts,
    and everything that would load something."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method: str | None = None
        self.inputs: dict[str, str] = {}
        self.textareas: list[str] = []
        self.actions: list[str] = []
        self.loads: list[str] = []
        self.scripts = 0
        self._in_alert = False
        self.alert = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action, self.method = found.get("action"), found.get("method", "get").lower()
        elif tag == "input" and found.get("name"):
            self.inputs[found["name"]] = found.get("value", "")
        elif tag == "textarea" and found.get("name"):
            self.textareas.append(found["name"])
        elif tag == "button" and found.get("type", "submit") == "submit":
            self.actions.append(found.get("value", ""))
        if tag == "script":
            self.scripts += 1
        self.loads += [found[a] for a in ("src", "href") if a in found]
        self._in_alert = found.get("role") == "alert"

    def handle_data(self, data: str) -> None:
        if self._in_alert:
            self.alert += data

    def handle_endtag(self, tag: str) -> None:
        self._in_alert = False


def form_of(response: requests.Response) -> Form:
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    form = Form()
    form.feed(response.text)
    # offline and without JavaScript: nothing to load, nothing to run
    assert form.loads == [] and form.scripts == 0, (form.loads, form.scripts)
    assert "url(" not in response.text and "@import" not in response.text
    return form


def submit(browser: requests.Session, page: requests.Response, form: Form,
           **fields: str) -> requests.Response:
    assert form.method == "post" and form.action
    return browser.post(urljoin(page.url, form.action), data={**form.inputs, **fields},
                        allow_redirects=False, timeout=TIMEOUT)


def test_verification_page_enter_code_log_in_approve(frozen: MockIdP, http: requests.Session
                                                      ) -> None:
    device = start(frozen, "web-app", "web-secret")
    page = http.get(device["verification_uri_complete"], timeout=TIMEOUT)
    assert page.status_code == 200
    form = form_of(page)
    assert form.inputs["user_code"] == device["user_code"]  # prefilled

    login = submit(http, page, form)
    assert login.status_code == 200, login.text
    form = form_of(login)
    assert "username" in form.inputs and form.textareas == ["claims"]
    assert set(form.actions) == {"approve", "deny"}
    assert device["user_code"] in login.text and "web-app" in login.text
    assert "openid profile email" in login.text
    assert error_of(poll(frozen, device["device_code"], "web-app", "web-secret")) == (
        "authorization_pending")

    done = submit(http, login, form, username="carla", claims='{"department": "qa"}',
                  action="approve")
    assert done.status_code == 200
    assert "Device approved" in done.text and "carla" in done.text
    frozen.clock.advance(5)
    body = poll(frozen, device["device_code"], "web-app", "web-secret").json()
    id_token = verified(frozen, body["id_token"], "web-app")
    assert id_token["sub"] == "carla" and id_token["department"] == "qa"
    again = submit(http, login, form, username="carla", action="approve")
    assert again.status_code == 400 and "expired or was already used" in form_of(again).alert


def test_verification_page_code_is_case_and_dash_insensitive(frozen: MockIdP,
                                                             http: requests.Session) -> None:
    device = start(frozen)
    blank = http.get(device["verification_uri"], timeout=TIMEOUT)
    form = form_of(blank)
    assert form.inputs["user_code"] == ""
    typed = device["user_code"].replace("-", "").lower()
    login = submit(http, blank, form, user_code=f" {typed[:2]} {typed[2:]} ")
    assert login.status_code == 200, login.text
    assert form_of(login).inputs["user_code"] == device["user_code"]


def test_verification_page_deny(frozen: MockIdP, http: requests.Session) -> None:
    device = start(frozen)
    page = http.get(device["verification_uri_complete"], timeout=TIMEOUT)
    login = submit(http, page, form_of(page))
    done = submit(http, login, form_of(login), action="deny")
    assert done.status_code == 200 and "Request denied" in done.text
    assert error_of(poll(frozen, device["device_code"])) == "access_denied"


def test_verification_page_shows_errors_inline(frozen: MockIdP, http: requests.Session) -> None:
    device = start(frozen)
    page = http.get(device["verification_uri"], timeout=TIMEOUT)
    form = form_of(page)

    wrong = submit(http, page, form, user_code="BBBB-BBBB")
    assert wrong.status_code == 400
    wrong_form = form_of(wrong)
    assert "unknown, has expired or was already used" in wrong_form.alert
    assert wrong_form.inputs["user_code"] == "BBBB-BBBB"  # kept, to correct it

    empty = submit(http, page, form, user_code="")
    assert empty.status_code == 400 and "Enter the code" in form_of(empty).alert

    login = submit(http, page, form, user_code=device["user_code"])
    login_form = form_of(login)
    nameless = submit(http, login, login_form, username=" ", action="approve")
    assert nameless.status_code == 400 and form_of(nameless).alert == "Enter a username."
    for claims, says in (('{"role": ', "must be JSON"), ("[1]", "JSON object"),
                         ('{"iss": "x"}', "iss")):
        bad = submit(http, login, login_form, username="alice", claims=claims,
                     action="approve")
        assert bad.status_code == 400
        bad_form = form_of(bad)
        assert says in bad_form.alert, bad_form.alert
        assert bad_form.inputs["username"] == "alice"  # the form keeps what was typed
    assert error_of(poll(frozen, device["device_code"])) == "authorization_pending"

    frozen.clock.advance(600)
    expired = submit(http, login, login_form, username="alice", action="approve")
    assert expired.status_code == 400
    assert "unknown, has expired or was already used" in form_of(expired).alert


def test_verification_page_never_breaks(frozen: MockIdP, http: requests.Session) -> None:
    url = frozen.issuer_url() + "/device"
    for params in ({"user_code": "x" * 5000}, {"user_code": "<script>alert(1)</script>"},
                   {"user_code": ["a", "b"]}):
        response = http.get(url, params=params, timeout=TIMEOUT)
        assert response.status_code in (200, 400), response.status_code
        assert "<script>" not in response.text
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for data in ("step=other&user_code=x", "step=login", "user_code=%FF%FE",
                 "action=maybe&step=login", "user_code=a&user_code=b"):
        response = http.post(url, data=data, headers=form, timeout=TIMEOUT)
        assert response.status_code == 400, (data, response.status_code)
        assert response.headers["Content-Type"].startswith("text/html")
    device = start(frozen)
    odd = http.post(url, data={"step": "login", "user_code": device["user_code"],
                               "action": "maybe", "username": "a"}, timeout=TIMEOUT)
    assert odd.status_code == 400 and "action" in odd.text


# -- the doors: fixture, control API --------------------------------------------------------------

def test_control_api_approves_and_denies_by_user_code(frozen: MockIdP) -> None:
    control = frozen.url + "/_mockidp/device"
    first, second = start(frozen), start(frozen)
    approved = requests.post(control + "/approve", json={
        "user_code": first["user_code"].replace("-", "").lower(), "user": "bob",
        "claims": {"tier": "gold"}}, timeout=TIMEOUT)
    assert approved.status_code == 200, approved.text
    assert approved.json() == {"status": "approved", "applies_to": "request",
                               "user_code": first["user_code"], "client_id": "tv-app",
                               "scope": "openid profile email", "user": "bob"}
    denied = requests.post(control + "/deny", json={"user_code": second["user_code"]},
                           timeout=TIMEOUT)
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    access = poll(frozen, first["device_code"]).json()["access_token"]
    claims = verified(frozen, access, "tv-app")
    assert claims["sub"] == "bob" and claims["tier"] == "gold"
    assert error_of(poll(frozen, second["device_code"])) == "access_denied"

    unknown = requests.post(control + "/approve", json={"user_code": second["user_code"]},
                            timeout=TIMEOUT)
    assert unknown.status_code == 400
    assert "user_code" in unknown.json()["error_description"]
    for body, named in (({"user_code": 5}, "user_code"), ({"user": ""}, "user"),
                        ({"claims": {"iss": "x"}}, "claims.iss"), ({"claims": [1]}, "claims"),
                        ({"colour": "red"}, "device.colour"), ({"issuer": "_mockidp"}, "")):
        refused = requests.post(control + "/approve", json=body, timeout=TIMEOUT)
        assert refused.status_code in (400, 404), (body, refused.text)
        assert named in refused.json()["error_description"], (body, refused.text)


def test_an_answer_given_before_the_request_applies_to_the_next_one(frozen: MockIdP) -> None:
    early = frozen.approve_device(user="bob")
    assert early["applies_to"] == "next" and early["user_code"] is None
    frozen.deny_device(issuer="tenant-b")
    approved = start(frozen)
    assert verified(frozen, poll(frozen, approved["device_code"]).json()["access_token"],
                    "tv-app")["sub"] == "bob"
    assert error_of(poll(frozen, start(frozen)["device_code"])) == "authorization_pending"
    denied = start(frozen, issuer="tenant-b")
    assert error_of(poll(frozen, denied["device_code"], issuer="tenant-b")) == "access_denied"


def test_without_a_user_code_the_oldest_waiting_request_is_answered(frozen: MockIdP) -> None:
    older, newer = start(frozen), start(frozen)
    assert frozen.approve_device()["user_code"] == older["user_code"]
    assert frozen.approve_device(user="bob")["user_code"] == newer["user_code"]


def test_interactive_login_off_approves_at_once_as_the_default_user() -> None:
    with MockIdP({"interactive_login": False, "default_user": "dora"}) as idp:
        device = start(idp)
        body = poll(idp, device["device_code"]).json()
        assert verified(idp, body["access_token"], "tv-app")["sub"] == "dora"


def test_reset_forgets_device_codes_and_waiting_answers(mockidp: MockIdP) -> None:
    device = start(mockidp)
    mockidp.approve_device(device["user_code"])
    mockidp.approve_device()  # waits for the next request
    mockidp.reset()
    assert error_of(poll(mockidp, device["device_code"])) == "invalid_grant"
    assert error_of(poll(mockidp, start(mockidp)["device_code"])) == "authorization_pending"


# -- openid-client (npm) --------------------------------------------------------------------------

@pytest.fixture
def fast_idp() -> Iterator[MockIdP]:
    """A provider polling every second, so that a real client's waits stay short."""
    config = {"device_poll_interval": 1,
              "users": {"alice": {"claims": {"email": "alice@example.com", "name": "Alice"}}},
              "clients": {"tv-box": {"secret": "tv-secret"}}}
    with MockIdP(config) as idp:
        yield idp


def answer_when_polled(idp: MockIdP, path: str, body: dict[str, Any]
                       ) -> tuple[threading.Thread, dict[str, Any]]:
    """A thread that waits until the client has been told ``authorization_pending``, then
    answers through the control API; its answer lands in the returned dict."""
    answered: dict[str, Any] = {}

    def run() -> None:
        deadline = time.monotonic() + 30
        while not idp.calls(endpoint="token", error="authorization_pending"):
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)  # waiting for the client, not asserting on time
        response = requests.post(idp.url + "/_mockidp/device/" + path, json=body,
                                 timeout=TIMEOUT)
        answered.update(status=response.status_code, body=response.json())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, answered


def test_openid_client_polls_until_approved(fast_idp: MockIdP) -> None:
    thread, answered = answer_when_polled(fast_idp, "approve",
                                          {"user": "alice", "claims": {"plan": "tv"}})
    result = run_node("device_flow.mjs", fast_idp.issuer_url(), "tv-box", "tv-secret",
                      "openid email profile")
    thread.join(TIMEOUT)
    assert answered["status"] == 200, answered
    assert answered["body"]["user_code"] == result["device"]["user_code"]
    assert USER_CODE.match(result["device"]["user_code"])
    assert result["device"]["interval"] == 1
    # openid-client validated the ID token (signature, iss, aud, exp) and userinfo's subject
    assert result["claims"]["sub"] == "alice"
    assert result["claims"]["iss"] == fast_idp.issuer_url()
    assert result["claims"]["aud"] == "tv-box"
    assert result["claims"]["plan"] == "tv"
    assert result["userinfo"]["email"] == "alice@example.com"
    assert result["token_type"].lower() == "bearer"
    assert result["has_refresh_token"] is True
    polls = fast_idp.calls(endpoint="token", grant_type=DEVICE_GRANT)
    assert [c.error for c in polls][-1] is None
    assert {c.error for c in polls[:-1]} == {"authorization_pending"}


def test_openid_client_public_client_sees_access_denied(fast_idp: MockIdP) -> None:
    thread, answered = answer_when_polled(fast_idp, "deny", {})
    result = run_node("device_flow.mjs", fast_idp.issuer_url(), "tv-public", "-", "openid")
    thread.join(TIMEOUT)
    assert answered["status"] == 200 and answered["body"]["client_id"] == "tv-public"
    assert result["error"] == "access_denied"
    assert "denied" in result["error_description"]

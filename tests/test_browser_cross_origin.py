"""Proof in a real browser that no page of another origin can script mockidp's control API
(issue 11): headless Chromium (Debian's, driven by Playwright, as in tests/test_browser.py)
opens an attacker's page that tries every request a page may send to another origin without
asking it first, and one that asks.

- The attacker's page is served by a stdlib http.server on another port and reached under
  three names: ``localhost`` (another site than mockidp's ``127.0.0.1``), ``127.0.0.1`` (the same
  site, another origin: ``Sec-Fetch-Site: same-site``) and ``attacker.test`` (not a loopback
  name; Chromium's resolver rules point it at 127.0.0.1), plus once sandboxed
  (``Origin: null``).  It POSTs to ``/_mockidp/device/approve``, ``device/deny``,
  ``keys/rotate``, ``keys/retire`` and ``reset`` with ``fetch(..., {mode: "no-cors"})`` (empty,
  form-encoded and JSON-as-text/plain bodies), ``navigator.sendBeacon`` and auto-submitted
  ``<form method=post>`` (no fields, url-encoded, the text/plain JSON trick) into iframes:
  simple requests, which a browser sends without a CORS preflight.  A JSON ``fetch`` and a
  ``DELETE`` need a preflight, which mockidp does not grant: only the ``OPTIONS`` arrives.
- DNS rebinding: a page of ``rebind.test`` on mockidp's port (the name pointed at
  127.0.0.1, as a rebinding attacker's DNS would do) is same-origin with mockidp for the
  browser; only the ``Host`` it sends betrays it.
- The same origin still works: the token debugger's form (the one action of mockidp's pages,
  the dashboard has none) and a JSON call of the control API from the dashboard's origin.

Afterwards the test asks the provider itself (the Python API, and the token endpoint for the
waiting device request) that nothing changed.  It also listens at the guard
(`mockidp.web.app.refusal`, wrapped, not replaced): mockidp heard each simple request with the
``Origin`` and ``Sec-Fetch-Site`` Chromium sent and refused it 403 ``access_denied``, heard the
preflights (``OPTIONS``) and never a JSON POST or a DELETE; the browser got the 403s.

No browser request leaves this machine: ``--host-resolver-rules`` resolves localhost and the
test's two names to 127.0.0.1 and no other name, and the test checks every URL the browser
asked for.  No request is
intercepted (with routes, Playwright answers CORS preflights itself and would let the JSON
requests through).  Skipped without Chromium or Playwright, except under ``.ci/run``
(``MOCKIDP_CI=1``), as in tests/test_browser.py.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from mockidp import MockIdP
from mockidp.web import app as web_app
from mockidp.web.guard import Refusal

from .conftest import SAMPLE_CONFIG
from .test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, _need_browser

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CHANGING = ("/_mockidp/device/approve", "/_mockidp/device/deny", "/_mockidp/keys/rotate",
            "/_mockidp/keys/retire", "/_mockidp/reset")
SIMPLE_PER_PATH = 7  # three no-cors fetches, one beacon, three forms (ATTACK_PAGE)
ATTACKER = "attacker.test"
REBINDER = "rebind.test"
LOOPBACK = {"127.0.0.1", "localhost"}
# localhost and the two test names resolve to 127.0.0.1, every other name fails at once (IP
# literals are not resolved).
RESOLVER = (f"--host-resolver-rules=MAP localhost 127.0.0.1, MAP {ATTACKER} 127.0.0.1, "
            f"MAP {REBINDER} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")

ATTACK_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Another site</title></head>
<body><h1>A page of another origin</h1>
<script>
"use strict";
(async () => {
  const query = new URLSearchParams(location.search);
  const target = query.get("target");
  const fields = {user_code: query.get("user_code"), user: "mallory"};
  const asJson = JSON.stringify(fields);
  const paths = __PATHS__;
  const results = [];
  let frames = 0;
  const settle = async (technique, path, sending) => {
    try {
      const response = await sending;
      results.push({technique, path, outcome: `${response.type} ${response.status}`});
    } catch (error) {
      results.push({technique, path, outcome: `rejected: ${error.name}`});
    }
  };
  const submit = (technique, path, inputs, enctype) => new Promise((resolve) => {
    const frame = document.createElement("iframe");
    frame.name = `frame-${++frames}`;
    document.body.append(frame);  // its about:blank load is over before the listener
    frame.addEventListener("load", () => {
      results.push({technique, path, outcome: "loaded"});
      resolve();
    }, {once: true});
    const form = document.createElement("form");
    form.method = "post";
    form.action = target + path;
    form.target = frame.name;
    if (enctype) form.enctype = enctype;
    for (const [name, value] of Object.entries(inputs)) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.append(input);
    }
    document.body.append(form);
    form.submit();
  });
  for (const path of paths) {
    const url = target + path;
    // simple requests: sent without asking mockidp first
    await settle("fetch no-cors, empty body", path,
                 fetch(url, {method: "POST", mode: "no-cors"}));
    await settle("fetch no-cors, form body", path,
                 fetch(url, {method: "POST", mode: "no-cors",
                             body: new URLSearchParams(fields)}));
    await settle("fetch no-cors, JSON as text/plain", path,
                 fetch(url, {method: "POST", mode: "no-cors", body: asJson}));
    results.push({technique: "sendBeacon", path, outcome: `${navigator.sendBeacon(url)}`});
    await submit("form, no fields", path, {});
    await submit("form, url-encoded", path, fields);
    // text/plain forms send name=value: {"user_code":"...","user":"mallory","x":"="}
    await submit("form, text/plain JSON", path, {[asJson.slice(0, -1) + ',"x":"']: '"}'},
                 "text/plain");
    // preflighted: the browser asks mockidp (OPTIONS) first and may not send these
    await settle("fetch cors, application/json", path, fetch(url, {
      method: "POST", headers: {"Content-Type": "application/json"}, body: asJson}));
  }
  await settle("fetch cors, DELETE", "/_mockidp/rules",
               fetch(target + "/_mockidp/rules", {method: "DELETE"}));
  window.attackResults = results;
  document.body.dataset.done = "yes";
})();
</script>
</body></html>
""".replace("__PATHS__", json.dumps(CHANGING))


class _AttackHandler(http.server.BaseHTTPRequestHandler):
    """``/attack.html`` (``?sandbox=1``: in a sandbox, whose origin is opaque); 404 else."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/attack.html":
            self.send_error(404)
            return
        body = ATTACK_PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if "sandbox=1" in parts.query:
            self.send_header("Content-Security-Policy", "sandbox allow-scripts allow-forms")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def attacker_port() -> Iterator[int]:
    """The attacker's site: a port of this machine that is not mockidp's."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AttackHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="attacker-site", daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def idp() -> Iterator[MockIdP]:
    """A provider of its own on 127.0.0.1, without a control token (what the guard is for)."""
    with MockIdP(SAMPLE_CONFIG) as provider:
        assert provider.control_token is None and urlsplit(provider.url).hostname == "127.0.0.1"
        yield provider


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    sync_api = _need_browser()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=[*CHROMIUM_ARGS, RESOLVER], timeout=TIMEOUT_MS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass(frozen=True)
class Heard:
    """One request as mockidp's guard saw it, and its verdict (None: answered)."""

    method: str
    path: str
    headers: dict[str, str]
    verdict: Refusal | None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@pytest.fixture
def heard(monkeypatch: pytest.MonkeyPatch) -> list[Heard]:
    """The server's side: every request mockidp's Flask app put to the guard (the browser's
    own network log is not reliable for the headers of fetches), with its verdict."""
    log: list[Heard] = []
    real = web_app.refusal

    def listening(method: str, path: str, headers: Mapping[str, str], *rest: Any
                  ) -> Refusal | None:
        verdict = real(method, path, headers, *rest)
        log.append(Heard(method, path, dict(headers), verdict))
        return verdict

    monkeypatch.setattr(web_app, "refusal", listening)
    return log


@contextlib.contextmanager
def browsing(chromium: Any) -> Iterator[tuple[Any, list[Any]]]:
    """A fresh browser context and page, and the control API's answers the browser got;
    afterwards, no request may have left this machine."""
    urls: list[str] = []
    answers: list[Any] = []  # Playwright responses from /_mockidp/
    context = chromium.new_context(service_workers="block")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    context.on("request", lambda request: urls.append(request.url))
    context.on("response", lambda response: answers.append(response)
               if urlsplit(response.url).path.startswith("/_mockidp/") else None)
    page = context.new_page()
    try:
        yield page, answers
    except BaseException:
        with contextlib.suppress(Exception):  # what the page showed, for the failure report
            print(f"page at {page.url}:\n" + page.locator("body").inner_text(timeout=2_000))
        raise
    finally:
        context.close()
    strays = [u for u in urls if urlsplit(u).scheme not in ("data", "blob", "about")
              and urlsplit(u).hostname not in {*LOOPBACK, ATTACKER, REBINDER}]
    assert not strays, f"the browser asked for more than this machine: {strays}"


# -- the provider's state, asked through the Python API ---------------------------------------

@dataclass
class Planted:
    """Run-time state a reset wipes, keys with a retired-able one, a waiting device request."""

    user_code: str
    device_code: str
    rule_id: str
    keys: list[dict[str, Any]]


def plant(idp: MockIdP) -> Planted:
    idp.reset()
    idp.add_user("runtime-user", {"email": "runtime@example.com"})
    idp.add_client("runtime-client", "runtime-secret")
    rule = idp.add_rule(endpoint="userinfo", error="invalid_token", expect=False)
    idp.rotate_keys()  # the old keys stay published until retired: keys/retire would drop them
    device = requests.post(f"{idp.issuer_url()}/device_authorization", timeout=10,
                           data={"client_id": "tv-app", "scope": "openid"})
    assert device.status_code == 200, device.text
    planted = Planted(device.json()["user_code"], device.json()["device_code"], rule.id,
                      idp.keys())
    assert any(not key["active"] for key in planted.keys)
    return planted


def poll(idp: MockIdP, device_code: str) -> tuple[int, str]:
    """The client's next poll for the device request: (status, error or token type)."""
    answer = requests.post(f"{idp.issuer_url()}/token", timeout=10, data={
        "grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": "tv-app"})
    body = answer.json()
    return answer.status_code, body.get("error") or body.get("token_type", "")


def assert_unchanged(idp: MockIdP, planted: Planted) -> None:
    """Nothing the attacker's requests aim at changed: no reset, no rotation or retirement,
    no answer to the waiting device request."""
    problems = []
    if "runtime-user" not in idp.users():
        problems.append(f"the run-time user is gone (users: {sorted(idp.users())})")
    if "runtime-client" not in idp.clients():
        problems.append("the run-time client is gone")
    if planted.rule_id not in [rule.id for rule in idp.list_rules()]:
        problems.append("the run-time rule is gone")
    published = idp.keys()
    if published != planted.keys:
        before = {(k["kid"], k["active"]) for k in planted.keys}
        after = {(k["kid"], k["active"]) for k in published}
        problems.append(f"the keys changed (gone: {sorted(before - after)}; "
                        f"new: {sorted(after - before)})")
    polled = poll(idp, planted.device_code)
    if polled != (400, "authorization_pending"):
        problems.append(f"the device request no longer waits: the client's poll got {polled}")
    assert not problems, "a page of another origin changed mockidp: " + "; ".join(problems)


def changing_posts(heard: list[Heard]) -> list[Heard]:
    return [h for h in heard if h.method == "POST" and h.path in CHANGING]


# -- pages of other origins -------------------------------------------------------------------

@pytest.mark.parametrize(("name", "sandboxed", "site"), [
    pytest.param("localhost", False, "cross-site", id="localhost-another-site"),
    pytest.param("127.0.0.1", False, "same-site", id="127.0.0.1-another-port"),
    pytest.param(ATTACKER, False, "cross-site", id="attacker.test"),
    pytest.param("127.0.0.1", True, "cross-site", id="sandboxed-null-origin"),
])
def test_a_page_of_another_origin_cannot_change_mockidp(
        chromium: Any, idp: MockIdP, heard: list[Heard], attacker_port: int, name: str,
        sandboxed: bool, site: str) -> None:
    planted = plant(idp)
    origin = "null" if sandboxed else f"http://{name}:{attacker_port}"
    query = {"target": idp.url, "user_code": planted.user_code,
             **({"sandbox": "1"} if sandboxed else {})}
    with browsing(chromium) as (page, answers):
        page.goto(f"http://{name}:{attacker_port}/attack.html?{urlencode(query)}")
        page.wait_for_function("document.body.dataset.done === 'yes'")
        results: list[dict[str, str]] = page.evaluate("window.attackResults")
        expected = SIMPLE_PER_PATH * len(CHANGING)
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while len(changing_posts(heard)) < expected and time.monotonic() < deadline:
            page.wait_for_timeout(50)  # the page does not wait for its beacons
        answered = [(a.url, a.status) for a in answers if a.request.method == "POST"]
        framed = [frame.locator("body").inner_text() for frame in page.frames
                  if frame != page.main_frame]

    # 1. Nothing changed, asked of the provider itself.
    assert_unchanged(idp, planted)

    # 2. The page ran it all; what needs a preflight never got through.
    assert len(results) == (SIMPLE_PER_PATH + 1) * len(CHANGING) + 1, results
    preflighted = [r for r in results if r["technique"].startswith("fetch cors")]
    assert len(preflighted) == len(CHANGING) + 1
    assert all(r["outcome"] == "rejected: TypeError" for r in preflighted), preflighted
    assert all(r["outcome"] in ("opaque 0", "loaded", "true")
               for r in results if r not in preflighted), results

    # 3. mockidp heard each simple request, with the Origin the browser sent, and refused it.
    posts = changing_posts(heard)
    assert len(posts) == expected, [(h.path, h.header("Content-Type")) for h in posts]
    assert {h.path for h in posts} == set(CHANGING)
    for post in posts:
        assert post.header("Origin") == origin, post
        assert post.header("Sec-Fetch-Site") == site, post
        assert post.verdict is not None and post.verdict[:2] == (403, "access_denied"), post
    kinds = {(h.header("Content-Type") or "").split(";")[0] for h in posts}
    assert kinds == {"", "application/x-www-form-urlencoded", "text/plain"}, kinds
    assert all(h.method in ("POST", "OPTIONS") for h in heard), heard  # no DELETE came
    asked = [h for h in heard if h.method == "OPTIONS"]  # the preflights mockidp did not grant
    assert {h.path for h in asked} == {*CHANGING, "/_mockidp/rules"}, asked

    # ...and the browser got the refusals: the forms' frames show them (to Playwright, not to
    # the page), the fetches and beacons got them opaque.
    assert len(answered) == expected and {status for _, status in answered} == {403}, answered
    assert len(framed) == 3 * len(CHANGING)
    assert all(json.loads(text)["error"] == "access_denied" for text in framed), framed


# -- DNS rebinding ------------------------------------------------------------------------------

REBOUND_SCRIPT = """async ([userCode]) => {
  const call = async (method, path, body) => {
    const init = {method, headers: {"Content-Type": "application/json"}};
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(path, method === "GET" ? {} : init);
    const text = await response.text();
    let answer = text;
    try { answer = JSON.parse(text); } catch { /* shown as text */ }
    return {method, path, status: response.status, body: answer};
  };
  return [
    await call("POST", "/_mockidp/device/approve", {user_code: userCode, user: "mallory"}),
    await call("POST", "/_mockidp/device/deny", {user_code: userCode}),
    await call("POST", "/_mockidp/keys/rotate", {}),
    await call("POST", "/_mockidp/keys/retire", {}),
    await call("POST", "/_mockidp/reset", {}),
    await call("DELETE", "/_mockidp/rules"),
    await call("GET", "/_mockidp/journal"),
    await call("GET", "/_mockidp/users"),
  ];
}"""


def test_a_rebinding_page_is_refused_by_its_host(chromium: Any, idp: MockIdP,
                                                 heard: list[Heard]) -> None:
    """A rebinding attacker's page: its name now resolves to 127.0.0.1, so the browser takes
    it for mockidp's own origin (no CORS, JSON allowed, answers readable); its Host is the
    attacker's name.  The page is a protocol document (those answer any Host, as containers
    need), its script the attacker's."""
    planted = plant(idp)
    port = urlsplit(idp.url).port
    rebound = f"http://{REBINDER}:{port}"
    with browsing(chromium) as (page, _):
        loaded = page.goto(f"{rebound}/default/.well-known/openid-configuration")
        assert loaded is not None and loaded.status == 200
        answers = page.evaluate(REBOUND_SCRIPT, [planted.user_code])
        dashboard = page.goto(f"{rebound}/")
        dashboard_status = dashboard.status if dashboard is not None else None
        dashboard_text = page.locator("body").inner_text()

    assert_unchanged(idp, planted)
    assert dashboard_status == 403 and REBINDER in dashboard_text, dashboard_text
    assert len(answers) == 8
    for answer in answers:
        assert answer["status"] == 403, answer
        assert answer["body"]["error"] == "access_denied", answer
        assert repr(REBINDER) in answer["body"]["error_description"], answer
    control = [h for h in heard if h.path.startswith("/_mockidp/")]
    assert len(control) == 8 and all(h.header("Host") == f"{REBINDER}:{port}" for h in control)
    assert all(h.header("Origin") in (None, rebound) for h in control)  # same-origin to Chromium


# -- mockidp's own origin still works ---------------------------------------------------------

SAME_ORIGIN_SCRIPT = """async ([userCode]) => {
  const post = async (path, init) => {
    const response = await fetch(path, {method: "POST", ...init});
    return {path, status: response.status, body: await response.json()};
  };
  const json = (body) => ({headers: {"Content-Type": "application/json"},
                           body: JSON.stringify(body)});
  return [
    await post("/_mockidp/reset", {}),  // not JSON: refused even from here
    await post("/_mockidp/device/approve", json({user_code: userCode, user: "bob"})),
    await post("/_mockidp/keys/rotate", json({})),
  ];
}"""


def test_mockidps_own_pages_still_work(chromium: Any, idp: MockIdP,
                                       heard: list[Heard]) -> None:
    """The token debugger's form (the one action of mockidp's pages: the dashboard only
    shows) and the control API called with JSON from the dashboard's origin."""
    planted = plant(idp)
    with browsing(chromium) as (page, _):
        shown = page.goto(f"{idp.url}/")
        assert shown is not None and shown.status == 200
        empty_reset, approve, rotate = page.evaluate(SAME_ORIGIN_SCRIPT, [planted.user_code])

        page.goto(f"{idp.url}/debugger")
        page.fill("#token", idp.mint("alice"))
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.locator("#verdict").get_attribute("data-verdict") == "valid"

    assert empty_reset["status"] == 400, empty_reset
    assert empty_reset["body"]["error"] == "invalid_request"
    assert "application/json" in empty_reset["body"]["error_description"]
    assert "runtime-user" in idp.users()  # that reset did not happen
    assert approve["status"] == 200 and approve["body"]["user"] == "bob", approve
    assert poll(idp, planted.device_code) == (200, "Bearer")
    assert rotate["status"] == 200 and idp.keys() != planted.keys, rotate
    own = idp.url
    posts = [h for h in heard if h.method == "POST"]
    assert [h.path for h in posts] == ["/_mockidp/reset", "/_mockidp/device/approve",
                                       "/_mockidp/keys/rotate", "/debugger"]
    assert all(h.header("Origin") == own and h.header("Sec-Fetch-Site") == "same-origin"
               for h in posts), posts

"""Proof in a real browser: headless Chromium (Debian's, driven by Playwright) runs a
single-page app built on oidc-client-ts against mockidp — sign in on the login page, silent
renew in a hidden iframe on the session cookie, RP-initiated logout — and talks to nothing but
127.0.0.1.

The app lives in tests/browser/assets/ with oidc-client-ts vendored (its npm version is locked in
tests/node/package-lock.json); a threaded http.server serves it on a free port, plus a
generated ``config.js`` naming the issuer.  The test also writes screenshots of the login page
and of the dashboard at ``/`` to docs/screenshots/ for the README.

Without /usr/bin/chromium (Debian's package ``chromium``) the test is skipped, except under
``.ci/run`` (``MOCKIDP_CI=1``), which installs it: there a missing browser is a failure.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mockidp import MockIdP

from .conftest import NODE_DIR, ROOT
from .local_server import serving

ASSETS = ROOT / "tests" / "browser" / "assets"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = Path(os.environ.get("MOCKIDP_CHROMIUM", "/usr/bin/chromium"))
IN_CI = os.environ.get("MOCKIDP_CI") == "1"
# Without the background-networking flags Chromium tries to reach Google's hosts at start.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CLIENT_ID = "browser-spa"
TIMEOUT_MS = 15_000  # every wait: navigation, selector, expectation
VENDORED = "oidc-client-ts.min.js"


def _need_browser() -> Any:
    """Playwright's sync API, or a skip (a failure in CI) when it or Chromium is missing."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if IN_CI:
            pytest.fail(message + " (.ci/run installs it; MOCKIDP_CI=1)", pytrace=False)
        pytest.skip(message)
    if IN_CI:
        from playwright import sync_api
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
    return sync_api


class _AssetHandler(http.server.SimpleHTTPRequestHandler):
    config_js = b""

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/config.js":
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript; charset=utf-8")
            self.send_header("Content-Length", str(len(self.config_js)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(self.config_js)
            return
        super().do_GET()

    def end_headers(self) -> None:
        if urlsplit(self.path).path != "/config.js":
            self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@contextmanager
def serve_assets(issuer: str) -> Iterator[str]:
    """The SPA at ``http://127.0.0.1:PORT`` on a free port, until the block ends."""
    config = {"issuer": issuer, "client_id": CLIENT_ID}
    handler = type("Handler", (_AssetHandler,), {
        "config_js": f"window.MOCKIDP_SPA = {json.dumps(config)};\n".encode(),
    })
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             partial(handler, directory=str(ASSETS)))
    server.daemon_threads = True
    with serving(server, "spa-assets") as url:
        yield url


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified (the other tests check signatures)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_vendored_oidc_client_ts_matches_the_locked_npm_package() -> None:
    """tests/browser/assets/ carries the browser bundle of the oidc-client-ts version that
    tests/node/package-lock.json locks (checked when ``npm ci --prefix tests/node`` ran)."""
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/oidc-client-ts"]["version"]
    assert (ASSETS / "oidc-client-ts.LICENSE").is_file()
    assert (ASSETS / "jwt-decode.LICENSE").is_file()  # bundled into the browser build
    package = NODE_DIR / "node_modules" / "oidc-client-ts"
    if not package.is_dir():
        if IN_CI:
            pytest.fail("tests/node/node_modules is missing: npm ci --prefix tests/node")
        pytest.skip("tests/node/node_modules is missing: npm ci --prefix tests/node")
    assert json.loads((package / "package.json").read_text())["version"] == locked
    installed = (package / "dist" / "browser" / VENDORED).read_bytes()
    assert (ASSETS / VENDORED).read_bytes() == installed, (
        f"refresh the vendored copy: cp {package}/dist/browser/{VENDORED} {ASSETS}/")


def test_a_real_browser_signs_in_renews_and_signs_out(mockidp: MockIdP) -> None:
    sync_api = _need_browser()
    expect = sync_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    issuer = mockidp.issuer_url()
    started = time.monotonic()

    with serve_assets(issuer) as spa:
        mockidp.add_client(
            CLIENT_ID,
            redirect_uris=[f"{spa}/callback.html", f"{spa}/silent-renew.html"],
            post_logout_redirect_uris=[f"{spa}/index.html"],
            grant_types=["authorization_code"],  # no refresh token: renewals use the iframe
            token_endpoint_auth_method="none",
            require_pkce=True,
            pkce_methods=["S256"],
        )
        requested: list[str] = []
        blocked: list[str] = []
        authorize_pages: list[tuple[str, int, str]] = []  # (url, status, content type)

        def only_loopback(route: Any) -> None:
            url = route.request.url
            if urlsplit(url).hostname == "127.0.0.1":
                route.continue_()
            else:
                blocked.append(url)
                route.abort("blockedbyclient")

        def on_response(response: Any) -> None:
            if urlsplit(response.url).path.startswith(urlsplit(issuer).path + "/authorize"):
                authorize_pages.append((response.url, response.status,
                                        response.headers.get("content-type", "")))

        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                 args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
            page = None
            try:
                context = browser.new_context(viewport={"width": 900, "height": 720},
                                              color_scheme="light", service_workers="block")
                context.set_default_timeout(TIMEOUT_MS)
                context.set_default_navigation_timeout(TIMEOUT_MS)
                context.on("request", lambda request: requested.append(request.url))
                context.on("response", on_response)
                context.route("**/*", only_loopback)
                page = context.new_page()
                status = page.locator("#status")

                # 1. The SPA, signed out.
                page.goto(f"{spa}/index.html")
                expect(status).to_have_attribute("data-state", "anonymous")

                # 2. Sign in: mockidp's login page, then alice.
                page.click("#sign-in")
                page.wait_for_url(f"{issuer}/authorize?*")
                pick = page.locator("button[name=pick][value=alice]")  # one-click user
                expect(pick).to_be_visible()
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / "login.png"), full_page=True)
                pick.click()
                page.wait_for_url(f"{spa}/index.html")
                mockidp.assert_called(1, endpoint="login", user="alice", params={"pick": "alice"})
                expect(status).to_have_attribute("data-state", "signed-in")
                profile = json.loads(page.locator("#profile").inner_text())
                assert profile["sub"] == "alice"
                assert profile["email"] == "alice@example.com"
                assert profile["name"] == "Alice Admin"
                first_token = page.locator("#access-token").inner_text()
                assert claims_of(first_token)["client_id"] == CLIENT_ID
                code_exchange = mockidp.assert_called(1, endpoint="token", client_id=CLIENT_ID,
                                                      grant_type="authorization_code")[0]
                assert code_exchange.params.get("code_verifier")  # PKCE, public client

                # The dashboard, in a second tab while alice's session is live.
                dashboard = context.new_page()
                dashboard.set_viewport_size({"width": 1100, "height": 820})
                try:
                    shown = dashboard.goto(f"{mockidp.url}/")
                    # Documentation, not an assertion: let a live dashboard fill in, briefly.
                    with contextlib.suppress(sync_api.TimeoutError):
                        dashboard.wait_for_load_state("networkidle", timeout=5_000)
                    print(f"dashboard: HTTP {shown.status if shown else '?'}")
                    dashboard.screenshot(path=str(SCREENSHOTS / "dashboard.png"))  # first screen
                finally:
                    dashboard.close()

                # 3. Renew silently: hidden iframe, prompt=none, mockidp's session cookie.
                authorize_pages.clear()
                page.click("#renew")
                expect(status).to_have_attribute("data-state", "renewed")
                assert page.url == f"{spa}/index.html"
                second_token = page.locator("#access-token").inner_text()
                assert second_token and second_token != first_token
                assert claims_of(second_token)["jti"] != claims_of(first_token)["jti"]
                assert claims_of(second_token)["sub"] == "alice"
                assert json.loads(page.locator("#profile").inner_text())["sub"] == "alice"
                silent = mockidp.assert_called(1, endpoint="authorize", client_id=CLIENT_ID,
                                               params={"prompt": "none"})[0]
                assert silent.user == "alice" and silent.error is None
                assert authorize_pages and all(
                    status_code in (302, 303) for _, status_code, _ in authorize_pages
                ), f"the silent renew showed a page instead of redirecting: {authorize_pages}"
                mockidp.assert_called(1, endpoint="login")  # the one sign-in above, no other

                # 4. Sign out: end-session, back to the post-logout page.
                with page.expect_response(lambda r: "/endsession" in r.url) as ended:
                    page.click("#sign-out")
                assert ended.value.status in (302, 303), ended.value.status
                assert ended.value.headers["location"].startswith(f"{spa}/index.html?state=")
                expect(status).to_have_attribute("data-state", "signed-out")
                assert page.url == f"{spa}/index.html"  # the app cleaned up the query
                expect(page.locator("#profile")).to_have_text("null")
                mockidp.assert_called(1, endpoint="endsession", client_id=CLIENT_ID)

                # ...and the session is gone: a silent sign-in needs a login now.
                page.click("#renew")
                expect(status).to_have_attribute("data-state", "renew-failed")
                expect(status).to_have_attribute("data-error", "login_required")

                assert not blocked, f"the browser tried to leave 127.0.0.1: {blocked}"
                strays = [u for u in requested
                          if urlsplit(u).scheme not in ("data", "blob", "about")
                          and urlsplit(u).hostname != "127.0.0.1"]
                assert not strays, f"requests beyond 127.0.0.1: {strays}"
                assert any(u.startswith(spa) for u in requested)
                assert any(u.startswith(issuer) for u in requested)
                context.close()
            except BaseException:
                if page is not None:  # what the app saw, for the failure report
                    with contextlib.suppress(Exception):
                        print(f"SPA at {page.url}:\n" + page.locator("body").inner_text(
                            timeout=2_000))
                raise
            finally:
                browser.close()
    print(f"browser flow took {time.monotonic() - started:.1f}s")

"""keycloak-js in headless Chromium against a Keycloak-profiled realm: an application page on
127.0.0.1 (tests/browser/keycloak/, with ``keycloak.js`` straight from
tests/node/node_modules) calls ``init({onLoad: 'login-required', pkceMethod: 'S256'})`` with
the default ``checkLoginIframe: true``, signs in on mockidp's login page, gets tokens
keycloak-js decodes (the refresh token is a JWT), refreshes with ``updateToken(-1)`` (which
asks the login-status iframe first) and logs out.  Nothing leaves 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.server
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import pytest

from mockidp import MockIdP

from .conftest import NODE_DIR, ROOT
from .local_server import serving
from .test_browser import CHROMIUM, CHROMIUM_ARGS, IN_CI, TIMEOUT_MS, _need_browser

PAGES = ROOT / "tests" / "browser" / "keycloak"
KEYCLOAK_JS = NODE_DIR / "node_modules" / "keycloak-js" / "lib" / "keycloak.js"
REALM = "myrealm"
CLIENT_ID = "kc-spa"


class _PageHandler(http.server.SimpleHTTPRequestHandler):
    config_js = b""

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path in ("/config.js", "/keycloak.js"):
            body = self.config_js if path == "/config.js" else KEYCLOAK_JS.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@contextmanager
def serve_pages(url: str) -> Iterator[str]:
    config = {"url": url, "realm": REALM, "clientId": CLIENT_ID}
    handler = type("Handler", (_PageHandler,), {
        "config_js": f"window.KEYCLOAK_CONFIG = {json.dumps(config)};\n".encode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             partial(handler, directory=str(PAGES)))
    server.daemon_threads = True
    with serving(server, "keycloak-pages") as base:
        yield base


def test_keycloak_js_signs_in_refreshes_and_logs_out() -> None:
    sync_api = _need_browser()
    if not KEYCLOAK_JS.is_file():
        message = "tests/node/node_modules is missing: npm ci --prefix tests/node"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    expect = sync_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    config = {
        "users": {"alice": {"password": "alice", "claims": {
            "email": "alice@example.com", "name": "Alice Liddell", "roles": ["admin"]}}},
        "issuers": {REALM: {"profile": "keycloak"}},
    }
    with MockIdP(config=config) as idp, serve_pages(idp.url) as app:
        idp.add_client(CLIENT_ID, issuer=REALM, redirect_uris=[f"{app}/index.html"],
                       post_logout_redirect_uris=[f"{app}/bye.html"],
                       token_endpoint_auth_method="none", require_pkce=True,
                       pkce_methods=["S256"])
        realm = f"{idp.url}/realms/{REALM}"
        blocked: list[str] = []

        def only_loopback(route: Any) -> None:
            if urlsplit(route.request.url).hostname == "127.0.0.1":
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort("blockedbyclient")

        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                 args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
            page = None
            try:
                context = browser.new_context(service_workers="block")
                context.set_default_timeout(TIMEOUT_MS)
                context.route("**/*", only_loopback)
                page = context.new_page()
                status = page.locator("#status")

                # 1. login-required: straight to the realm's auth endpoint, mockidp's page
                page.goto(f"{app}/index.html")
                page.wait_for_url(f"{realm}/protocol/openid-connect/auth?*")
                auth = idp.calls(endpoint="authorize", issuer=REALM)[0].params
                assert auth["code_challenge_method"] == "S256" and auth["nonce"]
                assert auth["response_mode"] == "fragment"
                page.locator("button[name=pick][value=alice]").click()
                page.wait_for_url(f"{app}/index.html*")
                expect(status).to_have_attribute("data-state", "signed-in")
                seen = json.loads(page.locator("#out").inner_text())
                assert seen["authenticated"] is True and seen["hasAdmin"] is True
                token = seen["tokenParsed"]
                assert token["typ"] == "Bearer" and token["iss"] == realm
                assert token["preferred_username"] == "alice" and token["azp"] == CLIENT_ID
                assert seen["sessionId"] == token["sid"] == token["session_state"]
                assert seen["refreshTokenParsed"]["typ"] == "Refresh"
                assert seen["refreshTokenParsed"]["sid"] == token["sid"]
                assert seen["idTokenParsed"]["typ"] == "ID"
                assert "default-roles-myrealm" in seen["realmAccess"]["roles"]
                assert "view-profile" in seen["resourceAccess"]["account"]["roles"]
                code = idp.assert_called(1, endpoint="token", grant_type="authorization_code",
                                         client_id=CLIENT_ID)[0]
                assert code.params.get("code_verifier")
                # checkLoginIframe: the 3p-cookies check, then the status iframe
                idp.assert_called(endpoint="third_party_cookies_step1", issuer=REALM)
                idp.assert_called(endpoint="login_status_iframe", issuer=REALM)

                # 2. updateToken(-1): the status iframe says "unchanged", then a refresh
                page.evaluate("window.refresh()")
                expect(status).to_have_attribute("data-state", "refreshed")
                seen = json.loads(page.locator("#out").inner_text())
                assert seen["refreshed"] is True and not seen["events"]
                assert seen["tokenParsed"]["jti"] != token["jti"]
                assert seen["tokenParsed"]["sid"] == token["sid"]
                idp.assert_called(1, endpoint="token", grant_type="refresh_token",
                                  client_id=CLIENT_ID)
                checks = idp.calls(endpoint="login_status_init", issuer=REALM)
                assert checks and all(c.status == 204 for c in checks)
                assert checks[-1].params["client_id"] == CLIENT_ID
                assert checks[-1].params["origin"] == app

                # 3. logout: the realm's logout endpoint, back to the application
                with page.expect_response(lambda r: "/openid-connect/logout" in r.url) as out:
                    page.evaluate("window.signOut()")
                assert out.value.status == 302
                page.wait_for_url(f"{app}/bye.html*")
                ended = idp.assert_called(1, endpoint="endsession", issuer=REALM)[0]
                assert ended.params["client_id"] == CLIENT_ID
                assert ended.params.get("id_token_hint")

                # ...the session is gone: the application needs a login again
                page.goto(f"{app}/index.html")
                page.wait_for_url(f"{realm}/protocol/openid-connect/auth?*")
                expect(page.locator("button[name=pick][value=alice]")).to_be_visible()
                assert not blocked, f"the browser tried to leave 127.0.0.1: {blocked}"
                context.close()
            except BaseException:
                if page is not None:
                    with contextlib.suppress(Exception):
                        print(f"page at {page.url}:\n" + page.locator("body").inner_text(
                            timeout=2_000))
                raise
            finally:
                browser.close()

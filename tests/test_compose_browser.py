"""examples/compose/ in a real browser, without Docker: headless Chromium (Debian's, driven by
Playwright) loads the example SPA (examples/compose/spa/, as nginx would serve it, /api/ passed
on to the example API), signs in at mockidp, calls the API and signs out.

The two names of docker-compose are played by two names of this machine: the browser reaches
mockidp as ``localhost`` (docker-compose: the published ``http://localhost:8080``), the API as
``127.0.0.1`` (docker-compose: ``http://mockidp:8080``).  mockidp runs with the public URL
``http://localhost:PORT`` and the API with ``--issuer http://localhost:PORT/default
--internal-url http://127.0.0.1:PORT``, as in docker-compose.yml.  What changes from the files
as shipped: the ports (free ones) in config.js and in mockidp.toml's redirect URIs.

Skipped without /usr/bin/chromium or Playwright, except under ``.ci/run`` (``MOCKIDP_CI=1``).
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from examples.resource_server.app import create_app
from mockidp import MockIdP

from .conftest import ROOT
from .local_server import free_port

COMPOSE_DIR = ROOT / "examples" / "compose"
SPA_DIR = COMPOSE_DIR / "spa"
CHROMIUM = Path(os.environ.get("MOCKIDP_CHROMIUM", "/usr/bin/chromium"))
IN_CI = os.environ.get("MOCKIDP_CI") == "1"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 15_000
LOOPBACK = {"localhost", "127.0.0.1"}

StartResponse = Callable[..., Any]
Wsgi = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _need_browser() -> Any:
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


def nginx_csp() -> str:
    """The Content-Security-Policy nginx.conf sends with the app."""
    match = re.search(r'add_header Content-Security-Policy "([^"]+)" always;',
                      (COMPOSE_DIR / "nginx.conf").read_text())
    assert match, "nginx.conf sends no Content-Security-Policy"
    return match[1]


def spa_site(config_js: str, api: Wsgi, csp: str) -> Wsgi:
    """What nginx does in docker-compose: the files of spa/ (with nginx.conf's
    Content-Security-Policy), /api/ to the API."""

    def site(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path.startswith("/api/"):
            return api(environ, start_response)
        if path == "/config.js":
            body, kind = config_js.encode(), "text/javascript"
        else:
            file = (SPA_DIR / path.lstrip("/")).resolve()
            if file.is_dir():
                file = file / "index.html"
            if not file.is_relative_to(SPA_DIR) or not file.is_file():
                file = SPA_DIR / "index.html"  # nginx: try_files $uri $uri/ /index.html
            body = file.read_bytes()
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store"),
                                  ("Content-Security-Policy", csp)])
        return [body]

    return site


@contextmanager
def serving(app: Wsgi, port: int) -> Iterator[None]:
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="compose-spa", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_compose_spa_signs_in_and_calls_the_api(tmp_path: Path) -> None:
    sync_api = _need_browser()
    expect = sync_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    idp_port, spa_port = free_port(), free_port()
    public = f"http://localhost:{idp_port}"   # docker-compose: http://localhost:8080
    internal = f"http://127.0.0.1:{idp_port}"  # docker-compose: http://mockidp:8080
    spa = f"http://localhost:{spa_port}"       # docker-compose: http://localhost:8081

    shipped_config = (SPA_DIR / "config.js").read_text()
    assert 'issuer: "http://localhost:8080/default"' in shipped_config
    config_js = shipped_config.replace("http://localhost:8080", public)
    toml = (COMPOSE_DIR / "mockidp.toml").read_text()
    assert toml.count("http://localhost:8081/") == 2
    config = tmp_path / "mockidp.toml"
    config.write_text(toml.replace("http://localhost:8081/", f"{spa}/"))

    api = create_app(f"{public}/default", "orders-api", internal_url=internal)
    csp = nginx_csp()
    assert "script-src" not in csp and "default-src 'self'" in csp  # scripts: this origin only
    csp = csp.replace("http://localhost:8080", public)
    violations: list[str] = []
    blocked: list[str] = []

    def only_loopback(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("blockedbyclient")

    with MockIdP(config, port=idp_port, public_url=public) as idp, \
            serving(spa_site(config_js, api.wsgi_app, csp), spa_port), \
            sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        page = None
        try:
            context = browser.new_context(service_workers="block")
            context.set_default_timeout(TIMEOUT_MS)
            context.route("**/*", only_loopback)
            page = context.new_page()
            page.on("console", lambda message: violations.append(message.text)
                    if "Content Security Policy" in message.text else None)
            status = page.locator("#status")

            page.goto(f"{spa}/")
            expect(status).to_have_attribute("data-state", "anonymous")

            page.click("#sign-in")
            page.wait_for_url(f"{public}/default/authorize?*")
            pick = page.locator("button[name=pick][value=alice]")
            expect(pick.or_(page.locator("#username")).first).to_be_visible()
            if pick.count():
                pick.click()
            else:
                page.fill("#username", "alice")
                page.click("button[name=action][value=approve]")
            page.wait_for_url(f"{spa}/")
            expect(status).to_have_attribute("data-state", "signed-in")
            profile = json.loads(page.locator("#profile").inner_text())
            assert profile["sub"] == "alice"
            assert profile["iss"] == f"{public}/default"  # the browser's name for mockidp
            authorize = idp.assert_called(1, endpoint="authorize", client_id="spa")[0]
            assert authorize.params.get("nonce") and authorize.params.get("code_challenge")

            page.click("#call-api")
            expect(status).to_have_attribute("data-state", "api-ok")
            answer = page.locator("#api").inner_text()
            assert answer.startswith("200 ") and json.loads(answer[4:])["sub"] == "alice"

            with page.expect_response(lambda r: "/endsession" in r.url) as ended:
                page.click("#sign-out")
            assert ended.value.status in (302, 303), ended.value.status
            page.wait_for_url(f"{spa}/*")
            expect(status).to_have_attribute("data-state", "anonymous")
            assert not blocked, f"the browser tried to leave this machine: {blocked}"
            assert not violations, violations
            context.close()
        except BaseException:
            if page is not None:
                with contextlib.suppress(Exception):
                    print(f"SPA at {page.url}:\n" + page.locator("body").inner_text(
                        timeout=2_000))
            raise
        finally:
            browser.close()

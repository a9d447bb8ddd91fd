"""The provider's own requests to registered URLs (issue 11): a wall-clock deadline, a size
cap, no redirects, a bound on requests in flight, a rate limit on jwks_uri refetches, and one
generic error text whatever failed (no port scanning)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from mockidp import MockIdP
from mockidp.protocol.outbound import Outbound, OutboundFailed

from .test_client_assertions import assertion_claims, post_assertion, public_jwk, sign


class Script:
    """What the test server does: ``mode`` is ok, drip, redirect, big or hold."""

    mode = "ok"
    body = b'{"keys": []}'
    hits = 0
    release = threading.Event()


@pytest.fixture
def server() -> Iterator[tuple[str, type[Script]]]:
    script = type("S", (Script,), {"release": threading.Event(), "hits": 0})

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            script.hits += 1
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if script.mode == "redirect":
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if script.mode == "hold":
                script.release.wait(10)
            body = script.body if script.mode != "big" else b" " * (600 * 1024)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if script.mode == "drip":  # one byte every 0.4 s, for far longer than the deadline
                for byte in body[:40]:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.4)
                return
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/jwks", script
    finally:
        script.release.set()
        httpd.shutdown()
        httpd.server_close()


def test_a_dripping_answer_is_cut_at_the_deadline(server: tuple[str, type[Script]]) -> None:
    url, script = server
    script.mode = "drip"
    outbound = Outbound(deadline=1.0)
    with pytest.raises(OutboundFailed):  # bounded by the deadline, not by the drip (16 s)
        outbound.request("GET", url)


@pytest.mark.parametrize("mode", ["redirect", "big"])
def test_redirects_and_oversized_answers_fail(server: tuple[str, type[Script]],
                                              mode: str) -> None:
    url, script = server
    script.mode = mode
    with pytest.raises(OutboundFailed):
        Outbound().request("GET", url)
    assert script.hits == 1  # the redirect was not followed


def test_requests_in_flight_are_bounded_and_the_excess_refused_at_once(
        server: tuple[str, type[Script]]) -> None:
    url, script = server
    script.mode = "hold"
    outbound = Outbound(in_flight=1, deadline=8.0)
    held: list[BaseException] = []

    def hold() -> None:
        try:
            outbound.request("GET", url)
        except OutboundFailed as exc:
            held.append(exc)

    first = threading.Thread(target=hold, daemon=True)
    first.start()
    while script.hits == 0:
        time.sleep(0.01)
    with pytest.raises(OutboundFailed, match="in flight"):
        outbound.request("GET", url)
    script.release.set()
    first.join(10)
    assert not held  # the first one was answered
    assert outbound.request("GET", url).status == 200  # its slot is free again


def test_closed_ports_and_http_errors_read_alike(mockidp: MockIdP,
                                                 server: tuple[str, type[Script]]) -> None:
    url, script = server
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{spare.getsockname()[1]}/jwks"
    script.mode = "redirect"
    key = ec.generate_private_key(ec.SECP256R1())
    texts = set()
    for uri in (closed, url):
        mockidp.add_client("remote", jwks_uri=uri)
        answer = post_assertion(mockidp, sign(assertion_claims(mockidp, "remote"), key,
                                              alg="ES256"))
        assert answer.status_code == 401
        texts.add(answer.json()["error_description"].replace(uri, "URL"))
    assert len(texts) == 1, texts


def test_fresh_kids_cannot_make_the_provider_refetch_every_time(
        mockidp: MockIdP, server: tuple[str, type[Script]]) -> None:
    import json

    url, script = server
    key = ec.generate_private_key(ec.SECP256R1())
    script.body = json.dumps({"keys": [public_jwk(key, "known", "ES256")]}).encode()
    mockidp.add_client("remote", jwks_uri=url)
    for i in range(20):
        post_assertion(mockidp, sign(assertion_claims(mockidp, "remote"), key, alg="ES256",
                                     kid=f"fresh-{i}"))
    assert script.hits <= 3  # the first fetch and two refetches, not 20


def test_a_back_channel_receiver_that_drips_does_not_hold_the_logout(
        mockidp: MockIdP, server: tuple[str, type[Script]]) -> None:
    url, script = server
    script.mode = "drip"
    mockidp.add_client("app", "s", redirect_uris=["http://localhost/cb"],
                       backchannel_logout_uri=url)
    session = requests.Session()
    session.get(f"{mockidp.issuer_url()}/authorize", params={
        "client_id": "app", "response_type": "code", "scope": "openid",
        "redirect_uri": "http://localhost/cb", "login_hint": "alice"}, allow_redirects=False)
    code = session.get(f"{mockidp.issuer_url()}/authorize", params={
        "client_id": "app", "response_type": "code", "scope": "openid",
        "redirect_uri": "http://localhost/cb"}, allow_redirects=False).headers["Location"]
    requests.post(f"{mockidp.issuer_url()}/token", auth=("app", "s"), timeout=10, data={
        "grant_type": "authorization_code", "code": code.split("code=")[1].split("&")[0],
        "redirect_uri": "http://localhost/cb"})
    answer = session.get(f"{mockidp.issuer_url()}/endsession", timeout=10)  # not 16 s
    assert answer.status_code == 200
    [call] = mockidp.calls(endpoint="endsession")
    assert call.tokens["logout_token:app"]["delivery_error"] == "not delivered"

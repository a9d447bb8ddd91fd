"""The in-process server (`mockidp.httpserver`) that the pytest fixture and ``with MockIdP()``
run, spoken to over raw sockets: what real clients send besides the plain request (chunked
bodies, ``Expect: 100-continue``, absolute-form targets, odd methods, bodies too large) gets a
proper answer, and nothing kills the server or prints to the terminal."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator

import pytest
import requests

from mockidp import MockIdP

BASIC = "Basic " + base64.b64encode(b"svc:secret").decode()
FORM = b"grant_type=client_credentials"


@pytest.fixture(scope="module")
def idp() -> Iterator[MockIdP]:
    with MockIdP() as provider:
        yield provider


def _exchange(idp: MockIdP, raw: bytes, then: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` (and ``then`` after an interim 100 answer), return the final answer."""
    port = int(idp.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        if then:
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            interim, _, data = data.partition(b"\r\n\r\n")
            assert interim.startswith(b"HTTP/1.1 100"), interim
            sock.sendall(then)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def _token_request(extra: str, body: bytes) -> bytes:
    return (f"POST /default/token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {BASIC}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n{extra}\r\n").encode() + body


def test_a_plain_request_is_answered_in_one_piece_and_closed(idp: MockIdP) -> None:
    status, headers, body = _exchange(idp, _token_request(
        f"Content-Length: {len(FORM)}\r\n", FORM))
    assert status == 200
    assert headers["Connection"] == "close" and headers["Content-Length"] == str(len(body))
    assert headers["Cache-Control"] == "no-store" and "Date" in headers
    assert "access_token" in json.loads(body)


def test_a_chunked_body_is_decoded(idp: MockIdP) -> None:
    chunked = b"a\r\ngrant_type\r\n13\r\n=client_credentials\r\n0\r\n\r\n"
    status, _, body = _exchange(idp, _token_request("Transfer-Encoding: chunked\r\n", chunked))
    assert status == 200, body
    assert "access_token" in json.loads(body)


def test_expect_100_continue_gets_the_interim_answer_first(idp: MockIdP) -> None:
    status, _, body = _exchange(idp, _token_request(
        f"Content-Length: {len(FORM)}\r\nExpect: 100-continue\r\n", b""), then=FORM)
    assert status == 200, body


@pytest.mark.parametrize("headers", [
    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
    "Content-Length: five\r\n",
    "Content-Length: 5\r\nContent-Length: 6\r\n",
    "Transfer-Encoding: chunked\r\n",  # with a malformed chunk size below
])
def test_malformed_framing_is_a_400(idp: MockIdP, headers: str) -> None:
    status, _, _ = _exchange(idp, _token_request(headers, b"zz\r\nabc\r\n0\r\n\r\n"))
    assert status == 400
    assert requests.get(f"{idp.url}/default/jwks", timeout=10).status_code == 200


def test_a_body_over_the_limit_gets_its_413_not_a_reset(idp: MockIdP) -> None:
    big = b"x=" + b"a" * (300 * 1024)
    status, _, body = _exchange(idp, _token_request(f"Content-Length: {len(big)}\r\n", big))
    assert status == 413
    assert json.loads(body)["error"] == "invalid_request"


def test_an_absolute_form_target_and_an_escaped_path_reach_their_routes(idp: MockIdP) -> None:
    idp.add_user("ann@example.com")
    port = int(idp.url.rsplit(":", 1)[1])
    status, _, body = _exchange(idp, (
        f"GET http://127.0.0.1:{port}/default/jwks HTTP/1.1\r\nHost: x\r\n\r\n").encode())
    assert status == 200 and b'"keys"' in body
    status, _, body = _exchange(
        idp, b"DELETE /_mockidp/users/ann%40example.com HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status in (200, 204), body
    assert "ann@example.com" not in idp.issuer("default").users


def test_any_method_reaches_the_app_which_answers_405(idp: MockIdP) -> None:
    status, headers, body = _exchange(idp, b"PROPFIND /default/token HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 405
    assert "POST" in headers["Allow"]
    assert json.loads(body)["error"] == "invalid_request"


def test_an_underscore_header_cannot_pose_as_a_dash_header(idp: MockIdP) -> None:
    """``Authorization`` cannot be smuggled as ``Author_ization``-style look-alikes."""
    status, _, _ = _exchange(idp, (
        "POST /default/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
        f"x-www-form-urlencoded\r\nDPoP_: x\r\nContent-Length: {len(FORM)}\r\n\r\n"
    ).encode() + FORM)
    assert status == 401  # no client authentication at all: the odd header was dropped


def test_garbage_and_resets_neither_stop_the_server_nor_print(idp: MockIdP,
                                                              capfd: pytest.CaptureFixture[str]
                                                              ) -> None:
    port = int(idp.url.rsplit(":", 1)[1])
    status, _, _ = _exchange(idp, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n")
    assert status == 414
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"POST /default/token HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # a reset in the middle of the body
    assert requests.get(f"{idp.url}/default/jwks", timeout=10).status_code == 200
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# -- RFC 9112 framing refused with a status line, never a dropped connection ------------------

def _raw(idp: MockIdP, raw: bytes) -> bytes:
    port = int(idp.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_http11_without_host_is_400(idp: MockIdP) -> None:
    status, _, _ = _exchange(idp, b"GET /default/jwks HTTP/1.1\r\n\r\n")
    assert status == 400
    status, _, _ = _exchange(idp, b"GET /default/jwks HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert status == 400
    status, _, _ = _exchange(idp, b"GET /default/jwks HTTP/1.0\r\n\r\n")  # 1.0 needs none
    assert status == 200


def test_obs_fold_is_400(idp: MockIdP) -> None:
    status, _, _ = _exchange(idp, b"GET /default/jwks HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two"
                                  b"\r\n\r\n")
    assert status == 400


def test_an_unknown_transfer_coding_is_501(idp: MockIdP) -> None:
    status, _, _ = _exchange(idp, b"POST /default/token HTTP/1.1\r\nHost: x\r\n"
                                  b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n")
    assert status == 501


def test_a_non_ascii_content_length_is_400(idp: MockIdP) -> None:
    status, _, _ = _exchange(idp, "POST /default/token HTTP/1.1\r\nHost: x\r\n"
                                  "Content-Length: \u00b2\r\n\r\nab".encode())
    assert status == 400


def test_an_http2_request_line_gets_a_status_line(idp: MockIdP) -> None:
    answer = _raw(idp, b"GET /default/jwks HTTP/2.0\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 505 "), answer[:80]


def test_a_chunked_body_past_the_limit_is_refused_without_buffering_it(idp: MockIdP) -> None:
    # 1 MiB announced in one chunk: the server reads 64 KiB + 1 and the adapter answers 413
    chunk = b"x" * (1024 * 1024)
    port = int(idp.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /default/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
                     + f"{len(chunk):x}\r\n".encode() + chunk[:70000])
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 413 "), data[:80]
    assert b"application/json" in data

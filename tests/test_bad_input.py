"""Malformed input gets a clear 4xx in the RFC error form; the server stays up, state survives."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
import requests

from mockidp import MockIdP

from .conftest import REDIRECT, code_for, token_url


def raw_request(idp: MockIdP, payload: bytes) -> bytes:
    """Send raw bytes over a socket and return the whole answer."""
    parts = urlsplit(idp.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def stored(mockidp: MockIdP) -> dict:
    """A refresh token issued before the abuse, to prove nothing stored is lost."""
    code = code_for(mockidp)
    return requests.post(token_url(mockidp), auth=("web-app", "web-secret"),
                         data={"grant_type": "authorization_code", "code": code,
                               "redirect_uri": REDIRECT}).json()


def still_fine(idp: MockIdP, stored: dict) -> None:
    doc = requests.get(f"{idp.issuer_url()}/.well-known/openid-configuration")
    assert doc.status_code == 200
    check = requests.post(f"{idp.issuer_url()}/introspect",
                          data={"token": stored["refresh_token"]})
    assert check.json()["active"] is True


@pytest.mark.parametrize("header", [
    "Basic !!!not-base64!!!",
    "Basic " + "bm9jb2xvbg==",           # "nocolon"
    "Basic " + "//79",                    # not UTF-8
    "Basic",
])
def test_malformed_basic_header(mockidp: MockIdP, stored: dict, header: str) -> None:
    response = requests.post(token_url(mockidp), data={"grant_type": "client_credentials"},
                             headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    still_fine(mockidp, stored)


@pytest.mark.parametrize("path", ["/token", "/introspect", "/revoke", "/userinfo"])
def test_non_utf8_body(mockidp: MockIdP, stored: dict, path: str) -> None:
    response = requests.post(
        mockidp.issuer_url() + path, data=b"grant_type=client_credentials&x=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"}, auth=("a", "b"),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "UTF-8" in response.json()["error_description"]
    still_fine(mockidp, stored)


def test_non_utf8_percent_encoding_in_query(mockidp: MockIdP, stored: dict) -> None:
    response = requests.get(f"{mockidp.issuer_url()}/authorize?client_id=%ff%fe")
    assert response.status_code == 400 and "text/html" in response.headers["Content-Type"]
    still_fine(mockidp, stored)


def test_oversized_body_is_413(mockidp: MockIdP, stored: dict) -> None:
    body = b"grant_type=client_credentials&pad=" + b"a" * 200_000
    answer = raw_request(
        mockidp,
        b"POST /default/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode() + body,
    )
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(payload)["error"] == "invalid_request"
    still_fine(mockidp, stored)


@pytest.mark.parametrize("path", ["/token", "/introspect", "/revoke"])
def test_json_where_a_form_is_expected(mockidp: MockIdP, stored: dict, path: str) -> None:
    response = requests.post(mockidp.issuer_url() + path,
                             json={"grant_type": "client_credentials", "token": "x"},
                             auth=("a", "b"))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert "application/x-www-form-urlencoded" in body["error_description"]
    still_fine(mockidp, stored)


def test_too_many_parameters(mockidp: MockIdP, stored: dict) -> None:
    data = [(f"p{i}", "v") for i in range(500)]
    response = requests.post(token_url(mockidp), data=data, auth=("a", "b"))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    still_fine(mockidp, stored)


def test_wrong_method_is_405_with_allow(mockidp: MockIdP, stored: dict) -> None:
    response = requests.get(token_url(mockidp))
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert response.json()["error"] == "invalid_request"
    still_fine(mockidp, stored)


@pytest.mark.parametrize("path", ["/nothing-here", "/default/nope", "/_mockidp/x/token",
                                  "/bad%20name/jwks"])
def test_unknown_paths_are_404_json(mockidp: MockIdP, stored: dict, path: str) -> None:
    response = requests.get(mockidp.url + path)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    still_fine(mockidp, stored)


def test_garbage_request_line_does_not_kill_the_server(mockidp: MockIdP, stored: dict) -> None:
    answer = raw_request(mockidp, b"\x00\x01\x02 garbage\r\n\r\n")
    assert b" 400 " in answer.split(b"\r\n", 1)[0] or answer == b""
    still_fine(mockidp, stored)


def test_bearer_header_without_token(mockidp: MockIdP, stored: dict) -> None:
    response = requests.get(f"{mockidp.issuer_url()}/userinfo",
                            headers={"Authorization": "Bearer "})
    assert response.status_code == 401
    still_fine(mockidp, stored)


def test_error_descriptions_are_plain_ascii(mockidp: MockIdP, stored: dict) -> None:
    # RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E only
    response = requests.post(token_url(mockidp), auth=("a", "b"),
                             data={"grant_type": 'caf\u00e9"\\'})
    description = response.json()["error_description"]
    assert response.json()["error"] == "unsupported_grant_type"
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in description), description
    still_fine(mockidp, stored)

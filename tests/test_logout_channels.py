"""Back-Channel Logout 1.0 and Front-Channel Logout 1.0."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from mockidp import MockIdP

from .conftest import authorize, query_of, token_url

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class Receiver:
    """A client's back-channel logout endpoint: records every logout token POSTed to it."""

    def __init__(self) -> None:
        tokens: list[str] = []
        self.tokens = tokens

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                tokens.extend(form.get("logout_token", []))
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/logout"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def sign_in(idp: MockIdP, http: requests.Session, client_id: str) -> dict:
    response = authorize(idp, session=http, client_id=client_id,
                         redirect_uri="http://localhost/cb", response_type="code",
                         login_hint="alice", scope="openid")
    code = query_of(response.headers["Location"])["code"]
    return http.post(token_url(idp), auth=(client_id, "s"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost/cb",
    }).json()


def verify_logout_token(idp: MockIdP, token: str, audience: str) -> dict:
    """What a relying party must check (Back-Channel Logout §2.6)."""
    assert jwt.get_unverified_header(token)["typ"] == "logout+jwt"
    key = jwt.PyJWKClient(f"{idp.issuer_url()}/jwks").get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=audience,
                        issuer=idp.issuer_url(), options={"require": ["iat", "jti", "events"]})
    assert EVENT in claims["events"] and "nonce" not in claims
    assert "sub" in claims or "sid" in claims
    return claims


def test_back_channel_logout_token_reaches_every_client_of_the_session(
    mockidp: MockIdP, receiver: Receiver, http: requests.Session
) -> None:
    for name in ("app-a", "app-b"):
        mockidp.add_client(name, "s", redirect_uris=["http://localhost/cb"],
                           backchannel_logout_uri=receiver.url)
    first = sign_in(mockidp, http, "app-a")
    sign_in(mockidp, http, "app-b")  # single sign-on: same session
    sid = jwt.decode(first["id_token"], options={"verify_signature": False})["sid"]
    answer = http.get(f"{mockidp.issuer_url()}/endsession", allow_redirects=False)
    assert answer.status_code == 200
    assert len(receiver.tokens) == 2
    audiences = set()
    for token in receiver.tokens:
        claims = jwt.decode(token, options={"verify_signature": False})
        audiences.add(claims["aud"])
        claims = verify_logout_token(mockidp, token, claims["aud"])
        assert claims["sid"] == sid and claims["sub"] == "alice"
    assert audiences == {"app-a", "app-b"}
    [call] = mockidp.calls(endpoint="endsession")
    assert call.tokens["logout_token:app-a"]["delivered_status"] == 200


def test_back_channel_logout_from_id_token_hint_without_cookie(
    mockidp: MockIdP, receiver: Receiver, http: requests.Session
) -> None:
    mockidp.add_client("app", "s", redirect_uris=["http://localhost/cb"],
                       backchannel_logout_uri=receiver.url)
    tokens = sign_in(mockidp, http, "app")
    # a backend-driven logout: no browser cookie, only the hint
    answer = requests.get(f"{mockidp.issuer_url()}/endsession",
                          params={"id_token_hint": tokens["id_token"]})
    assert answer.status_code == 200 and len(receiver.tokens) == 1
    # the browser's session ended too
    after = authorize(mockidp, session=http, client_id="app", redirect_uri="http://localhost/cb",
                      response_type="code", prompt="none")
    assert query_of(after.headers["Location"])["error"] == "login_required"


def test_unreachable_back_channel_does_not_stop_the_logout(
    mockidp: MockIdP, http: requests.Session
) -> None:
    mockidp.add_client("app", "s", redirect_uris=["http://localhost/cb"],
                       post_logout_redirect_uris=["http://localhost/bye"],
                       backchannel_logout_uri="http://127.0.0.1:9/nobody-listens")
    sign_in(mockidp, http, "app")
    answer = http.get(f"{mockidp.issuer_url()}/endsession", allow_redirects=False,
                      params={"client_id": "app",
                              "post_logout_redirect_uri": "http://localhost/bye"})
    assert answer.status_code == 302 and answer.headers["Location"] == "http://localhost/bye"
    [call] = mockidp.calls(endpoint="endsession")
    assert call.tokens["logout_token:app"]["delivered_status"] is None


def test_front_channel_logout_page_loads_each_client_then_redirects(
    mockidp: MockIdP, http: requests.Session
) -> None:
    mockidp.add_client("app", "s", redirect_uris=["http://localhost/cb"],
                       post_logout_redirect_uris=["http://localhost/bye"],
                       frontchannel_logout_uri="http://localhost/fc-logout?x=1")
    tokens = sign_in(mockidp, http, "app")
    sid = jwt.decode(tokens["id_token"], options={"verify_signature": False})["sid"]
    page = http.get(f"{mockidp.issuer_url()}/endsession", allow_redirects=False, params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://localhost/bye",
        "state": "s1"})
    assert page.status_code == 200
    frames = re.findall(r'<iframe src="([^"]+)"', page.text)
    assert len(frames) == 1
    url = frames[0].replace("&amp;", "&")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("http://localhost/fc-logout?")
    assert query == {"x": ["1"], "iss": [mockidp.issuer_url()], "sid": [sid]}
    assert 'href="http://localhost/bye?state=s1"' in page.text


def test_discovery_advertises_both_logout_channels(mockidp: MockIdP) -> None:
    doc = requests.get(f"{mockidp.issuer_url()}/.well-known/openid-configuration").json()
    for key in ("backchannel_logout_supported", "backchannel_logout_session_supported",
                "frontchannel_logout_supported", "frontchannel_logout_session_supported"):
        assert doc[key] is True


def test_naming_a_client_without_its_session_sends_it_nothing(
    mockidp: MockIdP, receiver: Receiver, http: requests.Session
) -> None:
    # issue 11: endsession?client_id=X with no session POSTed a logout token to X's URL
    mockidp.add_client("app", "s", redirect_uris=["http://localhost/cb"],
                       backchannel_logout_uri=receiver.url)
    for _ in range(3):
        answer = requests.get(f"{mockidp.issuer_url()}/endsession",
                              params={"client_id": "app"}, timeout=10)
        assert answer.status_code == 200
    assert receiver.tokens == []
    sign_in(mockidp, http, "app")  # with its session, it is told
    http.get(f"{mockidp.issuer_url()}/endsession", params={"client_id": "app"})
    assert len(receiver.tokens) == 1

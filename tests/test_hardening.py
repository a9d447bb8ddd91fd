"""Hardening for shared environments (issue 11): bad input gets a 4xx naming what is wrong,
never a 500; pages where a click decides something cannot be framed by another site; ports
outside 0-65535 are refused naming the option or variable."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from mockidp import MockIdP, MockIdPError
from mockidp.core.errors import NotFound
from mockidp.core.settings import parse_settings

from .conftest import REDIRECT, query_of

CRLF_URIS = [REDIRECT + "%0d%0aSet-Cookie:%20evil=1", REDIRECT + "%0aX-Injected:%201",
             REDIRECT + "%09tab", "https://app.example/cb%0d"]


@pytest.mark.parametrize("uri", CRLF_URIS)
def test_control_characters_in_redirect_uri_are_refused_not_500(mockidp: MockIdP,
                                                                 uri: str) -> None:
    response = requests.get(
        f"{mockidp.issuer_url()}/authorize?client_id=anyone&response_type=code"
        f"&scope=openid&redirect_uri={uri}", allow_redirects=False, timeout=10)
    assert response.status_code == 400, response.text
    assert "evil" not in response.headers.get("Set-Cookie", "")
    assert "X-Injected" not in response.headers
    assert "redirect_uri" in response.text


@pytest.mark.parametrize("uri", CRLF_URIS)
def test_control_characters_in_post_logout_redirect_uri_are_refused(mockidp: MockIdP,
                                                                    uri: str) -> None:
    response = requests.get(f"{mockidp.issuer_url()}/endsession?post_logout_redirect_uri={uri}",
                            allow_redirects=False, timeout=10)
    assert response.status_code == 400, response.text
    assert "Location" not in response.headers
    assert "post_logout_redirect_uri" in response.text


def test_registration_refuses_a_redirect_uri_with_a_line_break(mockidp: MockIdP) -> None:
    response = requests.post(f"{mockidp.issuer_url()}/register", timeout=10,
                             json={"redirect_uris": ["https://app.example/cb\r\nX: 1"]})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"


def test_add_client_refuses_a_redirect_uri_with_a_line_break(mockidp: MockIdP) -> None:
    with pytest.raises(MockIdPError, match="redirect_uris"):
        mockidp.add_client("web", redirect_uris=["https://app.example/cb\n"])


def test_an_issuer_name_with_a_trailing_newline_does_not_exist(mockidp: MockIdP) -> None:
    with pytest.raises(NotFound):
        mockidp.issuer("tenant\n")
    response = requests.get(f"{mockidp.url}/tenant%0A/jwks", timeout=10)
    assert response.status_code == 404
    assert "tenant\n" not in mockidp.issuers()


def test_login_and_consent_pages_cannot_be_framed(mockidp: MockIdP) -> None:
    mockidp.add_client("framed", redirect_uris=[REDIRECT], consent=True)
    session = requests.Session()
    login = session.get(f"{mockidp.issuer_url()}/authorize?client_id=framed&response_type=code"
                        f"&scope=openid&redirect_uri={REDIRECT}", timeout=10)
    assert login.status_code == 200 and "<form" in login.text
    assert login.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in login.headers["Content-Security-Policy"]
    consent = session.get(f"{mockidp.issuer_url()}/authorize?client_id=framed"
                          f"&response_type=code&scope=openid&redirect_uri={REDIRECT}"
                          "&login_hint=alice", timeout=10)
    assert "Allow" in consent.text
    assert consent.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in consent.headers["Content-Security-Policy"]


def test_silent_renew_in_an_iframe_is_still_a_plain_redirect(mockidp: MockIdP) -> None:
    # prompt=none with a session answers a redirect (no page): nothing to forbid framing of
    session = requests.Session()
    first = session.get(f"{mockidp.issuer_url()}/authorize?client_id=renewer&response_type=code"
                        f"&scope=openid&redirect_uri={REDIRECT}&login_hint=alice",
                        allow_redirects=False, timeout=10)
    assert first.status_code == 302
    renew = session.get(f"{mockidp.issuer_url()}/authorize?client_id=renewer&response_type=code"
                        f"&scope=openid&redirect_uri={REDIRECT}&prompt=none",
                        allow_redirects=False, timeout=10)
    assert renew.status_code == 302 and "code=" in renew.headers["Location"]
    assert "X-Frame-Options" not in renew.headers


@pytest.mark.parametrize("port", [99999, 65536, -1, True, "8080"])
def test_mockidp_refuses_a_port_outside_the_range(port: object) -> None:
    with pytest.raises(MockIdPError, match=r"port: expected a port number from 0 to 65535"):
        MockIdP(port=port)  # type: ignore[arg-type]


def run_serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "mockidp.cli", "serve", *args], env=full,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("value", ["99999", "65536", "-1", "abc"])
def test_serve_refuses_a_port_outside_the_range_naming_the_option(value: str) -> None:
    done = run_serve("--port", value)
    assert done.returncode == 2
    assert "'--port'" in done.stderr and "from 0 to 65535" in done.stderr
    assert "MOCKIDP_PORT" not in done.stderr.split("Error:")[-1]


def test_serve_names_the_variable_a_bad_port_came_from() -> None:
    done = run_serve(env={"MOCKIDP_PORT": "abc"})
    assert done.returncode == 2
    assert "from MOCKIDP_PORT" in done.stderr and "'abc'" in done.stderr


def test_the_fixture_refuses_a_port_outside_the_range(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(mockidp):\n    pass\n")
    result = pytester.runpytest("--mockidp-port", "99999")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*mockidp_port (--mockidp-port): expected a port number*"])


def test_live_credentials_are_masked_in_the_journal_and_dashboard(mockidp: MockIdP) -> None:
    token_url = f"{mockidp.issuer_url()}/token"
    first = requests.post(token_url, auth=("svc", "s3cret"), timeout=10, data={
        "grant_type": "password", "username": "alice", "password": "pw",
        "scope": "openid offline_access"}).json()
    refresh, access = first["refresh_token"], first["access_token"]
    requests.post(token_url, auth=("svc", "s3cret"), timeout=10,
                  data={"grant_type": "refresh_token", "refresh_token": refresh})
    requests.post(f"{mockidp.issuer_url()}/introspect", auth=("svc", "s3cret"), timeout=10,
                  data={"token": access})
    requests.post(token_url, timeout=10, data={
        "grant_type": "authorization_code", "code": "c" * 43, "client_id": "svc",
        "code_verifier": "v" * 43, "redirect_uri": REDIRECT})
    used = mockidp.calls(endpoint="token", grant_type="refresh_token")[-1]
    assert used.params["refresh_token"] == f"{refresh[:4]}…{refresh[-4:]}"
    assert mockidp.calls(endpoint="introspect")[-1].params["token"] == \
        f"{access[:4]}…{access[-4:]}"
    coded = mockidp.calls(endpoint="token", grant_type="authorization_code")[-1]
    assert coded.params["code"] == "cccc…cccc" and coded.params["code_verifier"] == "vvvv…vvvv"
    assert mockidp.calls(endpoint="token", grant_type="password")[-1].params["password"] == "***"
    # what was minted is still shown, claims and all
    assert mockidp.calls(endpoint="token", grant_type="password")[-1].tokens[
        "access_token"]["sub"] == "alice"
    page = requests.get(f"{mockidp.url}/_mockidp/journal", timeout=10).text
    board = str(mockidp.dashboard())
    for secret in (refresh, access, "s3cret"):
        assert secret not in page and secret not in board


# -- no page of another site, and no DNS-rebinding host, can script the control API ---------

def control(idp: MockIdP, method: str, path: str, **kwargs: object) -> requests.Response:
    return requests.request(method, f"{idp.url}/_mockidp{path}", timeout=10,
                            **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "http://evil.example", "Content-Type": "application/json"},
    {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"},
    {"Origin": "null", "Content-Type": "text/plain"},
])
def test_a_cross_site_post_cannot_reset_or_approve(mockidp: MockIdP,
                                                   headers: dict[str, str]) -> None:
    mockidp.add_user("kept")
    kids = [k["kid"] for k in mockidp.jwks()["keys"]]
    for path in ("/reset", "/keys/rotate", "/device/approve", "/users"):
        answer = control(mockidp, "POST", path, headers=headers,
                         data=b"{}" if "json" in headers.get("Content-Type", "") else b"")
        assert answer.status_code in (400, 403), (path, answer.status_code)
        assert answer.json()["error"] in ("access_denied", "invalid_request")
    assert "kept" in mockidp.users()
    assert [k["kid"] for k in mockidp.jwks()["keys"]] == kids  # no rotation
    assert mockidp.calls(endpoint="token") == []


def test_an_empty_or_form_post_from_the_same_origin_is_refused_too(mockidp: MockIdP) -> None:
    mockidp.add_user("kept")
    empty = control(mockidp, "POST", "/reset")
    form = control(mockidp, "POST", "/device/deny", data={"user_code": "x"})
    for answer in (empty, form):
        assert answer.status_code == 400
        assert "application/json" in answer.json()["error_description"]
    assert "kept" in mockidp.users()
    assert control(mockidp, "POST", "/reset", json={}).status_code == 200
    assert "kept" not in mockidp.users()


def test_a_same_origin_json_post_is_answered(mockidp: MockIdP) -> None:
    own = mockidp.url
    answer = control(mockidp, "POST", "/users", json={"id": "ann"},
                     headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    assert answer.status_code == 201


@pytest.mark.parametrize(("method", "path"), [("GET", "/users"), ("POST", "/mint"),
                                              ("GET", "/journal")])
def test_a_rebinding_host_gets_nothing(mockidp: MockIdP, method: str, path: str) -> None:
    answer = control(mockidp, method, path, json={} if method == "POST" else None,
                     headers={"Host": f"attacker.example:{mockidp.url.rsplit(':', 1)[1]}"})
    assert answer.status_code == 403
    assert "attacker.example" in answer.json()["error_description"]
    assert "MOCKIDP_ALLOWED_HOSTS" in answer.json()["error_description"]
    page = requests.get(f"{mockidp.url}/", headers={"Host": "attacker.example"}, timeout=10)
    assert page.status_code == 403 and "<html" in page.text.lower()


def test_the_protocol_answers_any_host(mockidp: MockIdP) -> None:
    # containers reach the provider as http://mockidp:8080: the protocol is not guarded
    answer = requests.get(f"{mockidp.issuer_url()}/jwks", headers={"Host": "mockidp:8080"},
                          timeout=10)
    assert answer.status_code == 200


def test_allowed_hosts_and_loopback_names_are_answered() -> None:
    with MockIdP({"allowed_hosts": ["from-config"]}, allowed_hosts=["mockidp"]) as idp:
        port = idp.url.rsplit(":", 1)[1]
        for host in ("mockidp", "MockIdP", "from-config", "localhost", "app.localhost",
                     "127.0.0.2", "[::1]"):
            answer = control(idp, "GET", "/users", headers={"Host": f"{host}:{port}"})
            assert answer.status_code == 200, host
        assert control(idp, "GET", "/users", headers={"Host": "other"}).status_code == 403
    with MockIdP(public_url="https://idp.test", allowed_hosts=["*"]) as idp:
        assert control(idp, "GET", "/users", headers={"Host": "anything"}).status_code == 200
    with MockIdP(public_url="https://idp.test:8443") as idp:
        assert control(idp, "GET", "/users",
                       headers={"Host": "idp.test:8443"}).status_code == 200


def test_a_bad_allowed_hosts_value_names_the_field(tmp_path: object) -> None:
    with pytest.raises(MockIdPError, match="allowed_hosts"):
        MockIdP({"allowed_hosts": [1]})
    with pytest.raises(MockIdPError, match="allowed_hosts"):
        MockIdP(allowed_hosts="mockidp")


def test_with_a_control_token_the_token_is_the_protection() -> None:
    with MockIdP(control_token="t0ken") as idp:
        bearer = {"Authorization": "Bearer t0ken", "Origin": "http://tools.example",
                  "Host": "mockidp"}
        assert control(idp, "POST", "/users", json={"id": "x"},
                       headers=bearer).status_code == 201
        assert control(idp, "POST", "/reset", headers={"Origin": "http://evil.example"},
                       json={}).status_code == 401


def test_serve_takes_allowed_hosts_from_the_environment() -> None:
    import os
    import re

    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
    env.update(MOCKIDP_ALLOWED_HOSTS="mockidp, other", MOCKIDP_SERVER="werkzeug")
    process = subprocess.Popen([sys.executable, "-m", "mockidp.cli", "serve", "--port", "0"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            found = re.search(r"Issuer:\s+(http://[^/]+)/", line)
            if found:
                base = found.group(1)
                break
        for host, status in (("mockidp", 200), ("other:1", 200), ("third", 403)):
            answer = requests.get(f"{base}/_mockidp/users", headers={"Host": host}, timeout=10)
            assert answer.status_code == status, host
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_check_config_refuses_one_string_where_a_list_of_urls_is_expected(
        tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[clients.web]\nredirect_uris = "http://localhost/cb"\n')
    done = subprocess.run([sys.executable, "-m", "mockidp.cli", "check-config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    message = done.stdout + done.stderr
    assert "clients.web.redirect_uris: expected a list" in message
    assert '["http://localhost/cb"]' in message and "redirect_uris[0]" not in message
    with pytest.raises(MockIdPError, match=r"grant_types: expected a list"):
        MockIdP().add_client("app", grant_types="client_credentials")


def test_the_banner_control_url_answers_with_the_routes(mockidp: MockIdP) -> None:
    index = requests.get(f"{mockidp.url}/_mockidp/", timeout=10)
    assert index.status_code == 200
    body = index.json()
    assert body["openapi"] == "/_mockidp/openapi.json" and body["dashboard"] == "/"
    assert "POST /_mockidp/reset" in body["routes"] and "GET /_mockidp/users" in body["routes"]


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_serve_stops_on_sigint_and_sigterm_even_started_in_the_background(stop: str) -> None:
    import os
    import signal

    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "mockidp.cli", "serve", "--port", "0", "--server", "werkzeug"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # what `mockidp serve &` in a script does: the job starts with SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert process.stdout is not None
    banner = []
    for line in process.stdout:
        banner.append(line)
        if line.startswith("Server:"):
            break
    assert any(line.startswith("Dashboard:") for line in banner)
    assert "Ctrl-C" in banner[-1]
    process.send_signal(getattr(signal, stop))
    try:
        assert process.wait(timeout=15) == 0
    finally:
        process.kill()


def test_strict_mode_registration_needs_the_initial_access_token() -> None:
    evil = {"redirect_uris": ["https://evil.example/steal"]}
    with MockIdP({"strict": True}) as idp:  # no control token: registration is off
        off = requests.post(f"{idp.issuer_url()}/register", json=evil, timeout=10)
        assert off.status_code == 403 and off.json()["error"] == "access_denied"
        assert not idp.clients()
    with MockIdP({"strict": True}, control_token="iat-1") as idp:
        anonymous = requests.post(f"{idp.issuer_url()}/register", json=evil, timeout=10)
        assert anonymous.status_code == 401
        assert anonymous.json()["error"] == "invalid_token"
        assert "invalid_token" in anonymous.headers["WWW-Authenticate"]
        wrong = requests.post(f"{idp.issuer_url()}/register", json=evil, timeout=10,
                              headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and not idp.clients()
        done = requests.post(f"{idp.issuer_url()}/register", timeout=10,
                             json={"redirect_uris": ["https://app.example/cb"]},
                             headers={"Authorization": "Bearer iat-1"})
        assert done.status_code == 201 and done.json()["client_id"] in idp.clients()
    with MockIdP() as idp:  # permissive: open registration, as before
        assert requests.post(f"{idp.issuer_url()}/register", json=evil,
                             timeout=10).status_code == 201


def test_chunked_bodies_reach_the_hot_endpoints_under_granian() -> None:
    # issue 11: Go, Java and Node clients send bodies of unknown length chunked; granian
    # used to hand the token endpoint an empty body ("missing 'grant_type'")
    import os
    import re
    import socket

    pytest.importorskip("granian")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "mockidp.cli", "serve", "--port", "0", "--server", "granian"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            found = re.search(r"Issuer:\s+http://127\.0\.0\.1:(\d+)/", line)
            if found:
                port = int(found.group(1))
                break
        body = b"grant_type=client_credentials"
        request = (b"POST /default/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Authorization: Basic YTpi\r\nConnection: close\r\n"
                   b"Content-Type: application/x-www-form-urlencoded\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n"
                   + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        data = b""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
        assert b'"access_token"' in data
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_the_control_prefix_without_its_slash_leads_to_the_index(mockidp: MockIdP) -> None:
    answer = requests.get(f"{mockidp.url}/_mockidp", timeout=10)
    assert answer.status_code == 200 and answer.json()["service"] == "mockidp control API"
    assert answer.history and answer.history[0].status_code == 308


def test_the_delays_of_several_matching_rules_are_capped_together() -> None:
    from mockidp.scripting.effects import MAX_DELAY
    from mockidp.scripting.rules import RuleBook, RuleContext, parse_rule

    book = RuleBook()
    for i in range(4):
        book.add(parse_rule({"id": f"slow-{i}", "endpoint": "token", "delay": 200,
                             "times": "always"}))
    context = RuleContext(issuer="default", endpoint="token", client_id=None,
                          grant_type=None, scope=(), user=None, params={})
    assert book.before(context).delay == MAX_DELAY == 300  # not 800
    with pytest.raises(MockIdPError, match="at most 300 seconds"):
        parse_rule({"endpoint": "token", "delay": 301})


def test_the_login_page_offers_users_below_only_when_there_are_some() -> None:
    url = ("/authorize?client_id=web&response_type=code&scope=openid"
           f"&redirect_uri={REDIRECT}")
    with MockIdP({"interactive_login": True}) as idp:
        page = requests.get(idp.issuer_url() + url, timeout=10).text
        assert "type one and press Sign in." in page and "pick a user below" not in page
    with MockIdP({"interactive_login": True, "users": {"alice": {}}}) as idp:
        page = requests.get(idp.issuer_url() + url, timeout=10).text
        assert "pick a user below" in page


def test_issuers_made_on_first_use_are_forgotten_by_reset_and_not_persisted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with MockIdP({"issuers": {"declared": {}}}, keys_dir=tmp_path) as idp:
        for name in ("x1", "x2", "declared"):
            assert requests.get(f"{idp.url}/{name}/jwks", timeout=10).status_code == 200
        assert {"x1", "x2", "declared", "default"} <= set(idp.issuers())
        idp.reset()
        assert "x1" not in idp._issuers and "declared" in idp._issuers
        assert set(idp.issuers()) == {"default", "declared"}
    assert {p.name for p in tmp_path.iterdir()} == {"default", "declared"}
    # a folder left by an older version is reported in one line, not loaded
    (tmp_path / "old-anonymous").mkdir()
    with caplog.at_level("WARNING", logger="mockidp"):
        MockIdP(keys_dir=tmp_path).load_keys()
    [line] = [r.getMessage() for r in caplog.records if "belong to no declared" in r.getMessage()]
    assert "old-anonymous" in line


def test_unauthenticated_requests_cannot_grow_the_stores_without_bound() -> None:
    with MockIdP({"store_limit": 50, "interactive_login": True}) as idp:
        token_url = f"{idp.issuer_url()}/token"
        for i in range(120):
            requests.post(token_url, auth=("anyone", "x"), timeout=10, data={
                "grant_type": "password", "username": f"u{i}", "password": "p",
                "scope": "openid offline_access"})
            requests.get(f"{idp.issuer_url()}/authorize", timeout=10, allow_redirects=False,
                         params={"client_id": "anyone", "response_type": "code",
                                 "scope": "openid", "redirect_uri": REDIRECT,
                                 "login_hint": f"u{i}"})
            requests.get(f"{idp.issuer_url()}/authorize", timeout=10, allow_redirects=False,
                         params={"client_id": "anyone", "response_type": "code",
                                 "scope": "openid", "redirect_uri": REDIRECT})
        counts = idp.issuer().store.counts()
        for kind in ("refresh_tokens", "sessions", "codes", "interactions"):
            assert 0 < counts[kind] <= 50, (kind, counts)
        # the newest refresh token still works, and reuse still revokes its family
        last = requests.post(token_url, auth=("anyone", "x"), timeout=10, data={
            "grant_type": "password", "username": "z", "password": "p",
            "scope": "offline_access"}).json()["refresh_token"]
        used = {"grant_type": "refresh_token", "refresh_token": last}
        new = requests.post(token_url, auth=("anyone", "x"), data=used, timeout=10).json()
        assert requests.post(token_url, auth=("anyone", "x"), data=used,
                             timeout=10).json()["error"] == "invalid_grant"
        assert requests.post(token_url, auth=("anyone", "x"), timeout=10, data={
            "grant_type": "refresh_token", "refresh_token": new["refresh_token"]}
        ).json()["error"] == "invalid_grant"  # the family went with the reuse
    with pytest.raises(MockIdPError, match="store_limit: expected a whole number >= 1"):
        MockIdP({"store_limit": 0})


def test_a_rotation_cut_between_its_two_writes_leaves_one_active_key(tmp_path: Path) -> None:
    import shutil

    import jwt as pyjwt

    first = MockIdP(keys_dir=tmp_path)
    first.load_keys()
    thumb = next(k["kid"] for k in first.jwks()["keys"] if k["alg"] == "RS256")
    # the state a kill -9 leaves after rotate()'s first write: the old key copied to
    # previous/, the active file not yet replaced
    previous = tmp_path / "default" / "previous"
    previous.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "default" / "rsa.pem", previous / f"rsa-{thumb}.pem")
    with MockIdP(keys_dir=tmp_path) as restarted:
        kids = [k["kid"] for k in restarted.jwks()["keys"]]
        assert len(kids) == len(set(kids)), kids  # each kid once
        restarted.retire_keys()  # "retire all" retires rotated-out keys only
        token = restarted.mint("alice", audience="api")
        jwks = pyjwt.PyJWKClient(f"{restarted.issuer_url()}/jwks")
        key = jwks.get_signing_key_from_jwt(token)
        assert pyjwt.decode(token, key.key, algorithms=["RS256"], audience="api")["sub"] == \
            "alice"
    assert not list(previous.glob("rsa-*.pem"))  # the stale copy is gone


def test_the_journal_is_bounded_by_bytes_evicting_the_oldest() -> None:
    """1,000 token requests each carrying a 60 KB scope (which the access token repeats, so
    the cap on parameters alone cannot keep it small): the journal served stays within
    ``journal_bytes`` (default 8 MiB), the oldest entries gone, the newest kept."""
    big = "s" * 60_000
    with MockIdP() as idp, requests.Session() as http:
        token_url = f"{idp.issuer_url()}/token"
        for i in range(1000):
            answer = http.post(token_url, auth=("app", "x"), timeout=10, data={
                "grant_type": "client_credentials", "scope": f"n{i:04d} {big}"})
            assert answer.status_code == 200, answer.text[:200]
        served = http.get(f"{idp.url}/_mockidp/journal", timeout=30)
        assert len(served.content) <= 8 * 1024 * 1024  # was 115 MiB
        assert idp.journal.max_bytes == 8 * 1024 * 1024
        assert idp.journal.bytes <= idp.journal.max_bytes
        calls = served.json()["calls"]
        assert 50 < len(calls) < 1000  # some were evicted, by bytes (journal_size is 1000)
        kept = [c["tokens"]["access_token"]["scope"][:5] for c in calls]
        assert kept == [f"n{i:04d}" for i in range(1000 - len(calls), 1000)]  # the newest
        assert [c["seq"] for c in calls] == sorted(c["seq"] for c in calls)


def test_a_long_parameter_is_journaled_cut_around_its_length_and_still_masked() -> None:
    """A 60 KB parameter is kept as its first and last 2,000 characters around a marker
    with its length, so 1,000 of them fit in a 5 MiB journal (they made 58 MiB); a long
    credential still shows only its ends, a secret nothing."""
    junk = "j" + "a" * 59_998 + "z"
    with MockIdP() as idp, requests.Session() as http:
        token_url = f"{idp.issuer_url()}/token"
        for _ in range(1000):
            assert http.post(token_url, auth=("app", "x"), timeout=10, data={
                "grant_type": "client_credentials", "x": junk}).status_code == 200
        served = http.get(f"{idp.url}/_mockidp/journal", timeout=30)
        calls = served.json()["calls"]
        assert len(calls) == 1000 and len(served.content) < 5 * 1024 * 1024
        value = calls[-1]["params"]["x"]
        assert len(value) <= 4096 and "[60000 characters, middle cut]" in value
        assert value.startswith("jaaa") and value.endswith("aaaz")
        code = "c0de" + "k" * 20_000 + "last"
        http.post(token_url, timeout=10, data={
            "grant_type": "authorization_code", "code": code, "client_id": "app",
            "client_secret": "S" * 20_000, "code_verifier": "v" * 20_000})
        [call] = idp.calls(grant_type="authorization_code")
        assert call.params["code"] == "c0de…last"
        assert call.params["client_secret"] == "***"
        assert call.params["code_verifier"] == "vvvv…vvvv"


@pytest.mark.parametrize("bad", [0, 1023, "8MiB", True, 1.5e7])
def test_a_bad_journal_bytes_is_refused_naming_the_field(bad: object) -> None:
    with pytest.raises(MockIdPError, match=r"^c\.toml: journal_bytes: expected a whole number "
                                           r"of bytes >= 1024, got "):
        parse_settings({"journal_bytes": bad}, "c.toml")
    assert MockIdP({"journal_bytes": 4096}).journal.max_bytes == 4096


def test_revocations_stay_within_store_limit_expired_first_then_the_soonest_to_expire() -> None:
    """Revoked access tokens are kept until the token expires; past ``store_limit`` the
    expired go first, then those that expire soonest: the live revocations kept are refused
    by introspection, and the count stays at most the limit."""
    with MockIdP({"store_limit": 50}) as idp, requests.Session() as http:
        base = idp.issuer_url()
        store = idp.issuer().store

        def revoke(expires_in: int) -> str:
            token = idp.mint("alice", client_id="app", expires_in=expires_in)
            assert http.post(f"{base}/revoke", auth=("app", "x"), timeout=10,
                             data={"token": token}).status_code == 200
            return token

        def active(token: str) -> bool:
            return bool(http.post(f"{base}/introspect", auth=("app", "x"), timeout=10,
                                  data={"token": token}).json()["active"])

        short = [revoke(30) for _ in range(30)]
        assert not active(short[0])
        idp.set_clock(advance=60)  # the first 30 revoked tokens have expired
        long = [revoke(3600) for _ in range(50)]
        assert store.counts()["revoked_access_tokens"] == 50  # the expired ones went
        assert not any(active(t) for t in long)  # no live revocation was forgotten
        soon = [revoke(600) for _ in range(20)]  # past the limit: these expire soonest ...
        later = [revoke(7200) for _ in range(20)]  # ... then the first of ``long``
        assert store.counts()["revoked_access_tokens"] == 50
        assert not any(active(t) for t in later + long[20:])
        # forgotten, those closest to their expiry: accepted again until they expire
        assert all(active(t) for t in soon + long[:20])


def test_the_clients_of_login_sessions_stay_within_store_limit_the_newest_kept() -> None:
    import jwt as pyjwt

    with MockIdP({"store_limit": 20, "interactive_login": False}) as idp, \
            requests.Session() as http:
        base = idp.issuer_url()
        sids = []
        for i in range(60):  # a new login session each time (no cookie is sent back)
            http.cookies.clear()
            location = http.get(f"{base}/authorize", timeout=10, allow_redirects=False, params={
                "client_id": "app", "response_type": "code", "scope": "openid",
                "redirect_uri": REDIRECT, "login_hint": f"u{i}", "nonce": "n"}
            ).headers["Location"]
            code = query_of(location)["code"]
            tokens = http.post(f"{base}/token", auth=("app", "x"), timeout=10, data={
                "grant_type": "authorization_code", "code": code,
                "redirect_uri": REDIRECT}).json()
            sids.append(pyjwt.decode(tokens["id_token"], options={"verify_signature": False})[
                "sid"])
        store = idp.issuer().store
        assert store.counts()["session_clients"] <= 20  # was one per session ever made
        assert store.take_session_clients(sids[-1]) == {"app"}  # the newest is kept
        assert store.take_session_clients(sids[0]) == set()  # the oldest went


def test_replay_caches_and_grant_token_lists_stay_within_the_limit() -> None:
    """A replay cache keeps at most ``limit`` keys (the soonest to expire go), and the
    access tokens remembered per grant at most ``limit`` grants (the one used longest ago
    goes): revoking a recent grant still revokes its access tokens."""
    from mockidp.core.records import RefreshRecord
    from mockidp.core.stores import MemoryStore

    store = MemoryStore(limit=50)
    now = 1000.0
    for i in range(300):
        assert store.first_use("assertion", f"jti-{i}", now + 60 + i, now)
    assert store.counts()["replay_cache"] == 50
    assert not store.first_use("assertion", "jti-299", now + 400, now)  # still a replay
    for i in range(300):
        store.note_access_token(f"grant-{i}", f"at-{i}", now + 3600, now)
    assert store.counts()["grant_families"] == 50
    record = RefreshRecord(client_id="app", sub="s", user_id=None, scopes=(), audience=(),
                           login_claims={}, auth_time=None, session_id=None, nonce=None,
                           expires_at=now + 3600, issued_at=now, family="grant-299")
    store.put_refresh("rt", record, now)
    store.revoke_refresh("rt", now)
    assert store.is_revoked("at-299") and not store.is_revoked("at-0")


@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 40), st.integers(0, 3)),
                max_size=60), st.integers(1, 5))
def test_the_bounded_until_map_is_expired_first_then_soonest_oldest(
        puts: list[tuple[int, int, int]], limit: int) -> None:
    """`_Until`'s heap keeps exactly what a scan would: each put drops the expired, then
    while past ``limit`` the soonest to expire, the one set first among equals."""
    from mockidp.core.stores import _Until

    bounded = _Until()
    model: dict[str, tuple[float, int]] = {}  # key -> (until, when it was set)
    now = 0.0
    for order, (key_number, until_offset, step) in enumerate(puts):
        now += step
        key, until = f"k{key_number}", now + until_offset
        bounded.put(key, until, now, limit)
        if key not in model or model[key][0] < until:
            model[key] = (until, order)
            model = {k: v for k, v in model.items() if now < v[0]}
            while len(model) > limit:
                del model[min(model, key=model.__getitem__)]
        assert bounded.items == {k: v[0] for k, v in model.items()}


def test_a_full_store_sweeps_the_expired_first_without_a_scan_at_every_put() -> None:
    """Past the limit the expired records go first; with every record live the oldest go,
    and the scan for expired ones runs once per limit/16 puts, not at each one."""
    from mockidp.core.stores import _Expiring

    @dataclass
    class Record:
        expires_at: float

    store: _Expiring[Record] = _Expiring()
    for i in range(160):  # every other one expires at 10
        store.put(f"r{i}", Record(10.0 if i % 2 else 1e9), 0.0, 160)
    store.put("new", Record(1e9), 20.0, 160)
    assert len(store) == 81 and "r0" in store.items and "r1" not in store.items
    sweeps = 0
    original = store.sweep

    def counting(now: float) -> None:
        nonlocal sweeps
        sweeps += 1
        original(now)

    store.sweep = counting  # type: ignore[method-assign]
    for i in range(400):
        store.put(f"live{i}", Record(1e9), 20.0, 160)
    assert len(store) == 160 and "live399" in store.items and "r0" not in store.items
    assert sweeps <= 400 // 10 + 2  # was 400: one full scan per put

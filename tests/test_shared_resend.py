"""A command that Redis ran but whose answer was lost is sent again by redis-py (after a
reconnect); on the shared store it must still take effect once (`mockidp.shared.once`).

Each test puts a proxy that loses one answer (tests/losing_proxy.py) between a real
redis-server and two replicas (``MockIdP(store=...)``, each serving HTTP), loses the answer to
one command, and checks that the request still got the first run's answer and nothing
happened twice: a code redeemed once is not read as a replay, a refresh token rotated once is
not read as reused (its family stays alive), a ``times = 1`` rule fires once, the clock
advances once, and an exchange is in the journal once.  Each fails without the memo: the
resend runs the script a second time (and with no resend the request answers 503 though
Redis did the work: the code spent, the rule's time taken)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from mockidp import MockIdP

from .losing_proxy import LosingProxy, losing_proxy
from .redis_server import RedisServer

CONFIG = Path(__file__).resolve().parent.parent / "fixtures" / "config.toml"
REDIRECT = "http://localhost:3000/callback"
WEB_APP = ("web-app", "web-secret")
CC = {"grant_type": "client_credentials", "client_id": "svc", "client_secret": "s"}
TIMEOUT = 10


@pytest.fixture
def proxy(redis_server: RedisServer) -> Iterator[LosingProxy]:
    with losing_proxy(redis_server.port) as proxy:
        yield proxy


@pytest.fixture
def replicas(proxy: LosingProxy) -> Iterator[tuple[MockIdP, MockIdP]]:
    with MockIdP(CONFIG, store=proxy.url(), public_url="http://idp.example") as a, \
            MockIdP(CONFIG, store=proxy.url(), public_url="http://idp.example") as b:
        yield a, b


def code_at(idp: MockIdP) -> str:
    response = requests.get(f"{idp.url}/default/authorize", allow_redirects=False,
                            timeout=TIMEOUT, params={
                                "client_id": "web-app", "redirect_uri": REDIRECT,
                                "response_type": "code", "login_hint": "alice",
                                "scope": "openid"})
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def token_at(idp: MockIdP, data: dict[str, str],
             auth: tuple[str, str] | None = WEB_APP) -> requests.Response:
    return requests.post(f"{idp.url}/default/token", data=data, auth=auth, timeout=TIMEOUT)


def redeem(idp: MockIdP, code: str) -> requests.Response:
    return token_at(idp, {"grant_type": "authorization_code", "code": code,
                          "redirect_uri": REDIRECT})


def test_a_code_whose_redemption_answer_was_lost_is_redeemed_once(
        replicas: tuple[MockIdP, MockIdP], proxy: LosingProxy) -> None:
    a, b = replicas
    code = code_at(a)
    proxy.lose_next(b"EVALSHA", b"{default}:", code.encode())
    answer = redeem(b, code)
    assert proxy.lost.is_set()
    assert answer.status_code == 200, answer.text  # not "already used": the first run's answer
    assert {"access_token", "id_token", "refresh_token"} <= answer.json().keys()
    replay = redeem(a, code)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def test_a_refresh_token_whose_rotation_answer_was_lost_is_not_reused(
        replicas: tuple[MockIdP, MockIdP], proxy: LosingProxy) -> None:
    a, b = replicas
    refresh = redeem(a, code_at(a)).json()["refresh_token"]
    proxy.lose_next(b"EVALSHA", b"{default}:", refresh.encode())
    rotated = token_at(b, {"grant_type": "refresh_token", "refresh_token": refresh})
    assert proxy.lost.is_set()
    assert rotated.status_code == 200, rotated.text
    newest = token_at(a, {"grant_type": "refresh_token",
                          "refresh_token": rotated.json()["refresh_token"]})
    assert newest.status_code == 200, newest.text  # the family was not revoked as reused
    again = token_at(b, {"grant_type": "refresh_token", "refresh_token": refresh})
    assert again.json()["error"] == "invalid_grant"  # a real reuse is still detected


def test_a_rule_whose_claim_answer_was_lost_fires_its_one_time(
        replicas: tuple[MockIdP, MockIdP], proxy: LosingProxy) -> None:
    a, b = replicas
    rule = a.add_rule(endpoint="token", error="invalid_scope", times=1)
    proxy.lose_next(b"EVALSHA", b"@rules:fired", rule.id.encode())
    first = token_at(b, CC, None)
    assert proxy.lost.is_set()
    assert first.status_code == 400 and first.json()["error"] == "invalid_scope"
    assert [token_at(idp, CC, None).status_code for idp in (a, b)] == [200, 200]
    assert [r.fired for r in b.list_rules()] == [1]


def test_a_clock_advance_whose_answer_was_lost_advances_once(
        replicas: tuple[MockIdP, MockIdP], proxy: LosingProxy) -> None:
    a, b = replicas
    a.set_clock(freeze=1_900_000_000)
    proxy.lose_next(b"EVALSHA", b"@state", b"3600.0")
    b.set_clock(advance=3600)
    assert proxy.lost.is_set()
    assert a.clock_state()["now"] == b.clock_state()["now"] == 1_900_003_600


def test_an_exchange_whose_journal_answer_was_lost_is_recorded_once(
        replicas: tuple[MockIdP, MockIdP], proxy: LosingProxy) -> None:
    a, b = replicas
    marker = "scope-marker-7f3a"
    proxy.lose_next(b"EVALSHA", b"@journal", marker.encode())
    assert token_at(b, {**CC, "scope": marker}, None).status_code in (200, 400)
    recorded = [c for c in a.calls() if c.params.get("scope") == marker]
    assert proxy.lost.is_set()
    assert len(recorded) == 1, recorded

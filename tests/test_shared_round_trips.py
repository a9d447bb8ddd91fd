"""The Redis cost of a token request through the real provider with `RedisIssuerStore` as its
issuer's store: round trips counted at the redis-py client (a pipeline or script is one),
for client credentials (the benchmark's request) and a refresh-token rotation, and the
same tokens as in memory.  With the whole shared state (``MockIdP(store=url)``, its bus
listening) a steady client-credentials request costs none on its own thread: the journal
entry is sent by the background sender, many in one pipeline."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from mockidp import MockIdP
from mockidp.profiles.generic import GENERIC
from mockidp.protocol.issuer import Issuer
from mockidp.shared.connection import connect
from mockidp.shared.issuer_store import redis_issuer_store

from .redis_server import RedisServer

CONFIG = {"clients": {"svc": {"secret": "svc-secret", "audience": ["api"]}},
          "users": {"alice": {"password": "pw"}}}


class Counted:
    """Counts the round trips of a `redis.Redis`: each command, and each pipeline once."""

    def __init__(self, client: Any) -> None:
        self.trips: list[str] = []
        self.background: list[str] = []  # those of the bus and the journal's sender
        command, pipeline = client.execute_command, client.pipeline

        def note(trip: str) -> None:
            name = threading.current_thread().name
            (self.background if name.startswith("mockidp-") else self.trips).append(trip)

        def execute_command(*args: Any, **options: Any) -> Any:
            note(str(args[0]))
            return command(*args, **options)

        def counted_pipeline(*args: Any, **options: Any) -> Any:
            pipe = pipeline(*args, **options)
            execute = pipe.execute

            def run(*a: Any, **k: Any) -> Any:
                note("PIPELINE " + " ".join(str(c[0][0]) for c in pipe.command_stack))
                return execute(*a, **k)

            pipe.execute = run
            return pipe

        client.execute_command, client.pipeline = execute_command, counted_pipeline


@pytest.fixture
def served(redis_server: RedisServer) -> Iterator[tuple[MockIdP, Counted]]:
    idp = MockIdP(CONFIG)
    client = connect(redis_server.url)
    settings = idp.settings.issuer("default", GENERIC.defaults)
    store = redis_issuer_store(client, uuid.uuid4().hex, "default", settings.users,
                               settings.clients, idp.settings.store_limit)
    idp._issuers["default"] = Issuer("default", settings, None, store=store)
    counted = Counted(client)
    idp.start()
    try:
        yield idp, counted
    finally:
        idp.stop()


def client_credentials(idp: MockIdP) -> dict[str, Any]:
    answer = requests.post(f"{idp.url}/default/token", timeout=10, auth=("svc", "svc-secret"),
                           data={"grant_type": "client_credentials", "scope": "read"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_client_credentials_request_costs_one_round_trip(
        served: tuple[MockIdP, Counted]) -> None:
    idp, counted = served
    client_credentials(idp)  # the first reads the users and clients, with their version
    assert counted.trips == ["PIPELINE GET HGETALL"]
    for _ in range(3):
        counted.trips.clear()
        assert client_credentials(idp)["token_type"] == "Bearer"
        assert counted.trips == ["GET"]  # the version of the users and clients: unchanged
    idp.add_client("other", secret="x")
    assert counted.trips[-1] == "PIPELINE HSET SET"  # the client, a new version
    counted.trips.clear()
    client_credentials(idp)  # after a change: read again, once
    assert counted.trips == ["GET", "PIPELINE GET HGETALL"]


@pytest.fixture
def whole(redis_server: RedisServer) -> Iterator[tuple[MockIdP, Counted]]:
    with MockIdP(CONFIG, store=redis_server.url) as idp:
        assert idp.state.trusted()  # type: ignore[attr-defined]
        yield idp, Counted(idp.state.client)  # type: ignore[attr-defined]


def test_with_the_shared_state_a_client_credentials_request_costs_none(
        whole: tuple[MockIdP, Counted]) -> None:
    idp, counted = whole
    client_credentials(idp)  # the first reads the state hash, the users and clients
    counted.trips.clear()
    for _ in range(5):
        assert client_credentials(idp)["token_type"] == "Bearer"
    assert counted.trips == []  # no round trip on the request's thread
    assert len(idp.calls(endpoint="token")) == 6  # the journal: sent, and read back whole
    idp.add_client("other", secret="x")  # a change: every process drops its copies
    counted.trips.clear()
    client_credentials(idp)
    assert counted.trips == ["HGETALL", "GET", "PIPELINE GET HGETALL"]  # read again, once
    counted.trips.clear()
    client_credentials(idp)
    assert counted.trips == []


def refresh(idp: MockIdP, token: str) -> requests.Response:
    return requests.post(f"{idp.url}/default/token", timeout=10, auth=("svc", "svc-secret"),
                         data={"grant_type": "refresh_token", "refresh_token": token})


def test_a_refresh_rotation_costs_seven_round_trips(served: tuple[MockIdP, Counted]) -> None:
    idp, counted = served
    first = requests.post(f"{idp.url}/default/token", timeout=10, auth=("svc", "svc-secret"),
                          data={"grant_type": "password", "username": "alice",
                                "password": "pw", "scope": "openid offline_access"}).json()
    second = refresh(idp, first["refresh_token"]).json()  # every script used once: loaded
    counted.trips.clear()
    answer = refresh(idp, second["refresh_token"])
    assert answer.status_code == 200, answer.text
    # the token read for the rules (peek) and again for its DPoP binding; the clients'
    # version; the rotation; the users' version (find_user); the new access token joins
    # the grant; the new refresh token
    assert counted.trips == [
        "HMGET", "GET", "HMGET", "EVALSHA", "GET", "EVALSHA", "EVALSHA"]
    counted.trips.clear()
    reused = refresh(idp, second["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert counted.trips == ["HMGET", "GET", "HMGET", "EVALSHA"]  # reuse: the grant revoked
    assert refresh(idp, answer.json()["refresh_token"]).status_code == 400  # the family too

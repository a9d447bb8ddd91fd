"""The version barrier of `mockidp.shared.bus` (a real redis-server, two ``MockIdP(store=url)``
replicas): a change made through A is seen by B's very next request while B is under load; a
journal read at B sees A's exchanges just finished; a replica whose subscriber is cut off
reads per request and stays correct, and trusts its copies again once back; a member that
never answers, or is dead, does not hold writers past the bound."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from mockidp import MockIdP
from mockidp.shared import bus as bus_module

from .redis_server import RedisServer

CONFIG = {"clients": {"svc": {"secret": "s", "audience": ["api"]}}}
PUBLIC = "http://idp.example"


@pytest.fixture
def replicas(redis_server: RedisServer) -> Iterator[tuple[MockIdP, MockIdP]]:
    with MockIdP(CONFIG, store=redis_server.url, public_url=PUBLIC) as a, \
            MockIdP(CONFIG, store=redis_server.url, public_url=PUBLIC) as b:
        yield a, b


def state(idp: MockIdP) -> Any:
    return idp.state  # the RedisState


def token(idp: MockIdP, client: str = "svc", secret: str = "s") -> requests.Response:
    return requests.post(f"{idp.url}/default/token", timeout=10, auth=(client, secret),
                         data={"grant_type": "client_credentials"})


def iat(answer: requests.Response) -> int:
    assert answer.status_code == 200, answer.text
    claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
    return int(claims["iat"])


class Load:
    """Client-credentials requests at ``idp`` from 4 threads until stopped."""

    def __init__(self, idp: MockIdP) -> None:
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self.threads = [threading.Thread(target=self._run, args=(idp,)) for _ in range(4)]

    def _run(self, idp: MockIdP) -> None:
        with requests.Session() as session:
            while not self.stop.is_set():
                self.statuses.append(session.post(
                    f"{idp.url}/default/token", timeout=10, auth=("svc", "s"),
                    data={"grant_type": "client_credentials"}).status_code)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()
        assert self.statuses and set(self.statuses) == {200}


def test_both_trust_their_copies_when_listening(replicas: tuple[MockIdP, MockIdP]) -> None:
    a, b = replicas
    assert state(a).trusted() and state(b).trusted()


def test_a_change_through_a_is_seen_by_b_s_very_next_request_under_load(
        replicas: tuple[MockIdP, MockIdP]) -> None:
    a, b = replicas
    with Load(b):
        for step in range(15):
            at = 1893456000 + step * 100
            a.set_clock(freeze=at)
            assert iat(token(b)) == at  # the clock
            a.add_client(f"c{step}", secret="x")  # a client added: its secret is checked
            assert token(b, f"c{step}", "wrong").status_code == 401
            assert token(b, f"c{step}", "x").status_code == 200
            a.remove_client(f"c{step}")  # removed: unknown again (any secret will do)
            assert token(b, f"c{step}", "wrong").status_code == 200
        a.set_clock(freeze=False)


def test_a_rule_added_through_a_answers_b_s_next_request(
        replicas: tuple[MockIdP, MockIdP]) -> None:
    a, b = replicas
    for _ in range(5):
        rule = a.add_rule(endpoint="token", error="invalid_grant", times="always")
        assert token(b).status_code == 400
        a.remove_rule(rule.id)
        assert token(b).status_code == 200


def test_b_s_journal_read_sees_a_s_exchanges_just_finished(
        replicas: tuple[MockIdP, MockIdP]) -> None:
    a, b = replicas
    for count in range(1, 21):
        assert token(a).status_code == 200
        assert len(b.calls(endpoint="token")) == count


def test_concurrent_exchanges_on_both_are_all_in_the_journal(
        replicas: tuple[MockIdP, MockIdP]) -> None:
    a, b = replicas
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: token(a if i % 2 else b), range(64)))
    assert {r.status_code for r in answers} == {200}
    assert len(a.calls(endpoint="token")) == 64 == len(b.calls(endpoint="token"))
    seqs = [e.seq for e in b.calls()]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_the_journal_lists_exchanges_in_the_order_they_happened_across_replicas(
        replicas: tuple[MockIdP, MockIdP]) -> None:
    a, b = replicas
    journal = a.journal
    with journal._send_lock:  # type: ignore[attr-defined]  # A's batch is late to Redis
        assert token(a, "svc", "s").status_code == 200
        assert token(b, "svc", "wrong").status_code == 401  # after A's, at B
        redis, key = state(b).client, state(b).name("journal")
        deadline = time.monotonic() + 5
        while redis.llen(key) < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert redis.llen(key) == 1  # B's entry reached Redis first
    for idp in (a, b):
        calls = idp.calls(endpoint="token")
        assert [c.status for c in calls] == [200, 401]
        assert [c.seq for c in calls] == sorted(c.seq for c in calls)


def test_a_replica_not_listening_reads_per_request_and_is_still_correct(
        replicas: tuple[MockIdP, MockIdP]) -> None:
    a, b = replicas
    state(b).bus.close()  # its subscriber stops for good
    while state(b).trusted():
        time.sleep(0.01)
    a.set_clock(freeze=1893456000)
    assert iat(token(b)) == 1893456000
    a.add_client("late", secret="x")
    assert token(b, "late", "wrong").status_code == 401
    assert token(a).status_code == 200
    assert len(b.calls(endpoint="token")) == 3  # B's own entries were sent at once
    b.set_clock(advance=60)
    assert iat(token(a)) == 1893456060


def test_a_cut_subscriber_reconnects_and_reads_everything_again(
        replicas: tuple[MockIdP, MockIdP], redis_server: RedisServer) -> None:
    a, b = replicas
    assert iat(token(b)) > 0  # B holds copies
    kill = state(a).client
    for step in range(6):
        kill.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # both lose the bus
        at = 1893456000 + step * 1000
        a.set_clock(freeze=at)  # while they may still be reconnecting
        assert iat(token(b)) == at
        b.set_clock(freeze=at + 500)
        assert iat(token(a)) == at + 500
    while not (state(a).trusted() and state(b).trusted()):
        time.sleep(0.01)
    a.add_client("back", secret="x")
    assert token(b, "back", "wrong").status_code == 401


def test_a_member_that_never_answers_holds_writers_only_up_to_the_bound(
        replicas: tuple[MockIdP, MockIdP], monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = replicas
    monkeypatch.setattr(bus_module, "WAIT_S", 0.2)
    redis = state(a).client
    # a process that beats but never acknowledges (hung), and a dead one (heartbeat gone)
    redis.set(state(a).name("bus", "alive") + ":hung", "1", px=60_000)
    redis.sadd(state(a).name("bus", "members"), "hung", "dead")
    a.set_clock(freeze=1893456000)  # returns: after the bound for the hung one
    assert iat(token(b)) == 1893456000
    members = {m.decode() for m in redis.smembers(state(a).name("bus", "members"))}
    assert "dead" not in members and "hung" in members  # the dead one is dropped
    redis.delete(state(a).name("bus", "alive") + ":hung")  # it dies: no more waiting for it
    a.set_clock(freeze=False)
    assert "hung" not in {m.decode() for m in redis.smembers(state(a).name("bus", "members"))}


def test_after_a_redis_restart_both_listen_again_and_the_journal_is_sent(
        replicas: tuple[MockIdP, MockIdP], redis_server: RedisServer) -> None:
    a, b = replicas
    assert token(a).status_code == 200
    redis_server.stop()
    redis_server.start()  # everything lost, the journal's script too
    while not (state(a).trusted() and state(b).trusted()):
        time.sleep(0.01)
    for _ in range(3):
        assert token(a).status_code == 200
    assert len(b.calls(endpoint="token")) == 3  # sent in a batch, the script loaded again
    a.set_clock(freeze=1893456000)
    assert iat(token(b)) == 1893456000


def bus_threads() -> int:
    return sum(t.name == "mockidp-bus" and t.is_alive() for t in threading.enumerate())


def members(idp: MockIdP) -> set[str]:
    redis = state(idp).client
    return {m.decode() for m in redis.smembers(state(idp).name("bus", "members"))}


def test_a_stopped_replica_stops_listening_and_listens_again_when_started(
        replicas: tuple[MockIdP, MockIdP]) -> None:
    a, b = replicas
    before, me = bus_threads(), state(b).bus.me
    assert me in members(a)
    b.stop()
    assert bus_threads() == before - 1  # its subscriber thread is gone, not left to the GC
    assert me not in members(a) and not state(b).trusted()
    a.set_clock(freeze=1893456000)  # nobody waits for the stopped one
    assert b.clock_state()["now"] == 1893456000  # still usable: it reads per request
    b.start()
    assert bus_threads() == before and state(b).trusted() and me in members(a)
    a.set_clock(advance=60)
    assert iat(token(b)) == 1893456060


def test_health_says_whether_the_replica_listens(replicas: tuple[MockIdP, MockIdP]) -> None:
    _, b = replicas
    health = requests.get(f"{b.url}/_mockidp/health", timeout=10).json()
    assert health["store"]["kind"] == "redis" and health["store"]["listening"] is True
    state(b).bus.close()
    while state(b).trusted():
        time.sleep(0.01)
    health = requests.get(f"{b.url}/_mockidp/health", timeout=10)
    assert health.status_code == 200  # slower, still correct: not unavailable
    assert health.json()["store"]["listening"] is False


def test_a_store_emptied_under_open_connections_is_set_up_again(
        redis_server: RedisServer) -> None:
    config = {**CONFIG, "rules": [{"endpoint": "token", "error": "invalid_scope",
                                    "times": 100, "expect": False}]}
    with MockIdP(config, store=redis_server.url, public_url=PUBLIC) as a, \
            MockIdP(config, store=redis_server.url, public_url=PUBLIC) as b:
        assert token(a).status_code == token(b).status_code == 400  # the config's rule
        state(a).client.flushall()  # no restart: every connection stays open, trusted
        deadline = time.monotonic() + 5
        while token(b).status_code != 400 and time.monotonic() < deadline:
            time.sleep(0.05)  # gone with the data until a replica sets the baseline again
        assert token(a).status_code == token(b).status_code == 400
        assert [r.fired for r in a.list_rules()] == [3]  # counted afresh (the poll's, and 2)
        with MockIdP(config, store=redis_server.url, public_url=PUBLIC) as c:
            jwks = [requests.get(f"{idp.url}/default/jwks", timeout=10).json()
                    for idp in (a, b, c)]
            assert jwks[0] == jwks[1] == jwks[2]

"""The shared store's contract: `RedisIssuerStore` (on a real redis-server) answers every
`IssuerStore` call as `MemoryStore` does, on a provider clock far from real time (frozen in
2000, or skewed years ahead); and, across two connections (two processes' views), one code
is redeemed exactly once, one refresh token rotates once and its reuse is detected, users and
clients agree, and a Redis restart answers 503 while down and never leaves half a change."""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest

from mockidp.core.errors import TemporarilyUnavailable
from mockidp.core.model import Client, User
from mockidp.core.records import (
    AuthorizationDetails,
    CodeRecord,
    Interaction,
    LoginSession,
    PushedRequest,
    RefreshRecord,
)
from mockidp.core.stores import IssuerStore, MemoryStore
from mockidp.shared.connection import connect
from mockidp.shared.issuer_store import GRACE_MS, RedisIssuerStore, redis_issuer_store

from .redis_server import RedisServer

FROZEN = 946_684_800.0  # a provider clock frozen on 2000-01-01, decades behind real time
AHEAD = 4_102_444_800.0  # one skewed to 2100
USERS = MappingProxyType({"alice": User("alice", {"email": "a@example.com"}, "pw")})
CLIENTS = MappingProxyType({"web": Client("web", "s3cret", ("http://localhost/cb",))})
Make = Callable[..., IssuerStore]


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest) -> Make:
    """Makes a store of the kind under test (each test gets a namespace of its own)."""
    if request.param == "memory":
        return lambda limit=100: MemoryStore(USERS, CLIENTS, limit)
    server = request.getfixturevalue("shared_redis")
    namespace = uuid.uuid4().hex
    return lambda limit=100: redis_issuer_store(connect(server.url), namespace, "default",
                                                USERS, CLIENTS, limit)


@pytest.fixture(params=[FROZEN, AHEAD], ids=["frozen-2000", "skewed-2100"])
def now(request: pytest.FixtureRequest) -> float:
    return float(request.param)


def details(client_id: str = "web") -> AuthorizationDetails:
    return AuthorizationDetails(client_id, "http://localhost/cb", True, "code", "query",
                                ("openid", "email"), state="st", nonce="n")


def code_record(now: float, lifetime: float = 60) -> CodeRecord:
    return CodeRecord(details(), "alice", "alice", MappingProxyType({"amr": ["pwd"]}),
                      int(now), "sid-1", now + lifetime)


def refresh(now: float, family: str, client_id: str = "web") -> RefreshRecord:
    return RefreshRecord(client_id, "alice", "alice", ("openid",), ("api",), {}, int(now),
                         "sid-1", "n", now + 3600, now, family)


def session(now: float, ident: str = "sess", sid: str = "sid-1") -> LoginSession:
    return LoginSession(ident, sid, "alice", "alice", MappingProxyType({}), int(now),
                        now + 600, {"web": frozenset({"openid"})})


def test_a_code_is_redeemed_once_and_a_replay_revokes_its_grant(make: Make, now: float
                                                                ) -> None:
    store = make()
    record = code_record(now)
    store.put_code("c1", record, now)
    assert store.peek_code("c1", now) == record
    first, fresh = store.redeem_code("c1", now + 1)
    assert fresh and first is not None and first.redeemed and first.details == record.details
    store.put_refresh("r1", refresh(now, record.family), now)
    store.note_access_token(record.family, "jti-1", now + 300, now)
    again, fresh = store.redeem_code("c1", now + 2)
    assert again is not None and not fresh
    assert store.get_refresh("r1", now + 2) is None
    assert store.is_revoked("jti-1")
    assert store.redeem_code("nope", now) == (None, False)


def test_an_expired_code_is_unknown(make: Make, now: float) -> None:
    store = make()
    store.put_code("c1", code_record(now, 60), now)
    assert store.peek_code("c1", now + 59.9) is not None
    assert store.peek_code("c1", now + 60) is None
    assert store.redeem_code("c1", now + 61) == (None, False)


def test_refresh_tokens_rotate_and_reuse_revokes_the_family(make: Make, now: float) -> None:
    store = make()
    store.put_refresh("r1", refresh(now, "fam"), now)
    assert store.get_refresh("r1", now) == refresh(now, "fam")
    assert store.use_refresh("r1", now, "other", True) == (
        None, "refresh token was issued to another client")
    kept, why = store.use_refresh("r1", now, "web", False)
    assert why is None and kept is not None and not kept.revoked
    rotated, why = store.use_refresh("r1", now, "web", True)
    assert why is None and rotated is not None and rotated.revoked
    store.put_refresh("r2", refresh(now, "fam"), now)
    store.note_access_token("fam", "jti-a", now + 300, now)
    assert store.get_refresh("r1", now) is None and store.get_refresh("r2", now) is not None
    assert store.use_refresh("r1", now, "web", True) == (
        None, "refresh token was revoked or already used")
    assert store.get_refresh("r2", now) is None and store.is_revoked("jti-a")
    # issued while the grant was being revoked: revoked on arrival
    late = refresh(now, "fam")
    store.put_refresh("r3", late, now)
    store.note_access_token("fam", "jti-b", now + 300, now)
    assert late.revoked and store.get_refresh("r3", now) is None and store.is_revoked("jti-b")
    assert store.use_refresh("r9", now, "web", True) == (
        None, "refresh token is unknown or expired")
    assert store.get_refresh("r2", now + 3600) is None


def test_revoking_a_refresh_token_revokes_its_grant(make: Make, now: float) -> None:
    store = make()
    store.put_refresh("r1", refresh(now, "fam"), now)
    store.put_refresh("r2", refresh(now, "fam"), now)
    store.note_access_token("fam", "jti-1", now + 300, now)
    gone = store.revoke_refresh("r1", now)
    assert gone is not None and gone.revoked and gone.family == "fam"
    assert store.get_refresh("r2", now) is None and store.is_revoked("jti-1")
    assert store.revoke_refresh("unknown", now) is None


def test_opaque_tokens_and_revocations(make: Make, now: float) -> None:
    store = make()
    claims = {"sub": "alice", "scope": "openid", "aud": ["api"], "exp": int(now) + 60}
    store.put_opaque("tok", claims, now + 60, now)
    assert store.get_opaque("tok", now) == claims
    assert store.get_opaque("tok", now + 60) is None and store.get_opaque("x", now) is None
    store.revoke_jti("j1", now + 60, now)
    assert store.is_revoked("j1") and not store.is_revoked("j2")
    store.revoke_jti("j2", now + 500, now + 61)  # j1 has expired: forgotten at this insert
    assert not store.is_revoked("j1") and store.is_revoked("j2")


def test_sessions_and_their_clients(make: Make, now: float) -> None:
    store = make()
    store.put_session(session(now), now)
    assert store.get_session("sess", now) == session(now)
    assert store.session_by_sid("sid-1", now) == session(now)
    assert store.session_by_sid("sid-1", now + 600) is None
    assert store.session_by_sid("other", now) is None
    for n in range(120):
        store.note_session_client("sid-1", f"client-{n}", now)
    store.note_session_client("sid-1", "client-0", now)
    clients = store.take_session_clients("sid-1")
    assert len(clients) == 100 and "client-0" in clients
    assert store.take_session_clients("sid-1") == set()
    ended = store.end_session("sess")
    assert ended == session(now)
    assert store.end_session("sess") is None and store.end_session(None) is None
    assert store.get_session("sess", now) is None and store.session_by_sid("sid-1", now) is None
    store.put_session(session(now), now)
    assert store.get_session(None, now) is None and store.get_session("sess", now + 600) is None
    assert store.get_session("sess", now) is None  # forgotten when found expired


def test_interactions_are_taken_once(make: Make, now: float) -> None:
    store = make()
    waiting = Interaction("i1", details(), now + 300, session_id="sess")
    store.put_interaction(waiting, now)
    assert store.get_interaction("i1", now) == waiting
    assert store.take_interaction("i1", now) == waiting
    assert store.take_interaction("i1", now) is None and store.get_interaction("i1", now) is None
    store.put_interaction(Interaction("i2", details(), now + 300), now)
    assert store.take_interaction("i2", now + 300) is None


def test_a_pushed_request_is_used_once_by_its_own_client(make: Make, now: float) -> None:
    store = make()
    pushed = PushedRequest("web", (("scope", "openid"), ("state", "s")), now + 60)
    store.put_pushed("urn:1", pushed, now)
    assert store.take_pushed("urn:1", "other", now) == (
        None, "request_uri was pushed by another client")
    assert store.take_pushed("urn:1", None, now) == (
        None, "request_uri was pushed by another client")
    assert store.take_pushed("urn:1", "web", now) == (pushed, "")
    assert store.take_pushed("urn:1", "web", now) == (
        None, "request_uri is unknown, expired or already used")
    store.put_pushed("urn:2", pushed, now)
    assert store.take_pushed("urn:2", "web", now + 60)[0] is None


def test_replay_caches(make: Make, now: float) -> None:
    store = make()
    assert store.first_use("dpop", "j1", now + 60, now)
    assert not store.first_use("dpop", "j1", now + 60, now + 59)
    assert store.first_use("assertion", "j1", now + 60, now)  # another cache
    assert store.first_use("dpop", "j1", now + 120, now + 60)  # expired: new again


def test_users_and_clients_at_run_time_over_the_configured(make: Make) -> None:
    store = make()
    assert dict(store.users()) == dict(USERS) and dict(store.clients()) == dict(CLIENTS)
    bob = User("bob", {"email": "b@example.com", "roles": ["x"]}, None)
    store.put_user(bob)
    store.put_user(User("alice", {"email": "new@example.com"}))
    store.put_client(Client("cli", None, grant_types=("client_credentials",),
                            jwks={"keys": [{"kty": "EC"}]}, claims={"tenant": "t"}))
    assert store.users()["bob"] == bob
    assert store.users()["alice"].claims == {"email": "new@example.com"}
    assert store.clients()["cli"].grant_types == ("client_credentials",)
    assert store.drop_user("alice") and not store.drop_user("alice")
    assert not store.drop_user("nobody")
    assert store.drop_client("web") and not store.drop_client("web")
    assert sorted(store.users()) == ["bob"] and sorted(store.clients()) == ["cli"]
    assert store.drop_client("cli") and dict(store.clients()) == {}
    store.clear()
    assert dict(store.users()) == dict(USERS) and dict(store.clients()) == dict(CLIENTS)


def test_counts_and_clear(make: Make, now: float) -> None:
    store = make()
    record = code_record(now)
    store.put_code("c1", record, now)
    store.put_refresh("r1", refresh(now, record.family), now)
    store.note_access_token(record.family, "jti-1", now + 300, now)
    store.put_opaque("o1", {"sub": "a"}, now + 60, now)
    store.put_session(session(now), now)
    store.note_session_client("sid-1", "web", now)
    store.put_interaction(Interaction("i1", details(), now + 60), now)
    store.put_pushed("urn:1", PushedRequest("web", (), now + 60), now)
    store.first_use("dpop", "j", now + 60, now)
    store.devices.create("web", ("openid",), (), now, 600, 5)
    expected = {"codes": 1, "refresh_tokens": 1, "revoked_access_tokens": 0,
                "opaque_access_tokens": 1, "grant_families": 1, "sessions": 1,
                "interactions": 1, "pushed_requests": 1, "device_authorizations": 1,
                "session_clients": 1, "revoked_grants": 0, "replay_cache": 1}
    assert store.counts() == expected
    store.revoke_jti("jti-2", now + 60, now)
    store.revoke_refresh("r1", now)
    assert store.counts() == {**expected, "revoked_access_tokens": 2, "grant_families": 0,
                              "revoked_grants": 1}
    store.clear()
    assert set(store.counts().values()) == {0}
    assert store.peek_code("c1", now) is None and store.first_use("dpop", "j", now + 60, now)


def test_each_kind_holds_at_most_the_limit(make: Make, now: float) -> None:
    store = make(limit=3)
    for n in range(5):
        store.put_code(f"c{n}", code_record(now), now)
        store.put_interaction(Interaction(f"i{n}", details(), now + 60), now)
    assert [store.peek_code(f"c{n}", now) is not None for n in range(5)] == [
        False, False, True, True, True]
    assert [store.get_interaction(f"i{n}", now) is not None for n in range(5)] == [
        False, False, True, True, True]
    for n in range(5):  # the ones expiring soonest go first
        store.revoke_jti(f"j{n}", now + 100 - n, now)
        store.first_use("dpop", f"k{n}", now + 100 - n, now)
    assert [store.is_revoked(f"j{n}") for n in range(5)] == [True, True, True, False, False]
    assert [store.first_use("dpop", f"k{n}", now + 100, now) for n in range(5)] == [
        False, False, False, True, True]
    counts = store.counts()
    assert counts["codes"] == counts["interactions"] == counts["revoked_access_tokens"] == 3


# -- Redis only: two processes' views, expiry on Redis's side, restarts -------------------

def two_views(server: RedisServer, limit: int = 100) -> tuple[RedisIssuerStore, ...]:
    """Two stores of one issuer over two separate connections (as two processes have)."""
    namespace = uuid.uuid4().hex
    return tuple(redis_issuer_store(connect(server.url), namespace, "default", USERS,
                                    CLIENTS, limit) for _ in range(2))


def race(attempts: int, task: Callable[[int], Any]) -> list[Any]:
    """``task(n)`` on ``attempts`` threads let go at once; their answers."""
    start = threading.Barrier(attempts)
    answers: list[Any] = [None] * attempts

    def run(n: int) -> None:
        start.wait()
        answers[n] = task(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_one_code_is_redeemed_exactly_once_by_32_threads_over_two_connections(
        shared_redis: RedisServer) -> None:
    a, b = two_views(shared_redis)
    for round_ in range(5):
        a.put_code(f"code-{round_}", code_record(FROZEN), FROZEN)
        answers = race(32, lambda n, c=f"code-{round_}": (a, b)[n % 2].redeem_code(c, FROZEN))
        assert sum(fresh for _, fresh in answers) == 1
        assert all(record is not None for record, _ in answers)


def redeem_in_a_process(url: str, namespace: str, code: str, start: Any, out: Any) -> None:
    store = redis_issuer_store(connect(url), namespace, "default", USERS, CLIENTS, 100)
    start.wait()
    out.put(sum(race(16, lambda n: store.redeem_code(code, FROZEN)[1])))


def test_one_code_is_redeemed_exactly_once_by_two_real_processes(shared_redis: RedisServer
                                                                  ) -> None:
    namespace = uuid.uuid4().hex
    store = redis_issuer_store(connect(shared_redis.url), namespace, "default", USERS,
                               CLIENTS, 100)
    store.put_code("code", code_record(FROZEN), FROZEN)
    context = multiprocessing.get_context("spawn")
    start, out = context.Barrier(2), context.Queue()
    processes = [context.Process(target=redeem_in_a_process,
                                 args=(shared_redis.url, namespace, "code", start, out))
                 for _ in range(2)]
    for process in processes:
        process.start()
    wins = [out.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(30)
    assert sum(wins) == 1 and all(p.exitcode == 0 for p in processes)


def test_rotation_and_reuse_detection_across_two_connections(shared_redis: RedisServer
                                                             ) -> None:
    a, b = two_views(shared_redis)
    a.put_refresh("r1", refresh(FROZEN, "fam"), FROZEN)
    answers = race(32, lambda n: (a, b)[n % 2].use_refresh("r1", FROZEN, "web", True))
    assert sum(why is None for _, why in answers) == 1  # rotated once
    # the 31 late ones were reuse: the whole grant is revoked, as both views see
    assert {why for _, why in answers} == {None, "refresh token was revoked or already used"}
    b.put_refresh("r2", refresh(FROZEN, "fam2"), FROZEN)
    b.note_access_token("fam2", "jti-2", FROZEN + 300, FROZEN)
    assert a.use_refresh("r2", FROZEN, "web", True)[1] is None
    assert b.use_refresh("r2", FROZEN, "web", True)[1] == "refresh token was revoked or " \
                                                          "already used"
    assert a.is_revoked("jti-2") and b.is_revoked("jti-2")


def test_users_clients_and_clear_agree_across_connections(shared_redis: RedisServer) -> None:
    a, b = two_views(shared_redis)
    assert sorted(b.clients()) == ["web"]
    a.put_client(Client("added", "x"))
    assert sorted(b.clients()) == ["added", "web"]
    b.drop_user("alice")
    assert dict(a.users()) == {}
    a.put_code("c", code_record(FROZEN), FROZEN)
    b.clear()
    assert dict(a.users()) == dict(USERS) and sorted(a.clients()) == ["web"]
    assert a.peek_code("c", FROZEN) is None


def test_redis_expires_records_on_their_provider_clock_lifetime(shared_redis: RedisServer
                                                                 ) -> None:
    """Far from real time, Redis keeps a record for its lifetime plus the grace: the TTL
    comes from the provider clock's ``expires_at - now``, never from Redis's clock."""
    a, _ = two_views(shared_redis)
    for now in (FROZEN, AHEAD):
        a.put_code("c", code_record(now, 60), now)
        left = a._redis.pttl(a._base + "ac:c")
        assert 60_000 + GRACE_MS - 5_000 < left <= 60_000 + GRACE_MS


def test_a_restart_answers_503_while_down_and_works_again(shared_redis: RedisServer,
                                                          tmp_path: Any) -> None:
    server = RedisServer(tmp_path).start()
    try:
        a, b = two_views(server)
        a.put_code("c1", code_record(FROZEN), FROZEN)
        a.put_refresh("r1", refresh(FROZEN, "fam"), FROZEN)
        b.put_client(Client("added"))
        assert "added" in a.clients()
        server.stop()
        down: list[Callable[[], Any]] = [
            lambda: a.redeem_code("c1", FROZEN), lambda: b.peek_code("c1", FROZEN),
            lambda: a.use_refresh("r1", FROZEN, "web", True), lambda: dict(a.clients()),
            lambda: b.put_client(Client("x")), lambda: a.first_use("dpop", "j", FROZEN, 0),
            lambda: a.counts(), lambda: a.clear(), lambda: b.is_revoked("j"),
            lambda: a.devices.create("web", (), (), FROZEN, 60, 5),
        ]
        for call in down:
            with pytest.raises(TemporarilyUnavailable):
                call()
        server.start()  # everything was lost (no persistence), nothing half-kept
        assert a.redeem_code("c1", FROZEN) == (None, False)
        assert sorted(a.clients()) == ["web"] and sorted(b.clients()) == ["web"]
        b.put_code("c2", code_record(FROZEN), FROZEN)
        assert a.redeem_code("c2", FROZEN)[1] and not b.redeem_code("c2", FROZEN)[1]
    finally:
        server.stop()

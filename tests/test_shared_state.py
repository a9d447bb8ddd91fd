"""The provider-wide state on a shared store (a real redis-server): two ``MockIdP(store=url)``
in one test are two replicas, each serving HTTP on its own port.  The clock, rules with their
fire counts, the journal, the signing keys, issuers made on first use and reset are one for
both; a lost store answers 503 ``temporarily_unavailable`` and service comes back with it."""

from __future__ import annotations

import concurrent.futures
import importlib.util
from collections.abc import Iterator

import jwt
import pytest
import requests

from mockidp import MockIdP
from mockidp.core.errors import MockIdPError
from mockidp.profiles.catalog import BAD_KINDS, ENDPOINT_NAMES
from mockidp.protocol.state import MemoryState
from mockidp.provider import Provider
from mockidp.scripting.rules import parse_rule
from mockidp.shared.rules import rule_spec

from .redis_server import RedisServer

CC = {"grant_type": "client_credentials", "client_id": "svc", "client_secret": "s"}
PUBLIC = "http://idp.example"
HAS_ISSUER_STORE = importlib.util.find_spec("mockidp.shared.issuer_store") is not None


@pytest.fixture
def replicas(redis_server: RedisServer) -> Iterator[tuple[MockIdP, MockIdP]]:
    # behind one load balancer: one public URL, so one issuer identifier
    with MockIdP(store=redis_server.url, public_url=PUBLIC) as a, \
            MockIdP(store=redis_server.url, public_url=PUBLIC) as b:
        yield a, b


def token(idp: MockIdP, issuer: str = "default", **extra: str) -> requests.Response:
    return requests.post(f"{idp.url}/{issuer}/token", data={**CC, **extra}, timeout=10)


def control(idp: MockIdP, method: str, path: str, **kwargs: object) -> requests.Response:
    return requests.request(method, f"{idp.url}/_mockidp{path}", timeout=10,
                            **kwargs)  # type: ignore[arg-type]


def test_the_clock_set_on_one_replica_is_the_other_s(replicas: tuple[MockIdP, MockIdP]
                                                     ) -> None:
    a, b = replicas
    control(a, "POST", "/clock", json={"freeze": "2030-01-01T00:00:00Z"}).raise_for_status()
    assert b.clock_state()["now"] == 1893456000.0 and b.clock_state()["frozen"] is True
    access = token(b).json()["access_token"]
    assert jwt.decode(access, options={"verify_signature": False})["iat"] == 1893456000
    a.set_clock(advance=60)
    assert control(b, "GET", "/clock").json()["now"] == 1893456060.0
    b.set_clock(freeze=False)
    assert not a.clock_state()["frozen"]
    assert abs(a.clock_state()["offset"] - b.clock_state()["offset"]) < 1


def test_a_rule_fires_exactly_its_times_over_both_replicas(
        replicas: tuple[MockIdP, MockIdP]) -> None:
    a, b = replicas
    rule = a.add_rule(endpoint="token", error="invalid_grant", times=2)
    never = b.add_rule(endpoint="token", client_id="nobody", error="invalid_client")
    answers = [token(idp).status_code for _ in range(10) for idp in (a, b)]
    assert answers.count(400) == 2 and answers.count(200) == 18
    for idp in (a, b):
        fired = {r.id: r.fired for r in idp.list_rules()}
        assert fired == {rule.id: 2, never.id: 0}
        assert [r.id for r in idp.unfired_rules()] == [never.id]
        why = rf"(?s)1 mockidp rule.*{never.id}.*client_id: wanted .nobody., got .svc."
        with pytest.raises(AssertionError, match=why):
            idp.check_rules()
    b.remove_rule(never.id)
    a.check_rules()
    assert [r.id for r in a.list_rules()] == [rule.id]
    a.clear_rules()
    assert b.list_rules() == []


def test_times_hold_under_concurrent_requests_on_both(replicas: tuple[MockIdP, MockIdP]
                                                     ) -> None:
    a, b = replicas
    a.add_rule(endpoint="token", error={"error": "temporarily_unavailable", "status": 503},
               times=5)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: token((a, b)[i % 2]).status_code, range(32)))
    assert codes.count(503) == 5 and codes.count(200) == 27
    assert control(b, "GET", "/rules").json()["rules"][0]["fired"] == 5


def test_rule_ids_given_by_either_replica_never_clash(replicas: tuple[MockIdP, MockIdP]
                                                      ) -> None:
    a, b = replicas
    ids = {a.add_rule(endpoint="token", delay=0.001, times="always").id,
           b.add_rule(endpoint="token", delay=0.001, times="always").id}
    assert len(ids) == 2
    b.add_rule(id="mine", endpoint="token", delay=0.001)
    with pytest.raises(MockIdPError, match="'mine' is already in use"):
        a.add_rule(id="mine", endpoint="token", delay=0.001)


@pytest.mark.parametrize("spec", [
    {"endpoint": "token", "error": {"error": "invalid_grant", "description": "d",
                                    "status": 401}, "times": 3, "expect": False},
    {"match": {"endpoint": "token", "params": {"scope": {"regex": "^openid"}}},
     "claims": {"access_token": {"set": {"role": "admin"}, "delete": ["azp"]}}, "times": "always"},
    {"endpoint": "userinfo", "fault": {"status": 502, "body": "x"}, "description": "why"},
    {"endpoint": "token", "bad_token": {"kind": "expired"}, "skew": 30},
    {"endpoint": "token", "delay": {"seconds": 0.01, "jitter": 0.005}},
])
def test_a_rule_is_stored_as_a_shape_that_reads_back_the_same(spec: dict[str, object]
                                                              ) -> None:
    def parse(value: object) -> object:
        return parse_rule(value, "rule", tuple(BAD_KINDS), ENDPOINT_NAMES)  # type: ignore

    rule = parse({"id": "r", **spec})
    again = parse(__import__("json").loads(rule_spec(rule)))  # type: ignore[attr-defined]
    assert again.as_json() == rule.as_json()  # type: ignore[attr-defined]


def test_the_journal_is_one_for_both_in_order(replicas: tuple[MockIdP, MockIdP]) -> None:
    a, b = replicas
    for i, idp in enumerate((a, b, a, b)):
        assert token(idp, scope=f"s-{i}").status_code == 200
    for idp in (a, b):
        calls = idp.calls(endpoint="token")
        assert [c.params["scope"] for c in calls] == ["s-0", "s-1", "s-2", "s-3"]
        assert [c.seq for c in calls] == sorted(c.seq for c in calls)
        idp.assert_called(4, endpoint="token", grant_type="client_credentials")
    assert len(control(b, "GET", "/journal").json()["calls"]) == 4
    b.assert_called(1, endpoint="token", params={"scope": "s-2"})
    a.journal.clear()
    b.assert_not_called(endpoint="token")


def test_the_journal_stays_bounded(redis_server: RedisServer) -> None:
    with MockIdP({"journal_size": 3}, store=redis_server.url) as a, \
            MockIdP({"journal_size": 3}, store=redis_server.url) as b:
        for idp in (a, b, a, b, a):
            token(idp)
        assert [c.seq for c in b.calls()] == [3, 4, 5]


def test_tokens_of_one_verify_at_the_other(replicas: tuple[MockIdP, MockIdP]) -> None:
    a, b = replicas
    minted = a.mint("alice", audience="api")
    issued = token(a).json()["access_token"]
    jwks = requests.get(f"{b.url}/default/jwks", timeout=10).json()
    assert jwks == requests.get(f"{a.url}/default/jwks", timeout=10).json()
    keys = jwt.PyJWKSet.from_dict(jwks)
    kid = jwt.get_unverified_header(minted)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    assert jwt.decode(minted, key.key, ["RS256"], audience="api")["sub"] == "alice"
    answer = requests.post(f"{b.url}/default/introspect", data={**CC, "token": issued},
                           timeout=10).json()
    assert answer["active"] is True
    assert b.inspect_token(minted)["verdict"] == "valid"


def test_rotation_and_retirement_are_shared(replicas: tuple[MockIdP, MockIdP]) -> None:
    a, b = replicas
    before = a.mint("alice")
    new_kids = b.rotate_keys(alg="RS256")
    after = a.mint("alice")
    assert jwt.get_unverified_header(after)["kid"] in new_kids
    assert a.keys() == b.keys()
    assert a.inspect_token(before)["verdict"] == "valid"  # rotated out, still published
    a.retire_keys()
    assert b.inspect_token(before)["verdict"] == "invalid"
    assert b.inspect_token(after)["verdict"] == "valid"


def test_issuers_made_on_first_use_and_reset_are_shared(replicas: tuple[MockIdP, MockIdP]
                                                         ) -> None:
    a, b = replicas
    assert token(a, issuer="tenant-x").status_code == 200
    assert "tenant-x" in b.issuers()
    assert a.jwks("tenant-x") == b.jwks("tenant-x")
    a.add_rule(endpoint="token", delay=0.001, times="always")
    a.set_clock(skew=600)
    control(a, "POST", "/reset", json={}).raise_for_status()
    assert b.list_rules() == [] and b.calls() == [] and b.clock_state()["offset"] == 0
    assert b.issuers() == ["default"]
    assert token(b, issuer="tenant-x").status_code == 200  # made again, with new keys


def test_the_config_baseline_is_set_once_and_back_after_reset(redis_server: RedisServer
                                                              ) -> None:
    config = {"rules": [{"endpoint": "token", "error": "invalid_scope", "times": 1}],
              "clock": {"skew": 120}}
    with MockIdP(config, store=redis_server.url) as a:
        assert token(a).json()["error"] == "invalid_scope"
        with MockIdP(config, store=redis_server.url) as b:  # a second start keeps the state
            assert b.list_rules()[0].fired == 1 and token(b).status_code == 200
            assert round(b.clock_state()["offset"]) == 120
            b.reset()
            assert a.list_rules()[0].fired == 0
            assert token(a).json()["error"] == "invalid_scope"


@pytest.mark.skipif(not HAS_ISSUER_STORE, reason="the per-issuer Redis store is not merged")
def test_users_and_clients_added_on_one_work_on_the_other(
        replicas: tuple[MockIdP, MockIdP]) -> None:
    a, b = replicas
    a.add_client("web", "secret-1", grant_types=["client_credentials"])
    a.add_user("alice", {"email": "a@example.com"}, password="pw")
    assert "web" in b.clients() and "alice" in b.users()
    bad = token(b, client_id="web", client_secret="wrong")
    assert bad.status_code == 401
    assert token(b, client_id="web", client_secret="secret-1").status_code == 200
    answer = requests.post(f"{b.url}/default/token", timeout=10, data={
        "grant_type": "password", "username": "alice", "password": "pw", "client_id": "x",
        "scope": "openid email"}).json()
    assert jwt.decode(answer["id_token"], options={"verify_signature": False})["email"] \
        == "a@example.com"


def test_a_lost_store_answers_503_and_service_resumes(redis_server: RedisServer) -> None:
    config = {"rules": [{"endpoint": "token", "error": "invalid_scope", "times": 1,
                         "expect": False}]}
    with MockIdP(config, store=redis_server.url) as a, \
            MockIdP(config, store=redis_server.url) as b:
        assert token(a).json()["error"] == "invalid_scope"
        redis_server.stop()
        for idp in (a, b):
            lost = token(idp)
            assert lost.status_code == 503
            assert lost.json()["error"] == "temporarily_unavailable"
            for method, path in (("GET", "/rules"), ("POST", "/clock"), ("GET", "/journal")):
                answer = control(idp, method, path, json={"skew": 1})
                assert answer.status_code == 503, (method, path, answer.text)
                assert answer.json()["error"] == "temporarily_unavailable"
            page = requests.get(f"{idp.url}/default/authorize", timeout=10, params={
                "client_id": "x", "response_type": "code",
                "redirect_uri": "http://localhost/cb"})
            assert page.status_code == 503
            assert page.json()["error"] == "temporarily_unavailable"
            status = idp.store_status()
            assert status["store"] == "redis" and status["reachable"] is False
            assert status["error"]
        redis_server.start()  # empty: the first to notice sets the config baseline again
        assert a.store_status()["reachable"] is True
        answers = [token(idp).status_code for idp in (b, a, b)]
        assert answers.count(400) == 1 and answers.count(200) == 2
        assert a.list_rules()[0].fired == 1
        issued = token(a).json()["access_token"]
        assert requests.post(f"{b.url}/default/introspect", data={**CC, "token": issued},
                             timeout=10).json()["active"] is True


def test_the_store_is_named_when_it_cannot_be_reached(redis_server: RedisServer,
                                                      tmp_path: object) -> None:
    redis_server.stop()
    with pytest.raises(MockIdPError, match=rf"store: cannot reach Redis at {redis_server.url}"):
        Provider(store=redis_server.url)
    with pytest.raises(MockIdPError, match=r"<config>: store: cannot reach Redis"):
        Provider({"store": redis_server.url})


@pytest.mark.parametrize("value", ["localhost:6379", "http://x", 6379, ""])
def test_the_config_key_store_is_checked(value: object) -> None:
    with pytest.raises(MockIdPError, match=r"store: expected a Redis URL"):
        Provider({"store": value})


def test_without_a_store_the_state_is_this_process_s_own() -> None:
    idp = Provider()
    assert isinstance(idp.state, MemoryState)
    assert "handle" not in vars(idp)  # the hot path is the class's own method, unwrapped
    assert idp.store_status() == {"store": "memory", "reachable": True}
    assert type(idp.clock).__module__ == "mockidp.core.clock"
    assert type(idp.rules).__module__ == "mockidp.scripting.rules"
    assert type(idp.journal).__module__ == "mockidp.core.journal"
    assert type(idp.issuer().keys).__module__ == "mockidp.tokens.keys"

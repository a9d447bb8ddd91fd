"""``mockidp serve --workers N`` and ``--store URL`` as a user runs them: real processes (in
their own process group, which the tests check is empty afterwards), a real ``redis-server``
(tests/redis_server.py), no mocks.

- ``--workers 2`` answers from two distinct worker processes on one port (the health JSON's
  ``pid``), with the embedded Redis, with ``--store``, and on werkzeug too.
- SIGTERM or SIGINT to ``mockidp serve`` stops every worker and the embedded Redis: the
  process group is empty once it exited, and the embedded Redis's folder is gone.
- A worker that dies stops the others; ``mockidp serve`` exits 1.
- Without ``--store`` and without ``redis-server`` on PATH, ``--workers 2`` refuses, saying
  what to do.  An unreachable ``--store`` is refused naming the URL (its password hidden),
  with and without workers.  Bad ``--workers`` and ``--store`` values name the option and
  where the value came from.
- Across processes on one redis-server (two ``mockidp serve --store`` on their own ports, so
  the spread is the test's; and ``--workers 2`` on one port): a code redeemed exactly once
  under 32 concurrent attempts, refresh rotation and reuse detection, a ``times = N`` rule,
  the clock, users, clients, keys and journal; a Redis restart answers 503
  ``temporarily_unavailable`` meanwhile (health: 503 ``unavailable``), service resumes, and
  no code is redeemed twice.
- Health reports the store (``kind``, ``reachable``) and the answering ``pid``.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from click.testing import CliRunner

from mockidp.cli import main

from .local_server import ServeProcess, free_port, mockidp_serve
from .redis_server import RedisServer, redis_server_path

TIMEOUT = 10.0
TRIES = 200  # new connections at most until every worker answered (all at one: 2**-199)


def started(served: ServeProcess) -> tuple[str, list[int]]:
    """The base URL and the worker pids the banner names (it comes once all listen)."""
    issuer = served.issuer()
    assert issuer is not None, served.output
    line = served.line("Workers:")
    assert line is not None, served.output
    pids = [int(p) for p in line.partition("(pids ")[2].partition(")")[0].split(", ")]
    assert served.line("Server:") is not None, served.output
    return issuer.rpartition("/")[0], pids


def health(base: str) -> tuple[int, dict[str, Any]]:
    """GET /_mockidp/health on a new connection: status and JSON."""
    try:
        with urllib.request.urlopen(base + "/_mockidp/health", timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def answering_pids(base: str, wanted: set[int]) -> set[int]:
    """The pids that answer new connections, until all of ``wanted`` did (or `TRIES`)."""
    seen: set[int] = set()
    for _ in range(TRIES):
        status, body = health(base)
        assert status == 200, body
        seen.add(body["pid"])
        if wanted <= seen:
            break
    return seen


def group_is_empty(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def redis_installed() -> str:
    return redis_server_path()  # skipped (failed under CI) without one


@pytest.fixture
def embedded(redis_installed: str) -> Iterator[ServeProcess]:
    with mockidp_serve("--port", "0", "--workers", "2") as served:
        yield served


def test_two_workers_answer_on_one_port_with_an_embedded_redis(embedded: ServeProcess) -> None:
    base, pids = started(embedded)
    assert len(set(pids)) == 2 and embedded.process.pid not in pids
    assert "MOCK" in embedded.output and "never use it to protect anything real" \
        in embedded.output
    assert "Store:     embedded redis-server at unix://" in embedded.output
    assert answering_pids(base, set(pids)) == set(pids)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_every_worker_and_the_embedded_redis(embedded: ServeProcess,
                                                            stop: signal.Signals) -> None:
    base, pids = started(embedded)
    assert answering_pids(base, set(pids)) == set(pids)
    folder = Path(embedded.output.partition("unix://")[2].split()[0]).parent
    assert folder.is_dir()
    embedded.process.send_signal(stop)  # the parent alone, as `kill PID` does
    assert embedded.process.wait(60) == 0, embedded.output
    assert group_is_empty(embedded.process.pid), "a worker or redis-server outlived serve"
    assert not folder.exists()


def test_a_worker_that_dies_stops_the_others(embedded: ServeProcess) -> None:
    _, pids = started(embedded)
    os.kill(pids[0], signal.SIGKILL)
    assert embedded.process.wait(60) == 1
    assert group_is_empty(embedded.process.pid)
    line = embedded.line("Error:")
    assert line is not None and f"worker 1 (pid {pids[0]}) exited" in line, embedded.output


def test_two_workers_share_a_given_store(redis_server: RedisServer) -> None:
    with mockidp_serve("--port", "0", "--workers", "2", "--store", redis_server.url) as served:
        base, pids = started(served)
        assert f"Store:     {redis_server.url}" in served.output
        assert answering_pids(base, set(pids)) == set(pids)


def test_two_werkzeug_workers_share_the_port(redis_server: RedisServer) -> None:
    with mockidp_serve("--port", "0", "--server", "werkzeug",
                       env={"MOCKIDP_WORKERS": "2", "MOCKIDP_STORE": redis_server.url}) as served:
        base, pids = started(served)
        assert "werkzeug, 2 worker processes" in served.output
        assert answering_pids(base, set(pids)) == set(pids)


def test_without_a_store_or_redis_server_two_workers_are_refused(tmp_path: Path) -> None:
    with mockidp_serve("--port", "0", "--workers", "2", env={"PATH": str(tmp_path)}) as served:
        assert served.issuer() is None
        assert served.process.wait(60) == 1
    assert "--workers 2: the workers must share one store" in served.output
    assert "--store redis://" in served.output and "install redis-server" in served.output
    assert "Traceback" not in served.output
    assert group_is_empty(served.process.pid)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_unreachable_store_is_refused_naming_the_url(workers: str) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    with mockidp_serve("--port", "0", "--workers", workers, "--store", url) as served:
        assert served.issuer() is None
        assert served.process.wait(60) != 0
    shown = url.replace("hunter2", "***")
    assert f"--store: cannot reach Redis at {shown}" in served.output, served.output
    assert "hunter2" not in served.output and "Traceback" not in served.output


def test_an_unreachable_store_from_the_environment_names_the_variable() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = CliRunner(env={"MOCKIDP_STORE": url}).invoke(main, ["serve", "--port", "0"])
    assert result.exit_code == 1
    assert f"MOCKIDP_STORE: cannot reach Redis at {url}" in result.output


@pytest.mark.parametrize(("args", "env", "named"), [
    (["--workers", "0"], {}, "'0'"),
    (["--workers", "-2"], {}, "'-2'"),
    (["--workers", "two"], {}, "'two'"),
    (["--workers", "1.5"], {}, "'1.5'"),
    (["--workers", "257"], {}, "'257'"),
    ([], {"MOCKIDP_WORKERS": "many"}, "'many' (from MOCKIDP_WORKERS)"),
])
def test_a_bad_worker_count_names_option_and_source(args: list[str], env: dict[str, str],
                                                    named: str) -> None:
    result = CliRunner(env=env).invoke(main, ["serve", "--port", "0", *args])
    assert result.exit_code == 2
    assert "--workers" in result.output
    assert f"expected a number of worker processes from 1 to 256, got {named}" in result.output


@pytest.mark.parametrize(("args", "env", "named"), [
    (["--store", "http://127.0.0.1:6379"], {}, "'http://127.0.0.1:6379'"),
    (["--store", "127.0.0.1:6379"], {}, "'127.0.0.1:6379'"),
    ([], {"MOCKIDP_STORE": "redis"}, "'redis' (from MOCKIDP_STORE)"),
])
def test_a_bad_store_url_names_option_and_source(args: list[str], env: dict[str, str],
                                                 named: str) -> None:
    result = CliRunner(env=env).invoke(main, ["serve", "--port", "0", *args])
    assert result.exit_code == 2
    assert "--store" in result.output
    assert f"expected a Redis URL such as redis://127.0.0.1:6379/0 (redis://, rediss:// or " \
        f"unix://), got {named}" in result.output


# -- one provider over several processes (a real redis-server between them) ----------------------

CONFIG = str(Path(__file__).resolve().parent.parent / "fixtures" / "config.toml")
REDIRECT = "http://localhost:3000/callback"
WEB_APP = ("web-app", "web-secret")
PUBLIC = "http://idp.example"  # behind one load balancer: one issuer identifier for all
ATTEMPTS = 32


@pytest.fixture
def pair(redis_server: RedisServer) -> Iterator[tuple[str, str]]:
    """Two ``mockidp serve --store`` processes on their own ports, one redis-server: which
    process a request reaches is the test's choice."""
    args = ("--port", "0", "--config", CONFIG, "--public-url", PUBLIC,
            "--store", redis_server.url)
    with mockidp_serve(*args) as a, mockidp_serve(*args) as b:
        yield served_base(a), served_base(b)


def served_base(served: ServeProcess) -> str:
    line = served.line("Listening:")
    assert line is not None, served.output
    assert served.line("Server:") is not None, served.output
    return line.split()[1]


def code_at(base: str, **params: str) -> str:
    """An authorization code from ``base``, approved at once through login_hint."""
    response = requests.get(f"{base}/default/authorize", allow_redirects=False, timeout=TIMEOUT,
                            params={"client_id": "web-app", "redirect_uri": REDIRECT,
                                    "response_type": "code", "login_hint": "alice",
                                    "scope": "openid", **params})
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    return query["code"][0]


def token_at(base: str, data: dict[str, str],
             auth: tuple[str, str] | None = WEB_APP) -> requests.Response:
    with requests.Session() as fresh:  # a new connection each time: spread over workers
        return fresh.post(f"{base}/default/token", data=data, auth=auth, timeout=TIMEOUT)


def redeem(base: str, code: str) -> requests.Response:
    return token_at(base, {"grant_type": "authorization_code", "code": code,
                           "redirect_uri": REDIRECT})


def control_at(base: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{base}/_mockidp{path}", timeout=TIMEOUT, **kwargs)


def concurrently(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], requests.Response]) -> requests.Response:
        start.wait()
        return call()

    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def exactly_one_redeemed(answers: list[requests.Response]) -> None:
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] + [400] * (len(answers) - 1), [r.text for r in answers]
    assert {r.json()["error"] for r in answers if r.status_code == 400} == {"invalid_grant"}


def test_a_code_from_one_process_is_redeemed_at_the_other_exactly_once(
        pair: tuple[str, str]) -> None:
    a, b = pair
    for issued_at in (a, b):
        code = code_at(issued_at)
        exactly_one_redeemed(concurrently(
            [partial(redeem, pair[i % 2], code) for i in range(ATTEMPTS)]))


def test_a_code_is_redeemed_once_over_two_workers_on_one_port(redis_server: RedisServer
                                                              ) -> None:
    with mockidp_serve("--port", "0", "--workers", "2", "--config", CONFIG,
                       "--store", redis_server.url) as served:
        base, pids = started(served)
        assert answering_pids(base, set(pids)) == set(pids)
        for _ in range(3):
            code = code_at(base)
            exactly_one_redeemed(concurrently([partial(redeem, base, code)] * ATTEMPTS))


def test_refresh_rotation_and_reuse_detection_span_the_processes(pair: tuple[str, str]
                                                                ) -> None:
    a, b = pair
    first = redeem(a, code_at(a)).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = token_at(b, refresh)
    assert second.status_code == 200, second.text
    reuse = token_at(a, refresh)  # the rotated-out token, at the process that issued it
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    newest = token_at(b, {"grant_type": "refresh_token",
                          "refresh_token": second.json()["refresh_token"]})
    assert newest.json()["error"] == "invalid_grant"  # reuse revoked the whole family
    fresh = {"grant_type": "refresh_token",
             "refresh_token": redeem(b, code_at(b)).json()["refresh_token"]}
    rotations = concurrently([partial(token_at, pair[i % 2], fresh) for i in range(ATTEMPTS)])
    assert sorted(r.status_code for r in rotations)[0] == 200  # rotated once, at most
    assert [r.status_code for r in rotations].count(200) == 1, [r.text for r in rotations]


def test_a_rule_fires_exactly_its_times_across_processes(pair: tuple[str, str]) -> None:
    a, b = pair
    rule = control_at(a, "POST", "/rules", json={
        "match": {"endpoint": "token", "grant_type": "client_credentials"},
        "error": {"error": "temporarily_unavailable", "description": "scripted", "status": 503},
        "times": 5})
    assert rule.status_code == 201, rule.text
    cc = {"grant_type": "client_credentials", "client_id": "svc", "client_secret": "s"}
    answers = concurrently([partial(token_at, pair[i % 2], cc, None) for i in range(20)])
    assert sorted(r.status_code for r in answers) == [200] * 15 + [503] * 5
    assert control_at(b, "GET", f"/rules/{rule.json()['id']}").json()["fired"] == 5


def test_clock_users_clients_keys_and_journal_agree(pair: tuple[str, str]) -> None:
    a, b = pair
    control_at(a, "POST", "/clock", json={"freeze": "2030-01-01T00:00:00Z"}).raise_for_status()
    assert control_at(b, "GET", "/clock").json()["now"] == 1893456000.0
    control_at(b, "POST", "/users", json={"id": "dora", "claims": {"role": "tester"}}
               ).raise_for_status()
    users = control_at(a, "GET", "/users").json()["users"]
    assert {"id": "dora", "claims": {"role": "tester"}}.items() <= next(
        u for u in users if u["id"] == "dora").items()
    control_at(a, "POST", "/clients", json={"id": "svc-x", "secret": "right"}
               ).raise_for_status()
    wrong = token_at(b, {"grant_type": "client_credentials"}, ("svc-x", "wrong"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    right = token_at(b, {"grant_type": "client_credentials"}, ("svc-x", "right"))
    assert right.status_code == 200, right.text
    access = right.json()["access_token"]
    jwks_a = requests.get(f"{a}/default/jwks", timeout=TIMEOUT).json()
    assert jwks_a == requests.get(f"{b}/default/jwks", timeout=TIMEOUT).json()
    header = jwt.get_unverified_header(access)
    key = next(k for k in jwks_a["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(access, jwt.PyJWK(key).key, algorithms=[header["alg"]],
                        options={"verify_aud": False, "verify_exp": False,
                                 "verify_iat": False, "verify_nbf": False})
    assert claims["iat"] == 1893456000 and claims["iss"] == f"{PUBLIC}/default"
    rotated = control_at(b, "POST", "/keys/rotate", json={})
    assert rotated.status_code == 200, rotated.text
    kids_a = {k["kid"] for k in requests.get(f"{a}/default/jwks", timeout=TIMEOUT).json()["keys"]}
    assert header["kid"] in kids_a and len(kids_a) > len(jwks_a["keys"])
    journal_a = control_at(a, "GET", "/journal", params={"client_id": "svc-x"}).json()["calls"]
    journal_b = control_at(b, "GET", "/journal", params={"client_id": "svc-x"}).json()["calls"]
    assert journal_a == journal_b and [c["status"] for c in journal_a] == [401, 200]


def test_a_redis_restart_answers_503_meanwhile_and_redeems_nothing_twice(
        redis_server: RedisServer, pair: tuple[str, str]) -> None:
    a, b = pair
    redeemed = code_at(a)
    assert redeem(b, redeemed).status_code == 200
    waiting = code_at(b)
    redis_server.stop()
    for base in pair:
        status, body = health(base)
        assert status == 503 and body["status"] == "unavailable"
        assert body["error"] == "temporarily_unavailable"
        assert body["store"]["kind"] == "redis" and body["store"]["reachable"] is False
    lost = [redeem(pair[i % 2], code) for i, code in enumerate((redeemed, waiting) * 2)]
    assert {r.status_code for r in lost} == {503}
    assert {r.json()["error"] for r in lost} == {"temporarily_unavailable"}
    redis_server.start()  # the same port, everything lost
    for base in pair:
        status, body = health(base)
        assert status == 200 and body["store"]["reachable"] is True, body
    answers = concurrently([partial(redeem, pair[i % 2], code)
                            for i in range(ATTEMPTS) for code in (redeemed, waiting)])
    assert 200 not in {r.status_code for r in answers}  # neither is redeemed (again)
    fresh = code_at(a)
    exactly_one_redeemed(concurrently([partial(redeem, pair[i % 2], fresh)
                                       for i in range(ATTEMPTS)]))


def test_one_process_on_a_store_says_so_in_banner_and_health(redis_server: RedisServer) -> None:
    with mockidp_serve("--port", "0", "--store", redis_server.url) as served:
        issuer = served.issuer()
        assert issuer is not None
        assert served.line("Store:") == f"Store:     {redis_server.url}\n", served.output
        assert served.line("Server:") is not None
        status, body = health(issuer.rpartition("/")[0])
        assert status == 200 and body["store"] == {"kind": "redis", "reachable": True,
                                                   "url": redis_server.url, "listening": True}


def test_without_a_store_health_says_memory() -> None:
    with mockidp_serve("--port", "0") as served:
        issuer = served.issuer()
        assert issuer is not None and served.line("Server:") is not None
        assert "Store:" not in served.output
        status, body = health(issuer.rpartition("/")[0])
        assert status == 200 and body["store"] == {"kind": "memory", "reachable": True}
        assert body["status"] == "ok" and isinstance(body["pid"], int)


def test_an_unreachable_store_from_the_config_names_the_file(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    config = tmp_path / "mockidp.toml"
    config.write_text(f'store = "{url}"\n')
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--config", str(config)])
    assert result.exit_code == 1
    assert f"{config}: store: cannot reach Redis at {url}" in result.output

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
"""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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


def test_one_worker_health_names_its_process() -> None:
    with mockidp_serve("--port", "0") as served:
        issuer = served.issuer()
        assert issuer is not None and served.line("Server:") is not None
        status, body = health(issuer.rpartition("/")[0])
        assert status == 200 and body["status"] == "ok" and isinstance(body["pid"], int)

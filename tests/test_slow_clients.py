"""Issue 11: slow clients hold only themselves in ``mockidp serve`` (granian).

Each test starts a real ``mockidp serve`` and opens real connections that stall, idle or wait
on a delay rule; the other clients' answers must come while those are still held.  Ordering,
not wall-clock figures: "answered while the held ones are all still open / pending".
"""

from __future__ import annotations

import contextlib
import resource
import select
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from mockidp.core.blocking import Gate, sleep, waiting

from .local_server import mockidp_serve

pytest.importorskip("granian")

STALLED = 40  # connections that send headers and one byte of a 100-byte body, then nothing
IDLE = 1_100  # more than granian's default 1,024 connections at once: they locked all out
HEAD = (b"POST /default/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
        b"application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ng")


@contextlib.contextmanager
def served(idle_timeout: float) -> Iterator[tuple[str, int]]:
    with mockidp_serve("--port", "0", "--server", "granian",
                       "--idle-timeout", str(idle_timeout)) as proc:
        issuer = proc.issuer()
        assert issuer, proc.output
        parts = urlsplit(issuer)
        assert parts.port is not None
        yield f"{parts.scheme}://{parts.netloc}", parts.port


def open_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"this test needs {wanted} open files; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def still_open(sock: socket.socket) -> bool:
    """No answer and no close yet (nothing to read)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return not poller.poll(0)


def closed_within(socks: list[socket.socket], seconds: float) -> list[socket.socket]:
    """The sockets still not closed by the server after ``seconds``."""
    end = time.monotonic() + seconds
    left = {sock.fileno(): sock for sock in socks}
    poller = select.poll()
    for fd in left:
        poller.register(fd, select.POLLIN)
    while left and time.monotonic() < end:
        for fd, _ in poller.poll(500):
            with contextlib.suppress(OSError):
                if left[fd].recv(65536):
                    continue  # an answer; the close follows
            poller.unregister(fd)
            del left[fd]
    return list(left.values())


def test_stalled_bodies_and_idle_connections_hold_nobody_and_are_closed() -> None:
    # before: 8 stalled bodies took granian's 8 threads for good, and ~1,030 idle connections
    # locked every other client out for at least 150 s; none was ever closed
    open_files(IDLE + STALLED + 512)
    with served(idle_timeout=6) as (base, port):
        stalled = []
        for _ in range(STALLED):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(HEAD)
            stalled.append(sock)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(IDLE)]
        try:
            time.sleep(0.3)  # the stalled requests reach the app and start reading
            jwks = requests.get(f"{base}/default/jwks", timeout=10)
            token = requests.post(f"{base}/default/token", auth=("a", "b"), timeout=10,
                                  data={"grant_type": "client_credentials"})
            chunked = requests.post(f"{base}/default/token", auth=("a", "b"), timeout=10,
                                    data=iter([b"grant_type=client_credentials"]),
                                    headers={"Content-Type":
                                             "application/x-www-form-urlencoded"})
            assert jwks.status_code == 200 and jwks.json()["keys"]
            assert token.status_code == 200 and "access_token" in token.json()
            assert chunked.status_code == 200
            held = [s for s in stalled + idle if still_open(s)]
            assert len(held) == STALLED + IDLE, "answered only once the held ones went"
            # bounded: the idle timeout (6 s), then at most the watch's second
            assert closed_within(stalled, 40) == []
            assert closed_within(idle, 40) == []
        finally:
            for sock in stalled + idle:
                sock.close()
        journal = requests.get(f"{base}/_mockidp/journal", timeout=10).json()["calls"]
        cut = [e for e in journal if e["endpoint"] == "token" and e["status"] == 400]
        assert len(cut) == STALLED  # each stalled request answered 400 and journaled
        assert all(e["error"] == "invalid_request" for e in cut)
        assert requests.get(f"{base}/default/jwks", timeout=10).status_code == 200


def test_a_connection_idle_between_requests_is_closed() -> None:
    with served(idle_timeout=2) as (_, port):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /default/jwks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        try:
            assert closed_within([sock], 15) == []  # kept alive, then closed when idle (2 s)
        finally:
            sock.close()


def test_delay_rules_hold_only_the_requests_they_match() -> None:
    # before: {"endpoint": "token", "delay": 5, "times": "always"} and 8 parallel token
    # requests made GET /default/jwks take 4.5 s
    held = 60
    with served(idle_timeout=60) as (base, _):
        rule = requests.post(f"{base}/_mockidp/rules", timeout=10, json={
            "endpoint": "token", "delay": 4, "times": "always"})
        assert rule.status_code == 201
        done: list[int] = []

        def token() -> None:
            answer = requests.post(f"{base}/default/token", auth=("a", "b"), timeout=60,
                                   data={"grant_type": "client_credentials"})
            done.append(answer.status_code)

        threads = [threading.Thread(target=token) for _ in range(held)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # the token requests are asleep in their rule
        answers = [requests.get(f"{base}/default/jwks", timeout=10),
                   requests.get(f"{base}/default/.well-known/openid-configuration",
                                timeout=10),
                   requests.get(f"{base}/default/userinfo", timeout=10)]
        assert not done, "JWKS and discovery waited for the delayed token requests"
        assert [a.status_code for a in answers] == [200, 200, 401]
        for thread in threads:
            thread.join(60)
        assert done == [200] * held


def test_a_wait_steps_out_of_the_gate() -> None:
    gate = Gate(1)
    order: list[str] = []
    asleep = threading.Event()

    def delayed() -> None:
        with gate.inside():
            asleep.set()
            sleep(0.5)  # a scripted delay: the one place is free meanwhile
            order.append("delayed")

    def other() -> None:
        asleep.wait(5)
        with gate.inside():
            order.append("other")

    threads = [threading.Thread(target=delayed), threading.Thread(target=other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert order == ["other", "delayed"]
    with waiting():  # without a gate: just the block
        order.append("free")
    assert order[-1] == "free"


def test_the_cli_idle_timeout_default_is_the_servers() -> None:
    from mockidp.cli import serve
    from mockidp.serve import thread

    option = next(p for p in serve.params if p.name == "idle_timeout")
    assert option.default == thread.IDLE_TIMEOUT
    assert option.envvar == "MOCKIDP_IDLE_TIMEOUT"


@pytest.mark.parametrize(("args", "env", "named"), [
    (["--idle-timeout", "abc"], {}, "'abc'"),
    (["--idle-timeout", "0"], {}, "'0'"),
    ([], {"MOCKIDP_IDLE_TIMEOUT": "nan"}, "'nan' (from MOCKIDP_IDLE_TIMEOUT)"),
    ([], {"MOCKIDP_IDLE_TIMEOUT": "99999"}, "'99999' (from MOCKIDP_IDLE_TIMEOUT)"),
])
def test_a_bad_idle_timeout_names_option_and_source(args: list[str], env: dict[str, str],
                                                    named: str) -> None:
    from click.testing import CliRunner

    from mockidp.cli import main

    result = CliRunner(env=env).invoke(main, ["serve", "--port", "0", *args])
    assert result.exit_code == 2
    assert "--idle-timeout" in result.output
    assert f"expected a number of seconds from 1 to 3600, got {named}" in result.output

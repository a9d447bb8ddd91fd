"""Scenario 9 of ``benchmarks/run.py``: slow clients (issue 11).

For each server choice, one ``mockidp serve``; JWKS and token throughput (8 connections)

- with nothing else open (the baseline),
- with 40 connections stalled in a request body (headers and 1 byte of 100, then nothing) and
  1,000 idle connections (connected, never a byte) open,
- with 40 token requests held by a delay rule (30 s, matching their client only),

then how long after they were opened the server closed the stalled and idle connections
(``--idle-timeout 30``, 5 with ``--quick``, when the server has the option; waiting at most
15 s past that).  Figures, not
assertions: a server that holds everyone shows 0 per second.
"""

from __future__ import annotations

import base64
import contextlib
import resource
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

STALLED = 40
IDLE = 1_000
HELD = 40
IDLE_TIMEOUT_S = 30  # longer than the measurements beside the held connections take
SLOW_AUTH = "Basic " + base64.b64encode(b"slow-client:x").decode("ascii")
STALLED_HEAD = (b"POST /default/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                b"application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ng")


def _open_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        top = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))


@contextlib.contextmanager
def _held_connections(port: int, idle: int) -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    try:
        for i in range(STALLED + idle):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if i < STALLED:
                sock.sendall(STALLED_HEAD)
            socks.append(sock)
        time.sleep(0.3)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def _seconds_to_close(socks: list[socket.socket], limit: float, start: float
                      ) -> tuple[int, float]:
    """How many of ``socks`` the server closed within ``limit`` seconds of ``start`` (when
    they were opened), and when the last of them went."""
    left = {sock.fileno(): sock for sock in socks}
    poller = select.poll()
    for fd in left:
        poller.register(fd, select.POLLIN)
    last = 0.0
    while left and time.monotonic() - start < limit:
        for fd, _ in poller.poll(200):
            with contextlib.suppress(OSError):
                if left[fd].recv(65536):
                    continue
            poller.unregister(fd)
            del left[fd]
            last = time.monotonic() - start
    return len(socks) - len(left), last


def _control(port: int, method: str, path: str, body: bytes | None = None) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body,
                     headers={"Content-Type": "application/json"} if body else {})
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return 0  # no answer within 10 s: the server is held up
    finally:
        conn.close()


def _hold_token_requests(port: int) -> list[threading.Thread]:
    import http.client

    def one() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn.request("POST", "/default/token", body="grant_type=client_credentials",
                         headers={"Authorization": SLOW_AUTH,
                                  "Content-Type": "application/x-www-form-urlencoded"})
            conn.getresponse().read()
        conn.close()

    threads = [threading.Thread(target=one, daemon=True) for _ in range(HELD)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    return threads


def slow_clients(server_factory: Callable[[list[str]], Any], supports_idle_timeout: bool,
                 measure: Callable[[Any, str], dict[str, Any]], quick: bool = False
                 ) -> dict[str, Any]:
    """The scenario for one server choice (see the module docs); ``measure(server, mode)``
    drives 8 connections of ``jwks`` or ``token`` and returns the load row.  ``quick``:
    200 idle connections, 8 s of waiting for the closes."""
    idle, timeout = (200, 5) if quick else (IDLE, IDLE_TIMEOUT_S)
    wait = timeout + 15.0
    _open_files(STALLED + idle + 1024)
    args = ["--idle-timeout", str(timeout)] if supports_idle_timeout else []
    out: dict[str, Any] = {"idle_timeout_s": timeout if supports_idle_timeout else None}
    with server_factory(args) as server:
        out["baseline"] = {mode: measure(server, mode) for mode in ("jwks", "token")}
        with _held_connections(server.port, idle) as socks:
            opened = time.monotonic()
            out["stalled_and_idle"] = {mode: measure(server, mode) for mode in ("jwks", "token")}
            closed, last = _seconds_to_close(socks, wait, opened)
            out["closed"] = {"of": len(socks), "closed": closed, "last_s": round(last, 1),
                             "waited_s": wait, "idle": idle}
        status = _control(server.port, "POST", "/_mockidp/rules",
                          b'{"endpoint": "token", "client_id": "slow-client", "delay": 30,'
                          b' "times": "always"}')
        out["rule_status"] = status
        if status in (200, 201):
            _hold_token_requests(server.port)
            out["delayed"] = {mode: measure(server, mode) for mode in ("jwks", "token")}
            _control(server.port, "DELETE", "/_mockidp/rules")
    return out


def print_slow_clients(results: dict[str, Any],
                       table: Callable[[str, list[str], list[list[object]]], None]) -> None:
    rows: list[list[object]] = []
    for name, r in results.items():
        for case, label in (("baseline", "nothing else open"),
                            ("stalled_and_idle",
                             f"{STALLED} stalled + {r['closed']['idle']:,} idle conns"),
                            ("delayed", f"{HELD} token requests held by a delay rule")):
            if case not in r:
                continue
            rows.append([name, label, r[case]["jwks"]["per_s"], r[case]["jwks"]["p99_ms"],
                         r[case]["token"]["per_s"], r[case]["token"]["p99_ms"]])
    table("9. slow clients: 8 connections of JWKS and token requests beside held ones",
          ["server", "beside", "JWKS/s", "p99 ms", "tokens/s", "p99 ms"], rows)
    for name, r in results.items():
        if r.get("rule_status") not in (200, 201):
            print(f"   {name}: adding the delay rule got no answer within 10 s "
                  f"(status {r.get('rule_status')}): the server was still held up")
        c = r["closed"]
        when = f"the last after {c['last_s']} s" if c["closed"] else "none"
        print(f"   {name}: the server closed {c['closed']:,} of the {c['of']:,} stalled and idle "
              f"connections within {c['waited_s']:g} s of opening ({when}; idle timeout "
              f"{r['idle_timeout_s'] or 'not settable'} s)")

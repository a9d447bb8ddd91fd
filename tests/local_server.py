"""Helpers for servers as users meet them: ``mockidp serve`` run as a user would (in its own
process group, always ended), and a check that a port listens on 127.0.0.1 only.

The whole process group is ended, never just the parent, so nothing the command started
outlives the test.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

WAIT = 60.0  # at most this long for the banner or the exit; normally a second or two
TIMEOUT = 10.0


class ServeProcess:
    """A running ``mockidp serve``: its output so far, and whether it started or exited."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def issuer(self) -> str | None:
        """The ``Issuer:`` URL once the banner says it, or None when the process ended first
        (its output is then in `lines`)."""
        line = self.line("Issuer:")
        return None if line is None else line.split()[1]

    def line(self, prefix: str) -> str | None:
        """The next line of output starting with ``prefix``, or None when the process ended
        first."""
        while True:
            try:
                line = self._queue.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError("mockidp serve neither started nor exited: "
                                     + "".join(self.lines)) from None
            if line is None:
                return None
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        """End the process group: SIGTERM, then SIGKILL whatever is left of it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # a worker that outlived its parent
        self.process.wait(10)
        self._reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextlib.contextmanager
def serving(server: Any, name: str = "test-server") -> Iterator[str]:
    """Run a stdlib ``socketserver`` server in a thread: its ``http://127.0.0.1:PORT`` until
    the block ends, then shut down and closed."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without its ``MOCKIDP_*`` variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
    env.update(extra or {})
    return env


def pump_lines(stream: Any, lines: queue.Queue[str | None]) -> None:
    """Put each line of ``stream`` (newline stripped) on ``lines``, then None at its end."""
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


@contextlib.contextmanager
def mockidp_serve(*args: str, env: dict[str, str] | None = None) -> Iterator[ServeProcess]:
    """``mockidp serve ARGS`` with no ``MOCKIDP_*`` variables from this environment (only
    those of ``env``)."""
    env = clean_env(env)
    process = subprocess.Popen(
        [sys.executable, "-m", "mockidp.cli", "serve", *args], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    served = ServeProcess(process)
    try:
        yield served
    finally:
        served.stop()


# -- where a server listens ----------------------------------------------------------------

def listening(port: int) -> set[str]:
    """Local addresses in LISTEN state on ``port`` (what ``ss -ltn`` shows), from /proc."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].partition(":")
            if int(hex_port, 16) != port or fields[3] != "0A":
                continue
            if len(address) == 8:
                found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
            else:
                raw = b"".join(bytes.fromhex(address[i:i + 8])[::-1] for i in range(0, 32, 8))
                found.add(socket.inet_ntop(socket.AF_INET6, raw))
    return found


def other_loopback_usable() -> bool:
    """Whether 127.0.0.2 is a local address here (Linux: all of 127/8 is)."""
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
    except OSError:
        return False
    return True


def assert_local_only(port: int) -> None:
    """``port`` listens on 127.0.0.1 and nowhere else (not on all addresses, not on IPv6)."""
    if Path("/proc/net/tcp").exists():
        assert listening(port) == {"127.0.0.1"}, listening(port)
    if other_loopback_usable():
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.2", port), timeout=TIMEOUT).close()
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT):
        pass

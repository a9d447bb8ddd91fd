"""A real Redis server for the shared-store tests: Debian's ``redis-server``, started by the
test on a free loopback port in a folder of its own, with no persistence, and always stopped.

Without ``redis-server`` the tests that need one are skipped with a reason, except under
``.ci/run`` (``MOCKIDP_CI=1``), where its absence fails them: CI installs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .local_server import free_port

START_WAIT = 10.0


def redis_server_path() -> str:
    """The ``redis-server`` executable, or skip (fail under CI) when there is none."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if found is None:
        if os.environ.get("MOCKIDP_CI") == "1":
            pytest.fail("redis-server is not installed (.ci/run installs Debian's)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return found


class RedisServer:
    """One ``redis-server`` on 127.0.0.1: `url`, `stop`, `start` (again, on the same port:
    a restart loses everything, as nothing is persisted)."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.executable = redis_server_path()
        self.folder = folder
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.folder),
             "--protected-mode", "yes", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_WAIT
        while True:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A started `RedisServer`, stopped (and its folder removed) when the block ends."""
    with tempfile.TemporaryDirectory(prefix="mockidp-redis-") as folder:
        server = RedisServer(Path(folder))
        try:
            yield server.start()
        finally:
            server.stop()

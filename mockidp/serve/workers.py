"""``mockidp serve --workers N``: N full ``mockidp serve`` processes on one port, sharing their
state through one store, started, watched and stopped by the ``mockidp serve`` they came from.

How they share the port: each worker binds its own listening socket with ``SO_REUSEPORT``
(granian's listener does so on Linux; werkzeug's is given the option here), so the kernel
spreads new connections over the workers by a hash of each connection's addresses: every
worker takes its share without any accepting process in the middle, and a worker's
connections stay with it (keep-alive).  The parent holds a socket bound, never listening, to
the port with ``SO_REUSEPORT`` from before the first worker starts until the last has
stopped: it reserves the port (port 0 picks it once, for all) and takes no connection itself.
A worker says it is ready once its own socket listens (read from ``/proc``), not when some
socket on the port answers, so the banner comes when every worker takes connections.

The store: the ``--store`` URL, or with none an embedded ``redis-server`` (Debian's, if
installed) on a unix socket in a private temporary folder (mode 0700), nothing persisted,
stopped with the workers.  With neither, `EmbeddedRedis.find` refuses: workers never keep
state of their own.

Stopping: SIGINT (Ctrl-C) or SIGTERM to the parent stops every worker (SIGTERM, then SIGKILL
after `STOP_WAIT` seconds) and the embedded Redis, then the parent exits 0.  A worker that
exits by itself stops the rest and the parent exits 1.  On Linux every child also gets
SIGTERM should the parent die without cleaning up (``PR_SET_PDEATHSIG``), so nothing is left
behind.  The children stay in the parent's process group: a terminal's Ctrl-C reaches all.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from mockidp.core.errors import MockIdPError

WORKER_ENV = "_MOCKIDP_WORKER"  # set by the parent: this process is worker N (from 1)
READY = "mockidp worker {index} ready: pid {pid}"
START_WAIT = 120.0  # seconds a worker or the embedded Redis may take to start
STOP_WAIT = 10.0  # seconds the workers may take to stop before they are killed
POLL_S = 0.1
MAX_WORKERS = 256


def worker_index() -> int | None:
    """This process's worker number when a ``--workers`` parent started it, else None."""
    raw = os.environ.get(WORKER_ENV, "")
    return int(raw) if raw.isdigit() else None


def ready_line(index: int) -> str:
    return READY.format(index=index, pid=os.getpid())


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to ``host:port`` with ``SO_REUSEPORT``: the workers'
    listeners may join it, nothing else may take the port.  In use → `MockIdPError`."""
    from mockidp.serve.thread import free_port

    if not hasattr(socket, "SO_REUSEPORT"):
        raise MockIdPError("--workers: more than one worker needs SO_REUSEPORT (Linux, BSD, "
                           "macOS); use --workers 1 here")
    chosen = free_port(host, port)  # port in use → the usual message
    family, _, _, _, address = socket.getaddrinfo(host, chosen, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise MockIdPError(f"cannot hold {host}:{chosen} for the workers: "
                           f"{exc.strerror or exc}") from None
    return sock


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` giving the child SIGTERM when the parent dies (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return preexec


class EmbeddedRedis:
    """Debian's ``redis-server`` for ``--workers N`` without ``--store``: a unix socket in a
    private temporary folder, no TCP port, nothing persisted; `stop` ends it and removes
    the folder."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.folder = Path(tempfile.mkdtemp(prefix="mockidp-redis-"))  # mode 0700
        self.socket_path = self.folder / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def find(cls, workers: int) -> EmbeddedRedis:
        """One to start, or `MockIdPError` saying what to do when none is installed."""
        executable = shutil.which("redis-server")
        if executable is None:
            raise MockIdPError(
                f"--workers {workers}: the workers must share one store, and none was given "
                "and no redis-server is installed to start one.  Either pass --store "
                "redis://HOST:6379/0 (or MOCKIDP_STORE), or install redis-server (e.g. "
                "apt-get install redis-server) for an embedded one, or use --workers 1")
        return cls(executable)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, preexec: Callable[[], None] | None) -> str:
        """Start it and wait until it answers PING; its URL.  Fails → `MockIdPError`."""
        log = self.folder / "redis.log"
        self.process = subprocess.Popen(
            [self.executable, "--port", "0", "--unixsocket", str(self.socket_path),
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--daemonize", "no", "--loglevel", "warning",
             "--logfile", str(log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=preexec)
        deadline = time.monotonic() + START_WAIT
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                self.stop()
                raise MockIdPError(f"the embedded redis-server ({self.executable}) did not "
                                   f"start: {tail.strip() or 'no output'}")
            time.sleep(0.02)
        return self.url

    def _answers(self) -> bool:
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(0.5)
            sock.connect(str(self.socket_path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        if self.process is not None:
            _end([self.process])
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)


def _end(processes: Sequence[subprocess.Popen[Any]]) -> None:
    """SIGTERM to each running process, SIGKILL to any still running after `STOP_WAIT`."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
    deadline = time.monotonic() + STOP_WAIT
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.0, deadline - time.monotonic()))
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()


class Worker:
    """One worker process: its stdout read in a thread, the ready line taken from it and
    everything else passed on to ours."""

    def __init__(self, index: int, command: list[str], preexec: Callable[[], None] | None) -> None:
        self.index = index
        self.pid: int | None = None
        self._ready: queue.Queue[bool] = queue.Queue()
        env = {**os.environ, WORKER_ENV: str(index)}
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        text=True, env=env, preexec_fn=preexec)

    def pump(self) -> None:
        threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True,
                         name=f"mockidp-worker-{self.index}").start()

    def _pump(self, stream: IO[str]) -> None:
        expected = READY.format(index=self.index, pid=self.process.pid)
        for line in stream:
            if self.pid is None and line.rstrip("\n") == expected:
                self.pid = self.process.pid
                self._ready.put(True)
                continue
            with contextlib.suppress(OSError, ValueError):
                sys.stdout.write(line)
                sys.stdout.flush()
        self._ready.put(False)

    def wait_ready(self, stopping: threading.Event) -> None:
        """Until the worker is ready; `MockIdPError` when it exits first or takes too long."""
        deadline = time.monotonic() + START_WAIT
        while not stopping.is_set():
            try:
                if self._ready.get(timeout=POLL_S):
                    return
                self.process.wait()
                raise MockIdPError(f"worker {self.index} exited (code "
                                   f"{self.process.returncode}) before it was ready; stopping")
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise MockIdPError(f"worker {self.index} did not start within "
                                       f"{START_WAIT:g} s; stopping") from None


@dataclass(frozen=True)
class WorkerPlan:
    """What the parent needs to run the workers.  ``args``: each worker's ``serve`` options
    but ``--host``, ``--port`` and ``--store`` (added here); ``banner(port, store, pids)``:
    the lines to print once all are ready."""

    count: int
    host: str
    port: int
    args: Sequence[str]
    store: str | None
    shown_store: str | None
    banner: Callable[[int, str, list[int]], list[str]]


def run_workers(plan: WorkerPlan) -> int:
    """Run ``plan.count`` workers until SIGINT or SIGTERM (exit code 0) or until one exits by
    itself (1).  Start failures raise `MockIdPError` after everything started is stopped."""
    stopping = threading.Event()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, interrupt)
    preexec = _die_with_parent()
    redis = EmbeddedRedis.find(plan.count) if plan.store is None else None
    workers: list[Worker] = []
    reserved: socket.socket | None = None
    try:
        store = plan.store if redis is None else redis.start(preexec)
        shown = plan.shown_store if redis is None else (
            f"embedded redis-server at {redis.url} (no persistence; stops with mockidp)")
        reserved = reserve_port(plan.host, plan.port)
        port = int(reserved.getsockname()[1])
        command = [sys.executable, "-m", "mockidp.cli", "serve", *plan.args,
                   "--host", plan.host, "--port", str(port), "--store", str(store)]
        workers = [Worker(i, command, preexec) for i in range(1, plan.count + 1)]
        for worker in workers:  # threads only once every child is forked
            worker.pump()
        for worker in workers:
            worker.wait_ready(stopping)
        if stopping.is_set():
            return 0
        pids = [w.process.pid for w in workers]
        print("\n".join(plan.banner(port, str(shown), pids)), flush=True)
        while not stopping.wait(POLL_S):
            for worker in workers:
                if worker.process.poll() is not None:
                    print(f"Error: worker {worker.index} (pid {worker.process.pid}) exited "
                          f"with code {worker.process.returncode}; stopping the others",
                          file=sys.stderr, flush=True)
                    return 1
        return 0
    finally:
        _end([w.process for w in workers])
        if redis is not None:
            redis.stop()
        if reserved is not None:
            reserved.close()

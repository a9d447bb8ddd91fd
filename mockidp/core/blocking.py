"""Waits that hold only their own request: scripted delays, outbound calls, body reads.

A server with a small pool of request threads (granian's blocking threads) runs the app
through a `Gate`: at most ``runners`` threads run Python code at once, however many requests
are in progress (more threads than cores only fight over the GIL: measured, 32 runnable
threads halve the JWKS throughput of 8).  A request that waits (`sleep`, or any block under
`waiting`) gives its place up for the wait and takes one again after it, so a delay rule
holding 100 token requests holds 100 waiting threads, not the 8 places every other request
needs.  Without a gate (the fixture's server: a thread per connection) the waits just wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()


class Gate:
    """At most ``runners`` threads inside at once (a bounded semaphore), the others
    queueing; `enter`/`leave` mark the calling thread so that `waiting` can step out."""

    def __init__(self, runners: int) -> None:
        self.runners = runners
        self._places = threading.BoundedSemaphore(runners)

    @contextmanager
    def inside(self) -> Iterator[None]:
        """Run the block inside the gate (the calling thread's place, for `waiting`)."""
        self._places.acquire()
        _local.gate = self
        try:
            yield
        finally:
            _local.gate = None
            self._places.release()

    def step_out(self) -> None:
        self._places.release()

    def step_in(self) -> None:
        self._places.acquire()


@contextmanager
def waiting() -> Iterator[None]:
    """A block that waits (sleeps, network I/O) without a place in the calling thread's
    gate, if it has one."""
    gate: Gate | None = getattr(_local, "gate", None)
    if gate is None:
        yield
        return
    gate.step_out()
    try:
        yield
    finally:
        gate.step_in()


def sleep(seconds: float) -> None:
    """`time.sleep` that holds only the calling request (see the module docs)."""
    if seconds <= 0:
        return
    with waiting():
        time.sleep(seconds)

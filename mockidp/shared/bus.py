"""`Bus`: the version barrier that lets each process on a shared store answer requests from
its own copies of the shared state (the state hash, users and clients) with no round trip,
and still see at once a change made by any other process.

Every change that requests read (the clock, the rules, the keys, a reset, the users and
clients of any issuer) ends with `Bus.changed`: ``INCR @bus:epoch``, ``PUBLISH @bus "c
<epoch>"``, then a wait until every live process acknowledged that epoch.  Each process runs one
subscriber thread: on a message it bumps its local `generation` (every copy made at an older
generation is no longer trusted) and acknowledges with ``HSET @bus:acks <process> <epoch>``.  So a
change made through A has been applied at B before A's call returns, and B's next request
reads it.  A journal read asks the same way for a flush (``"f <epoch>"``): each process
sends the exchanges it buffered (`mockidp.shared.journal`), then acknowledges.

Live means a fresh heartbeat: ``@bus:alive:<process>``, set with a TTL of `LEASE_MS` (and the
process added to ``@bus:members``) by the subscriber thread every `BEAT_S` while its subscription
is healthy; a writer drops the members whose heartbeat expired.  A process trusts its
copies only while its own lease runs (measured from before the heartbeat was sent, so it ends
no later than the key expires): a subscriber that is cut off, stalled or reconnecting makes
its process fall back to the per-request reads (`trusted` is False), before any writer stops
waiting for it.  A writer waits at most `WAIT_S` (a live process that does not answer: go
on).  On reconnecting, a process subscribes first, then drops every copy (new generation),
then acknowledges the current epoch and beats: nothing published meanwhile is missed.  A
reset (`RedisState.wipe`) keeps the ``@bus`` keys.  Each heartbeat also checks that the
state hash (``watch``) still exists: a store emptied under an open connection (``FLUSHALL``)
makes the process read everything again, as a restart does.  `close` (a stopped `MockIdP`)
ends the thread and leaves the members; `open` starts it again.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
import types
from collections.abc import Callable
from typing import Any

from mockidp.shared.connection import reachable

LEASE_MS = 1000  # a heartbeat's life (and the longest a process trusts without one)
BEAT_S = 0.2  # how often the subscriber beats
WAIT_S = 2.0  # the longest a writer waits for the acknowledgements
POLL_S = 0.0005  # how often a writer looks at them

# how many live members have not acknowledged epoch ARGV[1]; the dead ones are dropped (in
# one script: a member beating meanwhile is either seen alive or added again after)
_WAITING = """
local waiting = 0
for _, p in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[2] .. p) == 0 then
    redis.call('SREM', KEYS[1], p)
    redis.call('HDEL', KEYS[2], p)
  elseif tonumber(redis.call('HGET', KEYS[2], p) or '0') < tonumber(ARGV[1]) then
    waiting = waiting + 1
  end
end
return waiting
"""


class Bus:
    """One process's end of the barrier (see the module docstring).  ``client`` is the
    process's Redis client; ``name`` makes this namespace's keys; ``flush`` sends the
    buffered journal entries."""

    def __init__(self, client: Any, name: Callable[..., str], watch: str | None = None,
                 listener: Any = None) -> None:
        self.client = client
        # the subscription's client: one that never resends, so that a lost connection
        # surfaces at once (redis-py would otherwise reconnect inside `get_message`, the
        # process trusting its copies meanwhile)
        self._listener = listener if listener is not None else client
        self._watch = watch  # a key whose loss means the store lost everything (FLUSHALL)
        self.me = secrets.token_hex(8)
        self.generation = 0  # bumped whenever the local copies must be read again
        self._bump_lock = threading.Lock()
        self._acked = 0
        self.flush: Callable[[], None] = lambda: None
        self._epoch_key, self._channel = name("bus", "epoch"), name("bus")
        self._acks, self._alive = name("bus", "acks"), name("bus", "alive") + ":"
        self._members = name("bus", "members")
        self._waiting = client.register_script(_WAITING)
        self._lease = 0.0  # monotonic time until which the local copies are trusted
        self._connected = False
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.open()

    def open(self) -> None:
        """Start the subscriber thread (again, after `close`); return once it listens (or
        after 2 s: meanwhile the process is not trusted, and reads the state per request)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._ready.clear()
        self._thread = threading.Thread(target=_listen, args=(self,),
                                        name="mockidp-bus", daemon=True)
        self._thread.start()
        self._ready.wait(2.0)

    def trusted(self) -> bool:
        """Whether the local copies made at the current generation may answer requests."""
        return self._connected and time.monotonic() < self._lease

    def close(self) -> None:
        """Send the buffered journal entries, stop the subscriber thread and leave the
        members (writers no longer wait for this process).  The process stays usable: not
        trusted, it reads the shared state per request until `open`."""
        self._stop.set()
        with contextlib.suppress(Exception):  # a lost Redis: the entries wait for it
            self.flush()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    def bump(self) -> None:
        """A new generation: every local copy made before is read again."""
        with self._bump_lock:
            self.generation += 1

    # -- writers ----------------------------------------------------------------------------
    def changed(self) -> None:
        """Tell every process that shared state changed; return once all live ones have
        dropped their copies (or after `WAIT_S`)."""
        self.bump()  # this process's own copies, at once
        self._announce("c")

    def flush_all(self) -> None:
        """Have every live process send its buffered journal entries (this one first)."""
        self.flush()
        self._announce("f")

    def _announce(self, kind: str) -> None:
        with reachable():
            epoch = int(self.client.incr(self._epoch_key))
            self.client.publish(self._channel, f"{kind} {epoch}")
            deadline = time.monotonic() + WAIT_S
            while self._waiting(keys=[self._members, self._acks], args=[epoch, self._alive]):
                if time.monotonic() >= deadline:
                    return
                time.sleep(POLL_S)

    # -- the subscriber thread --------------------------------------------------------------
    def _beat(self) -> None:
        sent = time.monotonic()
        with self._listener.pipeline(transaction=True) as pipe:
            pipe.set(self._alive + self.me, "1", px=LEASE_MS).sadd(self._members, self.me)
            if self._watch is not None:
                pipe.exists(self._watch)
            answers = pipe.execute()
        if self._watch is not None and not answers[2]:
            # the store was emptied with this connection open (FLUSHALL, FLUSHDB): as after a
            # restart, the copies are read again (the reader sets the baseline again)
            self._acked = 0
            self.bump()
        self._lease = sent + LEASE_MS / 1000 - BEAT_S / 2

    def _ack(self, epoch: int) -> None:
        self._acked = max(self._acked, epoch)  # a message overtaken by a later one
        self._listener.hset(self._acks, self.me, self._acked)

    def _session(self) -> None:
        """One subscription, until it fails or the bus is closed."""
        pubsub = self._listener.pubsub(ignore_subscribe_messages=True)
        resubscribe, live = pubsub.on_connect, threading.Event()

        def reconnected(_: Any, connection: Any) -> None:
            # redis-py reconnects a pubsub by itself: whatever was published meanwhile is
            # lost, so stop trusting at once; the loop then starts a new session
            if live.is_set():
                self._connected, self._lease = False, 0.0
                live.clear()
            resubscribe(connection)

        # a bound method (redis-py keeps a weak one); ``reconnected`` lives with the session
        pubsub.on_connect = types.MethodType(reconnected, pubsub)
        try:
            pubsub.subscribe(self._channel)
            while pubsub.get_message(timeout=0.05) is not None:
                pass  # wait for the subscription to be confirmed
            self.bump()  # whatever changed while not listening
            self._acked = 0  # a restarted Redis counts from 0 again
            self._ack(int(self._listener.get(self._epoch_key) or 0))
            self._beat()
            self._connected = True
            live.set()
            self._ready.set()
            beat = time.monotonic()
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=BEAT_S / 2)
                if not live.is_set():
                    return  # reconnected behind our back: a new session
                if message is not None and message.get("type") == "message":
                    kind, _, epoch = message["data"].decode().partition(" ")
                    if kind == "f":
                        self.flush()
                    else:
                        self.bump()
                    self._ack(int(epoch))
                if time.monotonic() - beat >= BEAT_S:
                    self._beat()
                    beat = time.monotonic()
        finally:
            self._connected = False
            self._lease = 0.0
            with contextlib.suppress(Exception):  # the connection is gone already
                pubsub.close()

    def _leave(self) -> None:
        with contextlib.suppress(Exception), self.client.pipeline(transaction=True) as pipe:
            pipe.srem(self._members, self.me).delete(self._alive + self.me)
            pipe.hdel(self._acks, self.me).execute()  # if Redis is gone: the TTL does it


def _listen(bus: Bus) -> None:
    """The subscriber thread: sessions, reconnecting after a failure, until closed."""
    stop = bus._stop
    while not stop.is_set():
        try:
            bus._session()
        except Exception:  # lost: untrusted until the next session
            bus._ready.set()
        if not stop.is_set():
            stop.wait(0.1)
    bus._leave()

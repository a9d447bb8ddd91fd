"""RFC 8628 device authorization state: device codes, user codes, answers and polling.

A device authorization request (§3.1) creates a `DeviceAuthorization` holding a long random
``device_code`` (for the client) and a short ``user_code`` (for the person, §6.1).  The person
answers on the verification page, or a test answers through `MockIdP.approve_device` /
`deny_device`; the client polls the token endpoint and `DeviceStore.poll` decides the answer
(§3.5): ``authorization_pending``, ``slow_down``, ``expired_token``, ``access_denied``, or the
record, exactly once.

Every time is the provider clock's.  Expired records keep answering ``expired_token`` for
`KEEP_EXPIRED` seconds and are then swept; the store never holds more than `MAX_RECORDS`
(the oldest go first).  Thread-safe: one lock guards every read-modify-write.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from mockidp.core.errors import (
    AccessDenied,
    AuthorizationPending,
    ExpiredToken,
    InvalidGrant,
    SlowDown,
)
from mockidp.core.model import EMPTY

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# RFC 8628 §6.1: base-20 consonants, no vowels (no words) and no look-alike digits.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
SLOW_DOWN_STEP = 5  # RFC 8628 §3.5: "increased by 5 seconds for this and all subsequent"
POLL_TOLERANCE = 0.05  # timer jitter of a client that waits exactly `interval` seconds
KEEP_EXPIRED = 3600
MAX_RECORDS = 10000
MAX_SCRIPTED = 100
_SWEEP_EVERY = 64

PENDING, APPROVED, DENIED, REDEEMED = "pending", "approved", "denied", "redeemed"


def new_user_code() -> str:
    """Eight characters of `USER_CODE_ALPHABET` (about 34.5 bits; RFC 8628 §5.1, §6.1)."""
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def normalize_user_code(text: str) -> str:
    """What a person typed, as stored: upper case, dashes and white space dropped (§6.1)."""
    return "".join(c for c in text.upper() if c != "-" and not c.isspace())


def display_user_code(code: str) -> str:
    """``WDJBMJHT`` → ``WDJB-MJHT``, as shown to the person (§6.1)."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}" if len(code) == USER_CODE_LENGTH else code


@dataclass
class DeviceAuthorization:
    """One device authorization request (RFC 8628 §3.1/§3.2) and its answer so far."""

    device_code: str
    user_code: str
    client_id: str
    scopes: tuple[str, ...]
    audience: tuple[str, ...]
    issued_at: float
    expires_at: float
    interval: int
    status: str = PENDING
    last_poll: float | None = None
    user_id: str | None = None
    login_claims: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    auth_time: int | None = None

    @property
    def shown_code(self) -> str:
        return display_user_code(self.user_code)


@dataclass(frozen=True)
class DeviceAnswer:
    """An answer given before the request exists: applied to the next one created."""

    approve: bool
    user_id: str | None = None
    login_claims: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


class Devices(Protocol):
    """The device authorization requests of one issuer: `DeviceStore` in memory, or a
    shared store.  Every method is atomic; each returns copies."""

    def __len__(self) -> int: ...
    def create(self, client_id: str, scopes: tuple[str, ...], audience: tuple[str, ...],
               now: float, lifetime: int, interval: int) -> DeviceAuthorization: ...
    def pending(self, user_code: str, now: float) -> DeviceAuthorization | None: ...
    def answer(self, user_code: str | None, answer: DeviceAnswer, now: float
               ) -> DeviceAuthorization | None: ...
    def script(self, answer: DeviceAnswer) -> bool: ...
    def peek(self, device_code: str) -> DeviceAuthorization | None: ...
    def poll(self, device_code: str, client_id: str, now: float) -> DeviceAuthorization: ...


class DeviceStore:
    """The device authorization requests of one issuer.  Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_device: dict[str, DeviceAuthorization] = {}
        self._by_user: dict[str, str] = {}
        self._scripted: deque[DeviceAnswer] = deque()
        self._inserts = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_device)

    def create(self, client_id: str, scopes: tuple[str, ...], audience: tuple[str, ...],
               now: float, lifetime: int, interval: int) -> DeviceAuthorization:
        """A new pending request (or one already answered by a scripted `DeviceAnswer`)."""
        with self._lock:
            self._inserts += 1
            if self._inserts % _SWEEP_EVERY == 0 or len(self._by_device) >= MAX_RECORDS:
                self._sweep(now)
            user_code = new_user_code()
            while user_code in self._by_user:
                user_code = new_user_code()
            record = DeviceAuthorization(
                device_code=secrets.token_urlsafe(32), user_code=user_code,
                client_id=client_id, scopes=scopes, audience=audience, issued_at=now,
                expires_at=now + lifetime, interval=interval,
            )
            self._by_device[record.device_code] = record
            self._by_user[user_code] = record.device_code
            if self._scripted:
                self._apply(record, self._scripted.popleft(), now)
            return replace(record)

    def _sweep(self, now: float) -> None:
        """Forget records expired for `KEEP_EXPIRED` seconds, then the oldest over the cap."""
        for code in [c for c, r in self._by_device.items() if now >= r.expires_at + KEEP_EXPIRED]:
            self._forget(code)
        while len(self._by_device) >= MAX_RECORDS:
            self._forget(next(iter(self._by_device)))

    def _forget(self, device_code: str) -> None:
        record = self._by_device.pop(device_code)
        self._by_user.pop(record.user_code, None)

    @staticmethod
    def _apply(record: DeviceAuthorization, answer: DeviceAnswer, now: float) -> None:
        if answer.approve:
            record.status = APPROVED
            record.user_id = answer.user_id
            record.login_claims = answer.login_claims
            record.auth_time = int(now)
        else:
            record.status = DENIED

    def pending(self, user_code: str, now: float) -> DeviceAuthorization | None:
        """A copy of the live, unanswered request with this user code (any spelling)."""
        with self._lock:
            record = self._pending(user_code, now)
            return replace(record) if record is not None else None

    def _pending(self, user_code: str, now: float) -> DeviceAuthorization | None:
        device_code = self._by_user.get(normalize_user_code(user_code))
        record = self._by_device.get(device_code) if device_code is not None else None
        if record is None or record.status != PENDING or now >= record.expires_at:
            return None
        return record

    def answer(self, user_code: str | None, answer: DeviceAnswer, now: float
               ) -> DeviceAuthorization | None:
        """Answer the request with ``user_code``, or with None the oldest one waiting.

        Returns a copy of the answered record; None when there was nothing to answer (the
        caller then says so, or queues the answer with `script`)."""
        with self._lock:
            if user_code is not None:
                record = self._pending(user_code, now)
            else:
                record = next((r for r in self._by_device.values()
                               if r.status == PENDING and now < r.expires_at), None)
            if record is None:
                return None
            self._apply(record, answer, now)
            return replace(record)

    def script(self, answer: DeviceAnswer) -> bool:
        """Queue an answer for the next request created; False when `MAX_SCRIPTED` wait."""
        with self._lock:
            if len(self._scripted) >= MAX_SCRIPTED:
                return False
            self._scripted.append(answer)
            return True

    def peek(self, device_code: str) -> DeviceAuthorization | None:
        """A copy of the record, whatever its state (for rule matching and the journal)."""
        with self._lock:
            record = self._by_device.get(device_code)
            return replace(record) if record is not None else None

    def poll(self, device_code: str, client_id: str, now: float) -> DeviceAuthorization:
        """The token endpoint's poll (RFC 8628 §3.4, §3.5): the approved record, once.

        Raises `InvalidGrant` (unknown, another client's, already redeemed), `SlowDown`
        (polled sooner than the interval; the interval grows by 5 s), `ExpiredToken`,
        `AccessDenied` or `AuthorizationPending`.
        """
        with self._lock:
            record = self._by_device.get(device_code)
            if record is None:
                raise InvalidGrant("device_code is unknown")
            if record.client_id != client_id:
                raise InvalidGrant("device_code was issued to another client")
            if record.status == REDEEMED:
                raise InvalidGrant("device_code was already used to obtain tokens")
            if now >= record.expires_at:
                raise ExpiredToken("device_code has expired; start a new device authorization")
            last, record.last_poll = record.last_poll, now
            if last is not None and now - last < record.interval - POLL_TOLERANCE:
                record.interval += SLOW_DOWN_STEP
                raise SlowDown(f"polled {now - last:.1f} s after the previous request; wait "
                               f"at least {record.interval} s between requests")
            if record.status == DENIED:
                raise AccessDenied("the user denied the device authorization request")
            if record.status == PENDING:
                raise AuthorizationPending("the user has not yet approved the request")
            record.status = REDEEMED
            return replace(record)

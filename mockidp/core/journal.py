"""The journal: every exchange with the provider, as frozen plain data, in a ring buffer.

Bounded (``journal_size``, default 1000) so a long-running server does not grow.  Secrets in
request parameters (``client_secret``, ``password``, ``client_assertion``) are masked.
Query with `Journal.calls`, assert with `Journal.assert_called` / `assert_not_called`.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from mockidp.core.errors import MockIdPError
from mockidp.core.model import EMPTY

SECRET_PARAMS = frozenset({"client_secret", "password", "client_assertion"})
# live credentials: usable again by whoever reads the journal or the dashboard, so only a
# few characters at each end are kept, enough to tell two of them apart
CREDENTIAL_PARAMS = frozenset({
    "refresh_token", "access_token", "token", "subject_token", "actor_token", "assertion",
    "code", "code_verifier", "device_code", "id_token_hint", "logout_token",
})
MASK = "***"
KEPT = 4  # characters shown at each end of a masked credential
DEFAULT_SIZE = 1000


@dataclass(frozen=True)
class Exchange:
    """One request and what came of it."""

    seq: int
    time: float
    provider_time: float
    issuer: str
    endpoint: str
    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    client_id: str | None = None
    grant_type: str | None = None
    user: str | None = None
    status: int = 200
    error: str | None = None
    tokens: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: EMPTY)
    rules: tuple[str, ...] = ()
    # the JOSE header of each minted JWT in ``tokens`` (opaque tokens have none)
    headers: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: EMPTY)
    # the request parameters whose JWT was accepted with its signature unchecked: a
    # permissive issuer has no secret or key of an unregistered client (``client_assertion``,
    # ``assertion``); empty when every signature presented was verified
    unverified: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["params"] = dict(self.params)
        out["tokens"] = {k: dict(v) for k, v in self.tokens.items()}
        out["rules"] = list(self.rules)
        out["headers"] = {k: dict(v) for k, v in self.headers.items()}
        out["unverified"] = list(self.unverified)
        return out


FILTER_FIELDS: tuple[str, ...] = (
    "issuer", "endpoint", "method", "path", "client_id", "grant_type", "user", "status",
    "error", "params",
)


def mask_credential(value: Any) -> Any:
    """``abcd…wxyz`` for a credential long enough to keep its ends (a list: each one)."""
    if isinstance(value, list):
        return [mask_credential(v) for v in value]
    if isinstance(value, str) and len(value) >= 4 * KEPT:
        return f"{value[:KEPT]}…{value[-KEPT:]}"
    return MASK


def mask(params: Mapping[str, Any]) -> dict[str, Any]:
    """Request parameters with secrets masked whole and live credentials (tokens, codes,
    verifiers) down to their ends."""
    return {k: (MASK if k in SECRET_PARAMS else mask_credential(v) if k in CREDENTIAL_PARAMS
                else v) for k, v in params.items()}


class _Later:
    """An entry recorded as the function that builds its `Exchange`: the hot endpoints hand
    over what they already hold, and the frozen record is made only if someone reads it."""

    __slots__ = ("build", "built")

    def __init__(self, build: Callable[[], Exchange]) -> None:
        self.build = build
        self.built: Exchange | None = None

    def exchange(self) -> Exchange:
        if self.built is None:
            self.built = self.build()
        return self.built


class Journal:
    """A thread-safe ring buffer of `Exchange` records."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._lock = threading.Lock()
        self._entries: deque[Exchange | _Later] = deque(maxlen=size)
        self._seq = itertools.count(1)

    @property
    def size(self) -> int:
        return self._entries.maxlen or 0

    def next_seq(self) -> int:
        return next(self._seq)

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self._entries.append(exchange)

    def record_later(self, build: Callable[[], Exchange]) -> None:
        """Record the exchange ``build()`` returns, calling it only when the journal is read
        (``build`` must capture finished, unchanging data)."""
        entry = _Later(build)
        with self._lock:
            self._entries.append(entry)

    def _snapshot(self) -> list[Exchange]:
        with self._lock:
            entries = list(self._entries)
        return [e if isinstance(e, Exchange) else e.exchange() for e in entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def calls(self, **filters: Any) -> list[Exchange]:
        """Exchanges whose fields equal every filter, oldest first.

        ``params`` filters on a subset of the request parameters: ``calls(endpoint="token",
        params={"scope": "openid"})``.  Unknown filter names raise `MockIdPError`.
        """
        for name in filters:
            if name not in FILTER_FIELDS:
                raise MockIdPError(
                    f"journal filter {name!r}: expected one of " + ", ".join(FILTER_FIELDS)
                )
        wanted_params = filters.pop("params", None) or {}
        entries = self._snapshot()
        return [
            e for e in entries
            if all(getattr(e, k) == v for k, v in filters.items())
            and all(e.params.get(k) == v for k, v in wanted_params.items())
        ]

    def assert_called(self, times: int | None = None, **filters: Any) -> list[Exchange]:
        """Fail (AssertionError) unless a matching exchange happened (exactly ``times``)."""
        found = self.calls(**filters)
        if (times is None and not found) or (times is not None and len(found) != times):
            wanted = "at least once" if times is None else f"{times} time(s)"
            raise AssertionError(
                f"expected a call matching {_describe(filters)} {wanted}, found {len(found)}."
                + self._summary()
            )
        return found

    def assert_not_called(self, **filters: Any) -> None:
        """Fail (AssertionError) if a matching exchange happened."""
        found = self.calls(**filters)
        if found:
            raise AssertionError(
                f"expected no call matching {_describe(filters)}, found {len(found)}."
                + self._summary()
            )

    def _summary(self, last: int = 10) -> str:
        entries = self._snapshot()[-last:]
        if not entries:
            return " The journal is empty."
        lines = [
            f"  #{e.seq} {e.method} {e.path} -> {e.status}"
            + (f" {e.error}" if e.error else "")
            + (f" client_id={e.client_id}" if e.client_id else "")
            + (f" grant_type={e.grant_type}" if e.grant_type else "")
            for e in entries
        ]
        return " Recent calls:\n" + "\n".join(lines)


def _describe(filters: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in filters.items()) or "anything"

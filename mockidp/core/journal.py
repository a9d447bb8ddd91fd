"""The journal: every exchange with the provider, as frozen plain data, in a ring buffer.

Bounded twice so a long-running server does not grow: by count (``journal_size``, default
1000) and by bytes (``journal_bytes``, default 8 MiB), the oldest entries going first (the
newest is always kept).  An entry's bytes are an estimate made when it is recorded, from what
it holds (`weigh`): the characters of its strings (parameters, claims, headers, ids) and a few
for each number, key and bracket; a minted JWS by its own length.  That is at least the
length of its JSON for ASCII text (credentials are masked only when the entry is read, so what
is served is often smaller); text outside ASCII is escaped in the JSON and can take more.

A request parameter longer than `VALUE_CAP` characters is kept as its first and last
`VALUE_KEPT` characters around a marker giving its length (`cap_value`), before the masking
below, so one large body cannot fill the journal; claims are kept whole (they are what was
issued) and weighed.

Secrets in request parameters (``client_secret``, ``password``, ``client_assertion``) are
masked.  Query with `Journal.calls`, assert with `Journal.assert_called` / `assert_not_called`.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from mockidp.core.errors import MockIdPError
from mockidp.core.model import EMPTY, Params

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
DEFAULT_BYTES = 8 * 1024 * 1024  # config: journal_bytes
VALUE_CAP = 4096  # a longer request parameter is cut to its ends ...
VALUE_KEPT = 2000  # ... this many characters of each (so a cut value is within the cap)
ENTRY_BYTES = 256  # an entry's fixed fields: their names, numbers, punctuation


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


# the fields of an `Exchange` that vary in size (the others are in ENTRY_BYTES)
_WEIGHED = ("issuer", "endpoint", "method", "path", "params", "client_id", "grant_type",
            "user", "error", "tokens", "rules", "headers")

FILTER_FIELDS: tuple[str, ...] = (
    "issuer", "endpoint", "method", "path", "client_id", "grant_type", "user", "status",
    "error", "params",
)


def cap_value(value: Any) -> Any:
    """``value`` itself, or when a string longer than `VALUE_CAP` its first and last
    `VALUE_KEPT` characters around ``…[N characters, middle cut]…`` (its ends kept, so a
    masked credential still shows its own); a list: each one."""
    if isinstance(value, list):
        return [cap_value(v) for v in value]
    if not isinstance(value, str) or len(value) <= VALUE_CAP:
        return value
    return (f"{value[:VALUE_KEPT]}…[{len(value)} characters, middle cut]…"
            f"{value[-VALUE_KEPT:]}")


def capped(params: Params) -> tuple[Params, int]:
    """``params`` with every value capped (`cap_value`; the same object when none is over),
    and their weight (`Params.size`: no loop unless they are over the cap in all)."""
    if params.size <= VALUE_CAP:
        return params, params.size
    pairs = params.pairs()
    if all(len(value) <= VALUE_CAP for _, value in pairs):
        return params, params.size
    cut = Params((key, cap_value(value)) for key, value in pairs)
    return cut, cut.size


def weigh(value: Any) -> int:
    """About the JSON length of ``value``: strings by their length, mappings and sequences by
    their items, other values as 12.  It runs for every exchange recorded, so the common
    types are told by ``type() is`` (an ABC check costs more than the rest) and the leaves of
    a mapping (claims: strings and numbers) are weighed without a call."""
    kind = type(value)
    if kind is str:
        return len(value) + 3
    if kind is dict or kind is MappingProxyType:
        weight = 2
        for key, item in value.items():
            kind = type(item)
            weight += len(key) + 4 + (len(item) + 3 if kind is str else
                                      12 if kind is int or kind is float else weigh(item))
        return weight
    if kind is list or kind is tuple:
        return 2 + sum(1 + weigh(item) for item in value)
    if value is None or kind is int or kind is float or kind is bool:
        return 12
    if kind is Params:
        return capped(value)[1]
    if isinstance(value, str):
        return len(value) + 3
    if isinstance(value, Mapping):
        return weigh(dict(value))
    if isinstance(value, (list, tuple, set, frozenset)):
        return weigh(list(value))
    return 12


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


class _Entry:
    """One entry and its weight.  The hot endpoints record it as the function that builds
    its `Exchange` and the data they already hold; the frozen record is made only if someone
    reads it."""

    __slots__ = ("args", "build", "built", "params", "weight")

    def __init__(self, build: Callable[..., Exchange] | None, params: Params | None,
                 args: tuple[Any, ...], built: Exchange | None, weight: int) -> None:
        self.build = build
        self.params = params
        self.args = args
        self.built = built
        self.weight = weight

    def exchange(self) -> Exchange:
        if self.built is None:
            assert self.build is not None
            self.built = self.build(self.params, *self.args)
        return self.built


class Journal:
    """A thread-safe ring buffer of `Exchange` records, at most ``size`` of them and about
    ``max_bytes`` (the newest is kept whatever its weight)."""

    def __init__(self, size: int = DEFAULT_SIZE, max_bytes: int = DEFAULT_BYTES) -> None:
        self._lock = threading.Lock()
        self._entries: deque[_Entry] = deque()
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._seq = itertools.count(1)

    @property
    def size(self) -> int:
        return self._size

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def bytes(self) -> int:
        """The estimated weight of the entries held."""
        return self._bytes

    def next_seq(self) -> int:
        return next(self._seq)

    def record(self, exchange: Exchange) -> None:
        params = {k: cap_value(v) for k, v in exchange.params.items()}
        if params != exchange.params:
            exchange = replace(exchange, params=MappingProxyType(params))
        weight = ENTRY_BYTES + sum(weigh(getattr(exchange, name)) for name in _WEIGHED)
        self._append(_Entry(None, None, (), exchange, weight))

    def record_later(self, build: Callable[..., Exchange], params: Params,
                     args: tuple[Any, ...], weight: int) -> None:
        """Record the exchange ``build(params, *args)`` returns, calling it only when the
        journal is read (``args`` must be finished, unchanging data).  ``params`` are capped
        (`capped`) and weighed here; ``weight`` is what ``args`` hold, about as `weigh` counts
        it (the caller knows it for less: a token by its length rather than its claims).
        Positional, a tuple, no repacking: 0.5 us a call where ``*args`` and a keyword took
        0.9 (the whole of it is on every request)."""
        size = params.size
        if size > VALUE_CAP:
            params, size = capped(params)
        self._append(_Entry(build, params, args, None, ENTRY_BYTES + size + weight))

    def _append(self, entry: _Entry) -> None:
        """Keep ``entry``; the oldest go while past the count or the bytes."""
        with self._lock:
            entries = self._entries
            entries.append(entry)
            self._bytes += entry.weight
            while len(entries) > self._size or (
                    self._bytes > self._max_bytes and len(entries) > 1):
                self._bytes -= entries.popleft().weight

    def _snapshot(self) -> list[Exchange]:
        with self._lock:
            entries = list(self._entries)
        return [e.exchange() for e in entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

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

"""Where a provider keeps the state its processes share: the clock, the rules with their fire
counts, the journal, the signing keys, the issuers made on first use and each issuer's
store.  `ProviderState` is what the `Provider` asks of it; `MemoryState` is the default (this
process's own objects, exactly as before: nothing is added to a request), and
`mockidp.shared.state.RedisState` keeps the same things in Redis for several processes.
``Clock``, ``RuleBook``, ``Journal``, ``KeySet`` and the endpoints never learn which one
they run on: they are built here and handed to the provider.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Protocol

from mockidp.core.clock import Clock
from mockidp.core.errors import OAuthError
from mockidp.core.journal import Journal
from mockidp.core.model import Client, EndpointRequest, Outcome, User
from mockidp.core.stores import IssuerStore
from mockidp.scripting.rules import Rule, RuleBook
from mockidp.tokens.keys import KeySet

Handle = Callable[[str, EndpointRequest], Outcome]


class ProviderState(Protocol):
    """The provider-wide state of one provider, in this process or shared."""

    def clock(self) -> Clock: ...

    def rules(self, parse: Callable[[Mapping[str, Any]], Rule]) -> RuleBook:
        """The rule book; ``parse`` rebuilds a rule from its JSON shape (`Rule.as_json`)."""
        ...

    def journal(self, size: int, max_bytes: int) -> Journal: ...

    def keys(self, issuer: str, keys_dir: Path | None, pooled: bool) -> KeySet: ...

    def issuer_store(self, issuer: str, users: Mapping[str, User],
                     clients: Mapping[str, Client], limit: int) -> IssuerStore | None:
        """The store of ``issuer`` (None: the issuer makes its in-memory one)."""
        ...

    def wrap(self, handle: Handle) -> Handle:
        """``handle`` as the provider serves it (the shared state reads its versions once per
        request around it); the same function when nothing is to be done."""
        ...

    def first_start(self) -> bool:
        """Whether this provider is the first on its state (it then sets the baseline)."""
        ...

    def claim_issuer(self, name: str, limit: int) -> bool:
        """Record that issuer ``name`` exists; False when ``limit`` issuers exist already."""
        ...

    def issuer_names(self) -> list[str]:
        """The issuers made so far by any process sharing this state."""
        ...

    def on_reset(self, forget: Callable[[], None], seed: Callable[[], None]) -> None:
        """Call ``forget`` when another process reset the shared state (drop local caches),
        and ``seed`` when the store lost it (a restarted Redis: set the config baseline)."""
        ...

    def wipe(self, declared: Collection[str]) -> None:
        """Clear the shared state for every process (the keys of ``declared`` issuers stay)."""
        ...

    def status(self) -> dict[str, Any]:
        """``store`` (its kind), ``reachable`` and, when not, ``error``."""
        ...

    def open(self) -> None:
        """Start what keeps this process's copies of the state fresh (when serving)."""
        ...

    def close(self) -> None:
        """Stop it (the state stays usable, read per request)."""
        ...

    def unavailable(self, error: Exception) -> OAuthError | None:
        """The protocol answer to ``error`` if it is the store's being unreachable."""
        ...


class MemoryState:
    """This process's own objects (the default): no sharing, no work per request."""

    def clock(self) -> Clock:
        return Clock()

    def rules(self, parse: Callable[[Mapping[str, Any]], Rule]) -> RuleBook:
        return RuleBook()

    def journal(self, size: int, max_bytes: int) -> Journal:
        return Journal(size, max_bytes)

    def keys(self, issuer: str, keys_dir: Path | None, pooled: bool) -> KeySet:
        return KeySet(issuer, keys_dir, pooled=pooled)

    def issuer_store(self, issuer: str, users: Mapping[str, User],
                     clients: Mapping[str, Client], limit: int) -> IssuerStore | None:
        return None

    def wrap(self, handle: Handle) -> Handle:
        return handle

    def first_start(self) -> bool:
        return True

    def claim_issuer(self, name: str, limit: int) -> bool:
        return True  # the provider counts its own issuers

    def issuer_names(self) -> list[str]:
        return []

    def on_reset(self, forget: Callable[[], None], seed: Callable[[], None]) -> None:
        return None  # nobody else resets this state

    def wipe(self, declared: Collection[str]) -> None:
        return None  # the provider's reset clears its own objects

    def status(self) -> dict[str, Any]:
        return {"store": "memory", "reachable": True}

    def open(self) -> None:
        return None  # nothing runs in the background

    def close(self) -> None:
        return None

    def unavailable(self, error: Exception) -> OAuthError | None:
        return None

"""`SharedKeySet`: one issuer's signing keys for every process on a shared store, so that
replicas publish one JWKS and verify each other's tokens.

The keys live in Redis, not in a shared keys directory: replicas behind a load balancer
often share no disk, and Redis is already the one thing they all reach.  ``@keys:{issuer}``
maps each key family to the PEM (PKCS #8) of its active private key, ``@keys:{issuer}:
previous`` maps ``{family}-{thumbprint}`` to the rotated-out ones still published.  The first
process needing a family's key makes it and stores it with HSETNX; one that loses that race
loads the winner's, so all sign with one key.  Rotation is one Lua script (compare the active
key, move it to ``previous``, store the new one, bump the ``keys`` version of the state
hash); retirement deletes from ``previous`` and bumps the version too.  Each process keeps
its keys parsed in memory and drops them when the version in its copy of the state hash has
changed (both end with the barrier of `mockidp.shared.bus`): no round trip per request
otherwise.  Keys retired here and stray keys for bad tokens stay
local (they are never published).

With a keys directory too (``--keys-dir``, a declared issuer), the folder seeds the store and
follows it: a family the store has no key for yet starts from the folder's ``{family}.pem``
when there is one (so a fresh or restarted Redis gets the same keys back, and the JWKS a
resource server cached stays good), and the store's active key is written to the folder
whenever it is not the one there (made by another process, or rotated).  Rotated-out keys
stay in the store only.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from mockidp.core.errors import MockIdPError
from mockidp.shared.connection import reachable
from mockidp.shared.once import Once
from mockidp.shared.snapshot import SharedView
from mockidp.tokens.keys import (
    FAMILIES,
    FAMILY,
    KeyPair,
    KeySet,
    PrivateKey,
    SigningKey,
    family_of_key,
    load_key_file,
    make_pair,
    write_key_file,
)

log = logging.getLogger("mockidp")

_ROTATE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1] .. '-' .. ARGV[3], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HINCRBY', KEYS[3], 'keys', 1)
return 1
"""
_RETIRE = """
local removed = redis.call('HDEL', KEYS[1], unpack(ARGV))
redis.call('HINCRBY', KEYS[2], 'keys', 1)
return removed
"""


def to_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def from_pem(pem: bytes, family: str, where: str) -> KeyPair:
    """The key pair of a stored PEM; anything else raises `MockIdPError` naming the key."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise MockIdPError(f"{where}: not a usable PEM private key ({exc})") from None
    if family_of_key(key) != family:
        raise MockIdPError(f"{where}: expected a {family} key")
    return make_pair(key, family)  # type: ignore[arg-type]


class SharedKeySet(KeySet):
    """`KeySet` whose active and rotated-out keys are the shared store's."""

    def __init__(self, state: SharedView, issuer: str, pooled: bool = False,
                 keys_dir: Path | None = None) -> None:
        super().__init__(issuer, keys_dir, pooled=pooled)
        self._state = state
        self._active_key = state.name("keys", issuer)
        self._previous_key = state.name("keys", issuer, "previous")
        self._stamp: tuple[str, int] | None = None
        memo = state.name("keys") + ":"  # a resent rotation would fail its check (`once`)
        self._rotate = Once(state.client, _ROTATE, memo)
        self._retire = Once(state.client, _RETIRE, memo)

    def _sync(self) -> None:
        """Drop the parsed keys when another process changed them (the request's snapshot)."""
        snap = self._state.current()
        stamp = (snap.gen, snap.keys)
        if stamp != self._stamp:
            with self._lock:
                self._forget()
                self._stamp = stamp

    def _forget(self) -> None:
        self._active = {}
        self._previous = {}
        self._by_kid = {}
        self._jwks = None
        self._loaded_previous = False

    def _load_previous(self) -> None:
        if self._loaded_previous:
            return
        with reachable():
            stored = self._state.client.hgetall(self._previous_key)
        for name, pem in sorted(stored.items()):
            family = name.decode().split("-", 1)[0]
            if family in FAMILIES:
                pair = from_pem(pem, family, f"{self._previous_key} {name.decode()}")
                self._previous.setdefault(family, []).append(pair)
                self._index(pair)
        self._loaded_previous = True

    def _load_or_create(self, family: str) -> KeyPair:
        client = self._state.client
        folder = self._folder()
        path = folder / f"{family}.pem" if folder is not None else None
        with reachable():
            pem = client.hget(self._active_key, family)
            if pem is None:
                seed = to_pem(load_key_file(path, family).private_key) \
                    if path is not None and path.exists() else None
                fresh = seed if seed is not None else to_pem(self._generate(family))
                if client.hsetnx(self._active_key, family, fresh):
                    pem = fresh
                else:  # another process stored it first: share it
                    pem = client.hget(self._active_key, family)
        pair = from_pem(pem, family, f"{self._active_key} {family}")
        if path is not None:
            self._keep_in_folder(path, pair)
        return pair

    @staticmethod
    def _keep_in_folder(path: Path, pair: KeyPair) -> None:
        """Write the store's active key to the keys directory unless it is there already.
        The folder is a copy here: one that cannot be written is said, not fatal."""
        if path.exists():
            with contextlib.suppress(MockIdPError):
                if load_key_file(path, pair.family).thumbprint == pair.thumbprint:
                    return
        try:
            write_key_file(path, pair.private_key)
        except (MockIdPError, OSError) as exc:
            log.warning("mockidp: the shared store's %s key is not kept in %s: %s",
                        pair.family, path, exc)

    def active(self, alg: str) -> SigningKey:
        self._sync()
        return super().active(alg)

    def find(self, kid: str) -> SigningKey | None:
        self._sync()
        key = self._by_kid.get(kid)
        if key is None:
            with self._lock:
                self._load_previous()
                self.ensure_all()
            key = self._by_kid.get(kid)
        return key

    def jwks(self) -> dict[str, Any]:
        self._sync()
        return super().jwks()

    def describe(self) -> list[dict[str, Any]]:
        self._sync()
        return super().describe()

    def rotate(self, alg: str | None = None) -> list[str]:
        """New active keys, for every process (see the module docstring)."""
        self._sync()
        if alg is not None and alg not in FAMILY:
            raise MockIdPError(f"alg: expected one of {', '.join(FAMILY)}, got {alg!r}")
        families = FAMILIES if alg is None else (FAMILY[alg],)
        new_kids: list[str] = []
        with self._lock:
            self._load_previous()
            for family in families:
                old = self._pair(family)
                fresh = self._generate(family)
                with reachable():
                    done = self._rotate(
                        keys=[self._active_key, self._previous_key, self._state.key],
                        args=[family, to_pem(old.private_key), old.thumbprint,
                              to_pem(fresh)])
                if not done:
                    if new_kids:  # the families rotated before this one
                        self._state.changed()
                    raise MockIdPError(f"issuer {self.issuer!r}: its {family} key was rotated "
                                       "by another process meanwhile; rotate again")
                new_kids += [k.kid for k in make_pair(fresh, family).keys.values()]
            self._forget()
            self._stamp = None
        self._state.changed()
        return new_kids

    def retire(self, kid: str | None = None) -> list[str]:
        """Stop publishing rotated-out keys, for every process."""
        self._sync()
        removed: list[str] = []
        fields: list[str] = []
        with self._lock:
            self._load_previous()
            self.ensure_all()
            if kid is not None and any(k.kid == kid for p in self._active.values()
                                       for k in p.keys.values()):
                raise MockIdPError(f"key {kid!r} is active: rotate before retiring it")
            for family in FAMILIES:
                for pair in self._previous.get(family, []):
                    kids = [k.kid for k in pair.keys.values()]
                    if kid is None or kid in kids:
                        removed += kids
                        fields.append(f"{family}-{pair.thumbprint}")
                        self._retired[family] = pair
            if kid is not None and not removed:
                raise MockIdPError(f"no rotated-out key with kid {kid!r}")
            if fields:
                with reachable():
                    self._retire(keys=[self._previous_key, self._state.key], args=fields)
            self._forget()
            self._stamp = None
        if fields:
            self._state.changed()
        return removed


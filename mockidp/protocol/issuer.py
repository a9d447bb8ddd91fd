"""`Issuer`: one logical provider's settings, keys, protocol state, users and clients."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mockidp.core.model import Client, User
from mockidp.core.settings import IssuerSettings
from mockidp.core.stores import IssuerStore
from mockidp.protocol.assertions import AssertionCaches
from mockidp.protocol.dpop import Nonces, ProofReplayCache
from mockidp.tokens.keys import KeySet


class Issuer:
    """One logical provider: settings, keys, protocol state, users and clients added at run time.

    Thread-safe: the store and the key set lock themselves; run-time users and clients are
    replaced, never mutated in place.
    """

    def __init__(self, name: str, settings: IssuerSettings, keys_dir: Path | None) -> None:
        self.name = name
        self.settings = settings
        self.keys = KeySet(name, keys_dir)
        self.store = IssuerStore()
        self.users: Mapping[str, User] = settings.users
        self.clients: Mapping[str, Client] = settings.clients
        self._adhoc: dict[str, Client] = {}
        self.documents: dict[str, dict[str, Any]] = {}  # discovery, per issuer URL
        self._clients_lock = threading.Lock()
        self.dpop_nonces = Nonces()
        self.dpop_replay = ProofReplayCache()
        self.assertions = AssertionCaches()  # RFC 7523 jti replay cache, jwks_uri cache

    def find_user(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    def find_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def client_or_adhoc(self, client_id: str) -> Client:
        """The registered client, or an unregistered one (kept, a few hundred at most)."""
        found = self.clients.get(client_id) or self._adhoc.get(client_id)
        if found is None:
            found = Client(id=client_id, registered=False)
            if len(self._adhoc) < 256:
                self._adhoc[client_id] = found
        return found

    def put_client(self, client: Client) -> None:
        """Add or replace a run-time client; concurrent additions are all kept."""
        with self._clients_lock:
            self.clients = MappingProxyType({**self.clients, client.id: client})

    def drop_client(self, client_id: str) -> bool:
        """Remove a client; False if there was none."""
        with self._clients_lock:
            if client_id not in self.clients:
                return False
            self.clients = MappingProxyType(
                {k: v for k, v in self.clients.items() if k != client_id})
            return True

    def put_user(self, user: User) -> None:
        """Add or replace a run-time user; concurrent additions are all kept."""
        with self._clients_lock:
            self.users = MappingProxyType({**self.users, user.id: user})

    def drop_user(self, user_id: str) -> bool:
        """Remove a user; False if there was none."""
        with self._clients_lock:
            if user_id not in self.users:
                return False
            self.users = MappingProxyType({k: v for k, v in self.users.items() if k != user_id})
            return True

    def reset(self) -> None:
        """Back to the config baseline; keys stay."""
        self.store.clear()
        self.assertions.clear()
        self.users = self.settings.users
        self.clients = self.settings.clients

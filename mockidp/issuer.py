"""`Issuer`: one logical provider's settings, keys, protocol state, users and clients."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .keys import KeySet
from .model import Client, User
from .settings import IssuerSettings
from .store import IssuerStore


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

    def find_user(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    def find_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def reset(self) -> None:
        """Back to the config baseline; keys stay."""
        self.store.clear()
        self.users = self.settings.users
        self.clients = self.settings.clients

"""`Issuer`: one logical provider (OpenID Connect Discovery 1.0 §2, RFC 8414 §2: an issuer
identifier with its own metadata and keys): its settings, its signing keys, and its state
behind the `IssuerStore` interface (protocol records, replay caches, run-time users and
clients)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from mockidp.core.model import Client, User
from mockidp.core.settings import IssuerSettings
from mockidp.core.stores import STORE_LIMIT, IssuerStore, MemoryStore
from mockidp.profiles import IssuerView, Profile
from mockidp.profiles.generic import GENERIC
from mockidp.protocol.assertions import AssertionCaches
from mockidp.protocol.dpop import Nonces
from mockidp.protocol.outbound import Outbound
from mockidp.tokens.keys import KeySet


class Issuer:
    """One logical provider: settings, keys, protocol state, users and clients added at run time.

    Thread-safe: the store and the key set lock themselves.  ``documents`` (prepared
    discovery documents, a function of the settings and the issuer URL alone) and the
    ad-hoc clients (emptied by `reset`) are caches.
    """

    def __init__(self, name: str, settings: IssuerSettings, keys_dir: Path | None,
                 store: IssuerStore | None = None, profile: Profile = GENERIC,
                 outbound: Outbound | None = None, store_limit: int = STORE_LIMIT,
                 first_use: bool = False, options: Mapping[str, Any] | None = None,
                 keys: KeySet | None = None) -> None:
        self.name = name
        self.settings = settings
        self.profile = profile  # where its endpoints live (paths come only from here)
        self.options: Mapping[str, Any] = options if options is not None else {}
        # its mount points: the first is its own (generic: ``/{name}``)
        self.mounts = profile.mounts(name, self.options) if profile.fixed else (
            profile.mount_of(name),)
        self.mount = self.mounts[0]
        self._jwks: tuple[object, Mapping[str, Any]] | None = None
        # made on first use (not declared): cheap RSA keys from the shared prime pool
        self.keys = keys if keys is not None else KeySet(name, keys_dir, pooled=first_use)
        self.store: IssuerStore = store if store is not None else MemoryStore(
            settings.users, settings.clients, store_limit)
        self._adhoc: dict[str, Client] = {}
        self.documents: dict[str, dict[str, Any]] = {}  # discovery, per issuer URL
        self.dpop_nonces = Nonces(name, self.keys)  # the same in every replica
        self.dpop_replay = partial(self.store.first_use, "dpop")  # RFC 9449 §11.1
        self.outbound = outbound if outbound is not None else Outbound()  # bounded requests
        self.assertions = AssertionCaches(partial(self.store.first_use, "assertion"),
                                          self.outbound)

    def identifier(self, base_url: str) -> str:
        """The issuer identifier under ``base_url`` (scheme, host and any mount prefix)."""
        return self.profile.identifier(base_url, self.mount, self.options)

    def url(self, base_url: str, endpoint: str) -> str:
        """The URL of ``endpoint`` of this issuer under ``base_url``."""
        return self.profile.endpoint_url(base_url, self.mount, endpoint)

    def owns(self, iss: str) -> bool:
        """Whether a token's ``iss`` can name this issuer (under any base URL)."""
        return self.profile.owns(iss, self.mount, self.options)

    def view(self, base_url: str) -> IssuerView:
        """What the profile's steps see of this issuer, for a request under ``base_url``."""
        return IssuerView(self.name, self.options, self.identifier(base_url), base_url,
                          self.mount, self.find_client)

    def jwks(self) -> Mapping[str, Any]:
        """The published JWKS as the profile shows it (the same object until keys change)."""
        source = self.keys.jwks()
        cached = self._jwks
        if cached is not None and cached[0] is source:
            return cached[1]
        shown = self.profile.jwks(source)
        self._jwks = (source, shown)
        return shown

    @property
    def users(self) -> Mapping[str, User]:
        """The configured users, with those added at run time."""
        return self.store.users()

    @property
    def clients(self) -> Mapping[str, Client]:
        """The configured clients, with those added at run time."""
        return self.store.clients()

    def find_user(self, user_id: str) -> User | None:
        return self.store.users().get(user_id)

    def find_client(self, client_id: str) -> Client | None:
        return self.store.clients().get(client_id)

    def client_or_adhoc(self, client_id: str) -> Client:
        """The registered client, or an unregistered one (kept, a few hundred at most)."""
        found = self.clients.get(client_id) or self._adhoc.get(client_id)
        if found is None:
            found = Client(id=client_id, registered=False)
            if len(self._adhoc) < 256:
                self._adhoc[client_id] = found
        return found

    def put_client(self, client: Client) -> None:
        """Add or replace a run-time client."""
        self.store.put_client(client)

    def drop_client(self, client_id: str) -> bool:
        """Remove a client; False if there was none."""
        return self.store.drop_client(client_id)

    def put_user(self, user: User) -> None:
        """Add or replace a run-time user."""
        self.store.put_user(user)

    def drop_user(self, user_id: str) -> bool:
        """Remove a user; False if there was none."""
        return self.store.drop_user(user_id)

    def reset(self) -> None:
        """Back to the config baseline; keys stay."""
        self.store.clear()
        self.forget_local()

    def forget_local(self) -> None:
        """Drop what this process alone remembers (another process reset the shared store)."""
        self.assertions.clear()
        self._adhoc.clear()  # `documents` stay: they depend on the settings alone

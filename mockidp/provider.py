"""`Provider`: the core every door drives.  Issuers, the clock, the rules, the journal and
the endpoint table; ``handle(name, request) -> outcome`` answers the protocol, and the
scripting methods (users, clients, rules, clock, journal, keys, minting, reset) are the method
set that the Python API, the pytest fixture, the CLI and config file, and the control API all
spell.  Plain Python: no Flask, no sockets, no threads (`mockidp.api.MockIdP` serves it).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mockidp.core.clock import seconds_arg
from mockidp.core.device_codes import DeviceAnswer
from mockidp.core.errors import MockIdPError, NotFound, OAuthError
from mockidp.core.journal import Exchange
from mockidp.core.model import EMPTY, Client, EndpointRequest, Outcome, User
from mockidp.core.settings import (
    ISSUER_NAME,
    RESERVED_ISSUERS,
    SIGNING_ALGS,
    Settings,
    client_from_args,
    is_absolute_url,
    load_settings,
    parse_time,
    user_from_args,
)
from mockidp.profiles import Profile
from mockidp.profiles.catalog import BAD_KINDS, ENDPOINT_NAMES, make_bad_token
from mockidp.profiles.declared import declared_profiles
from mockidp.profiles.generic import GENERIC
from mockidp.protocol.device import answer_device, approval_claims
from mockidp.protocol.exchange import Exchanges
from mockidp.protocol.extra import ExtraEndpoint
from mockidp.protocol.issuer import Issuer
from mockidp.protocol.minting import mint_claims
from mockidp.protocol.outbound import Outbound
from mockidp.protocol.state import MemoryState, ProviderState
from mockidp.protocol.table import endpoint_table
from mockidp.scripting.dashboard import JOURNAL_LIMIT, dashboard_data, issuer_data
from mockidp.scripting.rules import Rule, parse_rule
from mockidp.tokens.inspect import inspect_token
from mockidp.tokens.signer import sign

DEFAULT_PORT = 8080
MAX_ISSUERS = 1000


def state_for(store: str | None, settings: Settings) -> ProviderState:
    """The state of a provider: in this process, or in the Redis at ``store`` (the argument,
    else the config's), reached now (`MockIdPError` naming the URL if it cannot be)."""
    url = store if store is not None else settings.store
    if url is None:
        return MemoryState()
    from mockidp.shared.state import RedisState  # lazy: redis is imported only for a store

    return RedisState(url, "store" if store is not None else f"{settings.source}: store")


class Provider:
    """A mock OAuth 2.0 / OpenID Connect provider, not serving.

    ``config`` is a path to a TOML/JSON file, a mapping of the same shape, or `Settings`.
    ``public_url`` fixes the base of every issuer URL, whatever host name a request used;
    ``keys_dir`` keeps signing keys between runs.  ``store`` (or the config's ``store``), a
    Redis URL, shares the state with every provider using it (`mockidp.protocol.state`);
    its signing keys then live there.  All methods are thread-safe.
    """

    def __init__(
        self,
        config: str | Path | Mapping[str, Any] | Settings | None = None,
        *,
        keys_dir: str | Path | None = None,
        interactive_login: bool | None = None,
        public_url: str | None = None,
        control: bool = True,
        control_token: str | None = None,
        allowed_hosts: Iterable[str] = (),
        store: str | None = None,
    ) -> None:
        settings = load_settings(config)
        public = public_url if public_url is not None else settings.public_url
        if public is not None and (not isinstance(public, str) or not is_absolute_url(public)
                                   or "?" in public):
            raise MockIdPError(f"public_url: expected an absolute http(s) URL without query or "
                               f"fragment, got {public!r}")
        if interactive_login is not None:
            base = {**settings.base, "interactive_login": bool(interactive_login)}
            settings = dataclasses.replace(settings, base=MappingProxyType(base))
        self.settings = settings
        self.keys_dir = Path(keys_dir) if keys_dir is not None else None
        self.public_url = public.rstrip("/") if public else None
        self.control = control  # the /_mockidp/ control API and the dashboard are served
        self.control_token = control_token or None
        hosts = (*settings.allowed_hosts, *allowed_hosts)
        if isinstance(allowed_hosts, str) or not all(isinstance(h, str) and h for h in hosts):
            raise MockIdPError(f"allowed_hosts: expected a list of host names, got "
                               f"{allowed_hosts!r}")
        # Host names the control API and dashboard answer, besides loopback and the public
        # URL's host (against DNS rebinding); "*" is any
        self.allowed_hosts = frozenset(h.strip().lower() for h in hosts)
        self.state = state_for(store, settings)
        self.clock = self.state.clock()
        self.rules = self.state.rules(
            lambda spec: parse_rule(spec, "rule", tuple(BAD_KINDS), ENDPOINT_NAMES))
        self.journal = self.state.journal(settings.journal_size, settings.journal_bytes)
        self._issuers: dict[str, Issuer] = {}
        self._lock = threading.Lock()
        self.outbound = Outbound()  # the provider's own requests, bounded (all issuers)
        self._baseline_rules = tuple(
            parse_rule({"id": f"config-{i + 1}", **spec}, f"{settings.source}: rules[{i}]",
                       tuple(BAD_KINDS), ENDPOINT_NAMES)
            for i, spec in enumerate(settings.rules)
        )
        # ``default`` and the issuers of the config: kept by `reset`, keys kept in keys_dir
        self.declared = frozenset({"default", *settings.issuers})
        self._profiles = declared_profiles(settings)  # issuer -> (profile, its options)
        self.exchanges = Exchanges(self.issuer, self._issuers.get, self.issuer_url_for,
                                   self.clock, self.rules, self.journal, self.base_for,
                                   self.issuer_of)
        self.endpoints = endpoint_table(self.exchanges, lambda: self.control_token)
        self.extras = ExtraEndpoint(self.exchanges)  # the endpoints only a profile has
        handle = self.state.wrap(self.handle)
        if handle != self.handle:  # shared: its versions are read once per request
            self.handle = handle  # type: ignore[method-assign,assignment]
        self.state.on_reset(self._forget_local, self._baseline)
        if self.state.first_start():  # else the state others share is kept as it is
            self.reset()

    @property
    def url(self) -> str:
        """The base URL issuer identifiers use when no request names one (`MockIdP` tells
        where it serves)."""
        return f"http://127.0.0.1:{DEFAULT_PORT}"

    def base_for(self, base_url: str | None) -> str:
        """The base of identifiers and endpoint URLs for a request at ``base_url``
        (``scheme://host`` and any mount prefix, e.g. Keycloak's ``/auth``): the public URL
        when one is set (so a browser on localhost and a container reaching the provider by
        another name see one issuer), with the request's prefix; else ``base_url``; else the
        server's own."""
        if base_url is None:
            return (self.public_url or self.url).rstrip("/")
        if self.public_url:
            rest = base_url.split("://", 1)[-1]
            slash = rest.find("/")
            return self.public_url + (rest[slash:].rstrip("/") if slash >= 0 else "")
        return base_url.rstrip("/")

    def issuer_url_for(self, issuer: str, base_url: str | None) -> str:
        """The issuer identifier of ``issuer`` for a request at ``base_url`` (`base_for`)."""
        return self.issuer(issuer).identifier(self.base_for(base_url))

    def issuer_of(self, iss: str) -> Issuer | None:
        """The existing issuer whose identifier ``iss`` can be (under any base URL)."""
        name = iss.rstrip("/").rsplit("/", 1)[-1]
        found = self._issuers.get(name)
        if found is not None and found.owns(iss):
            return found
        for issuer in list(self._issuers.values()):
            if issuer.profile.fixed and issuer.owns(iss):
                return issuer
        return None

    def _issuer_url_at(self, base_url: str | None) -> Callable[[str], str]:
        """Issuer name → the issuer URL a request at ``base_url`` sees (None: our own)."""
        return lambda issuer: self.issuer_url_for(issuer, base_url)

    def handle(self, name: str, req: EndpointRequest) -> Outcome:
        """Answer the protocol request ``req`` at endpoint ``name``: the one call the HTTP
        adapter makes.  Protocol errors raise `OAuthError`, scripted faults `ScriptedFault`;
        an unknown issuer or endpoint raises `NotFound`."""
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            issuer = self._issuers.get(req.issuer)
            extra = issuer.profile.extras.get(name) if issuer is not None else None
            if extra is None:
                raise NotFound(f"no endpoint called {name!r}")
            return self.extras(name, extra, req)
        return endpoint(req)

    def issuer_url(self, issuer: str = "default") -> str:
        """The issuer identifier: ``{public_url or url}/{issuer}``."""
        self.issuer(issuer)
        return self.issuer_url_for(issuer, None)

    def reset(self) -> None:
        """Back to the config baseline: run-time users, clients and rules are dropped (config
        rules start over), codes, tokens, sessions and the journal are forgotten, the clock is
        back to its configured state.  Issuers made on first use are forgotten (their keys
        too); the declared ones and ``default`` keep their keys.  On a shared store, for
        every provider using it."""
        self.state.wipe(self.declared)
        self._forget_local()
        self._baseline()

    def _forget_local(self) -> None:
        """Forget this process's own copies: issuers made on first use, local caches."""
        with self._lock:
            for name in [n for n in self._issuers if n not in self.declared]:
                del self._issuers[name]  # in place: the exchanges hold this dict's lookup
        for issuer in list(self._issuers.values()):
            issuer.forget_local()

    def _baseline(self) -> None:
        """The config's clock and rules, an empty journal and issuer stores."""
        self.clock.reset()
        clock = self.settings.clock
        if clock.skew:
            self.clock.skew(clock.skew)
        if clock.freeze is not None:
            self.clock.freeze(clock.freeze)
        self.rules.clear()
        for rule in self._baseline_rules:
            self.rules.add(dataclasses.replace(rule, fired=0, misses=type(rule.misses)(maxlen=3),
                                               seen_endpoint=False))
        self.journal.clear()
        for issuer in list(self._issuers.values()):
            issuer.store.clear()

    def store_status(self) -> dict[str, Any]:
        """Where the state lives and whether it answers: ``store`` (``memory`` or ``redis``),
        ``reachable``, and when it is not, ``error`` (for the health check)."""
        return self.state.status()

    def unavailable(self, error: Exception) -> OAuthError | None:
        """``temporarily_unavailable`` (503) when ``error`` is the shared store being lost."""
        return self.state.unavailable(error)

    # -- issuers, users, clients --------------------------------------------------------------
    def issuer(self, name: str = "default") -> Issuer:
        """The issuer called ``name``, created on first use.  Bad name → `NotFound`."""
        found = self._issuers.get(name)
        if found is not None:
            return found
        if not isinstance(name, str) or not ISSUER_NAME.match(name) or name in RESERVED_ISSUERS:
            raise NotFound(f"no issuer called {name!r}")
        with self._lock:
            found = self._issuers.get(name)
            if found is None:
                if len(self._issuers) >= MAX_ISSUERS or not self.state.claim_issuer(
                        name, MAX_ISSUERS):
                    raise NotFound(f"too many issuers (at most {MAX_ISSUERS})")
                # only declared issuers keep their keys in the keys directory: one made
                # on first use by any request must not leave files behind, and its RSA
                # keys are cheap ones (`mockidp.tokens.keypool`: not secret, so only where
                # tokens are anyone's for the asking anyway: a permissive issuer)
                declared = name in self.declared
                profile, options = self._profiles.get(name, (GENERIC, EMPTY))
                settings = self.settings.issuer(name, profile.defaults)
                keys_dir = self.keys_dir if declared else None
                pooled = not declared and not settings.strict
                found = Issuer(name, settings, keys_dir, outbound=self.outbound,
                               store_limit=self.settings.store_limit, first_use=pooled,
                               profile=profile, options=options,
                               keys=self.state.keys(name, keys_dir, pooled),
                               store=self.state.issuer_store(name, settings.users,
                                                             settings.clients,
                                                             self.settings.store_limit))
                self._issuers[name] = found
            return found

    def mounts(self) -> list[tuple[Profile, str, str]]:
        """Where the issuers of named profiles live: (profile, mount point, issuer) for each
        of their mount points (the route table adds them beside the generic ``/{issuer}``)."""
        found = []
        for name in self._profiles:
            issuer = self.issuer(name)
            found += [(issuer.profile, mount, name) for mount in issuer.mounts]
        return found

    def issuers(self) -> list[str]:
        """Names of the issuers that exist so far (``default`` and any used or declared)."""
        for name in ("default", *self.settings.issuers, *self.state.issuer_names()):
            self.issuer(name)
        return list(self._issuers)

    def add_user(
        self,
        user_id: str,
        claims: Mapping[str, Any] | None = None,
        *,
        password: str | None = None,
        issuer: str = "default",
    ) -> User:
        """Add or replace a user of ``issuer`` until the next `reset`."""
        user = user_from_args(user_id, claims, password)
        self.issuer(issuer).put_user(user)
        return user

    def remove_user(self, user_id: str, *, issuer: str = "default") -> bool:
        """Remove a user until the next `reset`; False if there was none."""
        return self.issuer(issuer).drop_user(user_id)

    def users(self, issuer: str = "default") -> dict[str, User]:
        """The users of ``issuer`` (configured and added)."""
        return dict(self.issuer(issuer).users)

    def add_client(
        self,
        client_id: str,
        secret: str | None = None,
        *,
        issuer: str = "default",
        **spec: Any,
    ) -> Client:
        """Add or replace a client of ``issuer`` until the next `reset`.

        ``spec`` takes the config file's client fields: ``redirect_uris``, ``grant_types``,
        ``claims``, ``audience``, ``*_lifetime``, ``signing_alg``, ``strict``...
        """
        client = client_from_args(client_id, {"secret": secret, **spec})
        self.issuer(issuer).put_client(client)
        return client

    def remove_client(self, client_id: str, *, issuer: str = "default") -> bool:
        """Remove a client until the next `reset`; False if there was none."""
        return self.issuer(issuer).drop_client(client_id)

    def clients(self, issuer: str = "default") -> dict[str, Client]:
        """The clients of ``issuer`` (configured and added)."""
        return dict(self.issuer(issuer).clients)

    # -- rules --------------------------------------------------------------------------------
    def add_rule(self, spec: Mapping[str, Any] | None = None, **fields: Any) -> Rule:
        """Add a rule (see `mockidp.scripting.rules` for the shape); returns it (``rule.id``).

        ``add_rule(endpoint="token", error="invalid_grant")`` and
        ``add_rule({"match": {"endpoint": "token"}, "error": {"error": "invalid_grant"}})``
        are the same rule.  Bad fields raise `MockIdPError` naming them.
        """
        merged = {**(spec or {}), **fields}
        return self.rules.add(parse_rule(merged, "rule", tuple(BAD_KINDS), ENDPOINT_NAMES))

    def remove_rule(self, rule_id: str) -> bool:
        """Remove one rule; False if there was none with that id."""
        return self.rules.remove(rule_id)

    def clear_rules(self) -> None:
        """Remove every rule (the config's come back at the next `reset`)."""
        self.rules.clear()

    def list_rules(self) -> list[Rule]:
        """Every rule, in the order they apply, with their ``fired`` counts."""
        return self.rules.all()

    def unfired_rules(self, rules: Iterable[Rule] | None = None) -> list[Rule]:
        """Rules expected to fire that never did (``expect`` true, ``fired`` 0)."""
        return self.rules.unfired(rules)

    def check_rules(self, rules: Iterable[Rule] | None = None) -> None:
        """Raise AssertionError listing every expected rule that did not fire, and why."""
        unfired = self.unfired_rules(rules)
        if unfired:
            lines = [f"  {r.id} {json.dumps(r.match.as_json())}: {r.not_fired_reason()}"
                     for r in unfired]
            raise AssertionError(
                f"{len(unfired)} mockidp rule(s) never fired:\n" + "\n".join(lines)
                + "\n(set expect=False on a rule that may legitimately not fire)"
            )

    # -- clock --------------------------------------------------------------------------------
    def set_clock(
        self,
        *,
        skew: float | None = None,
        freeze: float | str | bool | None = None,
        advance: float | None = None,
        reset: bool = False,
    ) -> dict[str, Any]:
        """Set the provider clock, in this order: ``reset``, ``skew``, ``freeze`` (a time,
        or True for now, or False to unfreeze), ``advance``.  Returns `clock_state`.

        Every value is checked before anything changes: a bad one raises `MockIdPError`
        naming it (``clock.skew``...) and leaves the clock as it was.
        """
        if not isinstance(reset, bool):
            raise MockIdPError(f"clock.reset: expected true or false, got {reset!r}")
        skew_s = seconds_arg(skew, "clock.skew") if skew is not None else None
        advance_s = seconds_arg(advance, "clock.advance") if advance is not None else None
        freeze_at = None
        if freeze is not None and not isinstance(freeze, bool):
            freeze_at = parse_time(freeze, "clock.freeze")
        if reset:
            self.clock.reset()
        if skew_s is not None:
            self.clock.skew(skew_s)
        if freeze is True:
            self.clock.freeze()
        elif freeze is False:
            if self.clock.frozen:
                offset = self.clock.offset
                self.clock.reset()
                self.clock.skew(offset)
        elif freeze_at is not None:
            self.clock.freeze(freeze_at)
        if advance_s is not None:
            self.clock.advance(advance_s)
        return self.clock_state()

    def clock_state(self) -> dict[str, Any]:
        """``now`` (provider epoch seconds), ``offset`` from real time, ``frozen``."""
        return {"now": self.clock.now(), "offset": round(self.clock.offset, 3),
                "frozen": self.clock.frozen}

    # -- journal ------------------------------------------------------------------------------
    def calls(self, **filters: Any) -> list[Exchange]:
        """Journal entries matching ``filters`` (``endpoint="token"``, ``grant_type=...``)."""
        return self.journal.calls(**filters)

    def assert_called(self, times: int | None = None, **filters: Any) -> list[Exchange]:
        """AssertionError unless a matching exchange happened (exactly ``times`` if given)."""
        return self.journal.assert_called(times, **filters)

    def assert_not_called(self, **filters: Any) -> None:
        """AssertionError if a matching exchange happened."""
        self.journal.assert_not_called(**filters)

    # -- dashboard and token debugger -----------------------------------------------------------
    def dashboard(self, base_url: str | None = None, limit: int = JOURNAL_LIMIT
                  ) -> dict[str, Any]:
        """The provider's state as plain data (`mockidp.scripting.dashboard`): issuers with their
        discovery and JWKS URLs (under ``base_url``, unless a public URL is set), users,
        clients (no secrets), rules with fired counts, the clock and the last ``limit``
        journal entries, newest first, with every minted token's header and claims."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise MockIdPError(f"dashboard: limit: expected a whole number >= 0, got {limit!r}")
        issuers = []
        for name in self.issuers():
            issuer = self.issuer(name)
            base = self.base_for(base_url)
            urls = {e: issuer.url(base, e) for e in ("discovery", "jwks", "authorize")}
            issuers.append(issuer_data(name, issuer.identifier(base), urls, issuer.settings,
                                       issuer.users, issuer.clients, issuer.profile.title))
        return dashboard_data(issuers, self.list_rules(), self.clock_state(), self.journal,
                              limit)

    def inspect_token(self, token: Any, base_url: str | None = None) -> dict[str, Any]:
        """The token debugger (`mockidp.tokens.inspect`): the token's header and claims, whether
        its signature verifies and with which issuer's key (kid, alg), its validity on the
        provider clock, and a verdict (``valid``, ``invalid``, ``malformed``) with the
        reasons.  Never raises: garbage gets an answer saying what is wrong with it.
        ``base_url`` adds the issuer identifiers a request on that URL would see."""
        issuers = {name: self.issuer(name) for name in self.issuers()}

        def identifiers(name: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys((self.issuer_url_for(name, base_url),
                                        self.issuer_url_for(name, None))))

        return inspect_token(token, issuers, identifiers, self.clock.now())

    # -- keys and minting ---------------------------------------------------------------------
    def jwks(self, issuer: str = "default") -> dict[str, Any]:
        """The issuer's public JWKS."""
        return self.issuer(issuer).keys.jwks()

    def keys(self, issuer: str = "default") -> list[dict[str, Any]]:
        """Every published key of ``issuer``: kid, alg, kty, active."""
        return self.issuer(issuer).keys.describe()

    def rotate_keys(self, issuer: str = "default", alg: str | None = None) -> list[str]:
        """New active signing keys (for ``alg``'s key type, or all); the old ones stay in the
        JWKS until `retire_keys`.  Returns the new kids."""
        if alg is not None and (not isinstance(alg, str) or alg not in SIGNING_ALGS):
            raise MockIdPError(f"alg: expected one of {', '.join(SIGNING_ALGS)}, got {alg!r}")
        return self.issuer(issuer).keys.rotate(alg)

    def retire_keys(self, issuer: str = "default", kid: str | None = None) -> list[str]:
        """Stop publishing rotated-out keys (the one with ``kid``, or all): tokens they signed
        then fail verification everywhere.  Returns the kids removed."""
        if kid is not None and not isinstance(kid, str):
            raise MockIdPError(f"kid: expected a string, got {kid!r}")
        return self.issuer(issuer).keys.retire(kid)

    def record_rejection(self, req: EndpointRequest, endpoint: str, status: int,
                         error: str) -> None:
        """Journal a request the HTTP layer refused before it reached an endpoint (bad
        encoding, body too large, wrong content type)."""
        self.journal.record(Exchange(
            seq=self.journal.next_seq(), time=time.time(), provider_time=self.clock.now(),
            issuer=req.issuer, endpoint=endpoint, method=req.method, path=req.path,
            status=status, error=error,
        ))

    def mint(
        self,
        sub: str = "user",
        claims: Mapping[str, Any] | None = None,
        *,
        audience: str | Collection[str] | None = None,
        expires_in: int | None = None,
        issuer: str = "default",
        client_id: str = "mockidp",
        scope: str | Collection[str] | None = None,
        alg: str | None = None,
        remove: Collection[str] = (),
        typ: str = "JWT",
        skew: float = 0,
        base_url: str | None = None,
    ) -> str:
        """Sign an access token directly (no HTTP): claims pipeline then signer.

        When ``sub`` names a configured user, the user's claims are included: all of them
        when ``scope`` is None, else those the scopes allow (as at the token endpoint).
        ``claims`` override anything, protected claims included; ``remove`` deletes claims;
        ``expires_in`` may be negative for an expired token; ``skew`` shifts this token's
        time stamps.  ``iss`` is the issuer URL a request at ``base_url`` sees (the control
        API passes its request's), else the provider's own (`issuer_url_for`).  Bad arguments
        raise `MockIdPError` naming the argument.
        """
        if not isinstance(typ, str) or not typ:
            raise MockIdPError(f"mint: typ: expected a non-empty string, got {typ!r}")
        target, body, alg, _ = mint_claims(self.issuer, self.base_for(base_url),
                                           self.clock.now(), sub, claims, audience, expires_in,
                                           issuer, client_id, scope, alg, remove, skew)
        return sign(body, target.keys.active(alg), typ)

    def bad_token_kinds(self) -> dict[str, str]:
        """The bad-token catalogue: kind → what is wrong with it."""
        return dict(BAD_KINDS)

    def mint_bad(
        self,
        kind: str,
        sub: str = "user",
        claims: Mapping[str, Any] | None = None,
        *,
        audience: str | Collection[str] | None = None,
        expires_in: int | None = None,
        issuer: str = "default",
        client_id: str = "mockidp",
        scope: str | Collection[str] | None = None,
        alg: str | None = None,
        remove: Collection[str] = (),
        base_url: str | None = None,
    ) -> str:
        """A deliberately invalid token of ``kind`` (see `bad_token_kinds`), otherwise just
        like `mint` with the same arguments: exactly one thing is wrong with it."""
        if not isinstance(kind, str) or kind not in BAD_KINDS:
            raise MockIdPError(
                f"mint_bad: kind: expected one of {', '.join(BAD_KINDS)}, got {kind!r}"
            )
        target, body, alg, now = mint_claims(self.issuer, self.base_for(base_url),
                                             self.clock.now(), sub, claims, audience,
                                             expires_in, issuer, client_id, scope, alg, remove,
                                             0)
        token = make_bad_token(kind, body, target.keys.active(alg), target.keys, now,
                               target.view(self.base_for(base_url)))
        if kind == "revoked" and isinstance(body.get("jti"), str):
            target.store.revoke_jti(body["jti"], float(body.get("exp", now + 3600)),
                                    self.clock.now())
        return token

    def approve_device(self, user_code: str | None = None, user: str = "alice",
                       claims: Mapping[str, Any] | None = None, *, issuer: str = "default"
                       ) -> dict[str, Any]:
        """Approve a device authorization request as ``user`` (with extra login ``claims``),
        as the verification page would (RFC 8628 §3.3).  ``user_code`` in any spelling, or
        None for the oldest waiting (or the next) request: see `protocol.device.answer_device`.
        """
        if not isinstance(user, str) or not user.strip():
            raise MockIdPError(f"approve_device: user: expected a non-empty string, got {user!r}")
        answer = DeviceAnswer(True, user.strip(), approval_claims(claims))
        return answer_device("approve_device", self.issuer(issuer), self.clock, user_code,
                             answer)

    def deny_device(self, user_code: str | None = None, *, issuer: str = "default"
                    ) -> dict[str, Any]:
        """Deny a device authorization request: the client's next poll gets ``access_denied``
        (RFC 8628 §3.5).  ``user_code`` as for `approve_device`, same errors."""
        return answer_device("deny_device", self.issuer(issuer), self.clock, user_code,
                             DeviceAnswer(False))

"""`MockIdP`: the core.  Owns the state; every door calls its public methods.

The pytest fixture, the Python API, the CLI/config file and the HTTP control API are four
spellings of the methods here: users and clients, rules, the clock, the journal, minting good
and bad tokens, reset.  The protocol endpoints live in `mockidp.endpoints` (mixed in).  This
module never imports Flask: `start()` imports the server lazily, only when asked to serve.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import shutil
import threading
import time
import weakref
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mockidp.core.clock import Clock
from mockidp.core.errors import MockIdPError, NotFound
from mockidp.core.journal import Exchange, Journal
from mockidp.core.model import (
    Client,
    EndpointRequest,
    GrantFacts,
    Json,
    Outcome,
    User,
)
from mockidp.core.settings import (
    ISSUER_NAME,
    RESERVED_ISSUERS,
    SIGNING_ALGS,
    Settings,
    client_from_args,
    is_absolute_url,
    load_settings,
    parse_clock,
    parse_time,
    user_from_args,
)
from mockidp.protocol.consent import ConsentEndpoints
from mockidp.protocol.device import DeviceFlowEndpoints
from mockidp.protocol.endpoints import (
    ProtocolEndpoints,
    bearer_token,
    parse_login_claims,
)
from mockidp.protocol.issuer import Issuer
from mockidp.protocol.register import RegistrationEndpoints
from mockidp.scripting.dashboard import JOURNAL_LIMIT, dashboard_data
from mockidp.scripting.rules import (
    Rule,
    RuleBook,
    parse_rule,
)
from mockidp.tokens.badtokens import BAD_TOKEN_KINDS, make_bad
from mockidp.tokens.claims import ClaimLayer, access_token_claims
from mockidp.tokens.inspect import inspect_token
from mockidp.tokens.signer import sign

if TYPE_CHECKING:
    import ssl

    from mockidp.serve.thread import ServerThread
    from mockidp.serve.tls import TlsFiles

DEFAULT_PORT = 8080
MAX_ISSUERS = 1000
MAX_SKEW = 100 * 366 * 86400


class MockIdP(ConsentEndpoints, DeviceFlowEndpoints, RegistrationEndpoints, ProtocolEndpoints):
    """A mock OAuth 2.0 / OpenID Connect provider.

    ``config`` is a path to a TOML/JSON file, a mapping of the same shape, or `Settings`.
    Used as a context manager it serves HTTP on ``host`` (127.0.0.1) and ``port`` (0: any free
    port) in a background thread.  ``public_url`` fixes the base of every issuer URL, whatever
    host name a request used.  ``control`` serves the ``/_mockidp/`` control API, protected
    by ``control_token`` when one is given.  ``tls=True`` serves HTTPS with a self-signed
    certificate for localhost and 127.0.0.1 (made now, kept in ``keys_dir`` when one is given;
    its path is ``tls_cert``), ``tls_cert``/``tls_key`` with your own PEM files instead.  All
    methods are thread-safe.
    """

    def __init__(
        self,
        config: str | Path | Mapping[str, Any] | Settings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        keys_dir: str | Path | None = None,
        interactive_login: bool | None = None,
        control: bool = True,
        control_token: str | None = None,
        public_url: str | None = None,
        tls: bool = False,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
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
        self.host = host
        self.port = port
        self.keys_dir = Path(keys_dir) if keys_dir is not None else None
        self.control = control
        self.control_token = control_token or None
        self.public_url = public.rstrip("/") if public else None
        self._tls = self._tls_files(tls, tls_cert, tls_key)
        self.clock = Clock()
        self.rules = RuleBook()
        self.journal = Journal(settings.journal_size)
        self._issuers: dict[str, Issuer] = {}
        self._lock = threading.Lock()
        self._server: ServerThread | None = None
        self._baseline_rules = tuple(
            parse_rule({"id": f"config-{i + 1}", **spec}, f"{settings.source}: rules[{i}]",
                       tuple(BAD_TOKEN_KINDS))
            for i, spec in enumerate(settings.rules)
        )
        self.reset()

    def _tls_files(self, tls: bool, cert: str | Path | None,
                   key: str | Path | None) -> TlsFiles | None:
        if cert is not None or key is not None:
            if cert is None or key is None:
                raise MockIdPError("tls_cert and tls_key: give both, the certificate and its "
                                   "private key")
            from mockidp.serve.tls import check_files

            return check_files(cert, key)
        if not tls:
            return None
        from mockidp.serve.tls import self_signed

        names = [self.host]
        if self.public_url:
            names.append(urlsplit(self.public_url).hostname or "")
        files = self_signed(self.keys_dir, names)
        if self.keys_dir is None:  # a temporary folder: gone with this provider
            weakref.finalize(self, shutil.rmtree, files.cert.parent, True)
        return files

    @property
    def tls(self) -> bool:
        """True when the server speaks HTTPS."""
        return self._tls is not None

    @property
    def tls_cert(self) -> Path | None:
        """The PEM certificate the server presents (trust it: ``requests.get(..., verify=)``)."""
        return self._tls.cert if self._tls is not None else None

    @property
    def tls_key(self) -> Path | None:
        """The PEM private key of `tls_cert`."""
        return self._tls.key if self._tls is not None else None

    def ssl_context(self) -> ssl.SSLContext | None:
        """A server-side TLS context for `tls_cert`, or None when serving plain HTTP."""
        if self._tls is None:
            return None
        from mockidp.serve.tls import server_context

        return server_context(self._tls)

    # -- lifecycle (Python API door) ----------------------------------------------------------
    def load_keys(self) -> None:
        """With a keys directory, load every issuer's keys now (creating the missing ones), so
        that a corrupt or unreadable key file stops start-up with an error naming it instead
        of failing a request later.  Without one, keys are made on first use."""
        if self.keys_dir is None:
            return
        names = {"default", *self.settings.issuers}
        if self.keys_dir.is_dir():
            names |= {p.name for p in self.keys_dir.iterdir()
                      if p.is_dir() and ISSUER_NAME.match(p.name)
                      and p.name not in RESERVED_ISSUERS}
        for name in sorted(names):
            self.issuer(name).keys.ensure_all()

    def start(self) -> MockIdP:
        """Serve HTTP (or HTTPS) in a background thread; raises `MockIdPError` if the port is
        taken or a key file is unusable."""
        if self._server is None:
            self.load_keys()
            self.make_keys_ahead()
            from mockidp.serve.thread import ServerThread  # lazy: the core never needs Flask

            self._server = ServerThread(self, self.host, self.port)
            self._server.start()
        return self

    def make_keys_ahead(self) -> None:
        """Without a keys directory, make the configured issuers' keys in a background thread
        now (RSA takes tens of milliseconds, mostly outside the GIL), while the server starts,
        instead of in the first JWKS or token request.  A request that comes first waits for
        the key it needs; nothing is lost if this thread loses the race."""
        if self.keys_dir is not None:
            return  # `load_keys` has loaded them already

        def make() -> None:
            with contextlib.suppress(Exception):  # a request will report it when it needs it
                for name in ("default", *self.settings.issuers):
                    self.issuer(name).keys.ensure_all()

        threading.Thread(target=make, name="mockidp-keys", daemon=True).start()

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> MockIdP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``http://127.0.0.1:54321``."""
        if self._server is not None:
            return self._server.url
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port or DEFAULT_PORT}"

    def issuer_url(self, issuer: str = "default") -> str:
        """The issuer identifier: ``{public_url or url}/{issuer}``."""
        self.issuer(issuer)
        return self._issuer_url_for(issuer, None)

    def reset(self) -> None:
        """Back to the config baseline: run-time users, clients and rules are dropped (config
        rules start over), codes, tokens, sessions and the journal are forgotten, the clock is
        back to its configured state.  Keys stay."""
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
            issuer.reset()

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
                if len(self._issuers) >= MAX_ISSUERS:
                    raise NotFound(f"too many issuers (at most {MAX_ISSUERS})")
                found = Issuer(name, self.settings.issuer(name), self.keys_dir)
                self._issuers[name] = found
            return found

    def issuers(self) -> list[str]:
        """Names of the issuers that exist so far (``default`` and any used or declared)."""
        for name in ("default", *self.settings.issuers):
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
        """Add a rule (see `mockidp.rules` for the shape); returns it (``rule.id``).

        ``add_rule(endpoint="token", error="invalid_grant")`` and
        ``add_rule({"match": {"endpoint": "token"}, "error": {"error": "invalid_grant"}})``
        are the same rule.  Bad fields raise `MockIdPError` naming them.
        """
        merged = {**(spec or {}), **fields}
        return self.rules.add(parse_rule(merged, "rule", tuple(BAD_TOKEN_KINDS)))

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
        skew_s = _seconds(skew, "clock.skew") if skew is not None else None
        advance_s = _seconds(advance, "clock.advance") if advance is not None else None
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
        """The provider's state as plain data (`mockidp.dashboard`): issuers with their
        discovery and JWKS URLs (under ``base_url``, unless a public URL is set), users,
        clients (no secrets), rules with fired counts, the clock and the last ``limit``
        journal entries, newest first, with every minted token's header and claims."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise MockIdPError(f"dashboard: limit: expected a whole number >= 0, got {limit!r}")
        return dashboard_data(self, base_url, limit)

    def inspect_token(self, token: Any, base_url: str | None = None) -> dict[str, Any]:
        """The token debugger (`mockidp.tokeninfo`): the token's header and claims, whether
        its signature verifies and with which issuer's key (kid, alg), its validity on the
        provider clock, and a verdict (``valid``, ``invalid``, ``malformed``) with the
        reasons.  Never raises: garbage gets an answer saying what is wrong with it.
        ``base_url`` adds the issuer identifiers a request on that URL would see."""
        issuers = {name: self.issuer(name) for name in self.issuers()}

        def identifiers(name: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys((self._issuer_url_for(name, base_url),
                                        self._issuer_url_for(name, None))))

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

    def handle(self, name: str, req: EndpointRequest) -> Outcome:
        """Answer the protocol request ``req`` at endpoint ``name``: the one call the HTTP
        adapter makes.  Protocol errors raise `OAuthError`, scripted faults `ScriptedFault`;
        an unknown issuer raises `NotFound`."""
        if name == "token":
            return Json(self.token(req))  # type: ignore[arg-type]
        if name == "jwks":
            return Json(self.jwks_document(req), content_type="application/jwk-set+json",
                        no_store=False)
        if name == "discovery":
            return Json(self.discovery(req), no_store=False)  # type: ignore[arg-type]
        if name == "oauth_metadata":
            return Json(self.oauth_metadata(req), no_store=False)  # type: ignore[arg-type]
        if name == "userinfo":
            return Json(self.userinfo(req))  # type: ignore[arg-type]
        if name == "introspect":
            return Json(self.introspect(req))  # type: ignore[arg-type]
        if name == "revoke":
            self.revoke(req)  # type: ignore[arg-type]
            return Json({})
        if name == "par":
            return Json(self.pushed_authorization(req), 201)  # type: ignore[arg-type]
        if name == "register":
            return Json(self.register(req), 201)  # type: ignore[arg-type]
        if name == "device_authorization":
            return Json(self.device_authorization(req))  # type: ignore[arg-type]
        if name == "authorize":
            return self.authorize(req)  # type: ignore[arg-type]
        if name == "login":
            return self.login(req)  # type: ignore[arg-type]
        if name == "consent":
            return self.consent(req)  # type: ignore[arg-type]
        if name == "endsession":
            return self.end_session(req)  # type: ignore[arg-type]
        if name == "device":
            return self.device_verification(req)  # type: ignore[arg-type]
        raise NotFound(f"no endpoint called {name!r}")

    def record_rejection(self, req: EndpointRequest, endpoint: str, status: int,
                         error: str) -> None:
        """Journal a request the HTTP layer refused before it reached an endpoint (bad
        encoding, body too large, wrong content type)."""
        self.journal.record(Exchange(
            seq=self.journal.next_seq(), time=time.time(), provider_time=self.clock.now(),
            issuer=req.issuer, endpoint=endpoint, method=req.method, path=req.path,
            status=status, error=error,
        ))

    def _mint_claims(
        self,
        sub: str,
        claims: Mapping[str, Any] | None,
        audience: str | Collection[str] | None,
        expires_in: int | None,
        issuer: str,
        client_id: str,
        scope: str | Collection[str] | None,
        alg: str | None,
        remove: Collection[str],
        skew: float,
    ) -> tuple[Issuer, dict[str, Any], str, int]:
        _check_mint_args(sub, claims, audience, issuer, client_id, scope, remove)
        target = self.issuer(issuer)
        overrides = dict(claims or {})
        if overrides:
            try:
                json.dumps(overrides, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise MockIdPError(f"mint: claims: expected JSON values ({exc})") from None
        alg = alg if alg is not None else target.settings.signing_alg
        if not isinstance(alg, str) or alg not in SIGNING_ALGS:
            raise MockIdPError(
                f"mint: alg: expected one of {', '.join(SIGNING_ALGS)}, got {alg!r}"
            )
        if expires_in is not None and (
            isinstance(expires_in, bool) or not isinstance(expires_in, int)
        ):
            raise MockIdPError(f"mint: expires_in: expected whole seconds, got {expires_in!r}")
        skew = _seconds(skew, "mint: skew")
        scopes = tuple(scope.split()) if isinstance(scope, str) else tuple(scope or ())
        auds = (audience,) if isinstance(audience, str) else tuple(audience or ())
        user = target.find_user(sub)
        facts = GrantFacts(
            grant_type="mint",
            client=target.client_or_adhoc(client_id),
            sub=user.subject if user is not None else sub,
            scopes=scopes,
            audience=auds,
            user=user,
        )
        if scope is None and user is not None:
            # No scope named: the user's claims all go in, as a test author expects.
            everything = {k: v for k, v in user.claims.items() if k != "sub"}
            overrides = {**everything, **overrides}
        now = int(self.clock.now() + skew)
        lifetime = expires_in if expires_in is not None else target.settings.lifetimes.access_token
        body = access_token_claims(
            self._issuer_url_for(issuer, None),
            facts,
            now,
            lifetime,
            [ClaimLayer(set=overrides, delete=tuple(remove))],
        )
        return target, body, alg, now

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
    ) -> str:
        """Sign an access token directly (no HTTP): claims pipeline then signer.

        When ``sub`` names a configured user, the user's claims are included: all of them
        when ``scope`` is None, else those the scopes allow (as at the token endpoint).
        ``claims`` override anything, protected claims included; ``remove`` deletes claims;
        ``expires_in`` may be negative for an expired token; ``skew`` shifts this token's
        time stamps.  Bad arguments raise `MockIdPError` naming the argument.
        """
        if not isinstance(typ, str) or not typ:
            raise MockIdPError(f"mint: typ: expected a non-empty string, got {typ!r}")
        target, body, alg, _ = self._mint_claims(sub, claims, audience, expires_in, issuer,
                                                 client_id, scope, alg, remove, skew)
        return sign(body, target.keys.active(alg), typ)

    def bad_token_kinds(self) -> dict[str, str]:
        """The bad-token catalogue: kind → what is wrong with it."""
        return dict(BAD_TOKEN_KINDS)

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
    ) -> str:
        """A deliberately invalid token of ``kind`` (see `bad_token_kinds`), otherwise just
        like `mint` with the same arguments: exactly one thing is wrong with it."""
        if not isinstance(kind, str) or kind not in BAD_TOKEN_KINDS:
            raise MockIdPError(
                f"mint_bad: kind: expected one of {', '.join(BAD_TOKEN_KINDS)}, got {kind!r}"
            )
        target, body, alg, now = self._mint_claims(sub, claims, audience, expires_in, issuer,
                                                   client_id, scope, alg, remove, 0)
        token = make_bad(kind, body, target.keys.active(alg), target.keys, now)
        if kind == "revoked" and isinstance(body.get("jti"), str):
            target.store.revoke_jti(body["jti"], float(body.get("exp", now + 3600)),
                                    self.clock.now())
        return token


def _seconds(value: Any, where: str) -> float:
    """A finite number of seconds within a century either way."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MockIdPError(f"{where}: expected seconds (a finite number), got {value!r}")
    if abs(value) > MAX_SKEW:
        raise MockIdPError(f"{where}: expected at most {MAX_SKEW} seconds either way, "
                           f"got {value!r}")
    return float(value)


def _strings(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value)
    )


def _check_mint_args(sub: Any, claims: Any, audience: Any, issuer: Any, client_id: Any,
                     scope: Any, remove: Any) -> None:
    """`mint` arguments arrive from JSON too: name the bad one."""
    if not isinstance(sub, str) or not sub:
        raise MockIdPError(f"mint: sub: expected a non-empty string, got {sub!r}")
    if claims is not None and not isinstance(claims, Mapping):
        raise MockIdPError(f"mint: claims: expected an object of claims, got {claims!r}")
    if audience is not None and not _strings(audience):
        raise MockIdPError(f"mint: audience: expected a string or a list of strings, "
                           f"got {audience!r}")
    if scope is not None and not _strings(scope):
        raise MockIdPError(f"mint: scope: expected a string or a list of strings, got {scope!r}")
    if isinstance(remove, str) or not _strings(remove):
        raise MockIdPError(f"mint: remove: expected a list of claim names, got {remove!r}")
    for name, value in (("issuer", issuer), ("client_id", client_id)):
        if not isinstance(value, str) or not value:
            raise MockIdPError(f"mint: {name}: expected a non-empty string, got {value!r}")


__all__ = ["Issuer", "MockIdP", "bearer_token", "parse_clock", "parse_login_claims"]

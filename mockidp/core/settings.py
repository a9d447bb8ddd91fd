"""Configuration: one file (TOML or JSON) or a mapping, validated into frozen `Settings`.

Every error raises `MockIdPError` naming the source (file), the field path and what was
expected, e.g. ``config.toml: clients.web.redirect_uris[0]: expected an absolute http(s) URL,
got 'foo'``.

Shape (all keys optional)::

    interactive_login = true          # show the login page (false: approve at once)
    default_user = "alice"            # who is logged in when there is no page and no login_hint
    signing_alg = "RS256"             # RS/PS/ES 256/384/512, EdDSA
    strict = false                    # registered clients only, secrets, exact redirects, PKCE
    consent = false                   # ask the user's consent after login (also per client)
    rotate_refresh_tokens = true      # each refresh revokes the presented refresh token
    access_token_lifetime = 3600      # seconds, also id_token_, refresh_token_, code_, session_
    device_code_lifetime = 600        # RFC 8628 expires_in; device_poll_interval = 5 (interval)
    journal_size = 1000               # exchanges kept in the journal (a ring buffer)
    journal_bytes = 8388608           # ... and about this many bytes of them (8 MiB)
    store = "redis://127.0.0.1:6379/0" # state shared by several processes (default: in memory)
    clock = { skew = 0 }              # or { freeze = "2030-01-01T00:00:00Z" }
    [[rules]]                         # scripted behaviour, see mockidp.scripting.rules
    endpoint = "token"
    error = "temporarily_unavailable"
    [users.alice]                     # id -> claims (+ optional password)
    password = "secret"
    claims = { email = "alice@example.com", roles = ["admin"] }
    [clients.web]                     # secret, redirect_uris, grant_types, claims, audience, ...
    [issuers.tenant-a]                # any of the above, for one issuer

The fields, their kinds and defaults are the table in `mockidp.core.fields`; the checks that
follow it are `mockidp.core.checks`.  This module reads files and merges issuers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mockidp.core.checks import (
    Checker,
    client_from_args,
    clients,
    is_absolute_url,
    issuer_fields,
    user_from_args,
    users,
)
from mockidp.core.errors import MockIdPError
from mockidp.core.fields import (
    ACCESS_TOKEN_FORMATS,
    CLIENT_AUTH_METHODS,
    GRANT_TYPES,
    ISSUER_DEFAULTS,
    ISSUER_FIELDS,
    ISSUER_KEYS,
    LIFETIME_FIELDS,
    LIFETIME_KEYS,
    PKCE_METHODS,
    PROTECTED_CLAIMS,
    SIGNING_ALGS,
)
from mockidp.core.fields import issuer_value as _issuer_value
from mockidp.core.model import EMPTY, Client, User

ISSUER_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._~-]{0,63}\Z")  # no trailing newline
RESERVED_ISSUERS = frozenset({"_mockidp", ".well-known", "static", "favicon.ico"})
# issuer-only keys: which provider the issuer imitates (`mockidp.profiles`) and its options
PROFILE_KEYS = ("profile", "mount", "tenant_id", "authorization_server", "user_pool_id",
                "issuer", "realm", "region", "audience")
_D = ISSUER_DEFAULTS  # every default below comes from the field table
# settings a profile decides whatever the top level says (an issuer's own table still wins)
FORCED_BY_PROFILE = frozenset({"signing_alg", "rotate_refresh_tokens"})


@dataclass(frozen=True)
class Lifetimes:
    """Token and session lifetimes in seconds, on the provider clock."""

    access_token: int = _D["access_token_lifetime"]
    id_token: int = _D["id_token_lifetime"]
    refresh_token: int = _D["refresh_token_lifetime"]
    code: int = _D["code_lifetime"]
    session: int = _D["session_lifetime"]
    device_code: int = _D["device_code_lifetime"]  # RFC 8628 §3.2 expires_in


@dataclass(frozen=True)
class IssuerSettings:
    """Effective settings of one issuer: top level merged with ``issuers.<name>``.

    One attribute per `ISSUER_FIELDS` row (the lifetimes gathered in `Lifetimes`), with the
    table's defaults."""

    name: str
    interactive_login: bool = _D["interactive_login"]
    default_user: str | None = _D["default_user"]
    signing_alg: str = _D["signing_alg"]
    strict: bool = _D["strict"]
    rotate_refresh_tokens: bool = _D["rotate_refresh_tokens"]
    access_token_format: str = _D["access_token_format"]
    require_pkce: bool = _D["require_pkce"]
    pkce_methods: tuple[str, ...] = _D["pkce_methods"]
    require_nonce: bool = _D["require_nonce"]
    device_poll_interval: int = _D["device_poll_interval"]  # RFC 8628 §3.2 interval
    dpop_nonce: bool = _D["dpop_nonce"]  # RFC 9449 §8: require server-issued DPoP nonces
    consent: bool = _D["consent"]  # ask the user's consent after login (`mockidp.protocol.consent`)
    lifetimes: Lifetimes = field(default_factory=Lifetimes)
    users: Mapping[str, User] = field(default_factory=lambda: EMPTY)
    clients: Mapping[str, Client] = field(default_factory=lambda: EMPTY)
    profile: str = "generic"  # the provider it imitates (`mockidp.profiles.catalog`)
    options: Mapping[str, Any] = field(default_factory=lambda: EMPTY)  # the profile's options


@dataclass(frozen=True)
class ClockSettings:
    """The provider clock at start and after every reset: ``skew`` seconds, or frozen at
    ``freeze`` (epoch seconds)."""

    skew: float = 0.0
    freeze: float | None = None


@dataclass(frozen=True)
class Settings:
    """The whole validated configuration."""

    source: str = "<defaults>"
    base: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    users: Mapping[str, User] = field(default_factory=lambda: EMPTY)
    clients: Mapping[str, Client] = field(default_factory=lambda: EMPTY)
    issuers: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: EMPTY)
    rules: tuple[Mapping[str, Any], ...] = ()
    public_url: str | None = None
    allowed_hosts: tuple[str, ...] = ()  # Host names the control API answers besides loopback
    clock: ClockSettings = field(default_factory=lambda: ClockSettings())
    journal_size: int = 1000
    journal_bytes: int = 8 * 1024 * 1024  # the journal's estimated size (oldest go first)
    store_limit: int = 10_000  # records of each kind an issuer keeps (oldest go first)
    store: str | None = None  # a Redis URL: state shared by every process using it

    def issuer(self, name: str, defaults: Mapping[str, Any] = EMPTY) -> IssuerSettings:
        """Effective settings for issuer ``name`` (declared or not): its own, else the top
        level's, else ``defaults`` (a profile's), else the field table's."""
        own = self.issuers.get(name, EMPTY)
        base = {k: v for k, v in self.base.items()
                if not (k in FORCED_BY_PROFILE and k in defaults)}
        merged = {**defaults, **base, **{k: v for k, v in own.items() if k in ISSUER_KEYS}}
        users = {**self.users, **own.get("users", EMPTY)}
        clients = {**self.clients, **own.get("clients", EMPTY)}
        lifetimes = Lifetimes(**{f.name.removesuffix("_lifetime"): _issuer_value(f, merged)
                                 for f in LIFETIME_FIELDS})
        values = {f.name: _issuer_value(f, merged) for f in ISSUER_FIELDS
                  if f.name not in LIFETIME_KEYS}
        values["pkce_methods"] = tuple(values["pkce_methods"])
        return IssuerSettings(
            name=name,
            **values,
            lifetimes=lifetimes,
            users=MappingProxyType(users),
            clients=MappingProxyType(clients),
            profile=own.get("profile", "generic"),
            options=MappingProxyType({k: own[k] for k in PROFILE_KEYS[1:] if k in own}),
        )


def load_settings(config: str | Path | Mapping[str, Any] | Settings | None) -> Settings:
    """Load and validate a config file path, a mapping, or pass `Settings` through.

    Raises `MockIdPError` naming the file, the field and what was expected.
    """
    if config is None:
        return Settings()
    if isinstance(config, Settings):
        return config
    if isinstance(config, Mapping):
        return parse_settings(config, "<config>")
    path = Path(config)
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MockIdPError(f"{source}: cannot read config file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MockIdPError(f"{source}: expected UTF-8 text") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MockIdPError(
                f"{source}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"
            ) from None
    else:
        import tomllib  # only when a TOML file is read: about 5 ms of every start otherwise

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise MockIdPError(f"{source}: invalid TOML: {exc}") from None
    if not isinstance(data, Mapping):
        raise MockIdPError(f"{source}: expected a JSON object at the top level")
    return parse_settings(data, source)


def parse_settings(data: Mapping[str, Any], source: str) -> Settings:
    """Validate a config mapping; ``source`` names it in errors."""
    check = Checker(source)
    check.keys(data, (*ISSUER_KEYS, "users", "clients", "issuers", "rules", "clock",
                      "journal_size", "journal_bytes", "store_limit", "public_url",
                      "allowed_hosts", "store"), "")
    base = issuer_fields(check, data, "")
    all_users = users(check, data.get("users", {}), "users")
    all_clients = clients(check, data.get("clients", {}), "clients")
    issuers: dict[str, Mapping[str, Any]] = {}
    for name, raw in check.table(data.get("issuers", {}), "issuers").items():
        path = f"issuers.{name}"
        if not ISSUER_NAME.match(name) or name in RESERVED_ISSUERS:
            raise check.fail(path, "an issuer name of letters, digits, '.', '_', '~', '-'", name)
        table = check.table(raw, path)
        check.keys(table, (*ISSUER_KEYS, *PROFILE_KEYS, "users", "clients"), path)
        own = dict(issuer_fields(check, table, path + "."))
        for key in PROFILE_KEYS:
            if key in table:
                value = table[key]
                if not isinstance(value, str) or (not value and key != "mount"):
                    raise check.fail(f"{path}.{key}", "a non-empty string", value)
                own[key] = value
        own["users"] = users(check, table.get("users", {}), path + ".users")
        own["clients"] = clients(check, table.get("clients", {}), path + ".clients")
        issuers[name] = MappingProxyType(own)
    rules = data.get("rules", [])
    if not isinstance(rules, list):
        raise check.fail("rules", "a list of rule tables ([[rules]])", rules)
    for i, rule in enumerate(rules):
        check.table(rule, f"rules[{i}]")
    journal_size = data.get("journal_size", 1000)
    if isinstance(journal_size, bool) or not isinstance(journal_size, int) or journal_size < 1:
        raise check.fail("journal_size", "a whole number >= 1", journal_size)
    journal_bytes = data.get("journal_bytes", 8 * 1024 * 1024)
    if isinstance(journal_bytes, bool) or not isinstance(journal_bytes, int) \
            or journal_bytes < 1024:
        raise check.fail("journal_bytes", "a whole number of bytes >= 1024", journal_bytes)
    store_limit = data.get("store_limit", 10_000)
    if isinstance(store_limit, bool) or not isinstance(store_limit, int) or store_limit < 1:
        raise check.fail("store_limit", "a whole number >= 1", store_limit)
    return Settings(
        source=source,
        base=base,
        users=all_users,
        clients=all_clients,
        issuers=MappingProxyType(issuers),
        rules=tuple(rules),
        public_url=check.url(data["public_url"], "public_url") if "public_url" in data else None,
        allowed_hosts=check.strings(data.get("allowed_hosts", []), "allowed_hosts"),
        clock=parse_clock(data.get("clock", {}), check.source + ": clock"),
        journal_size=journal_size,
        journal_bytes=journal_bytes,
        store_limit=store_limit,
        store=store_url(check, data["store"]) if "store" in data else None,
    )


STORE_SCHEMES = ("redis://", "rediss://", "unix://")


def store_url(check: Checker, value: Any) -> str:
    """The ``store`` key: a Redis URL (reached when the provider starts)."""
    if not isinstance(value, str) or not value.startswith(STORE_SCHEMES):
        raise check.fail("store", "a Redis URL such as redis://127.0.0.1:6379/0 (redis://, "
                         "rediss:// or unix://)", value)
    return value


def with_profiles(settings: Settings, specs: list[str], where: str) -> Settings:
    """``settings`` with the issuers ``specs`` declare, each ``KIND:NAME[:OPTION=VALUE,...]``
    (``keycloak:myrealm``, ``entra:contoso:tenant_id=...``): the command line's and
    ``MOCKIDP_PROFILES``' way to switch a profile on without a file.  An issuer the config
    declares keeps its own table, with the profile and options set.  Errors name ``where``
    and the spec."""
    issuers = dict(settings.issuers)
    for spec in specs:
        kind, _, rest = spec.strip().partition(":")
        name, _, option_text = rest.partition(":")
        if not kind or not ISSUER_NAME.match(name) or name in RESERVED_ISSUERS:
            raise MockIdPError(f"{where}: {spec!r}: expected KIND:NAME[:OPTION=VALUE,...] with "
                               "an issuer name of letters, digits, '.', '_', '~', '-' (e.g. "
                               "keycloak:myrealm)")
        own = dict(issuers.get(name, {"users": EMPTY, "clients": EMPTY}))
        own["profile"] = kind
        for pair in filter(None, (p.strip() for p in option_text.split(","))):
            key, sep, value = pair.partition("=")
            if not sep or key not in PROFILE_KEYS[1:] or (not value and key != "mount"):
                raise MockIdPError(f"{where}: {spec!r}: {pair!r}: expected OPTION=VALUE with "
                                   f"one of {', '.join(PROFILE_KEYS[1:])}")
            own[key] = value
        issuers[name] = MappingProxyType(own)
    return dataclasses.replace(settings, issuers=MappingProxyType(issuers),
                               source=settings.source if not specs or settings.issuers
                               else where)


def parse_time(value: Any, where: str) -> float:
    """Epoch seconds from a number or an ISO 8601 date-time (``2030-01-01T00:00:00Z``)."""
    if isinstance(value, bool):
        raise MockIdPError(f"{where}: expected epoch seconds or an ISO 8601 date-time, "
                           f"got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or not 0 <= value < 253402300800:  # up to year 9999
            raise MockIdPError(f"{where}: expected epoch seconds between 0 and year 9999, "
                               f"got {value!r}")
        return float(value)
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise MockIdPError(f"{where}: expected epoch seconds or an ISO 8601 date-time, "
                               f"got {value!r}") from None
    else:
        raise MockIdPError(f"{where}: expected epoch seconds or an ISO 8601 date-time, "
                           f"got {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_clock(value: Any, where: str) -> ClockSettings:
    """``{"skew": seconds}`` and/or ``{"freeze": time}``; errors name ``where``."""
    if not isinstance(value, Mapping):
        raise MockIdPError(f"{where}: expected a table/object, got {value!r}")
    for key in value:
        if key not in ("skew", "freeze"):
            raise MockIdPError(f"{where}.{key}: unknown field; expected one of: skew, freeze")
    skew = value.get("skew", 0)
    if isinstance(skew, bool) or not isinstance(skew, (int, float)) or not math.isfinite(skew):
        raise MockIdPError(f"{where}.skew: expected seconds (a finite number), got {skew!r}")
    freeze = value.get("freeze")
    return ClockSettings(
        skew=float(skew),
        freeze=parse_time(freeze, where + ".freeze") if freeze is not None else None,
    )


__all__ = [
    "ACCESS_TOKEN_FORMATS", "CLIENT_AUTH_METHODS", "GRANT_TYPES", "ISSUER_NAME", "LIFETIME_KEYS",
    "PKCE_METHODS", "PROFILE_KEYS", "PROTECTED_CLAIMS", "RESERVED_ISSUERS", "SIGNING_ALGS",
    "ClockSettings", "IssuerSettings", "Lifetimes", "Settings", "client_from_args",
    "is_absolute_url", "load_settings", "parse_clock", "parse_settings", "parse_time",
    "user_from_args", "with_profiles",
]

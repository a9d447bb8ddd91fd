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
    clock = { skew = 0 }              # or { freeze = "2030-01-01T00:00:00Z" }
    [[rules]]                         # scripted behaviour, see mockidp.rules
    endpoint = "token"
    error = "temporarily_unavailable"
    [users.alice]                     # id -> claims (+ optional password)
    password = "secret"
    claims = { email = "alice@example.com", roles = ["admin"] }
    [clients.web]                     # secret, redirect_uris, grant_types, claims, audience, ...
    [issuers.tenant-a]                # any of the above, for one issuer
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from mockidp.core.errors import MockIdPError
from mockidp.core.model import (
    EMPTY,
    Client,
    User,
    frozen_mapping,
)

SIGNING_ALGS: tuple[str, ...] = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)
GRANT_TYPES: tuple[str, ...] = (
    "authorization_code",
    "implicit",  # OIDC Registration §2: response types with token or id_token
    "refresh_token",
    "client_credentials",
    "password",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:grant-type:token-exchange",
)
ACCESS_TOKEN_FORMATS: tuple[str, ...] = ("jwt", "at+jwt", "opaque")
CLIENT_AUTH_METHODS: tuple[str, ...] = (
    "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none",
)
PKCE_METHODS: tuple[str, ...] = ("S256", "plain")
# Claims the provider sets itself: configured users and clients may not override them.
PROTECTED_CLAIMS: frozenset[str] = frozenset(
    {
        "iss", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "azp",
        "at_hash", "c_hash", "client_id", "scope", "sid", "cnf", "act",
    }
)
ISSUER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$")
RESERVED_ISSUERS = frozenset({"_mockidp", ".well-known", "static", "favicon.ico"})

LIFETIME_KEYS = (
    "access_token_lifetime",
    "id_token_lifetime",
    "refresh_token_lifetime",
    "code_lifetime",
    "session_lifetime",
    "device_code_lifetime",
)
DEFAULT_LIFETIMES = {
    "access_token_lifetime": 3600,
    "id_token_lifetime": 3600,
    "refresh_token_lifetime": 86400,
    "code_lifetime": 60,
    "session_lifetime": 36000,
    "device_code_lifetime": 600,
}
_ISSUER_KEYS = (
    "interactive_login",
    "default_user",
    "signing_alg",
    "strict",
    "rotate_refresh_tokens",
    "access_token_format",
    "require_pkce",
    "pkce_methods",
    "require_nonce",
    "device_poll_interval",
    "dpop_nonce",
    "consent",
    *LIFETIME_KEYS,
)
_USER_KEYS = ("claims", "password")
_CLIENT_KEYS = (
    "secret", "redirect_uris", "post_logout_redirect_uris", "grant_types", "claims", "audience",
    "access_token_lifetime", "id_token_lifetime", "refresh_token_lifetime", "signing_alg",
    "id_token_signed_response_alg", "access_token_format", "token_endpoint_auth_method",
    "jwks", "jwks_uri", "backchannel_logout_uri", "frontchannel_logout_uri",
    "dpop_bound_access_tokens", "require_pkce", "pkce_methods", "require_nonce", "consent",
    "strict",
)


@dataclass(frozen=True)
class Lifetimes:
    """Token and session lifetimes in seconds, on the provider clock."""

    access_token: int = 3600
    id_token: int = 3600
    refresh_token: int = 86400
    code: int = 60
    session: int = 36000
    device_code: int = 600  # RFC 8628 §3.2 expires_in


@dataclass(frozen=True)
class IssuerSettings:
    """Effective settings of one issuer: top level merged with ``issuers.<name>``."""

    name: str
    interactive_login: bool = True
    default_user: str | None = None
    signing_alg: str = "RS256"
    strict: bool = False
    rotate_refresh_tokens: bool = True
    access_token_format: str = "jwt"
    require_pkce: bool = False
    pkce_methods: tuple[str, ...] = PKCE_METHODS
    require_nonce: bool = False
    device_poll_interval: int = 5  # RFC 8628 §3.2 interval
    dpop_nonce: bool = False  # RFC 9449 §8: require server-issued DPoP nonces
    consent: bool = False  # ask the user's consent after login (`mockidp.consent`)
    lifetimes: Lifetimes = field(default_factory=Lifetimes)
    users: Mapping[str, User] = field(default_factory=lambda: EMPTY)
    clients: Mapping[str, Client] = field(default_factory=lambda: EMPTY)


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
    clock: ClockSettings = field(default_factory=lambda: ClockSettings())
    journal_size: int = 1000

    def issuer(self, name: str) -> IssuerSettings:
        """Effective settings for issuer ``name`` (declared or not)."""
        own = self.issuers.get(name, EMPTY)
        merged = {**self.base, **{k: v for k, v in own.items() if k in _ISSUER_KEYS}}
        users = {**self.users, **own.get("users", EMPTY)}
        clients = {**self.clients, **own.get("clients", EMPTY)}
        lifetimes = Lifetimes(
            **{
                key.removesuffix("_lifetime"): merged.get(key, DEFAULT_LIFETIMES[key])
                for key in LIFETIME_KEYS
            }
        )
        return IssuerSettings(
            name=name,
            interactive_login=merged.get("interactive_login", True),
            default_user=merged.get("default_user"),
            signing_alg=merged.get("signing_alg", "RS256"),
            strict=merged.get("strict", False),
            rotate_refresh_tokens=merged.get("rotate_refresh_tokens", True),
            access_token_format=merged.get("access_token_format", "jwt"),
            require_pkce=merged.get("require_pkce", merged.get("strict", False)),
            pkce_methods=tuple(merged.get("pkce_methods", PKCE_METHODS)),
            require_nonce=merged.get("require_nonce", merged.get("strict", False)),
            dpop_nonce=merged.get("dpop_nonce", False),
            consent=merged.get("consent", False),
            device_poll_interval=merged.get("device_poll_interval", 5),
            lifetimes=lifetimes,
            users=MappingProxyType(users),
            clients=MappingProxyType(clients),
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
        if path.suffix.lower() == ".json":
            data = json.loads(raw.decode("utf-8"))
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise MockIdPError(f"{source}: expected UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise MockIdPError(
            f"{source}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise MockIdPError(f"{source}: invalid TOML: {exc}") from None
    if not isinstance(data, Mapping):
        raise MockIdPError(f"{source}: expected a JSON object at the top level")
    return parse_settings(data, source)


class _Checker:
    """Field validation that names the source and the field path in every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, expected: str, got: Any = None, show: bool = True) -> MockIdPError:
        where = f"{self.source}: {path}" if path else self.source
        suffix = f", got {got!r}" if show else ""
        return MockIdPError(f"{where}: expected {expected}{suffix}")

    def table(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, "a table/object", value)
        return value

    def keys(self, data: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
        for key in data:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                raise MockIdPError(
                    f"{self.source}: {where}: unknown field; expected one of: "
                    + ", ".join(allowed)
                )

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, "true or false", value)
        return value

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(path, "a non-empty string", value)
        return value

    def seconds(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(path, "a positive whole number of seconds", value)
        return value

    def choice(self, value: Any, allowed: tuple[str, ...], path: str) -> str:
        if value not in allowed:
            raise self.fail(path, "one of " + ", ".join(allowed), value)
        return str(value)

    def choices(self, value: Any, allowed: tuple[str, ...], path: str) -> tuple[str, ...]:
        values = self.strings(value, path)
        if not values:
            raise self.fail(path, "at least one of " + ", ".join(allowed), value)
        for i, item in enumerate(values):
            self.choice(item, allowed, f"{path}[{i}]")
        return values

    def jwks(self, value: Any, path: str) -> Mapping[str, Any]:
        table = self.table(value, path)
        keys = table.get("keys")
        if not isinstance(keys, list) or not keys:
            raise self.fail(path + ".keys", "a non-empty list of public JWKs", keys)
        for i, key in enumerate(keys):
            jwk = self.table(key, f"{path}.keys[{i}]")
            if not isinstance(jwk.get("kty"), str):
                raise self.fail(f"{path}.keys[{i}].kty", "a key type (RSA, EC, OKP)",
                                jwk.get("kty"))
            private = sorted({"d", "p", "q", "dp", "dq", "qi"} & set(jwk))
            if private:
                raise self.fail(f"{path}.keys[{i}]", "a public key (no private members)",
                                private)
        return frozen_mapping({"keys": [dict(k) for k in keys]})

    def url(self, value: Any, path: str) -> str:
        url = self.string(value, path)
        if not is_absolute_url(url):
            raise self.fail(path, "an absolute http(s) URL without fragment", url)
        return url

    def alg(self, value: Any, path: str) -> str:
        if value not in SIGNING_ALGS:
            raise self.fail(path, "one of " + ", ".join(SIGNING_ALGS), value)
        return str(value)

    def strings(self, value: Any, path: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(path, "a list of strings", value)
        return tuple(self.string(item, f"{path}[{i}]") for i, item in enumerate(value))

    def urls(self, value: Any, path: str) -> tuple[str, ...]:
        urls = self.strings(value, path)
        for i, url in enumerate(urls):
            if not is_absolute_url(url):
                raise self.fail(f"{path}[{i}]", "an absolute http(s) URL without fragment", url)
        return urls

    def claims(self, value: Any, path: str, allow_sub: bool) -> Mapping[str, Any]:
        claims = self.table(value, path)
        for name, claim in claims.items():
            if name in PROTECTED_CLAIMS or (name == "sub" and not allow_sub):
                raise MockIdPError(
                    f"{self.source}: {path}.{name}: '{name}' is set by the provider; "
                    "expected a claim of your own (override it with mint(claims=...) instead)"
                )
            try:
                json.dumps(claim, allow_nan=False)
            except (TypeError, ValueError):
                raise self.fail(f"{path}.{name}", "a JSON value (finite numbers only)",
                                claim) from None
        return frozen_mapping(claims)


def is_absolute_url(url: str) -> bool:
    """An absolute http(s) URL with a host and no fragment (RFC 6749 §3.1.2)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


def parse_settings(data: Mapping[str, Any], source: str) -> Settings:
    """Validate a config mapping; ``source`` names it in errors."""
    check = _Checker(source)
    check.keys(data, (*_ISSUER_KEYS, "users", "clients", "issuers", "rules", "clock",
                      "journal_size", "public_url"), "")
    base = _issuer_fields(check, data, "")
    users = _users(check, data.get("users", {}), "users")
    clients = _clients(check, data.get("clients", {}), "clients")
    issuers: dict[str, Mapping[str, Any]] = {}
    for name, raw in check.table(data.get("issuers", {}), "issuers").items():
        path = f"issuers.{name}"
        if not ISSUER_NAME.match(name) or name in RESERVED_ISSUERS:
            raise check.fail(path, "an issuer name of letters, digits, '.', '_', '~', '-'", name)
        table = check.table(raw, path)
        check.keys(table, (*_ISSUER_KEYS, "users", "clients"), path)
        own = dict(_issuer_fields(check, table, path + "."))
        own["users"] = _users(check, table.get("users", {}), path + ".users")
        own["clients"] = _clients(check, table.get("clients", {}), path + ".clients")
        issuers[name] = MappingProxyType(own)
    rules = data.get("rules", [])
    if not isinstance(rules, list):
        raise check.fail("rules", "a list of rule tables ([[rules]])", rules)
    for i, rule in enumerate(rules):
        check.table(rule, f"rules[{i}]")
    journal_size = data.get("journal_size", 1000)
    if isinstance(journal_size, bool) or not isinstance(journal_size, int) or journal_size < 1:
        raise check.fail("journal_size", "a whole number >= 1", journal_size)
    return Settings(
        source=source,
        base=base,
        users=users,
        clients=clients,
        issuers=MappingProxyType(issuers),
        rules=tuple(rules),
        public_url=check.url(data["public_url"], "public_url") if "public_url" in data else None,
        clock=parse_clock(data.get("clock", {}), check.source + ": clock"),
        journal_size=journal_size,
    )


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


def _issuer_fields(check: _Checker, data: Mapping[str, Any], prefix: str) -> Mapping[str, Any]:
    out: dict[str, Any] = {}
    if "interactive_login" in data:
        out["interactive_login"] = check.boolean(
            data["interactive_login"], prefix + "interactive_login"
        )
    if "default_user" in data:
        out["default_user"] = check.string(data["default_user"], prefix + "default_user")
    if "signing_alg" in data:
        out["signing_alg"] = check.alg(data["signing_alg"], prefix + "signing_alg")
    for key in ("strict", "rotate_refresh_tokens", "require_pkce", "require_nonce",
                "dpop_nonce", "consent"):
        if key in data:
            out[key] = check.boolean(data[key], prefix + key)
    if "access_token_format" in data:
        out["access_token_format"] = check.choice(
            data["access_token_format"], ACCESS_TOKEN_FORMATS, prefix + "access_token_format")
    if "pkce_methods" in data:
        out["pkce_methods"] = check.choices(data["pkce_methods"], PKCE_METHODS,
                                            prefix + "pkce_methods")
    for key in (*LIFETIME_KEYS, "device_poll_interval"):
        if key in data:
            out[key] = check.seconds(data[key], prefix + key)
    return MappingProxyType(out)


def _users(check: _Checker, raw: Any, path: str) -> Mapping[str, User]:
    users: dict[str, User] = {}
    for user_id, spec in check.table(raw, path).items():
        where = f"{path}.{user_id}" if path else user_id
        table = check.table(spec, where)
        check.keys(table, _USER_KEYS, where)
        users[user_id] = build_user(
            user_id,
            claims=check.claims(table.get("claims", {}), where + ".claims", allow_sub=True),
            password=(
                check.string(table["password"], where + ".password")
                if "password" in table
                else None
            ),
        )
    return MappingProxyType(users)


def _clients(check: _Checker, raw: Any, path: str) -> Mapping[str, Client]:
    clients: dict[str, Client] = {}
    for client_id, spec in check.table(raw, path).items():
        where = f"{path}.{client_id}" if path else client_id
        table = check.table(spec, where)
        check.keys(table, _CLIENT_KEYS, where)
        grant_types = check.strings(table.get("grant_types", []), where + ".grant_types")
        for i, grant in enumerate(grant_types):
            if grant not in GRANT_TYPES:
                raise check.fail(
                    f"{where}.grant_types[{i}]", "one of " + ", ".join(GRANT_TYPES), grant
                )
        lifetimes: dict[str, Any] = {
            key: check.seconds(table[key], f"{where}.{key}")
            for key in ("access_token_lifetime", "id_token_lifetime", "refresh_token_lifetime")
            if key in table
        }
        clients[client_id] = Client(
            id=client_id,
            secret=check.string(table["secret"], where + ".secret") if "secret" in table else None,
            redirect_uris=check.urls(table.get("redirect_uris", []), where + ".redirect_uris"),
            post_logout_redirect_uris=check.urls(
                table.get("post_logout_redirect_uris", []), where + ".post_logout_redirect_uris"
            ),
            grant_types=grant_types,
            claims=check.claims(table.get("claims", {}), where + ".claims", allow_sub=False),
            audience=check.strings(table.get("audience", []), where + ".audience"),
            signing_alg=(
                check.alg(table["signing_alg"], where + ".signing_alg")
                if "signing_alg" in table
                else None
            ),
            strict=check.boolean(table.get("strict", False), where + ".strict"),
            **lifetimes,
            **_client_extras(check, table, where),
        )
    return MappingProxyType(clients)


def _client_extras(check: _Checker, table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The optional client fields beyond the basics (algorithms, formats, auth, logout)."""
    out: dict[str, Any] = {}
    if "id_token_signed_response_alg" in table:
        out["id_token_signed_response_alg"] = check.alg(
            table["id_token_signed_response_alg"], where + ".id_token_signed_response_alg")
    if "access_token_format" in table:
        out["access_token_format"] = check.choice(
            table["access_token_format"], ACCESS_TOKEN_FORMATS, where + ".access_token_format")
    if "token_endpoint_auth_method" in table:
        out["token_endpoint_auth_method"] = check.choice(
            table["token_endpoint_auth_method"], CLIENT_AUTH_METHODS,
            where + ".token_endpoint_auth_method")
    if "jwks" in table:
        out["jwks"] = check.jwks(table["jwks"], where + ".jwks")
    for key in ("jwks_uri", "backchannel_logout_uri", "frontchannel_logout_uri"):
        if key in table:
            out[key] = check.url(table[key], f"{where}.{key}")
    for key in ("dpop_bound_access_tokens", "require_pkce", "require_nonce", "consent"):
        if key in table:
            out[key] = check.boolean(table[key], f"{where}.{key}")
    if "pkce_methods" in table:
        out["pkce_methods"] = check.choices(table["pkce_methods"], PKCE_METHODS,
                                            where + ".pkce_methods")
    return out


def build_user(
    user_id: str, claims: Mapping[str, Any] | None = None, password: str | None = None
) -> User:
    """A `User`; used by config loading and `MockIdP.add_user` alike."""
    return User(id=user_id, claims=frozen_mapping(claims), password=password)


def user_from_args(
    user_id: str, claims: Mapping[str, Any] | None, password: str | None
) -> User:
    """Validate `MockIdP.add_user` arguments the way the config file is validated."""
    check = _Checker("add_user")
    check.string(user_id, "id")
    return build_user(
        user_id,
        claims=check.claims(claims or {}, "claims", allow_sub=True),
        password=check.string(password, "password") if password is not None else None,
    )


def client_from_args(client_id: str, spec: Mapping[str, Any]) -> Client:
    """Validate `MockIdP.add_client` arguments the way the config file is validated."""
    check = _Checker("add_client")
    check.string(client_id, "id")
    return _clients(check, {client_id: {k: v for k, v in spec.items() if v is not None}}, "")[
        client_id
    ]

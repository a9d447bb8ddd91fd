"""Field checks for config files and the Python door, driven by the field table.

`Checker` names the source (a file, ``add_client``, ``add_user``) and the field path in every
error it raises (`MockIdPError`), e.g. ``config.toml: clients.web.redirect_uris[0]: expected
an absolute http(s) URL without fragment, got 'foo'``.  `Checker.field` checks one value by
its `Field.kind`; `clients`, `users` and `issuer_fields` check whole tables against
`mockidp.core.fields`, so a field added to the table is accepted everywhere at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from mockidp.core.errors import MockIdPError
from mockidp.core.fields import (
    CLIENT_FIELDS,
    CLIENT_KEYS,
    ISSUER_FIELDS,
    PROTECTED_CLAIMS,
    URL_WORDS,
    USER_FIELDS,
    USER_KEYS,
    Field,
)
from mockidp.core.model import Client, User, frozen_mapping


def is_absolute_url(url: str) -> bool:
    """An absolute http(s) URL with a host and no fragment (RFC 6749 §3.1.2), and no
    whitespace or control character (which `urlsplit` would silently strip, RFC 3986 §2)."""
    if not url.isprintable() or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


class Checker:
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

    def field(self, field: Field, value: Any, path: str) -> Any:
        """``value`` checked as ``field`` says (its kind, choices, claims rules)."""
        kind = field.kind
        if kind == "boolean":
            if not isinstance(value, bool):
                raise self.fail(path, field.expected, value)
            return value
        if kind == "string":
            return self.string(value, path)
        if kind == "seconds":
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise self.fail(path, field.expected, value)
            return value
        if kind == "choice":
            if value not in field.choices:
                raise self.fail(path, field.expected, value)
            return str(value)
        if kind == "url":
            return self.url(value, path)
        if kind in ("strings", "urls", "choices"):
            return self._items(field, value, path)
        if kind == "claims":
            return self.claims(value, path, field.allow_sub)
        if kind == "jwks":
            return self.jwks(value, path)
        raise TypeError(f"{field.name}: no check for kind {kind!r}")

    def _items(self, field: Field, value: Any, path: str) -> tuple[str, ...]:
        if isinstance(value, str) and field.kind in ("urls", "choices"):
            # one string is not a list: say so at the field itself, not at an index [0]
            # the user never wrote
            raise self.fail(path, f"a list whose items are each {field.item_expected} "
                            f"(for one, write [{json.dumps(value)}])", value)
        values = self.strings(value, path)
        if field.at_least_one and not values:
            raise self.fail(path, "at least one of " + ", ".join(field.choices), value)
        for i, item in enumerate(values):
            if (field.kind == "urls" and not is_absolute_url(item)) or (
                    field.kind == "choices" and item not in field.choices):
                raise self.fail(f"{path}[{i}]", field.item_expected, item)
        return values

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(path, "a non-empty string", value)
        return value

    def strings(self, value: Any, path: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(path, "a list of strings", value)
        return tuple(self.string(item, f"{path}[{i}]") for i, item in enumerate(value))

    def url(self, value: Any, path: str) -> str:
        url = self.string(value, path)
        if not is_absolute_url(url):
            raise self.fail(path, URL_WORDS, url)
        return url

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

    def values(self, fields: Iterable[Field], data: Mapping[str, Any], prefix: str
               ) -> dict[str, Any]:
        """The ``fields`` present in ``data``, checked; paths are ``prefix`` + the name."""
        return {f.name: self.field(f, data[f.name], prefix + f.name)
                for f in fields if f.name in data}


def issuer_fields(check: Checker, data: Mapping[str, Any], prefix: str) -> Mapping[str, Any]:
    """The issuer settings fields present in ``data``, checked."""
    return MappingProxyType(check.values(ISSUER_FIELDS, data, prefix))


def users(check: Checker, raw: Any, path: str) -> Mapping[str, User]:
    """A table of users (id -> fields), checked."""
    found: dict[str, User] = {}
    for user_id, spec in check.table(raw, path).items():
        where = f"{path}.{user_id}" if path else user_id
        table = check.table(spec, where)
        check.keys(table, USER_KEYS, where)
        found[user_id] = User(id=user_id, **check.values(USER_FIELDS, table, where + "."))
    return MappingProxyType(found)


def clients(check: Checker, raw: Any, path: str) -> Mapping[str, Client]:
    """A table of clients (id -> fields), checked."""
    found: dict[str, Client] = {}
    for client_id, spec in check.table(raw, path).items():
        where = f"{path}.{client_id}" if path else client_id
        table = check.table(spec, where)
        check.keys(table, CLIENT_KEYS, where)
        found[client_id] = Client(id=client_id,
                                  **check.values(CLIENT_FIELDS, table, where + "."))
    return MappingProxyType(found)


def user_from_args(
    user_id: str, claims: Mapping[str, Any] | None, password: str | None
) -> User:
    """Validate `MockIdP.add_user` arguments the way the config file is validated."""
    check = Checker("add_user")
    check.string(user_id, "id")
    given = {"claims": claims or {}, "password": password}
    return User(id=user_id, **check.values(
        USER_FIELDS, {k: v for k, v in given.items() if v is not None}, ""))


def check_client_keys(client_id: str, spec: Mapping[str, Any]) -> None:
    """Refuse a field `MockIdP.add_client` does not take, as `client_from_args` would (None
    counts as absent there too)."""
    given = {k: v for k, v in spec.items() if v is not None}
    Checker("add_client").keys(given, CLIENT_KEYS, client_id)


def client_from_args(client_id: str, spec: Mapping[str, Any]) -> Client:
    """Validate `MockIdP.add_client` arguments the way the config file is validated."""
    check = Checker("add_client")
    check.string(client_id, "id")
    return clients(check, {client_id: {k: v for k, v in spec.items() if v is not None}}, "")[
        client_id
    ]

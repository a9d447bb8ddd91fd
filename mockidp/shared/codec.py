"""The records of `mockidp.core` as JSON text for Redis, and back: never pickle (a value read
from a shared store must not run code), only the plain types the dataclasses declare.

`dump` writes a dataclass as a JSON object of its fields (tuples and frozensets as arrays,
mappings as objects); `load` rebuilds it from the field types (``tuple[str, ...]``,
``Mapping[str, Any]`` as a read-only mapping, ``frozenset``, nested dataclasses, ``X | None``).
Claim values keep their JSON shape (a tuple among claims comes back a list), as a signed
token would carry them anyway.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def dump(record: Any) -> str:
    """A dataclass (or plain data) as compact JSON text."""
    return json.dumps(_plain(record), separators=(",", ":"), ensure_ascii=False)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(kind: Any, data: Any) -> Any:
    """``data`` (parsed JSON) as an instance of the declared type ``kind``."""
    if data is None:
        return None
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        real = [a for a in args if a is not type(None)]
        return _build(real[0], data) if len(real) == 1 else data
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return load_data(kind, data)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v) for v in data)
        return tuple(_build(a, v) for a, v in zip(args, data, strict=False))
    if origin in (frozenset, set):
        return frozenset(_build(args[0], v) for v in data) if args else frozenset(data)
    if origin is dict:
        return {k: _build(args[1], v) for k, v in data.items()}
    if origin is Mapping or kind is Mapping:
        inner = args[1] if args else Any
        return types.MappingProxyType({k: _build(inner, v) for k, v in data.items()})
    return data


def load_data(cls: type[T], data: Mapping[str, Any]) -> T:
    """A ``cls`` dataclass from parsed JSON; fields it does not know are ignored."""
    hints = _hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: _build(hints[k], v) for k, v in data.items() if k in known})


def load(cls: type[T], text: str | bytes) -> T:
    """A ``cls`` dataclass from the JSON text `dump` wrote."""
    return load_data(cls, json.loads(text))

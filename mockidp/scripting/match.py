"""What a rule matches on, and why a request did not match.

A rule matches on issuer, endpoint, client id, grant type, scope, user and any request
parameter (an exact value or a regular expression, matched in full).  `Match.miss` answers
None for a request that matches, or the first condition it fails, as the rules' teardown
report shows it: ``client_id: wanted 'web', got 'cli'``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mockidp.core.model import EMPTY, ENDPOINTS
from mockidp.scripting.fields import FieldCheck

ENDPOINT_NAMES: tuple[str, ...] = tuple(e.name for e in ENDPOINTS)
MATCH_FIELDS: tuple[str, ...] = (
    "issuer", "endpoint", "client_id", "grant_type", "scope", "user", "params",
)


@dataclass(frozen=True)
class Matcher:
    """An exact value or a regular expression (full match)."""

    exact: str | None = None
    pattern: re.Pattern[str] | None = None

    def matches(self, value: str | None) -> bool:
        if value is None:
            return False
        if self.pattern is not None:
            return self.pattern.fullmatch(value) is not None
        return value == self.exact

    def describe(self) -> str:
        return f"/{self.pattern.pattern}/" if self.pattern is not None else repr(self.exact)

    def as_json(self) -> Any:
        return {"regex": self.pattern.pattern} if self.pattern is not None else self.exact


@dataclass(frozen=True)
class RuleContext:
    """What a request looks like to the rules: the fields a rule can match on."""

    issuer: str
    endpoint: str
    client_id: str | None = None
    grant_type: str | None = None
    scope: tuple[str, ...] = ()
    user: str | None = None
    params: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    # values for claim templates ({sub}, {now}, ...)
    template: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True)
class Match:
    """The conditions of a rule; a missing condition matches anything."""

    issuer: str | None = None
    endpoint: str | None = None
    client_id: Matcher | None = None
    grant_type: Matcher | None = None
    scope: Matcher | tuple[str, ...] | None = None
    user: Matcher | None = None
    params: Mapping[str, Matcher] = field(default_factory=lambda: EMPTY)

    def miss(self, ctx: RuleContext) -> str | None:
        """None when ``ctx`` matches, else the reason it does not."""
        if self.issuer is not None and ctx.issuer != self.issuer:
            return f"issuer: wanted {self.issuer!r}, got {ctx.issuer!r}"
        if self.endpoint is not None and ctx.endpoint != self.endpoint:
            return f"endpoint: wanted {self.endpoint!r}, got {ctx.endpoint!r}"
        for name in ("client_id", "grant_type", "user"):
            matcher: Matcher | None = getattr(self, name)
            value = getattr(ctx, name)
            if matcher is not None and not matcher.matches(value):
                return f"{name}: wanted {matcher.describe()}, got {value!r}"
        if isinstance(self.scope, tuple):
            missing = [s for s in self.scope if s not in ctx.scope]
            if missing:
                return f"scope: wanted {' '.join(self.scope)!r}, got {' '.join(ctx.scope)!r}"
        elif self.scope is not None and not self.scope.matches(" ".join(ctx.scope)):
            return f"scope: wanted {self.scope.describe()}, got {' '.join(ctx.scope)!r}"
        for name, matcher in self.params.items():
            if not matcher.matches(ctx.params.get(name)):
                return f"params.{name}: wanted {matcher.describe()}, got {ctx.params.get(name)!r}"
        return None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("issuer", "endpoint"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        for name in ("client_id", "grant_type", "user"):
            matcher = getattr(self, name)
            if matcher is not None:
                out[name] = matcher.as_json()
        if isinstance(self.scope, tuple):
            out["scope"] = " ".join(self.scope)
        elif self.scope is not None:
            out["scope"] = self.scope.as_json()
        if self.params:
            out["params"] = {k: m.as_json() for k, m in self.params.items()}
        return out


# -- parsing the "match" object ----------------------------------------------------------------

def parse_matcher(check: FieldCheck, value: Any, path: str) -> Matcher:
    """An exact string, a compiled pattern or ``{"regex": "..."}``."""
    if isinstance(value, re.Pattern):
        return Matcher(pattern=value)
    if isinstance(value, str):
        return Matcher(exact=value)
    if isinstance(value, Mapping) and set(value) == {"regex"}:
        try:
            return Matcher(pattern=re.compile(str(value["regex"])))
        except re.error as exc:
            raise check.fail(path + ".regex", f"a valid regular expression ({exc})",
                            value["regex"]) from None
    raise check.fail(path, 'a string or {"regex": "..."}', value)


def parse_match(check: FieldCheck, spec: Mapping[str, Any], path: str,
                endpoints: Sequence[str] = ENDPOINT_NAMES) -> Match:
    issuer = check.string(spec["issuer"], path + ".issuer") if "issuer" in spec else None
    endpoint = None
    if "endpoint" in spec:
        endpoint = spec["endpoint"]
        if endpoint not in endpoints:
            raise check.fail(path + ".endpoint", "one of " + ", ".join(endpoints), endpoint)
    matchers = {
        name: parse_matcher(check, spec[name], f"{path}.{name}")
        for name in ("client_id", "grant_type", "user")
        if name in spec
    }
    scope: Matcher | tuple[str, ...] | None = None
    if "scope" in spec:
        raw = spec["scope"]
        if isinstance(raw, str):
            scope = tuple(raw.split())
        elif isinstance(raw, list) and all(isinstance(s, str) for s in raw):
            scope = tuple(raw)
        else:
            scope = parse_matcher(check, raw, path + ".scope")
    params: dict[str, Matcher] = {}
    if "params" in spec:
        if not isinstance(spec["params"], Mapping):
            raise check.fail(path + ".params", "an object of parameter → value", spec["params"])
        params = {str(k): parse_matcher(check, v, f"{path}.params.{k}")
                  for k, v in spec["params"].items()}
    return Match(issuer=issuer, endpoint=endpoint, scope=scope, params=params, **matchers)

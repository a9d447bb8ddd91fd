"""Rules: ``match → effect, times``.  What makes mockidp a test double.

A rule matches on issuer, endpoint, client id, grant type, scope, user and any request
parameter (exact value or regular expression).  Its effects: claims to set or delete in the
access token, the ID token and the userinfo answer (values may use templates such as ``{sub}``;
a Python callable in the Python door), an OAuth error, a raw HTTP fault, a delay, a bad token
in place of a good one, a clock skew for the tokens it shapes.  ``times`` is ``once``, a count,
or ``always``.

How several rules compose (the order is fixed and tested):

1. *Before* the endpoint does anything, the matching rules with a delay, an error or a fault
   fire in the order they were added, up to and including the first one with an error or a
   fault: their delays add up and are slept, then that error or fault answers.  Rules after it
   do not fire (and keep their ``times``).
2. *While* tokens or userinfo are built, every matching rule with something to do for that
   answer fires, in the order added: claims layers apply in turn (a later rule wins over an
   earlier one), the first bad-token rule replaces the token, skews and delays add up.  A rule
   whose claims are only for ``userinfo`` is not spent at the token endpoint, and vice versa.

Every rule that fires uses one of its ``times``.  A rule that never fired can fail the test at
teardown (`RuleBook.unfired`), with the reason each one did not match.

The same JSON shape is used by the Python API, the config file and the control API::

    {"id": "optional", "match": {"endpoint": "token", "client_id": "web",
                                 "params": {"scope": {"regex": "^openid"}}},
     "error": {"error": "invalid_grant", "description": "scripted", "status": 400},
     "times": "once", "expect": true}

Match fields may also be given at the top level (``{"endpoint": "token", ...}``).
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mockidp.core.errors import MockIdPError
from mockidp.core.model import (
    EMPTY,
    ENDPOINTS,
)
from mockidp.tokens.claims import ClaimLayer

ENDPOINT_NAMES: tuple[str, ...] = tuple(e.name for e in ENDPOINTS)
TOKEN_KINDS: tuple[str, ...] = ("access_token", "id_token", "userinfo")
MATCH_FIELDS: tuple[str, ...] = (
    "issuer", "endpoint", "client_id", "grant_type", "scope", "user", "params",
)
EFFECT_FIELDS: tuple[str, ...] = ("claims", "error", "fault", "delay", "bad_token", "skew")
RULE_FIELDS: tuple[str, ...] = (
    "id", "match", *MATCH_FIELDS, *EFFECT_FIELDS, "times", "expect", "description",
)
FAULT_KINDS: tuple[str, ...] = ("invalid_json", "empty", "close")
_TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


# ---------------------------------------------------------------------------------------------
# Matching

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


# ---------------------------------------------------------------------------------------------
# Effects

ClaimsCallable = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class ClaimsEdit:
    """Claims to set (values may be templates) and to delete, or a callable returning claims."""

    set: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    delete: tuple[str, ...] = ()
    call: ClaimsCallable | None = None

    def layer(self, template: Mapping[str, Any]) -> ClaimLayer:
        values: dict[str, Any] = {k: render(v, template) for k, v in self.set.items()}
        if self.call is not None:
            produced = self.call(template)
            if not isinstance(produced, Mapping):
                raise MockIdPError(
                    f"rule claims callable returned {type(produced).__name__}, expected a dict"
                )
            values.update(produced)
        return ClaimLayer(set=values, delete=self.delete)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.set:
            out["set"] = dict(self.set)
        if self.delete:
            out["delete"] = list(self.delete)
        if self.call is not None:
            out["callable"] = getattr(self.call, "__qualname__", repr(self.call))
        return out


@dataclass(frozen=True)
class ErrorEffect:
    """An OAuth error: any RFC code, status and description."""

    error: str
    description: str = ""
    status: int = 400


@dataclass(frozen=True)
class FaultEffect:
    """A raw HTTP fault: a status, body and content type, or one of `FAULT_KINDS`."""

    status: int = 500
    body: str = ""
    content_type: str = "text/plain"
    kind: str | None = None


@dataclass(frozen=True)
class DelayEffect:
    """Sleep ``seconds`` (plus up to ``jitter`` more, uniformly) before answering."""

    seconds: float
    jitter: float = 0.0

    def duration(self) -> float:
        return self.seconds + (random.uniform(0, self.jitter) if self.jitter else 0.0)


@dataclass(frozen=True)
class BadTokenEffect:
    """Hand out a token of a bad-token ``kind`` in place of the good ``token``."""

    kind: str
    token: str = "access_token"


# ---------------------------------------------------------------------------------------------
# Rules

@dataclass
class Rule:
    """One scripted behaviour.  ``times`` None means always.  Mutable counters, locked by the
    `RuleBook`."""

    id: str
    match: Match
    claims: Mapping[str, ClaimsEdit] = field(default_factory=dict)
    error: ErrorEffect | None = None
    fault: FaultEffect | None = None
    delay: DelayEffect | None = None
    bad_token: BadTokenEffect | None = None
    skew: float | None = None
    times: int | None = 1
    expect: bool = True
    description: str = ""
    fired: int = 0
    misses: deque[str] = field(default_factory=lambda: deque(maxlen=3))
    seen_endpoint: bool = False

    @property
    def active(self) -> bool:
        return self.times is None or self.fired < self.times

    @property
    def answers_early(self) -> bool:
        """Whether the rule acts before the endpoint runs (delay, error, fault only)."""
        return (self.delay is not None or self.error is not None or self.fault is not None) \
            and not self.claims and self.bad_token is None and self.skew is None

    def shapes(self, kinds: frozenset[str]) -> bool:
        """Whether this rule has an effect on an answer made of ``kinds``."""
        if any(kind in kinds for kind in self.claims):
            return True
        tokens = "access_token" in kinds or "id_token" in kinds
        return tokens and (self.bad_token is not None or self.skew is not None)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "match": self.match.as_json()}
        if self.claims:
            out["claims"] = {k: v.as_json() for k, v in self.claims.items()}
        if self.error is not None:
            out["error"] = {"error": self.error.error, "description": self.error.description,
                            "status": self.error.status}
        if self.fault is not None:
            fault: dict[str, Any] = {"status": self.fault.status, "body": self.fault.body,
                                     "content_type": self.fault.content_type}
            if self.fault.kind:
                fault = {"kind": self.fault.kind}
            out["fault"] = fault
        if self.delay is not None:
            out["delay"] = {"seconds": self.delay.seconds, "jitter": self.delay.jitter}
        if self.bad_token is not None:
            out["bad_token"] = {"kind": self.bad_token.kind, "token": self.bad_token.token}
        if self.skew is not None:
            out["skew"] = self.skew
        out["times"] = "always" if self.times is None else self.times
        out["expect"] = self.expect
        if self.description:
            out["description"] = self.description
        out["fired"] = self.fired
        out["active"] = self.active
        return out

    def not_fired_reason(self) -> str:
        if self.misses:
            return "; ".join(dict.fromkeys(self.misses))
        if self.match.endpoint:
            where = f"endpoint {self.match.endpoint!r}"
            if self.match.issuer:
                where += f" of issuer {self.match.issuer!r}"
            return f"no request reached {where}"
        return "no request was made"


@dataclass(frozen=True)
class EarlyAnswer:
    """What the rules decided before an endpoint runs."""

    delay: float = 0.0
    error: ErrorEffect | None = None
    fault: FaultEffect | None = None
    fired: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shaping:
    """What the rules decided while tokens are built."""

    layers: Mapping[str, tuple[ClaimLayer, ...]] = field(default_factory=lambda: EMPTY)
    bad_token: BadTokenEffect | None = None
    skew: float = 0.0
    delay: float = 0.0
    fired: tuple[str, ...] = ()

    def for_token(self, kind: str) -> tuple[ClaimLayer, ...]:
        return self.layers.get(kind, ())


NO_SHAPING = Shaping()
NO_EARLY_ANSWER = EarlyAnswer()


class RuleBook:
    """The rules of one provider, in the order they were added.  Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._ids = itertools.count(1)

    def __bool__(self) -> bool:
        return bool(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            if not rule.id:
                rule.id = f"rule-{next(self._ids)}"
            if any(r.id == rule.id for r in self._rules):
                raise MockIdPError(f"rule id {rule.id!r} is already in use")
            self._rules.append(rule)
            return rule

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def all(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def get(self, rule_id: str) -> Rule | None:
        with self._lock:
            return next((r for r in self._rules if r.id == rule_id), None)

    def _candidates(self, ctx: RuleContext, early: bool,
                    kinds: frozenset[str] = frozenset()) -> list[Rule]:
        """Matching active rules of one phase; records why the others missed.  In the shaping
        phase only rules with something to do for ``kinds`` take part (a userinfo-only
        claims rule is not spent at the token endpoint)."""
        found = []
        for rule in self._rules:
            if not rule.active or rule.answers_early != early:
                continue
            if not early and not rule.shapes(kinds):
                continue
            miss = rule.match.miss(ctx)
            if miss is None:
                found.append(rule)
                continue
            same_place = (rule.match.endpoint in (None, ctx.endpoint)
                          and rule.match.issuer in (None, ctx.issuer))
            if same_place:
                rule.seen_endpoint = True
                rule.misses.append(miss)
        return found

    def before(self, ctx: RuleContext) -> EarlyAnswer:
        """Phase 1: delays add up; the first error or fault answers (see module docstring)."""
        with self._lock:
            if not self._rules:
                return NO_EARLY_ANSWER
            delay = 0.0
            fired: list[str] = []
            for rule in self._candidates(ctx, early=True):
                rule.fired += 1
                fired.append(rule.id)
                if rule.delay is not None:
                    delay += rule.delay.duration()
                if rule.error is not None or rule.fault is not None:
                    return EarlyAnswer(delay, rule.error, rule.fault, tuple(fired))
            return EarlyAnswer(delay, None, None, tuple(fired))

    def shaping(self, ctx: RuleContext, kinds: frozenset[str] = frozenset(TOKEN_KINDS)
                ) -> Shaping:
        """Phase 2: claims layers in order, the first bad token, skews and delays summed."""
        with self._lock:
            if not self._rules:
                return NO_SHAPING
            layers: dict[str, list[ClaimLayer]] = {}
            bad: BadTokenEffect | None = None
            skew = 0.0
            delay = 0.0
            fired: list[str] = []
            for rule in self._candidates(ctx, early=False, kinds=kinds):
                rule.fired += 1
                fired.append(rule.id)
                for kind, edit in rule.claims.items():
                    layers.setdefault(kind, []).append(edit.layer(ctx.template))
                if rule.bad_token is not None and bad is None:
                    bad = rule.bad_token
                if rule.skew is not None:
                    skew += rule.skew
                if rule.delay is not None:
                    delay += rule.delay.duration()
            return Shaping({k: tuple(v) for k, v in layers.items()}, bad, skew, delay,
                           tuple(fired))

    def unfired(self, rules: Iterable[Rule] | None = None) -> list[Rule]:
        """Rules expected to fire that never did."""
        with self._lock:
            pool = list(rules) if rules is not None else list(self._rules)
            return [r for r in pool if r.expect and r.fired == 0]


def render(value: Any, template: Mapping[str, Any]) -> Any:
    """Fill ``{name}`` templates in strings (recursively in lists and dicts).

    A string that is exactly one placeholder takes the value's own type (``"{now}"`` → int).
    Unknown names are left as they are.
    """
    if isinstance(value, str):
        whole = _TEMPLATE.fullmatch(value)
        if whole and whole.group(1) in template:
            return template[whole.group(1)]
        return _TEMPLATE.sub(
            lambda m: str(template[m.group(1)]) if m.group(1) in template else m.group(0), value
        )
    if isinstance(value, list):
        return [render(v, template) for v in value]
    if isinstance(value, dict):
        return {k: render(v, template) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------
# Parsing the JSON shape (config file, control API, Python keyword arguments)

class _Fields:
    """Validation that names the field path in every error."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, expected: str, got: Any) -> MockIdPError:
        return MockIdPError(f"{self.where}{path}: expected {expected}, got {got!r}")

    def matcher(self, value: Any, path: str) -> Matcher:
        if isinstance(value, re.Pattern):
            return Matcher(pattern=value)
        if isinstance(value, str):
            return Matcher(exact=value)
        if isinstance(value, Mapping) and set(value) == {"regex"}:
            try:
                return Matcher(pattern=re.compile(str(value["regex"])))
            except re.error as exc:
                raise self.fail(path + ".regex", f"a valid regular expression ({exc})",
                                value["regex"]) from None
        raise self.fail(path, 'a string or {"regex": "..."}', value)

    def number(self, value: Any, path: str, minimum: float | None = 0.0) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value
        ):
            raise self.fail(path, "a finite number", value)
        if minimum is not None and value < minimum:
            raise self.fail(path, f"a number >= {minimum:g}", value)
        return float(value)

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(path, "a non-empty string", value)
        return value


def parse_rule(spec: Mapping[str, Any], where: str = "rule", bad_kinds: Sequence[str] = ()) -> Rule:
    """Build a `Rule` from its JSON shape (or Python keyword arguments).

    Raises `MockIdPError` naming the field: ``rules[2].match.client_id: expected ...``.
    """
    check = _Fields(where)
    if not isinstance(spec, Mapping):
        raise check.fail("", "a rule object", spec)
    for key in spec:
        if key not in RULE_FIELDS:
            raise MockIdPError(
                f"{where}.{key}: unknown field; expected one of: " + ", ".join(RULE_FIELDS)
            )
    match_spec: dict[str, Any] = {}
    if "match" in spec:
        if not isinstance(spec["match"], Mapping):
            raise check.fail(".match", "an object", spec["match"])
        match_spec.update(spec["match"])
        prefix = ".match"
    else:
        prefix = ""
    for name in MATCH_FIELDS:
        if name in spec:
            match_spec[name] = spec[name]
    for key in match_spec:
        if key not in MATCH_FIELDS:
            raise MockIdPError(f"{where}.match.{key}: unknown field; expected one of: "
                               + ", ".join(MATCH_FIELDS))
    match = _parse_match(check, match_spec, prefix or ".match")
    rule = Rule(id=str(spec.get("id") or ""), match=match)
    if "description" in spec:
        rule.description = str(spec["description"])
    if spec.get("claims") is not None:
        rule.claims = _parse_claims(check, spec["claims"])
    if spec.get("error") is not None:
        rule.error = _parse_error(check, spec["error"])
    if spec.get("fault") is not None:
        rule.fault = _parse_fault(check, spec["fault"])
    if spec.get("delay") is not None:
        rule.delay = _parse_delay(check, spec["delay"])
    if spec.get("bad_token") is not None:
        rule.bad_token = _parse_bad_token(check, spec["bad_token"], bad_kinds)
    if spec.get("skew") is not None:
        rule.skew = check.number(spec["skew"], ".skew", minimum=None)
        if abs(rule.skew) > 100 * 366 * 86400:
            raise check.fail(".skew", "at most a century either way", rule.skew)
    rule.times = _parse_times(check, spec.get("times", "once"))
    if "expect" in spec:
        if not isinstance(spec["expect"], bool):
            raise check.fail(".expect", "true or false", spec["expect"])
        rule.expect = spec["expect"]
    if rule.error is not None and rule.fault is not None:
        raise MockIdPError(f"{where}: a rule has either an error or a fault, not both")
    early = rule.error is not None or rule.fault is not None
    late = bool(rule.claims) or rule.bad_token is not None or rule.skew is not None
    if early and late:
        raise MockIdPError(
            f"{where}: an error or fault answers before tokens are made, so it cannot be "
            "combined with claims, bad_token or skew; use two rules"
        )
    if not early and not late and rule.delay is None:
        raise MockIdPError(
            f"{where}: expected at least one effect: " + ", ".join(EFFECT_FIELDS)
        )
    return rule


def _parse_match(check: _Fields, spec: Mapping[str, Any], path: str) -> Match:
    issuer = check.string(spec["issuer"], path + ".issuer") if "issuer" in spec else None
    endpoint = None
    if "endpoint" in spec:
        endpoint = spec["endpoint"]
        if endpoint not in ENDPOINT_NAMES:
            raise check.fail(path + ".endpoint", "one of " + ", ".join(ENDPOINT_NAMES), endpoint)
    matchers = {
        name: check.matcher(spec[name], f"{path}.{name}")
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
            scope = check.matcher(raw, path + ".scope")
    params: dict[str, Matcher] = {}
    if "params" in spec:
        if not isinstance(spec["params"], Mapping):
            raise check.fail(path + ".params", "an object of parameter → value", spec["params"])
        params = {str(k): check.matcher(v, f"{path}.params.{k}")
                  for k, v in spec["params"].items()}
    return Match(issuer=issuer, endpoint=endpoint, scope=scope, params=params, **matchers)


def _parse_edit(check: _Fields, value: Any, path: str) -> ClaimsEdit:
    if callable(value):
        return ClaimsEdit(call=value)
    if not isinstance(value, Mapping):
        raise check.fail(path, 'an object {"set": {...}, "delete": [...]} or a callable', value)
    for key in value:
        if key not in ("set", "delete"):
            raise MockIdPError(f"{check.where}{path}.{key}: unknown field; expected set, delete")
    to_set = value.get("set", {})
    if not isinstance(to_set, Mapping):
        raise check.fail(path + ".set", "an object of claims", to_set)
    try:
        json.dumps(to_set, allow_nan=False)
    except (TypeError, ValueError):
        raise check.fail(path + ".set", "JSON values (finite numbers only)", to_set) from None
    delete = value.get("delete", [])
    if isinstance(delete, str):
        delete = [delete]
    if not isinstance(delete, list) or not all(isinstance(d, str) for d in delete):
        raise check.fail(path + ".delete", "a list of claim names", delete)
    return ClaimsEdit(set=dict(to_set), delete=tuple(delete))


def _parse_claims(check: _Fields, value: Any) -> dict[str, ClaimsEdit]:
    if callable(value) or (isinstance(value, Mapping) and set(value) <= {"set", "delete"}):
        edit = _parse_edit(check, value, ".claims")
        return dict.fromkeys(TOKEN_KINDS, edit)
    if not isinstance(value, Mapping):
        raise check.fail(".claims", "an object keyed by access_token, id_token, userinfo", value)
    out: dict[str, ClaimsEdit] = {}
    for kind, edit in value.items():
        if kind not in TOKEN_KINDS:
            raise check.fail(f".claims.{kind}", "one of " + ", ".join(TOKEN_KINDS), kind)
        out[kind] = _parse_edit(check, edit, f".claims.{kind}")
    return out


def _parse_error(check: _Fields, value: Any) -> ErrorEffect:
    if isinstance(value, str):
        value = {"error": value}
    if not isinstance(value, Mapping):
        raise check.fail(".error", 'an error code or {"error", "description", "status"}', value)
    for key in value:
        if key not in ("error", "description", "status"):
            raise MockIdPError(f"{check.where}.error.{key}: unknown field; "
                               "expected error, description, status")
    code = check.string(value.get("error"), ".error.error")
    status = value.get("status", 401 if code in ("invalid_client", "invalid_token") else 400)
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise check.fail(".error.status", "an HTTP status from 400 to 599", status)
    return ErrorEffect(code, str(value.get("description", "")), status)


def _parse_fault(check: _Fields, value: Any) -> FaultEffect:
    if isinstance(value, str):
        value = {"kind": value}
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"status": value}
    if not isinstance(value, Mapping):
        raise check.fail(".fault", "a fault object", value)
    for key in value:
        if key not in ("status", "body", "content_type", "kind"):
            raise MockIdPError(f"{check.where}.fault.{key}: unknown field; "
                               "expected status, body, content_type, kind")
    kind = value.get("kind")
    if kind is not None and kind not in FAULT_KINDS:
        raise check.fail(".fault.kind", "one of " + ", ".join(FAULT_KINDS), kind)
    status = value.get("status", 500 if kind is None else 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise check.fail(".fault.status", "an HTTP status from 100 to 599", status)
    body = value.get("body", "")
    if not isinstance(body, str):
        raise check.fail(".fault.body", "a string", body)
    content_type = value.get("content_type", "application/json" if kind else "text/plain")
    return FaultEffect(status, body, str(content_type), kind)


def _parse_delay(check: _Fields, value: Any) -> DelayEffect:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = {"seconds": value}
    if not isinstance(value, Mapping):
        raise check.fail(".delay", 'seconds or {"seconds", "jitter"}', value)
    for key in value:
        if key not in ("seconds", "jitter"):
            raise MockIdPError(f"{check.where}.delay.{key}: unknown field; "
                               "expected seconds, jitter")
    seconds = check.number(value.get("seconds", 0), ".delay.seconds")
    jitter = check.number(value.get("jitter", 0), ".delay.jitter")
    if seconds + jitter > 300:
        raise check.fail(".delay", "at most 300 seconds in all", seconds + jitter)
    return DelayEffect(seconds, jitter)


def _parse_bad_token(check: _Fields, value: Any, kinds: Sequence[str]) -> BadTokenEffect:
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, Mapping):
        raise check.fail(".bad_token", 'a kind or {"kind", "token"}', value)
    for key in value:
        if key not in ("kind", "token"):
            raise MockIdPError(f"{check.where}.bad_token.{key}: unknown field; "
                               "expected kind, token")
    kind = value.get("kind")
    if kind not in kinds:
        raise check.fail(".bad_token.kind", "one of " + ", ".join(kinds), kind)
    token = value.get("token", "access_token")
    if token not in ("access_token", "id_token"):
        raise check.fail(".bad_token.token", "access_token or id_token", token)
    return BadTokenEffect(str(kind), str(token))


def _parse_times(check: _Fields, value: Any) -> int | None:
    if value == "always":
        return None
    if value == "once":
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise check.fail(".times", '"once", "always" or a count >= 1', value)
    return value

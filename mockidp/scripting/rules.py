"""Rules: ``match → effect, times``.  What makes mockidp a test double.

A rule is a `Match` (`mockidp.scripting.match`: issuer, endpoint, client id, grant type,
scope, user, request parameters), one or more effects (`mockidp.scripting.effects`: claims, an
OAuth error, a raw HTTP fault, a delay, a bad token, a clock skew) and ``times``: ``once``, a
count, or ``always``.  This module holds `Rule`, the `RuleBook` that fires the rules of a
provider, and `parse_rule`, which reads the JSON shape shown below.

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
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mockidp.core.errors import MockIdPError
from mockidp.scripting.effects import (
    CLAIM_TARGETS,
    EFFECT_FIELDS,
    MAX_DELAY,
    NO_EARLY_ANSWER,
    NO_SHAPING,
    BadTokenEffect,
    ClaimsEdit,
    DelayEffect,
    EarlyAnswer,
    ErrorEffect,
    FaultEffect,
    Shaping,
    parse_bad_token,
    parse_claims,
    parse_delay,
    parse_error,
    parse_fault,
)
from mockidp.scripting.fields import FieldCheck
from mockidp.scripting.match import ENDPOINT_NAMES, MATCH_FIELDS, Match, RuleContext, parse_match
from mockidp.tokens.claims import ClaimLayer

__all__ = [  # the names the endpoints, the provider and the doors import from here
    "ENDPOINT_NAMES", "NO_EARLY_ANSWER", "NO_SHAPING", "RULE_FIELDS", "EarlyAnswer",
    "FaultEffect", "Rule", "RuleBook", "RuleContext", "Shaping", "parse_rule",
]

RULE_FIELDS: tuple[str, ...] = (
    "id", "match", *MATCH_FIELDS, *EFFECT_FIELDS, "times", "expect", "description",
)


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
                self._missed(rule, miss)
        return found

    def _missed(self, rule: Rule, miss: str) -> None:
        """Note why ``rule`` did not match a request at its endpoint (caller holds the lock)."""
        rule.seen_endpoint = True
        rule.misses.append(miss)

    def _claim(self, rule: Rule) -> bool:
        """Spend one of ``rule``'s times before its effect applies; False if none is left
        (a shared rule book may have lost it to another process).  Caller holds the lock."""
        rule.fired += 1
        return True

    def before(self, ctx: RuleContext) -> EarlyAnswer:
        """Phase 1: delays add up; the first error or fault answers (see module docstring)."""
        with self._lock:
            if not self._rules:
                return NO_EARLY_ANSWER
            delay = 0.0
            fired: list[str] = []
            for rule in self._candidates(ctx, early=True):
                if not self._claim(rule):
                    continue
                fired.append(rule.id)
                if rule.delay is not None:
                    delay += rule.delay.duration()
                if rule.error is not None or rule.fault is not None:
                    return EarlyAnswer(min(delay, MAX_DELAY), rule.error, rule.fault,
                                       tuple(fired))
            return EarlyAnswer(min(delay, MAX_DELAY), None, None, tuple(fired))

    def shaping(self, ctx: RuleContext, kinds: frozenset[str] = frozenset(CLAIM_TARGETS)
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
                if not self._claim(rule):
                    continue
                fired.append(rule.id)
                for kind, edit in rule.claims.items():
                    layers.setdefault(kind, []).append(edit.layer(ctx.template))
                if rule.bad_token is not None and bad is None:
                    bad = rule.bad_token
                if rule.skew is not None:
                    skew += rule.skew
                if rule.delay is not None:
                    delay += rule.delay.duration()
            return Shaping({k: tuple(v) for k, v in layers.items()}, bad, skew,
                           min(delay, MAX_DELAY), tuple(fired))

    def unfired(self, rules: Iterable[Rule] | None = None) -> list[Rule]:
        """Rules expected to fire that never did."""
        with self._lock:
            pool = list(rules) if rules is not None else list(self._rules)
            return [r for r in pool if r.expect and r.fired == 0]


# -- parsing the JSON shape (config file, control API, Python keyword arguments) --------------

def parse_rule(spec: Mapping[str, Any], where: str = "rule", bad_kinds: Sequence[str] = (),
               endpoints: Sequence[str] = ENDPOINT_NAMES) -> Rule:
    """Build a `Rule` from its JSON shape (or Python keyword arguments); ``endpoints`` are the
    endpoint names it may match (the profiles' own endpoints besides the standard ones).

    Raises `MockIdPError` naming the field: ``rules[2].match.client_id: expected ...``.
    """
    check = FieldCheck(where)
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
    match = parse_match(check, match_spec, prefix or ".match", endpoints)
    rule = Rule(id=str(spec.get("id") or ""), match=match)
    if "description" in spec:
        rule.description = str(spec["description"])
    if spec.get("claims") is not None:
        rule.claims = parse_claims(check, spec["claims"])
    if spec.get("error") is not None:
        rule.error = parse_error(check, spec["error"])
    if spec.get("fault") is not None:
        rule.fault = parse_fault(check, spec["fault"])
    if spec.get("delay") is not None:
        rule.delay = parse_delay(check, spec["delay"])
    if spec.get("bad_token") is not None:
        rule.bad_token = parse_bad_token(check, spec["bad_token"], bad_kinds)
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


def _parse_times(check: FieldCheck, value: Any) -> int | None:
    if value == "always":
        return None
    if value == "once":
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise check.fail(".times", '"once", "always" or a count >= 1', value)
    return value

"""`SharedRuleBook`: the rules of every process on one shared store, with their fire counts.

Keys: ``@rules`` (id → the rule's JSON shape, `Rule.as_json` without its counters),
``@rules:order`` (the ids in the order added), ``@rules:fired`` (id → times fired),
``@rules:misses:{id}`` (the last three reasons it did not match), ``@rules:seq`` (ids of
rules added without one).  Adding, removing and clearing bump the ``rules`` version of the
state hash and end with the barrier of `mockidp.shared.bus`; a process reloads its copy of the
rules when the version in its copy of the hash differs from the one it holds (no round trip
otherwise).

A rule fires only after it has claimed one of its ``times`` with one Lua script (`_CLAIM`:
increment, and give it back when past ``times``), before its effect applies: a ``times = N``
rule fires exactly N times across all processes, whatever they race.  Reports
(`unfired`, `all`) read the counts and reasons from Redis, so every process tells the same.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from mockidp.core.errors import MockIdPError
from mockidp.scripting.effects import CLAIM_TARGETS
from mockidp.scripting.rules import EarlyAnswer, Rule, RuleBook, RuleContext, Shaping
from mockidp.shared.connection import reachable
from mockidp.shared.once import Once
from mockidp.shared.snapshot import SharedView

_ADD = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'rules', 1)
return 1
"""
_REMOVE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('LREM', KEYS[2], 0, ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[5])
redis.call('HINCRBY', KEYS[3], 'rules', 1)
return 1
"""
_CLEAR = """
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  redis.call('DEL', ARGV[1] .. id)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
redis.call('HINCRBY', KEYS[3], 'rules', 1)
return 1
"""
# claim one of a rule's times (ARGV[2]; 0: always): its new count, or -1 when none is left
_CLAIM = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
local n = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local times = tonumber(ARGV[2])
if times > 0 and n > times then
  redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
  return -1
end
return n
"""
MISSES_KEPT = 3


def rule_spec(rule: Rule) -> str:
    """The JSON shape `parse_rule` reads back into ``rule`` (without its counters)."""
    spec = rule.as_json()
    for counter in ("fired", "active"):
        spec.pop(counter, None)
    return json.dumps(spec, separators=(",", ":"))


class SharedRuleBook(RuleBook):
    """`RuleBook` whose rules and counts are the shared store's (see the module docstring);
    ``parse`` rebuilds a rule from its JSON shape."""

    def __init__(self, state: SharedView, parse: Callable[[Mapping[str, Any]], Rule]) -> None:
        super().__init__()
        self._state = state
        self._parse = parse
        self._stamp: tuple[str, int] | None = None
        self._keys = [state.name("rules"), state.name("rules", "order"), state.key,
                      state.name("rules", "fired")]
        client = state.client
        memo = state.name("rules") + ":"  # adding, removing, claiming: once (`once`)
        self._add = Once(client, _ADD, memo)
        self._remove = Once(client, _REMOVE, memo)
        self._clear = client.register_script(_CLEAR)
        self._claim_script = Once(client, _CLAIM, memo)

    def _misses_key(self, rule_id: str) -> str:
        return self._state.name("rules", "misses", rule_id)

    def _load(self, misses: bool = False) -> list[Rule]:
        """The rules as Redis holds them, with their counts (and reasons, ``misses``)."""
        rules_key, order_key, _, fired_key = self._keys
        with reachable():
            pipe = self._state.client.pipeline(transaction=True)
            pipe.lrange(order_key, 0, -1)
            pipe.hgetall(rules_key)
            pipe.hgetall(fired_key)
            order, specs, fired = pipe.execute()
            found = []
            for raw_id in order:
                spec = specs.get(raw_id)
                if spec is not None:
                    rule = self._parse(json.loads(spec))
                    rule.fired = int(fired.get(raw_id, 0))
                    found.append(rule)
            if misses and found:
                pipe = self._state.client.pipeline(transaction=False)
                for rule in found:
                    pipe.lrange(self._misses_key(rule.id), 0, -1)
                for rule, reasons in zip(found, pipe.execute(), strict=True):
                    rule.misses = deque((r.decode() for r in reasons), maxlen=MISSES_KEPT)
                    rule.seen_endpoint = bool(reasons)
        return found

    def _sync(self) -> None:
        """Reload the rules when the request's snapshot says they changed."""
        snap = self._state.current()
        stamp = (snap.gen, snap.rules)
        if stamp != self._stamp:
            rules = self._load()
            with self._lock:
                self._rules = rules
                self._stamp = stamp

    def __bool__(self) -> bool:
        self._sync()
        return bool(self._rules)

    def __len__(self) -> int:
        self._sync()
        return len(self._rules)

    def add(self, rule: Rule) -> Rule:
        with reachable():
            if not rule.id:
                seq = self._state.client.incr(self._state.name("rules", "seq"))
                rule.id = f"rule-{seq}"
            rule = replace(rule, fired=0, misses=deque(maxlen=MISSES_KEPT), seen_endpoint=False)
            if not self._add(keys=self._keys[:3], args=[rule.id, rule_spec(rule)]):
                raise MockIdPError(f"rule id {rule.id!r} is already in use")
        self._state.changed()
        return rule

    def remove(self, rule_id: str) -> bool:
        with reachable():
            removed = bool(self._remove(keys=[*self._keys, self._misses_key(rule_id)],
                                        args=[rule_id]))
        if removed:
            self._state.changed()
        return removed

    def clear(self) -> None:
        with reachable():
            self._clear(keys=self._keys, args=[self._misses_key("")])
        self._state.changed()

    def all(self) -> list[Rule]:
        return self._load(misses=True)

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.all() if r.id == rule_id), None)

    def before(self, ctx: RuleContext) -> EarlyAnswer:
        self._sync()
        return super().before(ctx)

    def shaping(self, ctx: RuleContext, kinds: frozenset[str] = frozenset(CLAIM_TARGETS)
                ) -> Shaping:
        self._sync()
        return super().shaping(ctx, kinds)

    def _claim(self, rule: Rule) -> bool:
        rules_key, _, _, fired_key = self._keys
        with reachable():
            count = int(self._claim_script(keys=[rules_key, fired_key],
                                           args=[rule.id, rule.times or 0]))
        if count < 0:  # spent by another process (or removed): inactive here too
            rule.fired = rule.times if rule.times is not None else rule.fired
            return False
        rule.fired = count
        return True

    def _missed(self, rule: Rule, miss: str) -> None:
        key = self._misses_key(rule.id)
        with reachable():
            pipe = self._state.client.pipeline(transaction=False)
            pipe.rpush(key, miss)
            pipe.ltrim(key, -MISSES_KEPT, -1)
            pipe.execute()

    def unfired(self, rules: Iterable[Rule] | None = None) -> list[Rule]:
        fresh = {r.id: r for r in self.all()}
        pool = list(fresh.values()) if rules is None else [fresh.get(r.id, r) for r in rules]
        return [r for r in pool if r.expect and r.fired == 0]

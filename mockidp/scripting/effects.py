"""What a rule does: its effects, how they are rendered, and what they add up to.

Effects: claims to set or delete in the access token, the ID token and the userinfo answer
(values may use templates such as ``{sub}``; a Python callable in the Python door), an OAuth
error (RFC 6749 §5.2 codes, or any other), a raw HTTP fault, a delay, a bad token in place of
a good one (see `mockidp.tokens.badtokens`), a clock skew for the tokens it shapes.

What the rules decided is handed to the endpoints as one of two records: `EarlyAnswer` (before
an endpoint runs: the summed delay and the error or fault that answers) and `Shaping` (while
tokens are built: claims layers per answer, the bad token, the summed skew and delay).
`mockidp.scripting.rules` documents the order in which they compose.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mockidp.core.errors import MockIdPError
from mockidp.core.model import EMPTY
from mockidp.scripting.fields import FieldCheck
from mockidp.tokens.claims import ClaimLayer

MAX_DELAY = 300  # seconds: one rule's delay, and the sum of all delays one request sleeps
CLAIM_TARGETS: tuple[str, ...] = ("access_token", "id_token", "userinfo")
"""The answers a rule's claims can shape (the keys of its ``claims`` object)."""
EFFECT_FIELDS: tuple[str, ...] = ("claims", "error", "fault", "delay", "bad_token", "skew")
FAULT_KINDS: tuple[str, ...] = ("invalid_json", "empty", "close")
_TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


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


# -- parsing the effect fields -----------------------------------------------------------------

def _parse_edit(check: FieldCheck, value: Any, path: str) -> ClaimsEdit:
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


def parse_claims(check: FieldCheck, value: Any) -> dict[str, ClaimsEdit]:
    if callable(value) or (isinstance(value, Mapping) and set(value) <= {"set", "delete"}):
        edit = _parse_edit(check, value, ".claims")
        return dict.fromkeys(CLAIM_TARGETS, edit)
    if not isinstance(value, Mapping):
        raise check.fail(".claims", "an object keyed by access_token, id_token, userinfo", value)
    out: dict[str, ClaimsEdit] = {}
    for kind, edit in value.items():
        if kind not in CLAIM_TARGETS:
            raise check.fail(f".claims.{kind}", "one of " + ", ".join(CLAIM_TARGETS), kind)
        out[kind] = _parse_edit(check, edit, f".claims.{kind}")
    return out


def parse_error(check: FieldCheck, value: Any) -> ErrorEffect:
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


def parse_fault(check: FieldCheck, value: Any) -> FaultEffect:
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


def parse_delay(check: FieldCheck, value: Any) -> DelayEffect:
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
    if seconds + jitter > MAX_DELAY:
        raise check.fail(".delay", f"at most {MAX_DELAY} seconds in all", seconds + jitter)
    return DelayEffect(seconds, jitter)


def parse_bad_token(check: FieldCheck, value: Any, kinds: Sequence[str]) -> BadTokenEffect:
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

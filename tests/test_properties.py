"""Properties (Hypothesis) of the claims pipeline and of rule matching.

- The claims pipeline (`mockidp.claims`): generated client, user, login and layer claims are
  composed in the documented order (registered → grant facts → client claims → user claims by
  scope → rule layers → per-call overrides → time stamps); configured client and user claims
  never change a protected claim; a later layer wins; deletions delete; time stamps are filled
  only when no layer set or deleted them.
- Rule matching (`mockidp.scripting.rules`): a rule built from a request's own fields matches
  it; changing any one matched field makes it miss with a reason naming that field; regular
  expressions match exactly what `re.fullmatch` matches; ``times`` = n fires exactly n times.

Runs are deterministic (derandomized, no example database) and bounded; set
``MOCKIDP_PROPERTY_EXAMPLES`` to raise the number of examples of every property.
"""

from __future__ import annotations

import dataclasses
import os
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

import jwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockidp import MockIdP
from mockidp.core.model import (
    ClaimsRequest,
    Client,
    GrantFacts,
    User,
)
from mockidp.core.settings import PROTECTED_CLAIMS
from mockidp.scripting.rules import (
    ENDPOINT_NAMES,
    RuleBook,
    RuleContext,
    parse_rule,
)
from mockidp.tokens.claims import (
    STANDARD_CLAIMS,
    ClaimLayer,
    access_token_claims,
    id_token_claims,
)

EXAMPLES = int(os.environ.get("MOCKIDP_PROPERTY_EXAMPLES", "60"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
ISSUER_URL = "http://127.0.0.1:8080/default"
TIMES = ("iat", "nbf", "exp")
NOT_CONFIGURABLE = PROTECTED_CLAIMS | {"sub", "typ"}  # what steps 3 and 4 may never change


# -- strategies: claims ---------------------------------------------------------------------------

CUSTOM_NAMES = ("role", "tier", "tenant", "shared", "groups", "acr")
# OIDC Core §5.4: the scope that allows each standard claim used here (written out, not taken
# from mockidp, so that a change to the pipeline's table shows)
SCOPE_OF = {"name": "profile", "locale": "profile", "email": "email", "email_verified": "email",
            "phone_number": "phone", "address": "address"}
STANDARD_NAMES = tuple(SCOPE_OF)
CLAIM_NAMES = st.sampled_from(sorted({*CUSTOM_NAMES, *STANDARD_NAMES, *NOT_CONFIGURABLE}))
CLAIM_VALUES = st.one_of(st.integers(-3, 3), st.text(max_size=4), st.booleans(), st.none(),
                         st.lists(st.integers(0, 2), max_size=2))
CLAIM_SETS = st.dictionaries(CLAIM_NAMES, CLAIM_VALUES, max_size=6)
SCOPES = st.lists(st.sampled_from(("openid", "profile", "email", "phone", "address", "api:read")),
                  unique=True, max_size=5).map(tuple)
LAYERS = st.lists(
    st.builds(ClaimLayer, set=CLAIM_SETS, delete=st.lists(CLAIM_NAMES, max_size=3).map(tuple)),
    max_size=4,
)
SHORT = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=8)
REQUESTED = st.dictionaries(st.sampled_from(STANDARD_NAMES), st.none(), max_size=3)


@st.composite
def grant_facts(draw: st.DrawFn) -> GrantFacts:
    """Facts a grant could establish, with configured client and user claims and login claims
    that may try to set anything, protected claims included."""
    client = Client(id=draw(SHORT), claims=draw(CLAIM_SETS))
    user = draw(st.none() | st.builds(User, id=SHORT, claims=CLAIM_SETS))
    claims_request = draw(st.none() | st.builds(ClaimsRequest, userinfo=REQUESTED,
                                                id_token=REQUESTED))
    return GrantFacts(
        grant_type="test", client=client, sub=draw(SHORT), scopes=draw(SCOPES),
        audience=draw(st.lists(SHORT, unique=True, max_size=3).map(tuple)), user=user,
        login_claims=draw(CLAIM_SETS), auth_time=draw(st.none() | st.integers(0, 10**9)),
        nonce=draw(st.none() | SHORT), session_id=draw(st.none() | SHORT),
        acr=draw(st.none() | SHORT), claims_request=claims_request,
    )


TOKEN_KINDS = st.sampled_from(("access_token", "id_token"))


def build(kind: str, facts: GrantFacts, now: int, lifetime: int,
          layers: Sequence[ClaimLayer] = ()) -> dict[str, Any]:
    """The pipeline under test, for an access token or an ID token."""
    if kind == "access_token":
        return access_token_claims(ISSUER_URL, facts, now, lifetime, layers)
    return id_token_claims(ISSUER_URL, facts, now, lifetime, "RS256", access_token="at",
                           code="code", layers=layers)


def unconfigured(facts: GrantFacts) -> GrantFacts:
    """The same grant with nothing configured: no client, user or login claims."""
    return dataclasses.replace(facts, client=dataclasses.replace(facts.client, claims={}),
                               user=None, login_claims={})


def allowed_user_claims(kind: str, facts: GrantFacts) -> dict[str, Any]:
    """Step 4 as documented: configured user claims, then the login's; standard claims only
    when a granted scope allows them (OIDC Core §5.4) or they are requested one by one (§5.5:
    userinfo members in the access token, id_token members in the ID token); custom claims
    always; never a protected one."""
    allowed = {name for name, scope in SCOPE_OF.items() if scope in facts.scopes}
    if facts.claims_request is not None:
        allowed |= set(facts.claims_request.userinfo if kind == "access_token"
                       else facts.claims_request.id_token)
    merged = {**(facts.user.claims if facts.user is not None else {}), **facts.login_claims}
    return {name: value for name, value in merged.items()
            if name not in NOT_CONFIGURABLE and (name not in SCOPE_OF or name in allowed)}


def expected_claims(kind: str, facts: GrantFacts, now: int, lifetime: int,
                    layers: Sequence[ClaimLayer]) -> dict[str, Any]:
    """The documented order, written out step by step.  Steps 1 and 2 (registered claims and
    grant facts) are taken from the pipeline run with nothing configured; ``jti`` (random) is
    left out."""
    claims = {name: value for name, value in build(kind, unconfigured(facts), 0, 0).items()
              if name not in (*TIMES, "jti")}
    claims.update({name: value for name, value in facts.client.claims.items()
                   if name not in NOT_CONFIGURABLE})                         # 3. client
    claims.update(allowed_user_claims(kind, facts))                          # 4. user, login
    touched: set[str] = set()
    for layer in layers:                                                     # 5. layers
        claims.update(layer.set)
        for name in layer.delete:
            claims.pop(name, None)
        touched |= set(layer.set) | set(layer.delete)
    for name, value in (("iat", now), ("nbf", now), ("exp", now + lifetime)):  # 6. times
        if name not in touched:
            claims[name] = value
    if "jti" in touched:
        jti_layers = [layer for layer in layers if "jti" in layer.set or "jti" in layer.delete]
        last = jti_layers[-1]
        if "jti" in last.delete:
            claims.pop("jti", None)
        else:
            claims["jti"] = last.set["jti"]
    return claims


def without_own_jti(claims: Mapping[str, Any], layers: Sequence[ClaimLayer]) -> dict[str, Any]:
    """``claims`` without the pipeline's random ``jti`` (checked to be there instead)."""
    if any("jti" in layer.set or "jti" in layer.delete for layer in layers):
        return dict(claims)
    jti = claims.get("jti")
    assert isinstance(jti, str) and len(jti) >= 20, jti
    return {name: value for name, value in claims.items() if name != "jti"}


# -- properties: claims ---------------------------------------------------------------------------

def test_generated_claim_names_are_what_they_stand_for() -> None:
    assert set(SCOPE_OF) <= STANDARD_CLAIMS
    assert not set(CUSTOM_NAMES) & (STANDARD_CLAIMS | NOT_CONFIGURABLE)


@PROPERTY
@given(kind=TOKEN_KINDS, facts=grant_facts(), now=st.integers(0, 2 * 10**9),
       lifetime=st.integers(-100, 10**6), layers=LAYERS)
def test_pipeline_composes_in_the_documented_order(kind: str, facts: GrantFacts, now: int,
                                                   lifetime: int,
                                                   layers: list[ClaimLayer]) -> None:
    claims = build(kind, facts, now, lifetime, layers)
    assert without_own_jti(claims, layers) == expected_claims(kind, facts, now, lifetime, layers)


@PROPERTY
@given(kind=TOKEN_KINDS, facts=grant_facts(), now=st.integers(0, 2 * 10**9),
       lifetime=st.integers(0, 10**6))
def test_configured_claims_never_change_a_protected_claim(kind: str, facts: GrantFacts,
                                                          now: int, lifetime: int) -> None:
    own = build(kind, unconfigured(facts), now, lifetime)
    claims = build(kind, facts, now, lifetime)
    configured = {**facts.client.claims, **(facts.user.claims if facts.user else {}),
                  **facts.login_claims}
    for name in set(configured) & NOT_CONFIGURABLE:
        if name == "jti":
            assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 20
        else:
            assert claims.get(name, "<absent>") == own.get(name, "<absent>"), name


@PROPERTY
@given(kind=TOKEN_KINDS, facts=grant_facts(), layers=LAYERS.filter(bool))
def test_a_later_layer_wins_and_deletions_delete(kind: str, facts: GrantFacts,
                                                 layers: list[ClaimLayer]) -> None:
    claims = build(kind, facts, 1000, 60, layers)
    last: dict[str, tuple[str, Any]] = {}
    for layer in layers:
        for name, value in layer.set.items():
            last[name] = ("set", value)
        for name in layer.delete:  # within one layer: set, then delete
            last[name] = ("delete", None)
    for name, (action, value) in last.items():
        if action == "delete":
            assert name not in claims, name
        else:
            assert name in claims and claims[name] == value, name


@PROPERTY
@given(kind=TOKEN_KINDS, facts=grant_facts(), now=st.integers(0, 2 * 10**9),
       lifetime=st.integers(-100, 10**6), layers=LAYERS)
def test_time_stamps_are_filled_only_when_no_layer_touched_them(
    kind: str, facts: GrantFacts, now: int, lifetime: int, layers: list[ClaimLayer]
) -> None:
    claims = build(kind, facts, now, lifetime, layers)
    touched = {name for layer in layers for name in (*layer.set, *layer.delete)}
    for name, stamp in (("iat", now), ("nbf", now), ("exp", now + lifetime)):
        if name not in touched:
            assert claims[name] == stamp, name
        else:
            final = [layer for layer in layers if name in layer.set or name in layer.delete][-1]
            if name in final.delete:
                assert name not in claims, name
            else:
                assert claims[name] == final.set[name], name


@PROPERTY
@given(kind=TOKEN_KINDS, facts=grant_facts())
def test_user_claims_follow_the_granted_scopes(kind: str, facts: GrantFacts) -> None:
    facts = dataclasses.replace(facts, client=dataclasses.replace(facts.client, claims={}))
    claims = build(kind, facts, 0, 1)
    own = build(kind, unconfigured(facts), 0, 1)
    for name, value in allowed_user_claims(kind, facts).items():
        assert claims[name] == value, name  # the login's claims beat the configured user's
    offered = {**(facts.user.claims if facts.user else {}), **facts.login_claims}
    for name in set(offered) - set(allowed_user_claims(kind, facts)) - NOT_CONFIGURABLE:
        assert claims.get(name, "<absent>") == own.get(name, "<absent>"), name


MINT_IDP = MockIdP({"users": {"alice": {"claims": {"role": "user", "tier": "gold",
                                                   "email": "alice@example.com"}}}})


@settings(PROPERTY, max_examples=max(EXAMPLES // 3, 10))
@given(overrides=st.dictionaries(CLAIM_NAMES, st.integers(0, 9) | st.text(max_size=3),
                                 max_size=5),
       remove=st.lists(CLAIM_NAMES, max_size=3, unique=True), scope=st.none() | SCOPES)
def test_per_call_overrides_win_over_everything_and_remove_deletes(
    overrides: dict[str, Any], remove: list[str], scope: tuple[str, ...] | None
) -> None:
    token = MINT_IDP.mint("alice", overrides, remove=remove, scope=scope)
    claims = jwt.decode(token, options={"verify_signature": False})
    for name, value in overrides.items():
        if name not in remove:
            assert claims[name] == value, name
    for name in remove:
        assert name not in claims, name
    if "role" not in overrides and "role" not in remove:
        assert claims["role"] == "user"  # a custom user claim, whatever the scopes


# -- strategies: rule matching --------------------------------------------------------------------

VALUE = st.text(alphabet=string.ascii_letters + string.digits + "-_.:/ ", min_size=1, max_size=8)
WORD = st.text(alphabet=string.ascii_letters + ":", min_size=1, max_size=6)
PARAM_NAME = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=6)
CONTEXTS = st.builds(
    RuleContext,
    issuer=st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=6),
    endpoint=st.sampled_from(ENDPOINT_NAMES),
    client_id=st.none() | VALUE,
    grant_type=st.none() | VALUE,
    scope=st.lists(WORD, unique=True, max_size=4).map(tuple),
    user=st.none() | VALUE,
    params=st.dictionaries(PARAM_NAME, VALUE, max_size=4),
)
EFFECT = {"claims": {"set": {"x": 1}}}


def matchable_fields(ctx: RuleContext) -> list[str]:
    """The fields of ``ctx`` a rule can match on (a field that is None matches nothing)."""
    fields = ["issuer", "endpoint", "scope"]
    fields += [name for name in ("client_id", "grant_type", "user") if getattr(ctx, name)]
    fields += [f"params.{name}" for name in sorted(ctx.params)]
    return fields


def own_value(ctx: RuleContext, field: str) -> Any:
    if field.startswith("params."):
        return ctx.params[field[len("params."):]]
    return getattr(ctx, field)


@st.composite
def rules_for(draw: st.DrawFn, ctx: RuleContext) -> tuple[dict[str, Any], list[str]]:
    """A rule spec matching ``ctx`` on some of its own fields (exactly or by an escaped
    regular expression), and the fields that can make it miss."""
    fields = draw(st.lists(st.sampled_from(matchable_fields(ctx)), unique=True))
    match: dict[str, Any] = {}
    decisive: list[str] = []
    for field in fields:
        value = own_value(ctx, field)
        regex = draw(st.booleans())
        if field == "scope":
            if regex:
                match["scope"] = {"regex": re.escape(" ".join(value))}
            else:
                words = draw(st.lists(st.sampled_from(value), unique=True)) if value else []
                match["scope"] = draw(st.sampled_from((" ".join(words), words)))
                if not words:
                    continue  # an empty scope condition asks for nothing: it cannot miss
            decisive.append(field)
        elif field in ("issuer", "endpoint"):  # matched exactly, never by a regex
            match[field] = value
            decisive.append(field)
        else:
            matcher = {"regex": re.escape(value)} if regex else value
            if field.startswith("params."):
                match.setdefault("params", {})[field[len("params."):]] = matcher
            else:
                match[field] = matcher
            decisive.append(field)
    spec = dict(match) if draw(st.booleans()) else {"match": match}
    return {**spec, **EFFECT}, decisive


def changed(draw: st.DrawFn, ctx: RuleContext, field: str, spec: dict[str, Any]) -> RuleContext:
    """``ctx`` with ``field`` changed so that the rule's condition on it no longer holds."""
    old = own_value(ctx, field)
    if field == "endpoint":
        return dataclasses.replace(ctx, endpoint=draw(st.sampled_from(
            [name for name in ENDPOINT_NAMES if name != old])))
    if field == "scope":
        wanted = (spec.get("match") or spec)["scope"]
        if isinstance(wanted, dict):  # a regex of the whole scope string: any change misses
            extra = draw(WORD.filter(lambda word: word not in old))
            return dataclasses.replace(ctx, scope=(*old, extra))
        words = wanted.split() if isinstance(wanted, str) else wanted
        dropped = draw(st.sampled_from(words))
        return dataclasses.replace(ctx, scope=tuple(w for w in old if w != dropped))
    new = draw(st.none() | VALUE.filter(lambda value: value != old))
    if field == "issuer":
        return dataclasses.replace(ctx, issuer=new or old + "x")
    if field.startswith("params."):
        params = dict(ctx.params)
        name = field[len("params."):]
        if new is None:
            del params[name]
        else:
            params[name] = new
        return dataclasses.replace(ctx, params=params)
    return dataclasses.replace(ctx, **{field: new})


# -- properties: rule matching --------------------------------------------------------------------

@PROPERTY
@given(data=st.data(), ctx=CONTEXTS)
def test_a_rule_built_from_a_request_matches_it(data: st.DataObject, ctx: RuleContext) -> None:
    spec, _ = data.draw(rules_for(ctx))
    rule = parse_rule(spec)
    assert rule.match.miss(ctx) is None, (spec, ctx)


@PROPERTY
@given(data=st.data(), ctx=CONTEXTS)
def test_changing_one_matched_field_misses_naming_it(data: st.DataObject,
                                                     ctx: RuleContext) -> None:
    spec, decisive = data.draw(rules_for(ctx).filter(lambda found: bool(found[1])))
    field = data.draw(st.sampled_from(decisive))
    other = changed(data.draw, ctx, field, spec)
    reason = parse_rule(spec).match.miss(other)
    assert reason is not None and reason.startswith(f"{field}: "), (spec, field, other, reason)


REGEX_PIECES = st.sampled_from(("a", "b", "ab", ".", "a*", "b+", "[ab]", "[^a]", "(a|bc)",
                                r"\d", "x?", "(ab)*", r"\.", "c{1,2}", "^", "$", "|"))
PATTERNS = st.lists(REGEX_PIECES, min_size=1, max_size=5).map("".join)
FIELDS_WITH_MATCHERS = st.sampled_from(("client_id", "grant_type", "user", "params.p"))


@PROPERTY
@given(data=st.data(), pattern=PATTERNS, field=FIELDS_WITH_MATCHERS)
def test_a_regex_matches_exactly_what_fullmatch_matches(data: st.DataObject, pattern: str,
                                                        field: str) -> None:
    value = data.draw(st.text(alphabet="abcx1.", max_size=6)
                      | st.from_regex(pattern, fullmatch=True), label="value")
    if field == "params.p":
        spec: dict[str, Any] = {"params": {"p": {"regex": pattern}}}
        ctx = RuleContext(issuer="default", endpoint="token", params={"p": value})
    else:
        spec = {field: {"regex": pattern}}
        ctx = RuleContext(issuer="default", endpoint="token", **{field: value})
    matches = parse_rule({**spec, **EFFECT}).match.miss(ctx) is None
    assert matches == (re.fullmatch(pattern, value) is not None), (pattern, value)


@PROPERTY
@given(times=st.integers(1, 6) | st.sampled_from(("once", "always")),
       matching=st.integers(0, 12), early=st.booleans(), noise=st.integers(0, 3))
def test_times_n_fires_exactly_n_times(times: int | str, matching: int, early: bool,
                                       noise: int) -> None:
    book = RuleBook()
    effect = {"error": "invalid_grant"} if early else EFFECT
    rule = book.add(parse_rule({"endpoint": "token", "client_id": "app", "times": times,
                                **effect}))
    hit = RuleContext(issuer="default", endpoint="token", client_id="app")
    misses = (RuleContext(issuer="default", endpoint="userinfo", client_id="app"),
              RuleContext(issuer="default", endpoint="token", client_id="other"))
    fired = 0
    for _ in range(matching):
        for _ in range(noise):
            for ctx in misses:
                assert rule.id not in book.before(ctx).fired
                assert rule.id not in book.shaping(ctx).fired
        # the other phase never spends the rule
        other = book.shaping(hit) if early else book.before(hit)
        assert rule.id not in other.fired
        answer = book.before(hit) if early else book.shaping(hit)
        fired += answer.fired.count(rule.id)
    limit = {"once": 1, "always": matching}.get(str(times), times)
    assert isinstance(limit, int)
    assert fired == rule.fired == min(limit, matching)
    assert rule.active == (times == "always" or matching < limit)

"""The plumbing every endpoint shares: one exchange from request to journal entry.

Every endpoint runs the same sequence: open the exchange (`Exchanges.begin`), let the rules
answer first (`early`: delays, then a scripted fault or error), do its work, let the rules
shape what it builds (`shape`: claims layers, bad tokens, skew), and journal the exchange from
its typed outcome whatever happens (`run`).  `Exchanges` is the collaborator each endpoint
object takes, as authlib's endpoints take their server.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from mockidp.core import blocking
from mockidp.core.clock import Clock
from mockidp.core.errors import InvalidToken, OAuthError, ScriptedFault
from mockidp.core.journal import Exchange, Journal, mask, weigh
from mockidp.core.model import EndpointRequest, Outcome, Params, outcome_error, outcome_status
from mockidp.profiles import IssuerView
from mockidp.protocol.clientauth import BASIC_CHALLENGE
from mockidp.protocol.issuer import Issuer
from mockidp.scripting.rules import (
    NO_EARLY_ANSWER,
    NO_SHAPING,
    EarlyAnswer,
    FaultEffect,
    RuleBook,
    RuleContext,
    Shaping,
)
from mockidp.tokens.jose import header_segment

OutcomeT = TypeVar("OutcomeT", bound=Outcome)


@dataclass(slots=True)
class Call:
    """One exchange in progress; becomes a journal `Exchange` when it ends."""

    issuer: str
    endpoint: str
    req: EndpointRequest
    started: float
    provider_time: float
    client_id: str | None = None
    grant_type: str | None = None
    user: str | None = None
    status: int = 200
    error: str | None = None
    tokens: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    fired: list[str] = field(default_factory=list)
    creds: Any = None  # the client credentials, once parsed
    # the JOSE header segment of each JWT minted (decoded when the journal is read)
    jws: dict[str, str] = field(default_factory=dict)
    # parameters whose JWT was accepted unverified (`assertions.Trust.signed_by`)
    unverified: list[str] = field(default_factory=list)

    # what ``tokens`` and ``jws`` hold, as the journal weighs entries (`journal.weigh`)
    token_bytes: int = 0

    def note_token(self, name: str, claims: Mapping[str, Any], token: str) -> None:
        """Journal a minted token: its claims, and its JOSE header when it is a JWS.

        A JWS is weighed by its length, more than its header's and claims' JSON (base64url
        makes 4 characters of 3) for no walk through the claims: 0.07 us a token where
        `weigh` takes 1.6 us for an access and an ID token, on every token request
        (`test_the_cheap_weight_of_an_entry_covers_its_json` checks it is never less)."""
        self.tokens[name] = claims
        if token.count(".") == 2:
            self.jws[name] = token[: token.index(".")]
            self.token_bytes += 2 * len(name) + 16 + len(token)
        else:
            self.token_bytes += len(name) + 4 + weigh(claims)

    def note_claims(self, name: str, claims: Mapping[str, Any]) -> None:
        """Journal claims handed out without a token (the userinfo answer)."""
        self.tokens[name] = claims
        self.token_bytes += len(name) + 4 + weigh(claims)

    def journal_bytes(self) -> int:
        """What the journal entry of this call holds besides its parameters, about as
        `journal.weigh` counts it: its strings, the tokens and the rules that fired (80: the
        method, quotes, empty fields)."""
        return (80 + self.token_bytes + len(self.issuer) + len(self.endpoint) + len(self.req.path)
                + len(self.client_id or "") + len(self.grant_type or "") + len(self.user or "")
                + len(self.error or "")
                + (sum(len(rule) + 3 for rule in self.fired) if self.fired else 0))


def _exchange(params: Params, seq: int, started: float, provider_time: float, issuer: str,
              endpoint: str, method: str, path: str, client_id: str | None,
              grant_type: str | None, user: str | None, status: int, error: str | None,
              tokens: dict[str, Mapping[str, Any]], fired: list[str], jws: dict[str, str],
              unverified: list[str]) -> Exchange:
    """The journal record of a finished call, built when the journal is read from what the
    call kept (not the call itself: its request and credentials are let go; ``params`` with
    long values already cut by the journal)."""
    return Exchange(
        seq=seq, time=started, provider_time=provider_time, issuer=issuer, endpoint=endpoint,
        method=method, path=path, params=MappingProxyType(mask(params.as_dict())),
        client_id=client_id, grant_type=grant_type, user=user, status=status, error=error,
        tokens=MappingProxyType(tokens), rules=tuple(fired),
        headers=MappingProxyType({name: header for name, segment in jws.items()
                                  if (header := header_segment(segment)) is not None}),
        unverified=tuple(unverified),
    )


def fault_exception(fault: FaultEffect) -> ScriptedFault:
    """The exception the HTTP adapter turns into the scripted raw HTTP answer."""
    if fault.kind == "close":
        return ScriptedFault(close=True, status=0)
    if fault.kind == "empty":
        return ScriptedFault(fault.status, b"", fault.content_type)
    if fault.kind == "invalid_json":
        return ScriptedFault(fault.status, b'{"access_token": "eyJ', fault.content_type)
    return ScriptedFault(fault.status, fault.body.encode(), fault.content_type)


class IssuerUrls(Protocol):
    """How an issuer's identifier is found: the public URL when one is set, else the base
    URL the request came in on, else the server's own (see `Provider.issuer_url_for`)."""

    def __call__(self, issuer: str, base_url: str | None) -> str: ...


class Exchanges:
    """The issuers, the clock, the rules and the journal, and the steps of an exchange.

    Thread-safe: it keeps no per-request state (that is the `Call`)."""

    def __init__(self, issuer: Callable[[str], Issuer], find_issuer: Callable[[str], Issuer | None],
                 issuer_url: IssuerUrls, clock: Clock, rules: RuleBook, journal: Journal,
                 base_for: Callable[[str | None], str] | None = None,
                 issuer_of: Callable[[str], Issuer | None] | None = None) -> None:
        self.issuer = issuer  # by name, created on first use (bad name: `NotFound`)
        self.find_issuer = find_issuer  # an existing issuer by name, or None
        self.issuer_url = issuer_url
        # the base URL identifiers use for a request at ``base_url`` (the public URL's)
        self.base_for = base_for or (lambda base_url: (base_url or "").rstrip("/"))
        # the existing issuer a token's ``iss`` names, or None
        self.issuer_of = issuer_of or (lambda iss: None)
        self.clock = clock
        self.rules = rules
        self.journal = journal

    def endpoint_url(self, issuer: Issuer, base_url: str | None, endpoint: str) -> str:
        """The URL of ``endpoint`` of ``issuer`` as a request at ``base_url`` sees it."""
        return issuer.url(self.base_for(base_url), endpoint)

    def view(self, issuer: Issuer, base_url: str | None) -> IssuerView:
        """What the issuer's profile sees of it for a request at ``base_url``."""
        return issuer.view(self.base_for(base_url))

    def begin(self, issuer: Issuer, req: EndpointRequest, endpoint: str) -> Call:
        """Open the exchange of ``req`` at ``endpoint``."""
        return Call(issuer.name, endpoint, req, time.time(), self.clock.now())

    def context(self, call: Call, scope: tuple[str, ...] = (),
                template: Mapping[str, Any] | None = None) -> RuleContext:
        """What the rules match on."""
        return RuleContext(
            issuer=call.issuer,
            endpoint=call.endpoint,
            client_id=call.client_id,
            grant_type=call.grant_type,
            scope=scope,
            user=call.user,
            params=call.req.params.single(),
            template=template or MappingProxyType({}),
        )

    def early(self, call: Call, scope: tuple[str, ...] = ()) -> EarlyAnswer:
        """Phase 1 of the rules: sleep the delays, then raise a scripted fault; return the
        answer so that the caller renders a scripted OAuth error its own way (a browser
        endpoint redirects it, a JSON endpoint raises it)."""
        if not self.rules:
            return NO_EARLY_ANSWER
        answer = self.rules.before(self.context(call, scope))
        call.fired.extend(answer.fired)
        if answer.delay:
            blocking.sleep(answer.delay)
        if answer.fault is not None:
            raise fault_exception(answer.fault)
        return answer

    def early_or_raise(self, call: Call, scope: tuple[str, ...] = ()) -> None:
        """`early` for JSON endpoints: a scripted error is raised as an `OAuthError`, with the
        challenge RFC 6750 §3 (``invalid_token``) or RFC 6749 §5.2 (Basic) calls for."""
        answer = self.early(call, scope)
        if answer.error is None:
            return
        error = answer.error
        challenge = None
        if error.error == "invalid_token":
            challenge = InvalidToken(error.description).www_authenticate
        elif error.error == "invalid_client" and (call.req.authorization or "").strip()[
                :5].lower() == "basic":
            challenge = BASIC_CHALLENGE
        raise OAuthError(error.description, error=error.error, status=error.status,
                         www_authenticate=challenge)

    def shape(self, call: Call, scope: tuple[str, ...],
              template: Callable[[], Mapping[str, Any]], kinds: frozenset[str]) -> Shaping:
        """Phase 2 of the rules: claims layers, bad token, skew, delay, for the ``kinds`` of
        answer being built here (``access_token``/``id_token`` or ``userinfo``).  The claim
        template values are worked out only when there are rules to use them."""
        if not self.rules:
            return NO_SHAPING
        shaping = self.rules.shaping(self.context(call, scope, template()), kinds)
        call.fired.extend(shaping.fired)
        return shaping

    def run(self, call: Call, body: Callable[[], OutcomeT]) -> OutcomeT:
        """Run an endpoint body and journal the exchange from its outcome, whatever happens:
        the status of the outcome (`outcome_status`), the error it carries or raised."""
        try:
            result = body()
        except OAuthError as exc:
            call.status, call.error = exc.status, exc.error
            raise
        except ScriptedFault as exc:
            call.status, call.error = exc.status, "scripted_fault"
            raise
        else:
            call.status = outcome_status(result, call.req.method)
            call.error = outcome_error(result)
            return result
        finally:
            req = call.req
            self.journal.record_later(_exchange, req.params, (
                self.journal.next_seq(), call.started, call.provider_time, call.issuer,
                call.endpoint, req.method, req.path, call.client_id, call.grant_type, call.user,
                call.status, call.error, call.tokens, call.fired, call.jws, call.unverified),
                call.journal_bytes())


class Endpoint(ABC):
    """One protocol endpoint: a name, its collaborators, and ``__call__(request) ->
    outcome``.  Subclasses implement `answer`; the exchange is opened and journaled here."""

    name = ""

    def __init__(self, exchanges: Exchanges) -> None:
        self.exchanges = exchanges
        self.clock = exchanges.clock

    def __call__(self, req: EndpointRequest) -> Outcome:
        issuer = self.exchanges.issuer(req.issuer)
        call = self.exchanges.begin(issuer, req, self.name)
        return self.exchanges.run(call, lambda: self.answer(call, issuer, req))

    @abstractmethod
    def answer(self, call: Call, issuer: Issuer, req: Any) -> Outcome:
        """The endpoint's work; raise `OAuthError` for a protocol error."""

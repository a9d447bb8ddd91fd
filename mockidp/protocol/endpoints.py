"""The protocol endpoints of `MockIdP`, each sequenced the same way:

request → rules (delay, error, fault) → grant / check → claims (+ scripted layers) → signer →
journal.  Mixed into `MockIdP`; nothing here knows about HTTP frameworks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlencode

from mockidp.core.clock import Clock
from mockidp.core.device_codes import DEVICE_CODE_GRANT
from mockidp.core.errors import (
    InvalidRequest,
    InvalidToken,
    NotFound,
    OAuthError,
    ScriptedFault,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from mockidp.core.journal import (
    Exchange,
    Journal,
    mask,
)
from mockidp.core.model import (
    ENDPOINTS_BY_NAME,
    AuthorizeRequest,
    BrowserOutcome,
    Client,
    ConsentPage,
    DiscoveryRequest,
    EndpointRequest,
    EndSessionRequest,
    ErrorPage,
    FormPost,
    GrantFacts,
    IntrospectRequest,
    LoginPage,
    LoginRequest,
    Params,
    PushedAuthorizationRequest,
    Redirect,
    RevokeRequest,
    SessionChange,
    SignedOutPage,
    TokenRequest,
    UserinfoRequest,
)
from mockidp.core.settings import (
    PROTECTED_CLAIMS,
    SIGNING_ALGS,
    is_absolute_url,
)
from mockidp.core.stores import (
    AuthorizationDetails,
    CodeRecord,
    Interaction,
    LoginSession,
    PushedRequest,
    RefreshRecord,
    new_handle,
)
from mockidp.protocol import authz
from mockidp.protocol.assertions import (
    ASSERTION_ALGS,
    AssertionRejected,
    Trust,
    peek,
)
from mockidp.protocol.clientauth import (
    BASIC_CHALLENGE,
    authenticate,
    credentials,
)
from mockidp.protocol.dpop import (
    DPOP_ALGS,
    InvalidDPoPProof,
    check_proof,
)
from mockidp.protocol.grants import GRANTS, GrantContext
from mockidp.protocol.grants.token_exchange import exchange_response
from mockidp.protocol.issuer import Issuer
from mockidp.protocol.loginpage import (
    other_recent,
    recent_logins,
    remember_login,
    user_choices,
)
from mockidp.protocol.logout import (
    deliver,
    frontchannel_url,
    logout_token_claims,
)
from mockidp.scripting.rules import (
    NO_EARLY_ANSWER,
    NO_SHAPING,
    EarlyAnswer,
    FaultEffect,
    RuleBook,
    RuleContext,
    Shaping,
)
from mockidp.tokens.badtokens import make_bad
from mockidp.tokens.claims import (
    STANDARD_CLAIMS,
    access_token_claims,
    id_token_claims,
    userinfo_claims,
)
from mockidp.tokens.inspect import header_segment
from mockidp.tokens.keys import SigningKey
from mockidp.tokens.signer import (
    ACCESS_TOKEN_TYPES,
    TokenRejected,
    sign,
    verify,
)

INTERACTION_LIFETIME = 600
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "client_secret_jwt",
                "private_key_jwt", "none")  # RFC 6749 §2.3, RFC 7523 §2.2, OIDC Core §9
SCOPES = ("openid", "profile", "email", "phone", "address", "offline_access")
T = TypeVar("T")
TOKEN_KINDS = frozenset({"access_token", "id_token"})
USERINFO_KIND = frozenset({"userinfo"})


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


def _exchange(seq: int, started: float, provider_time: float, issuer: str, endpoint: str,
              method: str, path: str, params: Params, client_id: str | None,
              grant_type: str | None, user: str | None, status: int, error: str | None,
              tokens: dict[str, Mapping[str, Any]], fired: list[str], jws: dict[str, str],
              ) -> Exchange:
    """The journal record of a finished call, built when the journal is read from what the
    call kept (not the call itself: its request and credentials are let go)."""
    return Exchange(
        seq=seq, time=started, provider_time=provider_time, issuer=issuer, endpoint=endpoint,
        method=method, path=path, params=MappingProxyType(mask(params.as_dict())),
        client_id=client_id, grant_type=grant_type, user=user, status=status, error=error,
        tokens=MappingProxyType(tokens), rules=tuple(fired),
        headers=MappingProxyType({name: header for name, segment in jws.items()
                                  if (header := header_segment(segment)) is not None}),
    )


def _note_header(call: Call, name: str, token: str) -> None:
    """Keep the header segment of a minted JWT for the journal (opaque tokens have none)."""
    if token.count(".") == 2:
        call.jws[name] = token[: token.index(".")]


def fault_exception(fault: FaultEffect) -> ScriptedFault:
    """The exception the web layer turns into the scripted raw HTTP answer."""
    if fault.kind == "close":
        return ScriptedFault(close=True, status=0)
    if fault.kind == "empty":
        return ScriptedFault(fault.status, b"", fault.content_type)
    if fault.kind == "invalid_json":
        return ScriptedFault(fault.status, b'{"access_token": "eyJ', fault.content_type)
    return ScriptedFault(fault.status, fault.body.encode(), fault.content_type)


def outcome_status(outcome: BrowserOutcome, after_post: bool) -> int:
    if isinstance(outcome, Redirect):
        return 303 if after_post else 302
    if isinstance(outcome, (LoginPage, ConsentPage, ErrorPage)):
        return outcome.status
    return 200


class ProtocolEndpoints:
    """OAuth 2.0 / OIDC endpoints.  Mixed into `MockIdP`, which provides the attributes."""

    clock: Clock
    rules: RuleBook
    journal: Journal
    public_url: str | None

    def issuer(self, name: str = "default") -> Issuer:  # pragma: no cover - provided
        raise NotImplementedError

    @property
    def url(self) -> str:  # pragma: no cover - provided
        raise NotImplementedError

    # -- plumbing: rules and journal ----------------------------------------------------------
    def _issuer_url_for(self, issuer: str, base_url: str | None) -> str:
        """The issuer identifier: the public URL when one is set (so a browser on localhost
        and a container reaching the provider by another name see one issuer), else the base
        URL the request came in on, else the server's own."""
        base = self.public_url or base_url or self.url
        return f"{base.rstrip('/')}/{issuer}"

    def _begin(self, issuer: Issuer, req: EndpointRequest, endpoint: str) -> Call:
        return Call(issuer.name, endpoint, req, time.time(), self.clock.now())

    def _context(self, call: Call, scope: tuple[str, ...] = (),
                 template: Mapping[str, Any] | None = None) -> RuleContext:
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

    def _early(self, call: Call, scope: tuple[str, ...] = ()) -> EarlyAnswer:
        """Phase 1 of the rules: sleep the delays, then raise a scripted fault; return the
        answer so that the caller renders a scripted OAuth error its own way."""
        if not self.rules:
            return NO_EARLY_ANSWER
        answer = self.rules.before(self._context(call, scope))
        call.fired.extend(answer.fired)
        if answer.delay:
            time.sleep(answer.delay)
        if answer.fault is not None:
            raise fault_exception(answer.fault)
        return answer

    def _early_or_raise(self, call: Call, scope: tuple[str, ...] = ()) -> None:
        answer = self._early(call, scope)
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

    def _shape(self, call: Call, scope: tuple[str, ...],
               template: Callable[[], Mapping[str, Any]], kinds: frozenset[str]) -> Shaping:
        """Phase 2 of the rules: claims layers, bad token, skew, delay, for the ``kinds`` of
        answer being built here (``access_token``/``id_token`` or ``userinfo``).  The claim
        template values are worked out only when there are rules to use them."""
        if not self.rules:
            return NO_SHAPING
        shaping = self.rules.shaping(self._context(call, scope, template()), kinds)
        call.fired.extend(shaping.fired)
        return shaping

    def _run(self, call: Call, body: Callable[[], T], status: Callable[[T], int] | None = None
             ) -> T:
        """Run an endpoint body and journal the exchange, whatever happens."""
        try:
            result = body()
        except OAuthError as exc:
            call.status, call.error = exc.status, exc.error
            raise
        except ScriptedFault as exc:
            call.status, call.error = exc.status, "scripted_fault"
            raise
        else:
            if status is not None:
                call.status = status(result)
            return result
        finally:
            req = call.req
            self.journal.record_later(partial(
                _exchange, self.journal.next_seq(), call.started, call.provider_time,
                call.issuer, call.endpoint, req.method, req.path, req.params, call.client_id,
                call.grant_type, call.user, call.status, call.error, call.tokens, call.fired,
                call.jws))

    def _browser_run(self, call: Call, body: Callable[[], BrowserOutcome]) -> BrowserOutcome:
        def status(outcome: BrowserOutcome) -> int:
            if isinstance(outcome, ErrorPage):
                call.error = outcome.error
            elif isinstance(outcome, (Redirect, FormPost)):
                fields = dict(outcome.fields) if isinstance(outcome, FormPost) else \
                    _redirect_fields(outcome.location)
                call.error = fields.get("error")
            return outcome_status(outcome, call.req.method == "POST")

        return self._run(call, body, status)

    # -- discovery and JWKS -------------------------------------------------------------------
    def discovery(self, req: DiscoveryRequest) -> dict[str, Any]:
        """OpenID Connect Discovery 1.0 §3 metadata; lists exactly what works.

        The document is prepared once per issuer and base URL (it depends on nothing that
        changes at run time) and the same object is returned each time: treat it as
        read-only.  Rules and the journal apply to every request all the same."""
        issuer = self.issuer(req.issuer)
        call = self._begin(issuer, req, "discovery")

        def body() -> dict[str, Any]:
            self._early_or_raise(call)
            url = self._issuer_url_for(issuer.name, req.base_url)
            document = issuer.documents.get(url)
            if document is None:
                document = self._discovery(call, issuer, req)
                if len(issuer.documents) < 64:
                    issuer.documents[url] = document
            return document

        return self._run(call, body)

    def _discovery(self, call: Call, issuer: Issuer, req: DiscoveryRequest) -> dict[str, Any]:
        url = self._issuer_url_for(issuer.name, req.base_url)

        def endpoint(name: str) -> str:
            return url + ENDPOINTS_BY_NAME[name].path

        return {
            "issuer": url,
            "authorization_endpoint": endpoint("authorize"),
            "token_endpoint": endpoint("token"),
            "userinfo_endpoint": endpoint("userinfo"),
            "jwks_uri": endpoint("jwks"),
            "introspection_endpoint": endpoint("introspect"),
            "revocation_endpoint": endpoint("revoke"),
            "end_session_endpoint": endpoint("endsession"),
            "device_authorization_endpoint": endpoint("device_authorization"),  # RFC 8628 §4
            "registration_endpoint": endpoint("register"),  # RFC 7591, RFC 8414 §2
            "pushed_authorization_request_endpoint": endpoint("par"),
            "require_pushed_authorization_requests": False,
            "scopes_supported": list(SCOPES),
            "response_types_supported": list(authz.RESPONSE_TYPES),
            "response_modes_supported": list(authz.RESPONSE_MODES),
            "grant_types_supported": [*GRANTS, "implicit"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(SIGNING_ALGS),
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
            "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
            "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
            "dpop_signing_alg_values_supported": list(DPOP_ALGS),
            "code_challenge_methods_supported": list(issuer.settings.pkce_methods),
            "claims_supported": sorted(
                {"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash",
                 "c_hash", "acr", "sid", *STANDARD_CLAIMS}
            ),
            "prompt_values_supported": list(authz.PROMPTS),
            "claims_parameter_supported": True,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "authorization_response_iss_parameter_supported": True,
            "frontchannel_logout_supported": True,
            "frontchannel_logout_session_supported": True,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
        }

    def oauth_metadata(self, req: DiscoveryRequest) -> dict[str, Any]:
        """RFC 8414 authorization server metadata (the OIDC document's OAuth subset)."""
        issuer = self.issuer(req.issuer)
        call = self._begin(issuer, req, "oauth_metadata")

        def body() -> dict[str, Any]:
            self._early_or_raise(call)
            doc = self._discovery(call, issuer, req)
            for key in ("subject_types_supported", "claims_supported", "userinfo_endpoint",
                        "end_session_endpoint", "id_token_signing_alg_values_supported",
                        "claims_parameter_supported", "request_parameter_supported",
                        "request_uri_parameter_supported", "frontchannel_logout_supported",
                        "backchannel_logout_supported", "prompt_values_supported"):
                doc.pop(key, None)
            return doc

        return self._run(call, body)

    def jwks_document(self, req: EndpointRequest) -> dict[str, Any]:
        """The JWKS endpoint (RFC 7517 §5): public keys only."""
        issuer = self.issuer(req.issuer)
        call = self._begin(issuer, req, "jwks")

        def body() -> dict[str, Any]:
            self._early_or_raise(call)
            return issuer.keys.jwks()

        return self._run(call, body)

    # -- authorization endpoint ---------------------------------------------------------------
    def authorize(self, req: AuthorizeRequest) -> BrowserOutcome:
        """RFC 6749 §4.1.1, §4.2.1 / OIDC Core §3.1.2, §3.2.2, §3.3.2: a redirect with a code
        and/or tokens, a login page, or an error (redirected when the redirect URI is
        trustworthy, shown otherwise).  ``request_uri`` takes the parameters of a pushed
        authorization request (RFC 9126 §4)."""
        issuer = self.issuer(req.issuer)
        call = self._begin(issuer, req, "authorize")
        return self._browser_run(call, lambda: self._authorize(call, issuer, req))

    def _authorize(self, call: Call, issuer: Issuer, req: AuthorizeRequest) -> BrowserOutcome:
        issuer_url = self._issuer_url_for(issuer.name, req.base_url)
        params, pushed_error = req.params, None
        if "request_uri" in req.params:
            params, pushed_error = self._pushed_params(issuer, req)
            # Rules, templates and the journal see the pushed request (and its request_uri).
            call.req = replace(req, params=params)
        try:
            call.client_id = params.get("client_id")
            call.user = params.get("login_hint")
            response_type = authz.response_type_of(params.get("response_type") or "")
            call.grant_type = authz.grant_type_of(response_type) if response_type else None
        except InvalidRequest:
            pass
        scope = tuple((params.single().get("scope") or "").split())
        checked = authz.check_client(params, issuer.find_client, issuer.settings)
        if isinstance(checked, ErrorPage):
            answer = self._early(call, scope)
            if answer.error is not None:
                return ErrorPage(answer.error.status, answer.error.error,
                                 answer.error.description)
            if pushed_error is not None:
                return ErrorPage(400, pushed_error.error, pushed_error.description)
            return checked
        client, redirect_uri, sent = checked
        mode = authz.safe_response_mode(params)
        state = authz.safe_state(params)
        answer = self._early(call, scope)
        if answer.error is not None:
            return authz.respond(redirect_uri, mode, authz.error_fields(
                answer.error.error, answer.error.description, state, issuer_url))
        try:
            if pushed_error is not None:
                raise pushed_error
            details = authz.check_request(params, client, redirect_uri, sent, issuer.settings)
        except authz.AuthorizeError as exc:
            return authz.respond(redirect_uri, mode,
                                 authz.error_fields(exc.error, exc.description, state, issuer_url))
        now = self.clock.now()
        session = issuer.store.get_session(req.session_id, now)
        if session is not None and authz.session_too_old(session.auth_time, details.max_age,
                                                         now):
            session = None  # OIDC Core §3.1.2.1 max_age: log in again
        if "none" in details.prompt:
            if session is None:
                why = "no login session" if details.max_age is None else \
                    "no login session within max_age"
                return self._deny(issuer_url, details, "login_required", why + " and prompt=none")
            call.user = session.user_id
            return self._approve(call, issuer, issuer_url, details, session.user_id,
                                 session.login_claims, session)
        if details.login_hint:
            reuse = session if session is not None and session.user_id == details.login_hint \
                and "login" not in details.prompt else None
            return self._approve(call, issuer, issuer_url, details, details.login_hint, {},
                                 reuse)
        if session is not None and "login" not in details.prompt:
            call.user = session.user_id
            return self._approve(call, issuer, issuer_url, details, session.user_id,
                                 session.login_claims, session)
        if not issuer.settings.interactive_login:
            call.user = self._default_user(issuer)
            return self._approve(call, issuer, issuer_url, details, call.user, {}, None)
        interaction = Interaction(new_handle(), details, now + INTERACTION_LIFETIME)
        issuer.store.put_interaction(interaction, now)
        return self._login_page(issuer, interaction, recent=req.recent)

    def _pushed_params(self, issuer: Issuer, req: AuthorizeRequest
                       ) -> tuple[Params, authz.AuthorizeError | None]:
        """RFC 9126 §4: the parameters pushed for ``request_uri`` (used once, by the client
        that pushed them), with the ``request_uri`` itself; or the request's own parameters
        and the error to answer (``invalid_request_uri``)."""
        try:
            uri = req.params.get("request_uri") or ""
            client_id = req.params.get("client_id")
        except InvalidRequest as exc:
            return req.params, authz.AuthorizeError(exc.description)
        if client_id is None:
            return req.params, authz.AuthorizeError("missing 'client_id' (RFC 9126 section 4)")
        if not uri.startswith(authz.PAR_URN):
            return req.params, authz.AuthorizeError(
                "request_uri must be one issued by this provider's pushed authorization request "
                "endpoint (RFC 9126); request objects by reference are not supported",
                error="invalid_request_uri",
            )
        pushed, why = issuer.store.take_pushed(uri, client_id, self.clock.now())
        if pushed is None:
            return req.params, authz.AuthorizeError(why, error="invalid_request_uri")
        return Params([*pushed.params, ("request_uri", uri)]), None

    def pushed_authorization(self, req: PushedAuthorizationRequest) -> dict[str, Any]:
        """RFC 9126 §2: authenticate the client, validate the authorization request as
        ``/authorize`` would (errors as RFC 6749 §5.2 JSON), store it for one use within
        `authorize.PAR_LIFETIME` seconds and answer its ``request_uri``."""
        issuer = self.issuer(req.issuer)
        call = self._begin(issuer, req, "par")
        return self._run(call, lambda: self._par(call, issuer, req), lambda _: 201)

    def _par(self, call: Call, issuer: Issuer, req: PushedAuthorizationRequest
             ) -> dict[str, Any]:
        self._peek_client(call, req)
        self._early_or_raise(call, tuple((req.params.single().get("scope") or "").split()))
        client = authenticate(credentials(req.params, req.authorization), issuer.find_client,
                              issuer.settings.strict, self._trust(issuer, req).client_assertion)
        call.client_id = client.id
        params = authz.pushed_params(req.params, client)
        checked = authz.check_client(
            params, lambda cid: client if cid == client.id else None, issuer.settings)
        if isinstance(checked, ErrorPage):
            raise OAuthError(checked.description, error=checked.error, status=checked.status)
        authz.check_request(params, client, checked[1], checked[2], issuer.settings)
        now = self.clock.now()
        request_uri = authz.PAR_URN + new_handle()
        issuer.store.put_pushed(
            request_uri, PushedRequest(client.id, params.pairs(), now + authz.PAR_LIFETIME), now)
        return {"request_uri": request_uri, "expires_in": authz.PAR_LIFETIME}

    def login(self, req: LoginRequest) -> BrowserOutcome:
        """The login page's answer: approve as ``username`` (with optional claims JSON) or
        deny (``access_denied`` to the client)."""
        issuer = self.issuer(req.issuer)
        call = self._begin(issuer, req, "login")
        return self._browser_run(call, lambda: self._login(call, issuer, req))

    def _login(self, call: Call, issuer: Issuer, req: LoginRequest) -> BrowserOutcome:
        issuer_url = self._issuer_url_for(issuer.name, req.base_url)
        now = self.clock.now()
        try:
            interaction_id = req.params.get("interaction") or ""
            action = req.params.get("action") or "approve"
            username = (req.params.get("username") or "").strip()
            claims_text = req.params.get("claims") or ""
            pick = (req.params.get("pick") or "").strip()  # a one-click user button
        except InvalidRequest as exc:
            return ErrorPage(400, exc.error, exc.description)
        username = pick or username
        interaction = issuer.store.get_interaction(interaction_id, now)
        if interaction is None or interaction.session_id is not None:
            return ErrorPage(
                400,
                "invalid_request",
                "this login request is unknown or has expired; start again from the application",
            )
        details = interaction.details
        call.client_id, call.user = details.client_id, username or None
        call.grant_type = authz.grant_type_of(details.response_type)
        answer = self._early(call, details.scopes)
        if answer.error is not None:
            issuer.store.take_interaction(interaction_id, now)
            return self._deny(issuer_url, details, answer.error.error, answer.error.description)
        if action == "deny":
            issuer.store.take_interaction(interaction_id, now)
            return self._deny(issuer_url, details, "access_denied", "the user denied the request")
        if action != "approve":
            return ErrorPage(400, "invalid_request", "action must be 'approve' or 'deny'")
        if not username:
            return self._login_page(issuer, interaction, username, claims_text,
                                    "Enter a username.", req.recent, "username")
        try:
            login_claims = parse_login_claims(claims_text)
        except ValueError as exc:
            return self._login_page(issuer, interaction, username, claims_text, str(exc),
                                    req.recent)
        if issuer.store.take_interaction(interaction_id, now) is None:
            return ErrorPage(400, "invalid_request", "this login request was already answered")
        return self._approve(call, issuer, issuer_url, details, username, login_claims, None)

    def _default_user(self, issuer: Issuer) -> str:
        if issuer.settings.default_user:
            return issuer.settings.default_user
        return next(iter(issuer.users), "user")

    def _login_page(
        self,
        issuer: Issuer,
        interaction: Interaction,
        username: str = "",
        claims_text: str = "",
        error: str | None = None,
        recent: tuple[str, ...] = (),
        error_field: str = "claims",
    ) -> LoginPage:
        """The login form; ``recent`` is what the browser remembers (`mockidp.loginpage`)."""
        return LoginPage(
            issuer=issuer.name,
            interaction=interaction.id,
            client_id=interaction.details.client_id,
            scope=" ".join(interaction.details.scopes),
            users=tuple(issuer.users),
            username=username,
            claims_text=claims_text,
            error=error,
            status=400 if error else 200,
            choices=user_choices(issuer.users, recent),
            recent=other_recent(issuer.users, recent),
            error_field=error_field,
        )

    def _deny(
        self, issuer_url: str, details: AuthorizationDetails, error: str, description: str
    ) -> BrowserOutcome:
        return authz.respond(
            details.redirect_uri,
            details.response_mode,
            authz.error_fields(error, description, details.state, issuer_url),
        )

    def _approve(
        self,
        call: Call,
        issuer: Issuer,
        issuer_url: str,
        details: AuthorizationDetails,
        user_id: str,
        login_claims: Mapping[str, Any],
        session: LoginSession | None,
    ) -> BrowserOutcome:
        """Log in as ``user_id`` (a new login session, remembered in the browser's list of
        recent logins, unless ``session`` is given), ask for consent when the client needs it
        (`mockidp.consent`), then answer the client (`_grant`)."""
        now = self.clock.now()
        recent: tuple[str, ...] | None = None
        if session is None:
            user = issuer.find_user(user_id)
            session = LoginSession(
                id=new_handle(),
                sid=new_handle()[:22],
                sub=user.subject if user is not None else user_id,
                user_id=user_id,
                login_claims=MappingProxyType(dict(login_claims)),
                auth_time=int(now),
                expires_at=now + issuer.settings.lifetimes.session,
            )
            issuer.store.put_session(session, now)
            recent = remember_login(recent_logins(call.req.recent), user_id)
        change = SessionChange(issuer.name, session.id, int(session.expires_at - now), recent)
        asked = self._ask_consent(call, issuer, issuer_url, details, session, change)
        if asked is not None:
            return asked
        return self._grant(call, issuer, issuer_url, details, session, change)

    def _ask_consent(self, call: Call, issuer: Issuer, issuer_url: str,
                     details: AuthorizationDetails, session: LoginSession,
                     change: SessionChange) -> BrowserOutcome | None:
        """The consent step, or None to go on: see `mockidp.consent`, which provides it."""
        return None

    def _grant(
        self,
        call: Call,
        issuer: Issuer,
        issuer_url: str,
        details: AuthorizationDetails,
        session: LoginSession,
        change: SessionChange,
    ) -> BrowserOutcome:
        """The successful authorization response: a code (RFC 6749 §4.1.2) and/or tokens
        (RFC 6749 §4.2.2, OIDC Core §3.2.2.5, §3.3.2.5), ``state`` and ``iss``."""
        now = self.clock.now()
        lifetimes = issuer.settings.lifetimes
        fields: list[tuple[str, str]] = []
        code: str | None = None
        family: str | None = None
        if "code" in details.response_type.split():
            code = new_handle()
            record = CodeRecord(
                details=details,
                sub=session.sub,
                user_id=session.user_id,
                login_claims=session.login_claims,
                auth_time=session.auth_time,
                session_id=session.sid,
                expires_at=now + lifetimes.code,
            )
            issuer.store.put_code(code, record, now)
            fields.append(("code", code))
            family = record.family
        if authz.returns_tokens(details.response_type):
            answer = self._issue(call, issuer, issuer_url,
                                 self._implicit_facts(issuer, details, session, code, family),
                                 now)
            fields.extend((name, str(value)) for name, value in answer.items())
        if details.state is not None:
            fields.append(("state", details.state))
        fields.append(("iss", issuer_url))
        return authz.respond(details.redirect_uri, details.response_mode, fields, change)

    def _implicit_facts(self, issuer: Issuer, details: AuthorizationDetails,
                        session: LoginSession, code: str | None, family: str | None
                        ) -> GrantFacts:
        """What the authorization endpoint grants by itself (OIDC Core §3.2.2.5, §3.3.2.5):
        no refresh token; an access token sharing the code's family, so that replaying the
        code revokes it too (RFC 6749 §4.1.2); ``c_hash`` for the code."""
        words = details.response_type.split()
        client = issuer.find_client(details.client_id) or Client(id=details.client_id,
                                                                 registered=False)
        return GrantFacts(
            grant_type="implicit",
            client=client,
            sub=session.sub,
            scopes=details.scopes,
            audience=details.audience or client.audience,
            user=issuer.find_user(session.user_id),
            login_claims=session.login_claims,
            auth_time=session.auth_time,
            nonce=details.nonce,
            session_id=session.sid,
            issue_id_token="id_token" in words,
            issue_refresh_token=False,
            refresh_family=family,
            code=code,
            issue_access_token="token" in words,
            acr=details.acr,
            claims_request=details.claims_request,
        )

    # -- token endpoint -----------------------------------------------------------------------
    def token(self, req: TokenRequest) -> dict[str, Any]:
        """RFC 6749 §3.2: authenticate the client, run the grant, mint and sign the tokens."""
        issuer = self.issuer(req.issuer)
        call = self._begin(issuer, req, "token")
        return self._run(call, lambda: self._token(call, issuer, req))

    def _peek(self, call: Call, issuer: Issuer, req: TokenRequest) -> tuple[str, ...]:
        """Who the request is about, before anything is checked (for rules and the journal)."""
        params = req.params.single()
        try:
            call.creds = credentials(req.params, req.authorization)
            call.client_id = call.creds.client_id
        except OAuthError:
            call.client_id = params.get("client_id")
        call.grant_type = params.get("grant_type")
        scope = tuple((params.get("scope") or "").split())
        now = self.clock.now()
        if call.grant_type == "password":
            call.user = params.get("username")
        elif call.grant_type == "authorization_code" and params.get("code"):
            record = issuer.store.peek_code(params["code"], now)
            if record is not None:
                call.user, scope = record.user_id, scope or record.details.scopes
        elif call.grant_type == "refresh_token" and params.get("refresh_token"):
            refresh = issuer.store.get_refresh(params["refresh_token"], now)
            if refresh is not None:
                call.user, scope = refresh.user_id or refresh.sub, scope or refresh.scopes
        elif call.grant_type == DEVICE_CODE_GRANT and params.get("device_code"):
            device = issuer.store.devices.peek(params["device_code"])
            if device is not None:
                call.user, scope = device.user_id, scope or device.scopes
        return scope

    def _token(self, call: Call, issuer: Issuer, req: TokenRequest) -> dict[str, Any]:
        scope = self._peek(call, issuer, req)
        self._early_or_raise(call, scope)
        grant_type = req.params.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("missing 'grant_type'")
        handler = GRANTS.get(grant_type)
        if handler is None:
            raise UnsupportedGrantType(
                f"grant_type {grant_type!r} is not supported; supported: " + ", ".join(GRANTS)
            )
        trust = self._trust(issuer, req)
        creds = call.creds or credentials(req.params, req.authorization)
        client = authenticate(creds, issuer.find_client, issuer.settings.strict,
                              trust.client_assertion)
        call.client_id = client.id
        if client.grant_types and grant_type not in client.grant_types:
            raise UnauthorizedClient(f"client '{client.id}' may not use grant_type {grant_type!r}")
        now = self.clock.now()
        ctx = GrantContext(
            settings=issuer.settings,
            store=issuer.store,
            now=now,
            client=client,
            users=issuer.users,
            find_user=issuer.find_user,
            trust=trust,
            client_auth_method=creds.method,
        )
        jkt = self._token_dpop(issuer, req, client, now)
        if jkt is not None:
            ctx = replace(ctx, dpop_jkt=jkt)
        facts = handler.handle(req.params, ctx)
        if facts.jkt is not None and facts.jkt != jkt:
            raise InvalidDPoPProof(
                "this refresh token is bound to a DPoP key: send a proof signed with it"
                if jkt is None else "this refresh token is bound to another DPoP key")
        if jkt is not None:
            facts = replace(facts, jkt=jkt)
        call.user = facts.user.id if facts.user is not None else facts.sub
        response = self._issue(call, issuer, self._issuer_url_for(issuer.name, req.base_url),
                               facts, now)
        return exchange_response(response, facts, call.tokens)  # RFC 8693 §2.2.1

    def _token_dpop(self, issuer: Issuer, req: TokenRequest, client: Client, now: float
                    ) -> str | None:
        """RFC 9449 §5: check the DPoP proof sent to the token endpoint; its key's thumbprint
        binds the tokens.  Required for clients registered with dpop_bound_access_tokens."""
        if req.dpop is None:
            if client.dpop_bound_access_tokens:
                raise InvalidDPoPProof("this client must send a DPoP proof (RFC 9449)")
            return None
        issuer_url = self._issuer_url_for(issuer.name, req.base_url)
        return check_proof(
            req.dpop, "POST", (req.base_url + req.path, issuer_url + "/token"), now,
            issuer.dpop_replay,
            nonces=issuer.dpop_nonces if issuer.settings.dpop_nonce else None,
        )

    def _template(self, issuer_url: str, call: Call, sub: str | None, client_id: str,
                  scopes: tuple[str, ...], now: int) -> dict[str, Any]:
        """Values for ``{name}`` claim templates: request parameters, then the known facts."""
        return {
            **call.req.params.single(),
            "sub": sub, "client_id": client_id, "scope": " ".join(scopes),
            "issuer": issuer_url, "now": now, "user": call.user,
            "grant_type": call.grant_type,
        }

    def _token_string(self, issuer: Issuer, claims: dict[str, Any], key: SigningKey,
                      bad_kind: str | None, now: int, token_format: str = "jwt") -> str:
        """Sign ``claims`` (an access token in ``token_format``: ``jwt``, RFC 9068 ``at+jwt``
        or an ``opaque`` reference), or make the scripted bad token instead."""
        if bad_kind is None:
            if token_format == "opaque":
                handle = new_handle()
                exp = claims.get("exp")
                expires = float(exp) if isinstance(exp, (int, float)) else now + 86400.0
                issuer.store.put_opaque(handle, dict(claims), expires, self.clock.now())
                return handle
            return sign(claims, key, "at+jwt" if token_format == "at+jwt" else "JWT")
        token = make_bad(bad_kind, claims, key, issuer.keys, now)
        if bad_kind == "revoked" and isinstance(claims.get("jti"), str):
            issuer.store.revoke_jti(claims["jti"], float(claims.get("exp", now + 3600)), now)
        return token

    def _issue(
        self, call: Call, issuer: Issuer, issuer_url: str, facts: GrantFacts, now: float
    ) -> dict[str, Any]:
        """Mint, sign and journal the tokens ``facts`` call for: the one path shared by the
        token endpoint and the authorization endpoint's implicit and hybrid responses (OIDC
        Core §3.2.2.5, §3.3.2.5).  The ID token carries ``at_hash`` when an access token comes
        with it and ``c_hash`` for ``facts.code``."""
        lifetimes = issuer.settings.lifetimes
        client = facts.client
        key = issuer.keys.active(client.signing_alg or issuer.settings.signing_alg)
        shaping = self._shape(call, facts.scopes, lambda: self._template(
            issuer_url, call, facts.sub, client.id, facts.scopes, int(now)), TOKEN_KINDS)
        seconds = int(now + shaping.skew)
        bad = shaping.bad_token
        response: dict[str, Any] = {}
        access_token: str | None = None
        if facts.session_id is not None:
            issuer.store.note_session_client(facts.session_id, client.id)
        family = facts.refresh_family or (new_handle() if facts.issue_refresh_token else None)
        if facts.issue_access_token:  # not for response_type=id_token (OIDC Core §3.2.2.5)
            access_lifetime = client.access_token_lifetime or lifetimes.access_token
            access_claims = access_token_claims(issuer_url, facts, seconds, access_lifetime,
                                                shaping.for_token("access_token"))
            access_token = self._token_string(
                issuer, access_claims, key,
                bad.kind if bad is not None and bad.token == "access_token" else None, seconds,
                client.access_token_format or issuer.settings.access_token_format,
            )
            call.tokens["access_token"] = access_claims
            _note_header(call, "access_token", access_token)
            exp = access_claims.get("exp")
            response.update({
                "access_token": access_token,
                "token_type": "DPoP" if facts.jkt is not None else "Bearer",  # RFC 9449 §5
                "expires_in": int(exp - seconds) if isinstance(exp, int) else access_lifetime,
            })
            if facts.scopes:
                response["scope"] = " ".join(facts.scopes)
            jti = access_claims.get("jti")
            if family is not None and isinstance(jti, str):
                expires = float(exp) if isinstance(exp, int) else now + access_lifetime
                issuer.store.note_access_token(family, jti, expires, now)
        if facts.issue_refresh_token and family is not None:
            refresh_token = new_handle()
            lifetime = client.refresh_token_lifetime or lifetimes.refresh_token
            issuer.store.put_refresh(
                refresh_token,
                RefreshRecord(
                    client_id=client.id,
                    sub=facts.sub,
                    user_id=facts.user.id if facts.user is not None else None,
                    scopes=facts.scopes,
                    audience=facts.audience,
                    login_claims=facts.login_claims,
                    auth_time=facts.auth_time,
                    session_id=facts.session_id,
                    nonce=facts.nonce,
                    expires_at=now + lifetime,
                    issued_at=now,
                    family=family,
                    # RFC 9449 §5: refresh tokens of public clients are bound to the DPoP key
                    jkt=facts.jkt if client.secret is None else None,
                    acr=facts.acr,
                    claims_request=facts.claims_request,
                ),
                now,
            )
            response["refresh_token"] = refresh_token
        if facts.issue_id_token:
            id_key = issuer.keys.active(
                client.id_token_signed_response_alg or client.signing_alg
                or issuer.settings.signing_alg
            )
            id_claims = id_token_claims(
                issuer_url, facts, seconds, client.id_token_lifetime or lifetimes.id_token,
                id_key.alg, access_token=access_token, code=facts.code,
                layers=shaping.for_token("id_token"),
            )
            response["id_token"] = self._token_string(
                issuer, id_claims, id_key,
                bad.kind if bad is not None and bad.token == "id_token" else None, seconds,
            )
            call.tokens["id_token"] = id_claims
            _note_header(call, "id_token", response["id_token"])
        if shaping.delay:
            time.sleep(shaping.delay)
        return response

    # -- userinfo, introspection, revocation --------------------------------------------------
    def _verify(self, issuer: Issuer, token: str) -> dict[str, Any]:
        """Claims of a live access token of this issuer (JWT or opaque reference), or
        `TokenRejected`."""
        if token.count(".") != 2:
            found = issuer.store.get_opaque(token, self.clock.now())
            if found is None:
                raise TokenRejected("unknown or expired access token")
            claims = dict(found)
            nbf = claims.get("nbf")
            if isinstance(nbf, (int, float)) and self.clock.now() < nbf:
                raise TokenRejected("token is not valid yet")
        else:
            claims = verify(token, issuer.keys, self.clock.now(), types=ACCESS_TOKEN_TYPES)
        iss = claims.get("iss")
        if not isinstance(iss, str) or not iss.endswith("/" + issuer.name):
            raise TokenRejected(f"token was issued by {iss!r}, not by issuer '{issuer.name}'")
        jti = claims.get("jti")
        if isinstance(jti, str) and issuer.store.is_revoked(jti):
            raise TokenRejected("token has been revoked")
        return claims

    def userinfo(self, req: UserinfoRequest) -> dict[str, Any]:
        """OIDC Core §5.3: claims for the bearer token's subject and scopes (RFC 6750)."""
        issuer = self.issuer(req.issuer)
        call = self._begin(issuer, req, "userinfo")
        return self._run(call, lambda: self._userinfo(call, issuer, req))

    def _userinfo(self, call: Call, issuer: Issuer, req: UserinfoRequest) -> dict[str, Any]:
        token: str | None = None
        if self.rules:
            try:
                token = bearer_token(req.authorization,
                                     req.params if req.method == "POST" else None)
                peeked = self._verify(issuer, token)
                call.user, call.client_id = peeked.get("sub"), peeked.get("client_id")
            except (OAuthError, TokenRejected):
                pass
        self._early_or_raise(call)
        token, scheme = presented_token(req.authorization,
                                        req.params if req.method == "POST" else None)
        try:
            claims = self._verify(issuer, token)
        except TokenRejected as exc:
            raise InvalidToken(str(exc)) from None
        self._check_binding(issuer, req, token, scheme, claims, "/userinfo")
        sub = claims.get("sub")
        call.user = sub if isinstance(sub, str) else None
        client_id = claims.get("client_id")
        call.client_id = client_id if isinstance(client_id, str) else None
        scopes = tuple(str(claims.get("scope") or "").split())
        issuer_url = self._issuer_url_for(issuer.name, req.base_url)
        seconds = self.clock.seconds()
        shaping = self._shape(call, scopes, lambda: self._template(
            issuer_url, call, call.user, call.client_id or "", scopes, seconds), USERINFO_KIND)
        answer = userinfo_claims(claims, shaping.for_token("userinfo"))
        call.tokens["userinfo"] = answer
        if shaping.delay:
            time.sleep(shaping.delay)
        return answer

    def _check_binding(self, issuer: Issuer, req: EndpointRequest, token: str, scheme: str,
                       claims: Mapping[str, Any], path: str) -> None:
        """RFC 9449 §7: a DPoP-bound token needs ``Authorization: DPoP`` and a proof by the
        bound key (with ``ath``); an unbound token must not be presented as DPoP."""
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
        if jkt is None:
            if scheme == "dpop":
                raise InvalidToken("this access token is not DPoP-bound; use Bearer")
            return
        challenge = f'DPoP error="invalid_token", algs="{" ".join(DPOP_ALGS)}"'
        if scheme != "dpop":
            raise OAuthError("this access token is DPoP-bound: send it as 'Authorization: "
                             "DPoP' with a DPoP proof", error="invalid_token", status=401,
                             www_authenticate=challenge)
        if req.dpop is None:
            raise InvalidDPoPProof("a DPoP proof is required with a DPoP-bound token",
                                   status=401, www_authenticate=challenge)
        now = self.clock.now()
        proof_jkt = check_proof(
            req.dpop, req.method, (req.base_url + req.path,
                                   self._issuer_url_for(issuer.name, req.base_url) + path),
            now, issuer.dpop_replay, access_token=token,
            nonces=issuer.dpop_nonces if issuer.settings.dpop_nonce else None, status=401,
        )
        if proof_jkt != jkt:
            raise InvalidDPoPProof("the DPoP proof is signed by another key than the token's",
                                   status=401, www_authenticate=challenge)

    def _introspecting_client(self, issuer: Issuer, req: IntrospectRequest | RevokeRequest,
                              required: bool) -> Client | None:
        creds = credentials(req.params, req.authorization)
        if creds.client_id is None and not required and not issuer.settings.strict:
            return None
        return authenticate(creds, issuer.find_client, issuer.settings.strict,
                            self._trust(issuer, req).client_assertion)

    def _trust(self, issuer: Issuer, req: EndpointRequest) -> Trust:
        """What JWTs presented at ``req``'s endpoint are checked against (RFC 7523 §3, RFC
        8693 §2.1): an ``aud`` of the issuer, its token endpoint or this endpoint (under the
        public URL or the URL the request came in on), this provider's tokens, the caches."""
        def audiences() -> tuple[str, ...]:
            bases = dict.fromkeys((self._issuer_url_for(issuer.name, req.base_url),
                                   self._issuer_url_for(issuer.name, None)))
            paths = ("", ENDPOINTS_BY_NAME["token"].path, ENDPOINTS_BY_NAME[req.endpoint].path)
            return tuple(dict.fromkeys(base + path for base in bases for path in paths))

        return Trust(
            audiences_for=audiences,
            now=self.clock.now(),
            caches=issuer.assertions,
            own_token=lambda token: self._own_token(issuer, req.base_url, token),
        )

    def _own_token(self, issuer: Issuer, base_url: str, token: str) -> dict[str, Any] | None:
        """Claims of a live token of this provider: an opaque access token of ``issuer``, or a
        JWT whose ``iss`` is one of the provider's issuers (verified with that issuer's keys);
        None for a JWT another party issued; `TokenRejected` otherwise."""
        if token.count(".") != 2:
            return self._verify(issuer, token)
        try:
            iss = peek(token)[1].get("iss")
        except AssertionRejected as exc:
            raise TokenRejected(str(exc)) from None
        name = iss.rsplit("/", 1)[-1] if isinstance(iss, str) else ""
        if not name or iss not in (self._issuer_url_for(name, base_url),
                                   self._issuer_url_for(name, None)):
            return None
        try:
            target = self.issuer(name)
        except NotFound:
            return None
        return self._verify(target, token)

    def _peek_client(self, call: Call, req: EndpointRequest) -> None:
        try:
            call.client_id = credentials(req.params, req.authorization).client_id
        except OAuthError:
            call.client_id = req.params.single().get("client_id")

    def introspect(self, req: IntrospectRequest) -> dict[str, Any]:
        """RFC 7662: ``active`` and the token's claims; revoked or expired → inactive."""
        issuer = self.issuer(req.issuer)
        call = self._begin(issuer, req, "introspect")
        return self._run(call, lambda: self._introspect(call, issuer, req))

    def _introspect(self, call: Call, issuer: Issuer, req: IntrospectRequest) -> dict[str, Any]:
        self._peek_client(call, req)
        self._early_or_raise(call)
        self._introspecting_client(issuer, req, required=False)
        token = req.params.get("token")
        if token is None:
            raise InvalidRequest("missing 'token'")
        now = self.clock.now()
        record = issuer.store.get_refresh(token, now)
        if record is not None:
            call.user = record.user_id or record.sub
            return {
                "active": True,
                "token_type": "refresh_token",
                "client_id": record.client_id,
                "sub": record.sub,
                "scope": " ".join(record.scopes),
                "iat": int(record.issued_at),
                "exp": int(record.expires_at),
                "iss": self._issuer_url_for(issuer.name, req.base_url),
            }
        try:
            claims = self._verify(issuer, token)
        except TokenRejected:
            return {"active": False}
        sub = claims.get("sub")
        call.user = sub if isinstance(sub, str) else None
        cnf = claims.get("cnf")
        token_type = "DPoP" if isinstance(cnf, dict) and "jkt" in cnf else "Bearer"
        return {"active": True, "token_type": token_type, **claims}

    def revoke(self, req: RevokeRequest) -> None:
        """RFC 7009: revoke an access or refresh token; unknown tokens are not an error."""
        issuer = self.issuer(req.issuer)
        call = self._begin(issuer, req, "revoke")
        self._run(call, lambda: self._revoke(call, issuer, req))

    def _revoke(self, call: Call, issuer: Issuer, req: RevokeRequest) -> None:
        self._peek_client(call, req)
        self._early_or_raise(call)
        client = self._introspecting_client(issuer, req, required=True)
        assert client is not None
        token = req.params.get("token")
        if token is None:
            raise InvalidRequest("missing 'token'")
        req.params.get("token_type_hint")  # RFC 7009 §2.1: a hint only; repeated is invalid
        record = issuer.store.get_refresh(token, self.clock.now())
        if record is not None:
            if record.client_id != client.id:
                raise UnauthorizedClient("the token was issued to another client")
            call.user = record.user_id or record.sub
            issuer.store.revoke_refresh(token)
            return
        opaque = issuer.store.get_opaque(token, self.clock.now())
        if opaque is not None:
            claims = dict(opaque)
        else:
            try:
                claims = verify(token, issuer.keys, float("-inf"), check_times=False)
            except TokenRejected:
                return
        owner = claims.get("client_id")
        if owner is not None and owner != client.id:
            raise UnauthorizedClient("the token was issued to another client")
        jti = claims.get("jti")
        exp = claims.get("exp")
        if isinstance(jti, str):
            expires = float(exp) if isinstance(exp, (int, float)) else self.clock.now() + 86400
            issuer.store.revoke_jti(jti, expires, self.clock.now())

    # -- RP-initiated logout ------------------------------------------------------------------
    def end_session(self, req: EndSessionRequest) -> BrowserOutcome:
        """OIDC RP-Initiated Logout 1.0: end the login session, then redirect or show a page."""
        issuer = self.issuer(req.issuer)
        call = self._begin(issuer, req, "endsession")
        return self._browser_run(call, lambda: self._end_session(call, issuer, req))

    def _end_session(self, call: Call, issuer: Issuer, req: EndSessionRequest
                     ) -> BrowserOutcome:
        call.client_id = req.params.single().get("client_id")
        answer = self._early(call)
        if answer.error is not None:
            return ErrorPage(answer.error.status, answer.error.error, answer.error.description)
        try:
            hint = req.params.get("id_token_hint")
            redirect_uri = req.params.get("post_logout_redirect_uri")
            state = req.params.get("state")
            client_id = req.params.get("client_id")
        except InvalidRequest as exc:
            return ErrorPage(400, exc.error, exc.description)
        hint_sid: str | None = None
        if hint is not None:
            try:
                hint_claims = verify(hint, issuer.keys, float("-inf"), check_times=False)
            except TokenRejected as exc:
                return ErrorPage(400, "invalid_request", f"id_token_hint rejected: {exc}")
            aud = hint_claims.get("aud")
            client_id = client_id or (aud if isinstance(aud, str) else None)
            sub = hint_claims.get("sub")
            call.user = sub if isinstance(sub, str) else None
            sid_claim = hint_claims.get("sid")
            hint_sid = sid_claim if isinstance(sid_claim, str) else None
        call.client_id = client_id
        change = SessionChange(issuer.name, None)
        if redirect_uri is not None:
            if not is_absolute_url(redirect_uri):
                return ErrorPage(400, "invalid_request",
                                 "post_logout_redirect_uri is not an absolute http(s) URL")
            client = issuer.find_client(client_id) if client_id else None
            allowed = client.post_logout_redirect_uris if client is not None else ()
            if allowed and redirect_uri not in allowed:
                return ErrorPage(
                    400, "invalid_request",
                    f"post_logout_redirect_uri is not registered for client '{client_id}'",
                )
            if (issuer.settings.strict or (client is not None and client.strict)) and not allowed:
                return ErrorPage(400, "invalid_request",
                                 "post_logout_redirect_uri is not registered (strict)")
        issuer_url = self._issuer_url_for(issuer.name, req.base_url)
        frontchannel = self._notify_logout(call, issuer, issuer_url, req.session_id,
                                           hint_sid, client_id)
        target = None
        if redirect_uri is not None:
            query = urlencode([("state", state)]) if state is not None else ""
            sep = "&" if "?" in redirect_uri else "?"
            target = redirect_uri + (sep + query if query else "")
        if target is not None and not frontchannel:
            return Redirect(target, change)
        return SignedOutPage(issuer.name, change, frontchannel, target)

    def _notify_logout(self, call: Call, issuer: Issuer, issuer_url: str,
                       session_id: str | None, hint_sid: str | None,
                       hint_client: str | None) -> tuple[str, ...]:
        """End the login session (from the cookie, else the id_token_hint's ``sid``), send
        back-channel logout tokens, and return the front-channel URLs to load."""
        now = self.clock.now()
        session = issuer.store.end_session(session_id)
        if session is None and hint_sid is not None:
            found = issuer.store.session_by_sid(hint_sid, now)
            session = issuer.store.end_session(found.id) if found is not None else None
        sid = session.sid if session is not None else hint_sid
        sub = session.sub if session is not None else call.user
        clients = issuer.store.take_session_clients(sid) if sid is not None else set()
        if hint_client:
            clients.add(hint_client)
        frontchannel: list[str] = []
        for client_id in sorted(clients):
            client = issuer.find_client(client_id)
            if client is None:
                continue
            if client.backchannel_logout_uri:
                claims = logout_token_claims(issuer_url, client.id, sub, sid, int(now))
                alg = (client.id_token_signed_response_alg or client.signing_alg
                       or issuer.settings.signing_alg)
                token = sign(claims, issuer.keys.active(alg), "logout+jwt")
                delivery = deliver(client.id, client.backchannel_logout_uri, token)
                _note_header(call, f"logout_token:{client.id}", token)
                call.tokens[f"logout_token:{client.id}"] = {
                    **claims, "delivered_status": delivery.status, "delivery_error":
                    delivery.error}
            if client.frontchannel_logout_uri:
                frontchannel.append(frontchannel_url(client.frontchannel_logout_uri,
                                                     issuer_url, sid))
        return tuple(frontchannel)


def _redirect_fields(location: str) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(location)
    return dict(parse_qsl(parts.fragment or parts.query))


def presented_token(authorization: str | None, form: Any | None) -> tuple[str, str]:
    """The access token and its scheme (``bearer`` or ``dpop``): RFC 6750 §2.1 header or
    §2.2 form body, or RFC 9449 §7.1 ``Authorization: DPoP``; missing → 401 without detail."""
    header_token = None
    scheme = "bearer"
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme not in ("bearer", "dpop") or not value.strip():
            raise InvalidToken("expected 'Authorization: Bearer <token>' (or DPoP <token>)")
        header_token = value.strip()
    form_token = form.get("access_token") if form is not None else None
    if header_token and form_token:
        raise InvalidRequest("access token sent twice (header and body); RFC 6750 section 2")
    token = header_token or form_token
    if not token:
        raise OAuthError("missing bearer access token", error="invalid_request", status=401,
                         www_authenticate='Bearer realm="mockidp"')
    return str(token), scheme


def bearer_token(authorization: str | None, form: Any | None) -> str:
    """The access token of a request (see `presented_token`)."""
    return presented_token(authorization, form)[0]


def parse_login_claims(text: str) -> dict[str, Any]:
    """The login page's claims box: a JSON object of claims of your own; ValueError if not."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"Claims must be JSON: {exc.msg} at line {exc.lineno} column "
                         f"{exc.colno}.") from None
    if not isinstance(value, dict):
        raise ValueError("Claims must be a JSON object, like {\"role\": \"admin\"}.")
    protected = sorted(set(value) & (PROTECTED_CLAIMS | {"sub"}))
    if protected:
        raise ValueError("These claims are set by the provider and cannot be typed here: "
                         + ", ".join(protected) + ".")
    return value

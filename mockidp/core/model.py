"""Plain data shared by the layers: users, clients, request objects, outcomes, endpoints.

Nothing here imports the rest of mockidp except `errors`; everything is immutable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from mockidp.core.errors import InvalidRequest

EMPTY: Mapping[str, Any] = MappingProxyType({})


def frozen_mapping(data: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only copy of ``data`` (empty when None)."""
    return MappingProxyType(dict(data)) if data else EMPTY


# ---------------------------------------------------------------------------------------------
# Endpoints: data-driven routing (endpoint name -> path below the issuer).

@dataclass(frozen=True)
class Endpoint:
    """One protocol endpoint of an issuer.

    ``path`` is relative to the issuer (``/{issuer}{path}``); ``cors`` says whether browsers may
    call it cross-origin; ``browser`` whether errors are shown as HTML pages rather than JSON.
    """

    name: str
    path: str
    methods: tuple[str, ...]
    cors: bool = False
    browser: bool = False


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("discovery", "/.well-known/openid-configuration", ("GET",), cors=True),
    Endpoint("oauth_metadata", "/.well-known/oauth-authorization-server", ("GET",), cors=True),
    Endpoint("jwks", "/jwks", ("GET",), cors=True),
    Endpoint("authorize", "/authorize", ("GET", "POST"), browser=True),
    Endpoint("par", "/par", ("POST",), cors=True),
    Endpoint("login", "/authorize/login", ("POST",), browser=True),
    Endpoint("consent", "/authorize/consent", ("POST",), browser=True),
    Endpoint("token", "/token", ("POST",), cors=True),
    Endpoint("userinfo", "/userinfo", ("GET", "POST"), cors=True),
    Endpoint("introspect", "/introspect", ("POST",), cors=True),
    Endpoint("revoke", "/revoke", ("POST",), cors=True),
    Endpoint("endsession", "/endsession", ("GET", "POST"), browser=True),
    Endpoint("device_authorization", "/device_authorization", ("POST",), cors=True),
    Endpoint("device", "/device", ("GET", "POST"), browser=True),
    Endpoint("register", "/register", ("POST",), cors=True),
)
ENDPOINTS_BY_NAME: Mapping[str, Endpoint] = MappingProxyType({e.name: e for e in ENDPOINTS})


# ---------------------------------------------------------------------------------------------
# Users and clients.

@dataclass(frozen=True)
class User:
    """A person who can log in.  ``claims`` may carry ``sub`` to differ from ``id``."""

    id: str
    claims: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    password: str | None = None

    @property
    def subject(self) -> str:
        """The ``sub`` claim for this user."""
        sub = self.claims.get("sub")
        return str(sub) if sub is not None else self.id


@dataclass(frozen=True)
class Client:
    """An OAuth client.  Unconfigured clients (``registered=False``) accept anything.

    Empty ``redirect_uris`` or ``grant_types`` mean "any".  A ``secret`` of None on a registered
    client makes it a public client (``token_endpoint_auth_method=none``).
    """

    id: str
    secret: str | None = None
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ()
    claims: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    audience: tuple[str, ...] = ()
    access_token_lifetime: int | None = None
    id_token_lifetime: int | None = None
    refresh_token_lifetime: int | None = None
    signing_alg: str | None = None
    id_token_signed_response_alg: str | None = None
    access_token_format: str | None = None
    token_endpoint_auth_method: str | None = None
    jwks: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    backchannel_logout_uri: str | None = None
    frontchannel_logout_uri: str | None = None
    dpop_bound_access_tokens: bool = False
    require_pkce: bool | None = None
    pkce_methods: tuple[str, ...] | None = None
    require_nonce: bool | None = None
    consent: bool | None = None  # ask the user's consent (None: as the issuer says)
    strict: bool = False
    registered: bool = True


# ---------------------------------------------------------------------------------------------
# Requests: what the web layer parses out of HTTP, immutable.

class Params:
    """Immutable multi-valued request parameters.

    `get` enforces RFC 6749 §3.1: a parameter sent more than once is an ``invalid_request``
    (except those named in ``repeatable``, such as RFC 8707 ``resource``).
    """

    __slots__ = ("_values", "size")

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        values: dict[str, list[str]] = {}
        size = 2
        for key, value in pairs:
            values.setdefault(key, []).append(value)
            size += len(key) + len(value) + 6
        self._values: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in values.items()}
        # about their length as JSON: every name and value, and 6 characters around each pair
        # (the journal weighs and caps request parameters by it without a loop)
        self.size = size

    def get(self, name: str) -> str | None:
        """The single value of ``name``, None when absent or empty; repeated → invalid_request."""
        values = self._values.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise InvalidRequest(f"parameter '{name}' is repeated (RFC 6749 section 3.1)")
        return values[0] or None

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every non-empty value of a repeatable parameter."""
        return tuple(v for v in self._values.get(name, ()) if v)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Every (name, value) pair, in order per name (to store a request and rebuild it)."""
        return tuple((k, v) for k, values in self._values.items() for v in values)

    def single(self) -> dict[str, str]:
        """The first value of every parameter (for matching and templates)."""
        return {k: v[0] for k, v in self._values.items() if v}

    def as_dict(self) -> dict[str, str | list[str]]:
        """Plain data: a string per parameter, a list for repeated ones."""
        return {k: (v[0] if len(v) == 1 else list(v)) for k, v in self._values.items()}


@dataclass(frozen=True)
class EndpointRequest:
    """What every endpoint receives: issuer, base URL, method, parameters, credentials."""

    endpoint: ClassVar[str] = ""
    issuer: str
    base_url: str
    method: str = "GET"
    params: Params = field(default_factory=Params)
    path: str = ""
    authorization: str | None = None
    session_id: str | None = None
    dpop: str | None = None
    # the usernames this browser logged in as lately, newest first (a cookie the web layer
    # keeps for the login page; the core decides what goes in it, see `SessionChange.recent`)
    recent: tuple[str, ...] = ()


@dataclass(frozen=True)
class DiscoveryRequest(EndpointRequest):
    endpoint: ClassVar[str] = "discovery"


@dataclass(frozen=True)
class JwksRequest(EndpointRequest):
    endpoint: ClassVar[str] = "jwks"


@dataclass(frozen=True)
class AuthorizeRequest(EndpointRequest):
    endpoint: ClassVar[str] = "authorize"


@dataclass(frozen=True)
class PushedAuthorizationRequest(EndpointRequest):
    """RFC 9126 §2.1: an authorization request pushed to ``/par`` by an authenticated client."""

    endpoint: ClassVar[str] = "par"


@dataclass(frozen=True)
class LoginRequest(EndpointRequest):
    """The login form's submission (``interaction``, ``username``, ``claims``, ``action``)."""

    endpoint: ClassVar[str] = "login"


@dataclass(frozen=True)
class ConsentRequest(EndpointRequest):
    """The consent page's answer (``interaction``, ``action`` = ``allow`` or ``deny``)."""

    endpoint: ClassVar[str] = "consent"


@dataclass(frozen=True)
class TokenRequest(EndpointRequest):
    endpoint: ClassVar[str] = "token"


@dataclass(frozen=True)
class UserinfoRequest(EndpointRequest):
    endpoint: ClassVar[str] = "userinfo"


@dataclass(frozen=True)
class IntrospectRequest(EndpointRequest):
    endpoint: ClassVar[str] = "introspect"


@dataclass(frozen=True)
class RevokeRequest(EndpointRequest):
    endpoint: ClassVar[str] = "revoke"


@dataclass(frozen=True)
class EndSessionRequest(EndpointRequest):
    endpoint: ClassVar[str] = "endsession"


@dataclass(frozen=True)
class DeviceAuthorizationRequest(EndpointRequest):
    endpoint: ClassVar[str] = "device_authorization"


@dataclass(frozen=True)
class DeviceRequest(EndpointRequest):
    """The verification page (RFC 8628 §3.3): ``user_code``, then the login step's fields."""

    endpoint: ClassVar[str] = "device"


@dataclass(frozen=True)
class RegistrationRequest(EndpointRequest):
    """RFC 7591 §3.1: ``metadata`` is the decoded JSON body (any JSON value), or None with
    ``body_error`` saying why the body could not be read as JSON."""

    endpoint: ClassVar[str] = "register"
    metadata: Any = None
    body_error: str | None = None


# ---------------------------------------------------------------------------------------------
# Outcomes of browser-facing endpoints (authorize, login, end-session).

@dataclass(frozen=True)
class SessionChange:
    """Set (``session_id``) or clear (None) the browser's login-session cookie for an issuer;
    ``recent``, when not None, is the new list of usernames this browser logged in as lately
    (newest first) for the web layer to keep."""

    issuer: str
    session_id: str | None
    max_age: int = 0
    recent: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Redirect:
    """A 302 (303 after a POST) to ``location``; ``error`` is the OAuth error it carries to
    the client (RFC 6749 §4.1.2.1), if any, for the journal."""

    location: str
    session: SessionChange | None = None
    error: str | None = None


@dataclass(frozen=True)
class FormPost:
    """OAuth 2.0 Form Post Response Mode: an auto-submitting form to ``action``."""

    action: str
    fields: tuple[tuple[str, str], ...]
    session: SessionChange | None = None

    @property
    def error(self) -> str | None:
        """The OAuth error the form carries to the client, if any."""
        return dict(self.fields).get("error")


@dataclass(frozen=True)
class UserChoice:
    """A user the login page offers in one click: ``id`` is what the ``pick`` button sends;
    ``name`` and ``email`` are shown when the user has them; ``recent`` when this browser
    logged in as them lately."""

    id: str
    name: str | None = None
    email: str | None = None
    recent: bool = False


@dataclass(frozen=True)
class LoginPage:
    """The login form for a pending authorization request: the configured users to pick in
    one click (``choices``), the other usernames this browser used lately (``recent``), a
    username to type and the claims of this login."""

    issuer: str
    interaction: str
    client_id: str
    scope: str
    users: tuple[str, ...]
    username: str = ""
    claims_text: str = ""
    error: str | None = None
    status: int = 200
    choices: tuple[UserChoice, ...] = ()
    recent: tuple[str, ...] = ()
    error_field: str = "claims"  # the field ``error`` is about: ``username`` or ``claims``
    provider: str = ""  # the provider this issuer imitates (a profile's title), if any


@dataclass(frozen=True)
class ConsentPage:
    """The consent step: ``user`` is asked to let ``client_id`` have ``scopes`` (each with
    what it allows).  ``session`` sets the login-session cookie when the login just
    happened."""

    issuer: str
    interaction: str
    client_id: str
    user: str
    scopes: tuple[tuple[str, str], ...]
    redirect_uri: str
    session: SessionChange | None = None
    status: int = 200


@dataclass(frozen=True)
class ErrorPage:
    """An error shown to the person in the browser, never redirected (RFC 6749 §4.1.2.1)."""

    status: int
    error: str
    description: str


@dataclass(frozen=True)
class SignedOutPage:
    """Shown after end-session: loads each client's front-channel logout URL in an iframe,
    then goes on to ``redirect`` when there is one."""

    issuer: str
    session: SessionChange | None = None
    frontchannel: tuple[str, ...] = ()
    redirect: str | None = None


BrowserOutcome = Redirect | FormPost | LoginPage | ConsentPage | ErrorPage | SignedOutPage


@dataclass(frozen=True)
class Json:
    """A JSON answer of a protocol endpoint: ``body``, ``status`` (201 for RFC 9126 §2.2 and
    RFC 7591 §3.2.1), its content type, and whether caches must not keep it (RFC 6749 §5.1:
    every answer carrying tokens or credentials is ``no-store``)."""

    body: Mapping[str, Any]
    status: int = 200
    content_type: str = "application/json"
    no_store: bool = True


@dataclass(frozen=True)
class Raw:
    """An answer as it is: status, content type, bytes and headers (a 204 with no body, an
    HTML page a provider's SDK loads in an iframe)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DevicePage:
    """The device verification page (RFC 8628 §3.3) at one of its steps: ``code`` (enter the
    user code), ``login`` (username, claims, Approve/Deny) or ``done`` (``approved`` or not)."""

    issuer: str
    step: str
    user_code: str = ""
    client_id: str = ""
    scope: str = ""
    users: tuple[str, ...] = ()
    username: str = ""
    claims_text: str = ""
    approved: bool = False
    error: str | None = None
    status: int = 200


# ---------------------------------------------------------------------------------------------
# Grant facts: what a grant handler establishes; the claims pipeline turns them into tokens.

@dataclass(frozen=True)
class ClaimsRequest:
    """The OIDC Core §5.5 ``claims`` request parameter, validated.

    ``userinfo`` and ``id_token`` map each requested claim name to its request (None, or a
    mapping with ``essential``, ``value`` or ``values``).  A requested claim the user has is
    returned in that answer even when no requested scope covers it.
    """

    userinfo: Mapping[str, Mapping[str, Any] | None] = field(default_factory=lambda: EMPTY)
    id_token: Mapping[str, Mapping[str, Any] | None] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True)
class GrantFacts:
    """Who, which client, which scopes: everything a grant decided, nothing signed."""

    grant_type: str
    client: Client
    sub: str
    scopes: tuple[str, ...]
    audience: tuple[str, ...]
    user: User | None = None
    login_claims: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    auth_time: int | None = None
    nonce: str | None = None
    session_id: str | None = None
    issue_id_token: bool = False
    issue_refresh_token: bool = False
    refresh_family: str | None = None
    code: str | None = None
    issue_access_token: bool = True
    acr: str | None = None
    claims_request: ClaimsRequest | None = None
    jkt: str | None = None  # RFC 9449: the DPoP key the access token is bound to
    # RFC 8693 §2.2.1: the token type a token exchange issues (None: an ordinary response)
    issued_token_type: str | None = None
    act: Mapping[str, Any] | None = None  # RFC 8693 §4.1: the actor (a JSON object)


Outcome = Json | BrowserOutcome | DevicePage | Raw
"""What `Provider.handle` answers: the HTTP adapter turns it into status, headers and bytes."""

REQUEST_TYPES: Mapping[str, type[EndpointRequest]] = MappingProxyType({
    kind.endpoint: kind for kind in (
        DiscoveryRequest, JwksRequest, AuthorizeRequest, PushedAuthorizationRequest,
        LoginRequest, ConsentRequest, TokenRequest, UserinfoRequest, IntrospectRequest,
        RevokeRequest, EndSessionRequest, DeviceAuthorizationRequest, DeviceRequest,
        RegistrationRequest,
    )
} | {"oauth_metadata": DiscoveryRequest})
"""The request record each endpoint takes, by endpoint name."""


def outcome_status(outcome: Outcome, method: str) -> int:
    """The HTTP status of ``outcome`` answering a ``method`` request: RFC 9110 §15.4.3/15.4.4
    (302, or 303 after a POST, so that the browser follows with a GET), else the outcome's
    own status.  The one place it is decided: the journal and the HTTP adapter both ask."""
    if isinstance(outcome, Redirect):
        return 303 if method == "POST" else 302
    if isinstance(outcome, (Json, LoginPage, ConsentPage, ErrorPage, DevicePage, Raw)):
        return outcome.status
    return 200


def outcome_error(outcome: Outcome) -> str | None:
    """The OAuth error ``outcome`` carries, for the journal: an error page's, the error
    redirected or posted to the client, ``invalid_request`` for a device page that asks the
    person again, the ``error`` of a JSON error answer (a back-channel logout refused at a
    browser endpoint).  A login page's hint ("Enter a username.") is no OAuth error."""
    if isinstance(outcome, (ErrorPage, Redirect, FormPost)):
        return outcome.error
    if isinstance(outcome, DevicePage) and outcome.error is not None:
        return "invalid_request"
    if isinstance(outcome, Json) and outcome.status >= 400:  # an error answered as JSON
        error = outcome.body.get("error")
        return error if isinstance(error, str) else None
    return None

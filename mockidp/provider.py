"""`MockIdP`: the core.  Owns the state and sequences request → grant → claims → signer.

Every door (pytest fixture, Python API, CLI/config, control API) calls the public methods of
this class; the Flask layer parses HTTP into request objects (`mockidp.model`) and serialises
what these methods return.  This module never imports Flask: `start()` imports the server
lazily, only when a caller asks for one.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Collection, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from . import authorize as authz
from .claims import (
    STANDARD_CLAIMS,
    ClaimLayer,
    access_token_claims,
    id_token_claims,
    userinfo_claims,
)
from .clientauth import authenticate, credentials
from .clock import Clock
from .errors import (
    InvalidRequest,
    InvalidToken,
    MockIdPError,
    NotFound,
    OAuthError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from .grants import GRANTS, GrantContext
from .keys import KeySet
from .model import (
    ENDPOINTS_BY_NAME,
    AuthorizeRequest,
    BrowserOutcome,
    Client,
    DiscoveryRequest,
    EndSessionRequest,
    ErrorPage,
    GrantFacts,
    IntrospectRequest,
    LoginPage,
    LoginRequest,
    Redirect,
    RevokeRequest,
    SessionChange,
    SignedOutPage,
    TokenRequest,
    User,
    UserinfoRequest,
)
from .settings import (
    ISSUER_NAME,
    PROTECTED_CLAIMS,
    RESERVED_ISSUERS,
    SIGNING_ALGS,
    IssuerSettings,
    Settings,
    client_from_args,
    is_absolute_url,
    load_settings,
    user_from_args,
)
from .signer import TokenRejected, sign, verify
from .store import (
    AuthorizationDetails,
    CodeRecord,
    Interaction,
    IssuerStore,
    LoginSession,
    RefreshRecord,
    new_handle,
)

if TYPE_CHECKING:
    from .server import ServerThread

DEFAULT_PORT = 8080
MAX_ISSUERS = 1000
INTERACTION_LIFETIME = 600
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
SCOPES = ("openid", "profile", "email", "phone", "address", "offline_access")


class Issuer:
    """One logical provider: settings, keys, protocol state, users and clients added at run time.

    Thread-safe: the store and the key set lock themselves; run-time users and clients are
    replaced, never mutated in place.
    """

    def __init__(self, name: str, settings: IssuerSettings, keys_dir: Path | None) -> None:
        self.name = name
        self.settings = settings
        self.keys = KeySet(name, keys_dir)
        self.store = IssuerStore()
        self.users: Mapping[str, User] = settings.users
        self.clients: Mapping[str, Client] = settings.clients

    def find_user(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    def find_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def reset(self) -> None:
        """Back to the config baseline; keys stay."""
        self.store.clear()
        self.users = self.settings.users
        self.clients = self.settings.clients


class MockIdP:
    """A mock OAuth 2.0 / OpenID Connect provider.

    ``config`` is a path to a TOML/JSON file, a mapping of the same shape, or `Settings`.
    Used as a context manager it serves HTTP on ``host`` (127.0.0.1) and ``port`` (0: any free
    port) in a background thread.  All methods are thread-safe.
    """

    def __init__(
        self,
        config: str | Path | Mapping[str, Any] | Settings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        keys_dir: str | Path | None = None,
        interactive_login: bool | None = None,
    ) -> None:
        settings = load_settings(config)
        if interactive_login is not None:
            base = {**settings.base, "interactive_login": bool(interactive_login)}
            settings = dataclasses.replace(settings, base=MappingProxyType(base))
        self.settings = settings
        self.host = host
        self.port = port
        self.keys_dir = Path(keys_dir) if keys_dir is not None else None
        self.clock = Clock()
        self._issuers: dict[str, Issuer] = {}
        self._lock = threading.Lock()
        self._server: ServerThread | None = None

    # -- lifecycle (Python API door) ----------------------------------------------------------
    def start(self) -> MockIdP:
        """Serve HTTP in a background thread; raises `MockIdPError` if the port is taken."""
        if self._server is None:
            from .server import ServerThread  # lazy: the core never needs Flask

            self._server = ServerThread(self, self.host, self.port)
            self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> MockIdP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``http://127.0.0.1:54321``."""
        if self._server is not None:
            return self._server.url
        return f"http://{self.host}:{self.port or DEFAULT_PORT}"

    def issuer_url(self, issuer: str = "default") -> str:
        """The issuer identifier: ``{url}/{issuer}``."""
        self.issuer(issuer)
        return f"{self.url}/{issuer}"

    # -- issuers, users, clients --------------------------------------------------------------
    def issuer(self, name: str = "default") -> Issuer:
        """The issuer called ``name``, created on first use.  Bad name → `NotFound`."""
        found = self._issuers.get(name)
        if found is not None:
            return found
        if not ISSUER_NAME.match(name) or name in RESERVED_ISSUERS:
            raise NotFound(f"no issuer called {name!r}")
        with self._lock:
            found = self._issuers.get(name)
            if found is None:
                if len(self._issuers) >= MAX_ISSUERS:
                    raise NotFound(f"too many issuers (at most {MAX_ISSUERS})")
                found = Issuer(name, self.settings.issuer(name), self.keys_dir)
                self._issuers[name] = found
            return found

    def add_user(
        self,
        user_id: str,
        claims: Mapping[str, Any] | None = None,
        *,
        password: str | None = None,
        issuer: str = "default",
    ) -> User:
        """Add or replace a user of ``issuer`` until the next `reset`."""
        user = user_from_args(user_id, claims, password)
        target = self.issuer(issuer)
        target.users = MappingProxyType({**target.users, user.id: user})
        return user

    def add_client(
        self,
        client_id: str,
        secret: str | None = None,
        *,
        issuer: str = "default",
        **spec: Any,
    ) -> Client:
        """Add or replace a client of ``issuer`` until the next `reset`.

        ``spec`` takes the config file's client fields: ``redirect_uris``, ``grant_types``,
        ``claims``, ``audience``, ``*_lifetime``, ``signing_alg``, ``strict``...
        """
        client = client_from_args(client_id, {"secret": secret, **spec})
        target = self.issuer(issuer)
        target.clients = MappingProxyType({**target.clients, client.id: client})
        return client

    def reset(self) -> None:
        """Forget everything a test did: run-time users and clients, codes, tokens, sessions,
        clock.  Keys stay."""
        self.clock.reset()
        for issuer in list(self._issuers.values()):
            issuer.reset()

    # -- keys and minting ---------------------------------------------------------------------
    def jwks(self, issuer: str = "default") -> dict[str, Any]:
        """The issuer's public JWKS."""
        return self.issuer(issuer).keys.jwks()

    def mint(
        self,
        sub: str = "user",
        claims: Mapping[str, Any] | None = None,
        *,
        audience: str | Collection[str] | None = None,
        expires_in: int | None = None,
        issuer: str = "default",
        client_id: str = "mockidp",
        scope: str | Collection[str] | None = None,
        alg: str | None = None,
        remove: Collection[str] = (),
        typ: str = "JWT",
    ) -> str:
        """Sign an access token directly (no HTTP): claims pipeline then signer.

        When ``sub`` names a configured user, the user's claims are included: all of them
        when ``scope`` is None, else those the scopes allow (as at the token endpoint).
        ``claims`` override anything, protected claims included; ``remove`` deletes claims;
        ``expires_in`` may be negative for an expired token.  Bad arguments raise
        `MockIdPError` naming the argument.
        """
        target = self.issuer(issuer)
        if not isinstance(sub, str) or not sub:
            raise MockIdPError(f"mint: sub: expected a non-empty string, got {sub!r}")
        overrides = dict(claims or {})
        try:
            json.dumps(overrides)
        except (TypeError, ValueError) as exc:
            raise MockIdPError(f"mint: claims: expected JSON values ({exc})") from None
        alg = alg or target.settings.signing_alg
        if alg not in SIGNING_ALGS:
            raise MockIdPError(
                f"mint: alg: expected one of {', '.join(SIGNING_ALGS)}, got {alg!r}"
            )
        if expires_in is not None and (
            isinstance(expires_in, bool) or not isinstance(expires_in, int)
        ):
            raise MockIdPError(f"mint: expires_in: expected whole seconds, got {expires_in!r}")
        scopes = tuple(scope.split()) if isinstance(scope, str) else tuple(scope or ())
        auds = (audience,) if isinstance(audience, str) else tuple(audience or ())
        user = target.find_user(sub)
        facts = GrantFacts(
            grant_type="mint",
            client=target.find_client(client_id) or Client(id=client_id, registered=False),
            sub=user.subject if user is not None else sub,
            scopes=scopes,
            audience=auds,
            user=user,
        )
        if scope is None and user is not None:
            # No scope named: the user's claims all go in, as a test author expects.
            everything = {k: v for k, v in user.claims.items() if k != "sub"}
            overrides = {**everything, **overrides}
        now = self.clock.seconds()
        lifetime = expires_in if expires_in is not None else target.settings.lifetimes.access_token
        body = access_token_claims(
            self._issuer_url_for(issuer, None),
            facts,
            now,
            lifetime,
            [ClaimLayer(set=overrides, delete=tuple(remove))],
        )
        return sign(body, target.keys.active(alg), typ)

    # -- protocol: discovery and JWKS ---------------------------------------------------------
    def _issuer_url_for(self, issuer: str, base_url: str | None) -> str:
        base = base_url if base_url else self.url
        return f"{base.rstrip('/')}/{issuer}"

    def discovery(self, req: DiscoveryRequest) -> dict[str, Any]:
        """OpenID Connect Discovery 1.0 §3 metadata; lists exactly what works."""
        issuer = self.issuer(req.issuer)
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
            "scopes_supported": list(SCOPES),
            "response_types_supported": list(authz.RESPONSE_TYPES),
            "response_modes_supported": list(authz.RESPONSE_MODES),
            "grant_types_supported": list(GRANTS),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(SIGNING_ALGS),
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "code_challenge_methods_supported": list(authz.PKCE_METHODS),
            "claims_supported": sorted(
                {"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash",
                 "sid", *STANDARD_CLAIMS}
            ),
            "prompt_values_supported": list(authz.PROMPTS),
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "authorization_response_iss_parameter_supported": True,
            "frontchannel_logout_supported": False,
            "backchannel_logout_supported": False,
        }

    def oauth_metadata(self, req: DiscoveryRequest) -> dict[str, Any]:
        """RFC 8414 authorization server metadata (the OIDC document's OAuth subset)."""
        doc = self.discovery(req)
        for key in ("subject_types_supported", "claims_supported", "userinfo_endpoint",
                    "end_session_endpoint", "id_token_signing_alg_values_supported",
                    "claims_parameter_supported", "request_parameter_supported",
                    "request_uri_parameter_supported", "frontchannel_logout_supported",
                    "backchannel_logout_supported", "prompt_values_supported"):
            doc.pop(key, None)
        return doc

    # -- protocol: authorization endpoint -----------------------------------------------------
    def authorize(self, req: AuthorizeRequest) -> BrowserOutcome:
        """RFC 6749 §4.1.1 / OIDC Core §3.1.2: a redirect with a code, a login page, or an
        error (redirected when the redirect URI is trustworthy, shown otherwise)."""
        issuer = self.issuer(req.issuer)
        issuer_url = self._issuer_url_for(issuer.name, req.base_url)
        checked = authz.check_client(req.params, issuer.find_client, issuer.settings)
        if isinstance(checked, ErrorPage):
            return checked
        client, redirect_uri, sent = checked
        try:
            details = authz.check_request(req.params, client, redirect_uri, sent, issuer.settings)
        except authz.AuthorizeError as exc:
            return authz.respond(
                redirect_uri,
                authz.safe_response_mode(req.params),
                authz.error_fields(exc.error, exc.description, authz.safe_state(req.params),
                                   issuer_url),
            )
        now = self.clock.now()
        session = issuer.store.get_session(req.session_id, now)
        if "none" in details.prompt:
            if session is None:
                return self._deny(issuer_url, details, "login_required",
                                  "no login session and prompt=none")
            return self._approve(issuer, issuer_url, details, session.user_id,
                                 session.login_claims, session)
        if details.login_hint:
            reuse = session if session is not None and session.user_id == details.login_hint \
                and "login" not in details.prompt else None
            return self._approve(issuer, issuer_url, details, details.login_hint, {}, reuse)
        if session is not None and "login" not in details.prompt:
            return self._approve(issuer, issuer_url, details, session.user_id,
                                 session.login_claims, session)
        if not issuer.settings.interactive_login:
            return self._approve(issuer, issuer_url, details, self._default_user(issuer), {},
                                 None)
        interaction = Interaction(new_handle(), details, now + INTERACTION_LIFETIME)
        issuer.store.put_interaction(interaction, now)
        return self._login_page(issuer, interaction)

    def login(self, req: LoginRequest) -> BrowserOutcome:
        """The login page's answer: approve as ``username`` (with optional claims JSON) or
        deny (``access_denied`` to the client)."""
        issuer = self.issuer(req.issuer)
        issuer_url = self._issuer_url_for(issuer.name, req.base_url)
        now = self.clock.now()
        try:
            interaction_id = req.params.get("interaction") or ""
            action = req.params.get("action") or "approve"
            username = (req.params.get("username") or "").strip()
            claims_text = req.params.get("claims") or ""
        except InvalidRequest as exc:
            return ErrorPage(400, exc.error, exc.description)
        interaction = issuer.store.get_interaction(interaction_id, now)
        if interaction is None:
            return ErrorPage(
                400,
                "invalid_request",
                "this login request is unknown or has expired; start again from the application",
            )
        if action == "deny":
            issuer.store.take_interaction(interaction_id, now)
            return self._deny(issuer_url, interaction.details, "access_denied",
                              "the user denied the request")
        if action != "approve":
            return ErrorPage(400, "invalid_request", "action must be 'approve' or 'deny'")
        if not username:
            return self._login_page(issuer, interaction, username, claims_text,
                                    "Enter a username.")
        try:
            login_claims = parse_login_claims(claims_text)
        except ValueError as exc:
            return self._login_page(issuer, interaction, username, claims_text, str(exc))
        if issuer.store.take_interaction(interaction_id, now) is None:
            return ErrorPage(400, "invalid_request", "this login request was already answered")
        return self._approve(issuer, issuer_url, interaction.details, username, login_claims,
                             None)

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
    ) -> LoginPage:
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
        issuer: Issuer,
        issuer_url: str,
        details: AuthorizationDetails,
        user_id: str,
        login_claims: Mapping[str, Any],
        session: LoginSession | None,
    ) -> BrowserOutcome:
        now = self.clock.now()
        lifetimes = issuer.settings.lifetimes
        if session is None:
            user = issuer.find_user(user_id)
            session = LoginSession(
                id=new_handle(),
                sid=new_handle()[:22],
                sub=user.subject if user is not None else user_id,
                user_id=user_id,
                login_claims=MappingProxyType(dict(login_claims)),
                auth_time=int(now),
                expires_at=now + lifetimes.session,
            )
            issuer.store.put_session(session, now)
        code = new_handle()
        issuer.store.put_code(
            code,
            CodeRecord(
                details=details,
                sub=session.sub,
                user_id=session.user_id,
                login_claims=session.login_claims,
                auth_time=session.auth_time,
                session_id=session.sid,
                expires_at=now + lifetimes.code,
            ),
            now,
        )
        fields = [("code", code)]
        if details.state is not None:
            fields.append(("state", details.state))
        fields.append(("iss", issuer_url))
        change = SessionChange(issuer.name, session.id, int(session.expires_at - now))
        return authz.respond(details.redirect_uri, details.response_mode, fields, change)

    # -- protocol: token endpoint -------------------------------------------------------------
    def token(self, req: TokenRequest) -> dict[str, Any]:
        """RFC 6749 §3.2: authenticate the client, run the grant, mint and sign the tokens."""
        issuer = self.issuer(req.issuer)
        grant_type = req.params.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("missing 'grant_type'")
        handler = GRANTS.get(grant_type)
        if handler is None:
            raise UnsupportedGrantType(
                f"grant_type {grant_type!r} is not supported; supported: " + ", ".join(GRANTS)
            )
        client = authenticate(
            credentials(req.params, req.authorization), issuer.find_client,
            issuer.settings.strict,
        )
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
        )
        facts = handler.handle(req.params, ctx)
        return self._issue(issuer, self._issuer_url_for(issuer.name, req.base_url), facts, now)

    def _issue(
        self, issuer: Issuer, issuer_url: str, facts: GrantFacts, now: float
    ) -> dict[str, Any]:
        lifetimes = issuer.settings.lifetimes
        client = facts.client
        key = issuer.keys.active(client.signing_alg or issuer.settings.signing_alg)
        seconds = int(now)
        access_lifetime = client.access_token_lifetime or lifetimes.access_token
        access_claims = access_token_claims(issuer_url, facts, seconds, access_lifetime)
        access_token = sign(access_claims, key)
        exp = access_claims.get("exp")
        response: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": int(exp - seconds) if isinstance(exp, int) else access_lifetime,
        }
        if facts.scopes:
            response["scope"] = " ".join(facts.scopes)
        family = facts.refresh_family or (new_handle() if facts.issue_refresh_token else None)
        jti = access_claims.get("jti")
        if family is not None and isinstance(jti, str):
            expires = float(exp) if isinstance(exp, int) else now + access_lifetime
            issuer.store.note_access_token(family, jti, expires, now)
        if facts.issue_refresh_token:
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
                    family=family or new_handle(),  # always set here; keeps mypy content
                ),
                now,
            )
            response["refresh_token"] = refresh_token
        if facts.issue_id_token:
            id_claims = id_token_claims(
                issuer_url,
                facts,
                seconds,
                client.id_token_lifetime or lifetimes.id_token,
                key.alg,
                access_token=access_token,
            )
            response["id_token"] = sign(id_claims, key)
        return response

    # -- protocol: userinfo, introspection, revocation ----------------------------------------
    def _verify(self, issuer: Issuer, token: str) -> dict[str, Any]:
        """Claims of a live access token of this issuer, or `TokenRejected`."""
        claims = verify(token, issuer.keys, self.clock.now())
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
        token = bearer_token(req.authorization, req.params if req.method == "POST" else None)
        try:
            claims = self._verify(issuer, token)
        except TokenRejected as exc:
            raise InvalidToken(str(exc)) from None
        return userinfo_claims(claims)

    def _introspecting_client(self, issuer: Issuer, req: IntrospectRequest | RevokeRequest,
                              required: bool) -> Client | None:
        creds = credentials(req.params, req.authorization)
        if creds.client_id is None and not required and not issuer.settings.strict:
            return None
        return authenticate(creds, issuer.find_client, issuer.settings.strict)

    def introspect(self, req: IntrospectRequest) -> dict[str, Any]:
        """RFC 7662: ``active`` and the token's claims; revoked or expired → inactive."""
        issuer = self.issuer(req.issuer)
        self._introspecting_client(issuer, req, required=False)
        token = req.params.get("token")
        if token is None:
            raise InvalidRequest("missing 'token'")
        now = self.clock.now()
        record = issuer.store.get_refresh(token, now)
        if record is not None:
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
        return {"active": True, "token_type": "Bearer", **claims}

    def revoke(self, req: RevokeRequest) -> None:
        """RFC 7009: revoke an access or refresh token; unknown tokens are not an error."""
        issuer = self.issuer(req.issuer)
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
            issuer.store.revoke_refresh(token)
            return
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

    # -- protocol: RP-initiated logout --------------------------------------------------------
    def end_session(self, req: EndSessionRequest) -> BrowserOutcome:
        """OIDC RP-Initiated Logout 1.0: end the login session, then redirect or show a page."""
        issuer = self.issuer(req.issuer)
        try:
            hint = req.params.get("id_token_hint")
            redirect_uri = req.params.get("post_logout_redirect_uri")
            state = req.params.get("state")
            client_id = req.params.get("client_id")
        except InvalidRequest as exc:
            return ErrorPage(400, exc.error, exc.description)
        if hint is not None:
            try:
                hint_claims = verify(hint, issuer.keys, float("-inf"), check_times=False)
            except TokenRejected as exc:
                return ErrorPage(400, "invalid_request", f"id_token_hint rejected: {exc}")
            aud = hint_claims.get("aud")
            client_id = client_id or (aud if isinstance(aud, str) else None)
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
        issuer.store.end_session(req.session_id)
        if redirect_uri is None:
            return SignedOutPage(issuer.name, change)
        query = urlencode([("state", state)]) if state is not None else ""
        sep = "&" if "?" in redirect_uri else "?"
        return Redirect(redirect_uri + (sep + query if query else ""), change)


def bearer_token(authorization: str | None, form: Any | None) -> str:
    """RFC 6750 §2.1 header or §2.2 form body; missing → 401 ``invalid_request`` w/o detail."""
    header_token = None
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise InvalidToken("expected 'Authorization: Bearer <token>'")
        header_token = value.strip()
    form_token = form.get("access_token") if form is not None else None
    if header_token and form_token:
        raise InvalidRequest("access token sent twice (header and body); RFC 6750 section 2")
    token = header_token or form_token
    if not token:
        raise OAuthError("missing bearer access token", error="invalid_request", status=401,
                         www_authenticate='Bearer realm="mockidp"')
    return str(token)


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


__all__ = ["Issuer", "MockIdP", "bearer_token", "parse_login_claims"]

"""Profiles: where a kind of issuer puts its endpoints, and how it shapes what it answers.

A `Profile` is data plus a few small steps (DESIGN "Profiles"):

- where: the mount its issuers live at (``/{issuer}`` for the generic profile: one path
  segment holding the issuer name; a fixed path per issuer for the named providers, worked
  out from the issuer's options by `mounts`), the path of each endpoint below the mount
  (``paths``) or from the server root (``root_paths``, e.g. Cognito's hosted UI), and the
  RFC 8414 §3 well-known prefix its authorization server metadata is also answered at;
- who: the issuer identifier (`identifier`: Auth0's ends in ``/``, Cognito's is the cloud's);
- what: the claims step (`access_claims`, `id_claims`, `userinfo`), the token response, the
  refresh-token string, the discovery document, the JWKS, the error body, the parameter
  spelling of a few endpoints, grant-type aliases, extra endpoints its SDKs call
  (`extras`), and bad-token kinds its verifiers check.

Every hook has the generic behaviour as its default, so the generic profile is this class
with no overrides.  `mockidp.http.routes.RouteTable` turns profiles into routes; the
protocol endpoints call the hooks and never ask which profile they run under.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mockidp.core.errors import OAuthError
from mockidp.core.model import EMPTY, Client, EndpointRequest, GrantFacts, Outcome

ISSUER_VARIABLE = "{issuer}"


@dataclass(frozen=True)
class IssuerView:
    """What a profile's steps may know of the issuer they shape for: its name, its options
    (``tenant_id``, ``user_pool_id``... as configured, defaults filled in), the identifier
    and the base URL of the request (scheme, host and the mount's prefix); at extra endpoints
    also the JWKS and the browser's login session."""

    name: str
    options: Mapping[str, Any]
    issuer_url: str
    base_url: str
    mount: str
    # the issuer's client of this id (configured or added at run time), or None
    find_client: Callable[[str], Client | None] = field(default=lambda client_id: None,
                                                        compare=False)
    # only at a profile's extra endpoints (`mockidp.protocol.extra`): the published JWKS,
    # and the ``sid`` of the browser's live login session (None: none)
    jwks: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    session_sid: str | None = None

    def url(self, profile: Profile, endpoint: str) -> str:
        """The URL of one of this issuer's endpoints."""
        return profile.endpoint_url(self.base_url, self.mount, endpoint)


@dataclass(frozen=True)
class Extra:
    """An endpoint only this profile has (Keycloak's realm document, MSAL's instance
    discovery): its path (below the mount, or from the server root when ``root``), methods,
    CORS, and the step that answers it (``answer(profile, view, request) -> outcome``)."""

    path: str
    methods: tuple[str, ...] = ("GET",)
    cors: bool = True
    browser: bool = False
    root: bool = False
    answer: Callable[[Profile, IssuerView, EndpointRequest], Outcome] | None = None


@dataclass(frozen=True)
class Profile:
    """Where the endpoints of an issuer of this kind live, and how it shapes its answers.

    ``mount`` is the template of a generic issuer's mount point: a literal prefix followed by
    ``/{issuer}`` (one path segment).  Named profiles set ``fixed`` and work out each issuer's
    mount points from its options (`mounts`).  ``paths`` maps each endpoint name
    (`mockidp.core.model.ENDPOINTS`) to its path below the mount, ``root_paths`` to a path
    from the server root.  ``metadata_root``, when set, is the well-known prefix RFC 8414 §3
    inserts between the host and the issuer's path, where ``oauth_metadata`` is answered too.
    ``title`` is the provider's name as people know it (the login page says whom it imitates).
    ``options`` are the issuer options this profile takes, with their defaults (None:
    worked out from the issuer name by `option_defaults`).
    """

    name: str
    mount: str
    paths: Mapping[str, str]
    metadata_root: str | None = None
    root_paths: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    title: str = "mockidp"
    fixed: bool = False
    options: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    defaults: Mapping[str, Any] = field(default_factory=lambda: EMPTY)  # issuer settings
    json_bodies: frozenset[str] = frozenset()  # endpoints that also take JSON POST bodies
    grant_aliases: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    extras: Mapping[str, Extra] = field(default_factory=lambda: EMPTY)
    bad_kinds: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    # parameter names of an endpoint spelled the provider's way -> the standard name
    param_aliases: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: EMPTY)
    jwks_key_types: tuple[str, ...] | None = None  # None: every key type is published
    # more paths below the mount answering a standard endpoint (path -> endpoint name), e.g.
    # Auth0's ``/v2/logout`` beside its ``/oidc/logout``; the URLs it advertises use ``paths``
    path_aliases: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    # an end-session POST carrying a ``refresh_token`` is a back-channel logout: the client
    # authenticates, the token's grant and login session end, the answer is 204 (Keycloak's)
    token_logout: bool = False

    # -- where --------------------------------------------------------------------------------
    def mount_of(self, issuer: str) -> str:
        """The mount point of generic issuer ``issuer``: the path its identifier ends with."""
        return self.mount.replace(ISSUER_VARIABLE, issuer)

    def mounts(self, issuer: str, options: Mapping[str, Any]) -> tuple[str, ...]:
        """The mount points of issuer ``issuer`` with ``options`` (fixed profiles): the first
        is its own, the others answer the same endpoints too (Keycloak's legacy ``/auth``)."""
        return (self.mount_of(issuer),)

    def prefix_of(self, mount: str, issuer: str, options: Mapping[str, Any]) -> str:
        """What a request's mount adds in front of the issuer's own mount (``/auth`` for
        Keycloak's legacy paths): part of the base URL its identifiers use."""
        own = self.mounts(issuer, options)[0] if self.fixed else self.mount_of(issuer)
        return mount[: len(mount) - len(own)] if own and mount.endswith(own) else ""

    def option_defaults(self, issuer: str) -> Mapping[str, Any]:
        """Defaults of the options that depend on the issuer's name."""
        return EMPTY

    def check(self, options: Mapping[str, Any]) -> None:
        """Refuse bad options: raise ``ValueError("option: expected ..., got ...")``."""

    def for_options(self, options: Mapping[str, Any]) -> Profile:
        """The profile an issuer with (checked) ``options`` runs under: this one, or a copy
        whose data depends on the options (Cognito's hosted UI below its ``mount``)."""
        return self

    def url_of(self, issuer_url: str, endpoint: str) -> str:
        """The URL of ``endpoint`` of the generic issuer identified as ``issuer_url``."""
        return issuer_url + self.paths[endpoint]

    def path_of(self, mount: str, endpoint: str) -> str:
        """The path of ``endpoint`` of the issuer mounted at ``mount``."""
        root = self.root_paths.get(endpoint)
        if root is not None:
            return root
        path = self.paths.get(endpoint)
        if path is not None:
            return mount + path
        extra = self.extras[endpoint]
        return extra.path if extra.root else mount + extra.path

    def endpoint_url(self, base_url: str, mount: str, endpoint: str) -> str:
        """The URL of ``endpoint`` of the issuer mounted at ``mount`` under ``base_url``."""
        return base_url + self.path_of(mount, endpoint)

    def cookie_path(self, mount: str) -> str:
        """The path the login-session cookie is scoped to (every browser endpoint below it)."""
        return "/" if self.root_paths else mount + "/"

    def has(self, endpoint: str) -> bool:
        """Whether issuers of this profile have ``endpoint``."""
        return endpoint in self.paths or endpoint in self.root_paths or endpoint in self.extras

    # -- who ----------------------------------------------------------------------------------
    def identifier(self, base_url: str, mount: str, options: Mapping[str, Any]) -> str:
        """The issuer identifier (``iss``) under ``base_url``."""
        return base_url + mount

    def owns(self, iss: str, mount: str, options: Mapping[str, Any]) -> bool:
        """Whether ``iss`` can name this issuer (under any base URL)."""
        return iss.endswith(mount) if mount else "/" not in iss.split("://", 1)[-1]

    # -- what ---------------------------------------------------------------------------------
    def access_claims(self, claims: dict[str, Any], facts: GrantFacts, view: IssuerView
                      ) -> None:
        """Shape access-token claims (in place), after the user's and client's claims and
        before the scripted layers."""

    def id_claims(self, claims: dict[str, Any], facts: GrantFacts, view: IssuerView) -> None:
        """Shape ID-token claims (in place), as `access_claims`."""

    def userinfo(self, claims: dict[str, Any], access: Mapping[str, Any], view: IssuerView
                 ) -> None:
        """Shape the userinfo answer (in place) from the access token's claims."""

    def introspection(self, body: dict[str, Any], claims: Mapping[str, Any],
                      view: IssuerView) -> None:
        """Shape an active token's introspection answer (in place)."""

    def token_response(self, response: dict[str, Any], facts: GrantFacts, view: IssuerView
                       ) -> None:
        """Shape the token response (in place): extra members, members left out."""

    def device_response(self, response: dict[str, Any], view: IssuerView) -> None:
        """Shape the device authorization response (RFC 8628 §3.2) in place: extra members
        (Entra's ``message``)."""

    def refresh_token(self, handle: str, facts: GrantFacts, view: IssuerView, now: int,
                      lifetime: int, sign: Callable[[dict[str, Any], str], str]) -> str:
        """The refresh token string handed out for the stored ``handle`` (the generic
        profile: the handle itself; ``sign(claims, typ)`` signs a JWT with the issuer's
        active key).  The string is what the store keys the refresh record by."""
        return handle

    def discovery(self, document: dict[str, Any], view: IssuerView) -> None:
        """Shape the OpenID / RFC 8414 metadata (in place)."""

    def jwks(self, jwks: Mapping[str, Any]) -> Mapping[str, Any]:
        """The published JWKS: only ``jwks_key_types`` when set."""
        if self.jwks_key_types is None:
            return jwks
        return {"keys": [k for k in jwks.get("keys", ()) if k.get("kty") in self.jwks_key_types]}

    def error_body(self, error: OAuthError, endpoint: str) -> Mapping[str, Any]:
        """The JSON body of a protocol error at ``endpoint`` (RFC 6749 §5.2 by default)."""
        return error.body()

    def params(self, endpoint: str, params: Mapping[str, str]) -> Mapping[str, str] | None:
        """A request's parameters renamed to the standard names (``param_aliases``), or None
        when nothing changes."""
        aliases = self.param_aliases.get(endpoint)
        if not aliases or not any(name in params for name in aliases):
            return None
        return {aliases.get(name, name): value for name, value in params.items()}

    def bad_token(self, kind: str, claims: dict[str, Any], view: IssuerView) -> str | None:
        """Break ``claims`` (in place) for one of this profile's own ``bad_kinds``; or return
        the finished token when the defect is not in the claims (None: the claims are signed
        with the issuer's active key)."""
        return None


def frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only mapping for a profile's data."""
    return MappingProxyType(dict(mapping))

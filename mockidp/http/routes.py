"""The route table: which issuer and endpoint a request path is, from the profiles' data.

Issuers are mounted either at a template (a profile's ``mount``, e.g. ``/{issuer}``: any
issuer name in that one segment) or at a fixed path for one named issuer (any depth, e.g.
``/tenants/acme/v2``).  Under its mount an issuer answers the profile's endpoint paths, and
``oauth_metadata`` also at the profile's RFC 8414 §3 well-known prefix followed by the mount.

Resolving a path gives a `Match`: the issuer, the `Route` (endpoint name, allowed methods,
CORS, browser-facing) and the mount.  The longest matching mount wins.  The path space of a
fixed mount (and of a template's literal prefix) belongs to it: a template never reads one
of those paths as an issuer name.  Resolving is a dict lookup on the path's last segments
plus a check (the token request is the benchmark's hot path), never a parse of the first
segment.  The table is built before serving and only read afterwards (thread-safe).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from mockidp.core.model import ENDPOINTS_BY_NAME
from mockidp.profiles import ISSUER_VARIABLE, Profile

METADATA_ROOT = "oauth_metadata_root"  # the route name of RFC 8414 §3's inserted path


@dataclass(frozen=True)
class Route:
    """One endpoint of a profile: ``name`` is the route's own name (the endpoint's, or
    ``oauth_metadata_root``), ``endpoint`` the core endpoint `Provider.handle` takes.
    ``journaled``: refusals before the core saw the request go in the journal."""

    name: str
    endpoint: str
    methods: tuple[str, ...]
    cors: bool = False
    browser: bool = False
    journaled: bool = True
    accepts: frozenset[str] = field(init=False)
    allow: str = field(init=False)  # the ``Allow`` header: with HEAD (for GET) and OPTIONS

    def __post_init__(self) -> None:
        accepts = {*self.methods, "OPTIONS"} | ({"HEAD"} if "GET" in self.methods else set())
        object.__setattr__(self, "accepts", frozenset(accepts))
        object.__setattr__(self, "allow", ", ".join(sorted(accepts)))


class Match(NamedTuple):
    """A resolved path: the issuer, its route, the issuer's mount point and profile."""

    issuer: str
    route: Route
    mount: str
    profile: Profile
    prefix: str = ""  # what this mount adds before the issuer's own (Keycloak's ``/auth``)

    def path_of(self, endpoint: str) -> str:
        """The path of another endpoint of the same issuer (a form's action)."""
        return self.profile.path_of(self.mount, endpoint)


def profile_routes(profile: Profile) -> dict[str, Route]:
    """The routes of a profile's endpoints, by path below the mount (its path aliases and
    extras too)."""
    routes = {}
    for name, suffix in profile.paths.items():
        endpoint = ENDPOINTS_BY_NAME[name]
        routes[suffix] = Route(name, name, endpoint.methods, endpoint.cors, endpoint.browser)
    for suffix, name in profile.path_aliases.items():
        endpoint = ENDPOINTS_BY_NAME[name]
        routes[suffix] = Route(name, name, endpoint.methods, endpoint.cors, endpoint.browser)
    for name, extra in profile.extras.items():
        if not extra.root:
            routes[extra.path] = Route(name, name, extra.methods, extra.cors, extra.browser)
    return routes


def root_routes(profile: Profile) -> dict[str, Route]:
    """The routes of a profile's endpoints that live at a path from the server root."""
    routes = {}
    for name, path in profile.root_paths.items():
        endpoint = ENDPOINTS_BY_NAME[name]
        routes[path] = Route(name, name, endpoint.methods, endpoint.cors, endpoint.browser)
    for name, extra in profile.extras.items():
        if extra.root:
            routes[extra.path] = Route(name, name, extra.methods, extra.cors, extra.browser)
    return routes


def metadata_root_route() -> Route:
    """RFC 8414 §3: the metadata at the well-known prefix (GET, CORS, not journaled)."""
    return Route(METADATA_ROOT, "oauth_metadata", ("GET",), cors=True, journaled=False)


@dataclass(frozen=True)
class _Template:
    prefix: str  # the literal part before ``/{issuer}`` ("" for ``/{issuer}``)
    profile: Profile
    routes: Mapping[str, Route]  # by path below the mount
    root: str | None  # the metadata root followed by ``prefix + "/"``
    root_route: Route


class RouteTable:
    """Every issuer mount of a server and the routes below them (see the module docs)."""

    def __init__(self) -> None:
        self._exact: dict[str, Match] = {}  # full paths below fixed mounts
        self._fixed: dict[str, tuple[str, Profile]] = {}  # issuer -> (mount, profile)
        self._templates: list[_Template] = []  # longest literal prefix first
        self._reserved: set[str] = set()  # never a template's mount: owned by another

    def mount(self, profile: Profile, at: str | None = None, issuer: str | None = None
              ) -> RouteTable:
        """Mount ``profile``: at its template (``at`` None, or a template ending in
        ``/{issuer}``), or at the fixed path ``at`` for the issuer ``issuer``."""
        at = profile.mount if at is None else at.rstrip("/")
        if at.endswith("/" + ISSUER_VARIABLE):
            prefix = at[: -len(ISSUER_VARIABLE) - 1]
            if ISSUER_VARIABLE in prefix or (prefix and not prefix.startswith("/")):
                raise ValueError(f"mount {at!r}: one /{{issuer}} segment, at the end")
            root = profile.metadata_root + prefix + "/" if profile.metadata_root else None
            self._templates.append(_Template(prefix, profile, profile_routes(profile), root,
                                             metadata_root_route()))
            self._templates.sort(key=lambda t: len(t.prefix), reverse=True)
            self._reserve(prefix)
            return self
        if issuer is None or (at and not at.startswith("/")) or "{" in at:
            raise ValueError(f"mount {at!r}: a fixed mount is an absolute path (or the "
                             "server root, '') and names its issuer")
        own = self._fixed.setdefault(issuer, (at, profile))[0]  # the first mount is its own
        prefix = at[: len(at) - len(own)] if at != own and at.endswith(own) else ""
        self._reserve(at)
        entries = [(at + suffix, route) for suffix, route in profile_routes(profile).items()]
        entries += list(root_routes(profile).items())
        if profile.metadata_root:
            entries.append((profile.metadata_root + at, metadata_root_route()))
        for path, route in entries:
            known = self._exact.get(path)
            if known is None or len(known.mount) < len(at):  # the longest mount wins
                self._exact[path] = Match(issuer, route, at, profile, prefix)
            self._reserve(path.rsplit("/", 1)[0])  # never read as a generic issuer's
        return self

    def _reserve(self, mount: str) -> None:
        """``mount`` and every path above it are no template's to read as an issuer."""
        if not mount:
            return
        segments = mount.split("/")[1:]
        for depth in range(1, len(segments) + 1):
            self._reserved.add("/" + "/".join(segments[:depth]))

    def resolve(self, path: str) -> Match | None:
        """The issuer and route ``path`` names, or None (no such endpoint)."""
        best = self._exact.get(path)
        for template in self._templates:
            found = self._template_match(template, path)
            if found is not None and (best is None or len(found.mount) > len(best.mount)):
                best = found
        return best

    def _template_match(self, template: _Template, path: str) -> Match | None:
        prefix = template.prefix
        start = len(prefix) + 1  # where the issuer name begins
        position = path.rfind("/")
        while position > start:  # the endpoint path is a dict lookup on the last segments
            route = template.routes.get(path[position:])
            if route is not None:
                found = self._issuer_at(template, path[:position], route)
                if found is not None:
                    return found
            position = path.rfind("/", 0, position)
        root = template.root
        if root is not None and path.startswith(root):
            return self._issuer_at(template, path[len(root) - len(prefix) - 1:],
                                   template.root_route)
        return None

    def _issuer_at(self, template: _Template, mount: str, route: Route) -> Match | None:
        """``mount`` read as ``prefix/{issuer}``, unless it is not one segment or not the
        template's to read."""
        prefix = template.prefix
        issuer = mount[len(prefix) + 1:]
        if not mount.startswith(prefix + "/") or not issuer or "/" in issuer \
                or mount in self._reserved or issuer in self._fixed:
            return None
        return Match(issuer, route, mount, template.profile)

    def listing(self) -> list[tuple[str, Route]]:
        """Every route as (path template, route), e.g. ``("/{issuer}/token", ...)``: for
        documents and tests."""
        routes = [(path, match.route) for path, match in self._exact.items()]
        for template in self._templates:
            mount = template.prefix + "/" + ISSUER_VARIABLE
            routes += [(mount + suffix, route) for suffix, route in template.routes.items()]
            if template.profile.metadata_root:
                routes.append((template.profile.metadata_root + mount, template.root_route))
        return routes

    def mount_of(self, issuer: str) -> str:
        """The mount point of ``issuer``: its fixed mount, else at the shortest template."""
        fixed = self._fixed.get(issuer)
        if fixed is not None:
            return fixed[0]
        if not self._templates:
            raise KeyError(issuer)
        return self._templates[-1].prefix + "/" + issuer

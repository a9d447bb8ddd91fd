"""The Microsoft Entra ID profile (v2.0 endpoints): a tenant's issuer as MSAL reads it.

What it imitates, and the facts relied on (Microsoft identity platform docs; MSAL for Python
1.39 ``msal/authority.py``, ``application.py``, ``token_cache.py``; @azure/msal-node):

- where: one tenant per issuer, mounted at ``/{tenant_id}`` (``tenant_id`` a GUID,
  by default one derived from the issuer name, so a config naming none still gets a stable
  one); tenant discovery ``/v2.0/.well-known/openid-configuration`` (MSAL appends it to the
  authority), ``/oauth2/v2.0/{authorize,token,logout,devicecode}``, JWKS
  ``/discovery/v2.0/keys``.  Entra's userinfo is Graph's (``graph.microsoft.com/oidc/userinfo``);
  ours is ``/oidc/userinfo`` below the tenant, with Graph's answer (``sub``, ``name``,
  ``given_name``, ``family_name``, ``email``, ``picture``).  The login, consent and device pages
  are ours (``/oauth2/v2.0/login``, ``/consent``, ``/devicelogin``).
- who: issuer ``{base}/{tenant_id}/v2.0``.  MSAL's instance discovery
  ``/common/discovery/instance`` answers ``tenant_discovery_endpoint`` and ``metadata`` (the
  alias groups `ClientApplication._get_authority_aliases` reads) for our own host, and
  ``invalid_instance`` (AADSTS50049) for any other; ``/common`` and ``/organizations`` tenant
  discovery answer Entra's multi-tenant document (issuer ``.../{tenantid}/v2.0``) with the
  endpoints of the first Entra issuer of the config.
- what: tokens signed RS256 (the JWKS holds RSA keys only), ``ver: "2.0"``, ``tid``, ``oid``
  (a GUID derived from tenant and subject, unless the user's claims set one), ``azp``,
  ``azpacr``, ``uti``, ``rh``.  Access tokens: ``aud`` is the API of the resource scopes
  (``api://x/.default`` or ``api://x/Read`` → ``api://x``; a bare GUID app id stays one), the
  explicit audience when one was asked for, else Microsoft Graph's app id; delegated tokens
  ``scp`` (the API's scopes, space separated; ``.default`` gives the user's or client's
  configured ``scp``, else ``user_impersonation``) and ``roles`` from the user's generic
  ``roles``; app-only tokens (client credentials) ``roles`` from the client's ``roles``,
  ``idtyp: "app"``, no ``scp``, ``sub`` = ``oid`` of the client's service principal.  ID tokens
  ``preferred_username`` and ``name`` (the username when not configured), ``oid``, ``tid``,
  the nonce as sent.  The token response adds ``ext_expires_in`` and, for users,
  ``client_info`` (base64url ``{"uid": oid, "utid": tid}``: MSAL keys accounts ``oid.tid``);
  client-credentials responses carry no ``scope``.
- errors: Entra's body (``error``, ``error_description`` opening with an ``AADSTS`` number and
  ending in Trace ID / Correlation ID / Timestamp lines, ``error_codes``, ``timestamp``,
  ``trace_id``, ``correlation_id``).
- bad tokens: ``entra_other_tenant`` (``tid`` and ``iss`` of another tenant) and
  ``entra_v1_token`` (``ver: "1.0"``, the ``sts.windows.net`` issuer, v1 claim names).
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mockidp.core.errors import OAuthError
from mockidp.core.model import EndpointRequest, GrantFacts, Json
from mockidp.profiles import Extra, IssuerView, Profile, frozen

NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # RFC 4122 URL namespace
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's application id
OTHER_TENANT = "72f988bf-0000-4000-8000-0000deadbeef"  # the tenant bad tokens come from
GUID = re.compile(r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}"
                  r"-[0-9a-fA-F]{12}\Z")
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access", "address", "phone"})
MULTI_TENANT = ("common", "organizations")
GRAPH_USERINFO = ("sub", "name", "given_name", "family_name", "email", "picture")
# AADSTS numbers of the errors mockidp raises (Entra's error-code reference)
AADSTS: Mapping[str, tuple[int, str]] = frozen({
    "invalid_request": (900144, "The request body must contain a valid parameter."),
    "invalid_client": (7000215, "Invalid client secret provided."),
    "invalid_grant": (70000, "The provided grant is invalid or malformed."),
    "unauthorized_client": (700016, "The application is not allowed this request."),
    "unsupported_grant_type": (70003, "The app requested an unsupported grant type."),
    "unsupported_response_type": (700054, "The response_type is not enabled."),
    "invalid_scope": (70011, "The provided value for the input parameter 'scope' is not "
                             "valid."),
    "access_denied": (65004, "User declined to consent to access the app."),
    "authorization_pending": (70016, "OAuth 2.0 device flow error. Authorization is "
                                     "pending."),
    "slow_down": (70016, "OAuth 2.0 device flow error. Slow down."),
    "expired_token": (70019, "Verification code expired."),
    "invalid_token": (50013, "Assertion failed signature validation."),
    "login_required": (50058, "A silent sign-in request was sent but no user is signed in."),
    "interaction_required": (50076, "The user must interact."),
    "consent_required": (65001, "The user or administrator has not consented."),
    "invalid_instance": (50049, "Unknown or invalid instance."),
    "temporarily_unavailable": (90033, "A transient error has occurred. Please try again."),
    "not_found": (90002, "Tenant or endpoint not found."),
})


def guid(*parts: str) -> str:
    """A stable GUID from ``parts`` (UUID 5)."""
    return str(uuid.uuid5(NAMESPACE, "mockidp:entra:" + ":".join(parts)))


def b64url(data: Mapping[str, Any]) -> str:
    """Base64url JSON without padding (``client_info``)."""
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def tenant_of(view: IssuerView) -> str:
    """The issuer's tenant (a generic issuer handing out an Entra bad token: its name's)."""
    return str(view.options.get("tenant_id") or guid("tenant", view.name))


def object_id(claims: Mapping[str, Any], user_claims: Mapping[str, Any], tenant: str) -> str:
    """The user's ``oid``: the configured one, else a GUID of tenant and subject."""
    configured = user_claims.get("oid")
    return str(configured) if configured else guid(tenant, "user", str(claims.get("sub")))


def resource_scopes(scopes: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """The API the scopes name (``api://x/Read`` → ``api://x``) and its scope names."""
    resource: str | None = None
    names: list[str] = []
    for scope in scopes:
        if scope in OIDC_SCOPES:
            continue
        api, slash, name = scope.rpartition("/")
        if not slash or not api or api.endswith(":/"):
            api, name = GRAPH_APP_ID, scope  # "User.Read": a Graph permission
        resource = resource or api
        if api == resource:
            names.append(name)
    return resource, names


def user_claims_of(facts: GrantFacts) -> dict[str, Any]:
    return {**(facts.user.claims if facts.user is not None else {}), **facts.login_claims}


@dataclass(frozen=True)
class Entra(Profile):
    """Microsoft Entra ID v2.0 (see the module docs)."""

    # -- where --------------------------------------------------------------------------------
    def mounts(self, issuer: str, options: Mapping[str, Any]) -> tuple[str, ...]:
        return (f"/{options['tenant_id']}",)

    def option_defaults(self, issuer: str) -> Mapping[str, Any]:
        return {"tenant_id": guid("tenant", issuer)}

    def check(self, options: Mapping[str, Any]) -> None:
        tenant = options["tenant_id"]
        if not GUID.match(str(tenant)):
            raise ValueError(f"tenant_id: expected a GUID such as "
                             f"'aaaabbbb-0000-cccc-1111-dddd2222eeee', got {tenant!r}")

    # -- who ----------------------------------------------------------------------------------
    def identifier(self, base_url: str, mount: str, options: Mapping[str, Any]) -> str:
        return f"{base_url}{mount}/v2.0"

    def owns(self, iss: str, mount: str, options: Mapping[str, Any]) -> bool:
        return iss.endswith(mount + "/v2.0")

    # -- claims -------------------------------------------------------------------------------
    def _common(self, claims: dict[str, Any], facts: GrantFacts, view: IssuerView) -> str:
        tenant = tenant_of(view)
        claims["tid"] = tenant
        claims["ver"] = "2.0"
        claims["uti"] = claims.get("jti") or str(uuid.uuid4())
        claims["rh"] = "0.mockidp." + tenant
        if facts.grant_type == "client_credentials":
            oid = guid(tenant, "app", facts.client.id)
            claims.update(oid=oid, sub=oid, idtyp="app")
        else:
            found = user_claims_of(facts)
            claims["oid"] = object_id(claims, found, tenant)
            username = str(found.get("preferred_username") or found.get("email")
                           or (facts.user.id if facts.user is not None else facts.sub))
            claims.setdefault("preferred_username", username)
            claims.setdefault("name", str(found.get("name") or username))
        return tenant

    def access_claims(self, claims: dict[str, Any], facts: GrantFacts, view: IssuerView
                      ) -> None:
        self._common(claims, facts, view)
        claims.pop("client_id", None)
        claims.pop("scope", None)
        claims["azp"] = facts.client.id
        claims["azpacr"] = "1" if facts.client.secret is not None else "0"
        resource, names = resource_scopes(facts.scopes)
        explicit = [a for a in facts.audience if a != facts.client.id]
        if explicit:
            claims["aud"] = explicit[0] if len(explicit) == 1 else explicit
        else:
            claims["aud"] = resource or GRAPH_APP_ID
        if facts.grant_type == "client_credentials":
            claims.pop("scp", None)
            roles = facts.client.claims.get("roles")
            if roles:
                claims["roles"] = list(roles)
            else:
                claims.pop("roles", None)
            for name in ("name", "preferred_username"):
                claims.pop(name, None)
            return
        configured = user_claims_of(facts).get("scp") or facts.client.claims.get("scp")
        if names and names != [".default"]:
            scp = " ".join(n for n in names if n != ".default")
        elif names:
            scp = str(configured or "user_impersonation")
        else:  # only OpenID scopes: a Graph token for the sign-in itself
            scp = " ".join(s for s in facts.scopes if s != "offline_access") or "openid"
        claims["scp"] = scp
        roles = user_claims_of(facts).get("roles")
        if roles:
            claims["roles"] = list(roles)
        else:
            claims.pop("roles", None)

    def id_claims(self, claims: dict[str, Any], facts: GrantFacts, view: IssuerView) -> None:
        self._common(claims, facts, view)
        claims.pop("azp", None)  # Entra's v2 ID tokens name the client in aud only

    def userinfo(self, claims: dict[str, Any], access: Mapping[str, Any], view: IssuerView
                 ) -> None:
        kept = {k: claims[k] for k in GRAPH_USERINFO if k in claims}
        claims.clear()
        claims.update(kept)

    def token_response(self, response: dict[str, Any], facts: GrantFacts, view: IssuerView
                       ) -> None:
        if "expires_in" in response:
            response["ext_expires_in"] = response["expires_in"]
        if facts.grant_type == "client_credentials":
            response.pop("scope", None)
            return
        tenant = tenant_of(view)
        oid = object_id({"sub": facts.sub}, user_claims_of(facts), tenant)
        response["client_info"] = b64url({"uid": oid, "utid": tenant})

    def device_response(self, response: dict[str, Any], view: IssuerView) -> None:
        response["message"] = (  # what MSAL apps print (``flow["message"]``)
            f"To sign in, use a web browser to open the page {response['verification_uri']} "
            f"and enter the code {response['user_code']} to authenticate.")

    def discovery(self, document: dict[str, Any], view: IssuerView) -> None:
        document.update(
            subject_types_supported=["pairwise"],
            id_token_signing_alg_values_supported=["RS256"],
            token_endpoint_auth_methods_supported=["client_secret_post", "private_key_jwt",
                                                   "client_secret_basic"],
            tenant_region_scope="NA", cloud_instance_name="microsoftonline.com",
            cloud_graph_host_name="graph.windows.net", msgraph_host="graph.microsoft.com",
            http_logout_supported=True, frontchannel_logout_supported=True,
            request_uri_parameter_supported=False,
        )
        for name in [k for k in document if k.startswith(("introspection_", "revocation_"))]:
            del document[name]  # Entra has neither endpoint
        claims = document.get("claims_supported")
        if isinstance(claims, list):
            document["claims_supported"] = list(dict.fromkeys(
                [*claims, "tid", "oid", "ver", "preferred_username", "name"]))

    # -- errors -------------------------------------------------------------------------------
    def error_body(self, error: OAuthError, endpoint: str) -> Mapping[str, Any]:
        return entra_error(error.error, error.description)

    # -- bad tokens ---------------------------------------------------------------------------
    def bad_token(self, kind: str, claims: dict[str, Any], view: IssuerView) -> None:
        tenant = tenant_of(view)
        if kind == "entra_other_tenant":
            claims["tid"] = OTHER_TENANT
            claims["iss"] = str(claims.get("iss", "")).replace(tenant, OTHER_TENANT) \
                if tenant in str(claims.get("iss", "")) else \
                f"{view.base_url}/{OTHER_TENANT}/v2.0"
        elif kind == "entra_v1_token":
            claims["ver"] = "1.0"
            claims["iss"] = f"https://sts.windows.net/{tenant}/"
            claims["appid"] = claims.pop("azp", None) or claims.get("client_id", "")
            claims["appidacr"] = claims.pop("azpacr", "1")
            if "preferred_username" in claims:
                claims["upn"] = claims["unique_name"] = claims.pop("preferred_username")


def entra_error(error: str, description: str = "") -> dict[str, Any]:
    """Entra's error body for ``error`` (AADSTS number, trace and correlation ids, time)."""
    code, default = AADSTS.get(error, (50000, "There was an error issuing a token."))
    if error == "invalid_grant" and "password" in description:
        code = 50126  # "Error validating credentials due to invalid username or password."
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    text = " ".join((description or default).split())
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: "
                             f"{correlation} Timestamp: {stamp}".replace(
                                 " Trace ID:", "\r\nTrace ID:").replace(
                                 " Correlation ID:", "\r\nCorrelation ID:").replace(
                                 " Timestamp:", "\r\nTimestamp:"),
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def instance_discovery(profile: Profile, view: IssuerView, req: EndpointRequest) -> Json:
    """MSAL's instance discovery (``GET /common/discovery/instance?authorization_endpoint=
    https://{host}/{tenant}/oauth2/v2.0/authorize&api-version=1.1``): the tenant discovery
    endpoint and the alias metadata of our own host; another host is ``invalid_instance``.
    MSAL names the host without its port (``Authority.instance`` is the host name, and the
    aliases are matched against it), so host names are compared and the aliases are host
    names; the tenant discovery endpoint carries the port the request came to."""
    asked = req.params.get("authorization_endpoint") or ""
    ours = _host(view.base_url)  # MSAL drops the port: compare host names
    host = _host(asked)
    if not asked or host != ours:
        raise OAuthError(f"The instance {host or asked or '(none)'!r} is not this "
                         f"provider ({ours}).", error="invalid_instance")
    path = urlsplit(asked).path.split("/")
    tenant = path[1] if len(path) > 1 and path[1] else "common"
    discovery = f"{view.base_url}/{tenant}/v2.0/.well-known/openid-configuration"
    return Json({
        "tenant_discovery_endpoint": discovery,
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    }, no_store=False)


def multi_tenant_discovery(profile: Profile, view: IssuerView, req: EndpointRequest) -> Json:
    """``/common`` (or ``/organizations``) tenant discovery: Entra's multi-tenant document,
    issuer ``{base}/{tenantid}/v2.0`` (the placeholder is literal), endpoints of this tenant."""
    return Json({
        "issuer": view.base_url + "/{tenantid}/v2.0",
        "authorization_endpoint": view.url(profile, "authorize"),
        "token_endpoint": view.url(profile, "token"),
        "device_authorization_endpoint": view.url(profile, "device_authorization"),
        "end_session_endpoint": view.url(profile, "endsession"),
        "userinfo_endpoint": view.url(profile, "userinfo"),
        "jwks_uri": view.url(profile, "jwks"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                  "client_secret_basic"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce",
                             "preferred_username", "name", "tid", "ver", "oid", "email"],
        "tenant_region_scope": None, "cloud_instance_name": "microsoftonline.com",
        "msgraph_host": "graph.microsoft.com",
    }, no_store=False)


ENTRA = Entra(
    name="entra", mount="/{issuer}", title="Microsoft Entra ID", fixed=True,
    paths=frozen({
        "discovery": "/v2.0/.well-known/openid-configuration",
        "jwks": "/discovery/v2.0/keys",
        "authorize": "/oauth2/v2.0/authorize",
        "login": "/oauth2/v2.0/login",
        "consent": "/oauth2/v2.0/consent",
        "token": "/oauth2/v2.0/token",
        "endsession": "/oauth2/v2.0/logout",
        "device_authorization": "/oauth2/v2.0/devicecode",
        "device": "/oauth2/v2.0/devicelogin",
        "userinfo": "/oidc/userinfo",
    }),
    options=frozen({"tenant_id": None}),
    defaults=frozen({"signing_alg": "RS256", "rotate_refresh_tokens": True}),
    extras=frozen({
        "instance_discovery": Extra("/common/discovery/instance", root=True,
                                    answer=instance_discovery),
        **{f"{tenant}_discovery": Extra(f"/{tenant}/v2.0/.well-known/openid-configuration",
                                        root=True, answer=multi_tenant_discovery)
           for tenant in MULTI_TENANT},
    }),
    bad_kinds=frozen({
        "entra_other_tenant": "tid and iss name another tenant",
        "entra_v1_token": "a v1.0 token (ver 1.0, the sts.windows.net issuer)",
    }),
    jwks_key_types=("RSA",),
)

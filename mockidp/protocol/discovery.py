"""Discovery and keys: OpenID Connect Discovery 1.0 §3-4 (``/.well-known/openid-configuration``),
RFC 8414 §2-3 authorization server metadata (``/.well-known/oauth-authorization-server``),
and the JWKS (RFC 7517 §5).  The metadata lists exactly what works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mockidp.core.fields import CLIENT_AUTH_METHODS
from mockidp.core.model import DiscoveryRequest, EndpointRequest, Json
from mockidp.core.settings import SIGNING_ALGS
from mockidp.protocol import authz
from mockidp.protocol.assertions import ASSERTION_ALGS
from mockidp.protocol.dpop import DPOP_ALGS
from mockidp.protocol.exchange import Call, Endpoint
from mockidp.protocol.grants import GRANTS
from mockidp.protocol.issuer import Issuer
from mockidp.tokens.claims import STANDARD_CLAIMS

SCOPES = ("openid", "profile", "email", "phone", "address", "offline_access")
MAX_DOCUMENTS = 64  # prepared discovery documents per issuer (one per base URL)
# RFC 8414 §2 has no place for these OpenID-only members
OIDC_ONLY = ("subject_types_supported", "claims_supported", "userinfo_endpoint",
             "end_session_endpoint", "id_token_signing_alg_values_supported",
             "claims_parameter_supported", "request_parameter_supported",
             "request_uri_parameter_supported", "frontchannel_logout_supported",
             "backchannel_logout_supported", "prompt_values_supported")


def openid_configuration(issuer: Issuer, base: str) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 §3 metadata of ``issuer`` under the base URL ``base``,
    as its profile shapes it (endpoints it does not have are left out)."""
    view = issuer.view(base)
    has = issuer.profile.has
    document = generic_configuration(issuer, view.issuer_url,
                                     lambda name: issuer.url(base, name) if has(name) else "")
    missing = [k for k, name in ENDPOINT_MEMBERS.items() if not issuer.profile.has(name)]
    for key in missing:
        del document[key]
    issuer.profile.discovery(document, view)
    return document


# the metadata member naming each endpoint
ENDPOINT_MEMBERS = {
    "authorization_endpoint": "authorize", "token_endpoint": "token",
    "userinfo_endpoint": "userinfo", "jwks_uri": "jwks",
    "introspection_endpoint": "introspect", "revocation_endpoint": "revoke",
    "end_session_endpoint": "endsession",
    "device_authorization_endpoint": "device_authorization",
    "registration_endpoint": "register", "pushed_authorization_request_endpoint": "par",
}


def generic_configuration(issuer: Issuer, url: str, endpoint: Callable[[str], str]
                          ) -> dict[str, Any]:
    """The generic metadata of ``issuer`` identified as ``url``."""
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
        "token_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
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


class DiscoveryEndpoint(Endpoint):
    """OpenID Connect Discovery 1.0 §4.  The document is prepared once per issuer and base
    URL (it depends on nothing that changes at run time) and the same object is answered each
    time: treat it as read-only.  Rules and the journal apply to every request all the same."""

    name = "discovery"

    def answer(self, call: Call, issuer: Issuer, req: DiscoveryRequest) -> Json:
        self.exchanges.early_or_raise(call)
        base = self.exchanges.base_for(req.base_url)
        document = issuer.documents.get(base)
        if document is None:
            document = openid_configuration(issuer, base)
            if len(issuer.documents) < MAX_DOCUMENTS:
                issuer.documents[base] = document
        return Json(document, no_store=False)


class OAuthMetadataEndpoint(Endpoint):
    """RFC 8414 §3 authorization server metadata (the OpenID document's OAuth subset)."""

    name = "oauth_metadata"

    def answer(self, call: Call, issuer: Issuer, req: DiscoveryRequest) -> Json:
        self.exchanges.early_or_raise(call)
        doc = openid_configuration(issuer, self.exchanges.base_for(req.base_url))
        for key in OIDC_ONLY:
            doc.pop(key, None)
        return Json(doc, no_store=False)


class JwksEndpoint(Endpoint):
    """RFC 7517 §5: the issuer's public keys only (the same object until the keys change)."""

    name = "jwks"

    def answer(self, call: Call, issuer: Issuer, req: EndpointRequest) -> Json:
        self.exchanges.early_or_raise(call)
        return Json(issuer.jwks(), content_type="application/jwk-set+json",
                    no_store=False)

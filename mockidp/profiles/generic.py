"""The generic profile: issuers at ``/{issuer}``, each endpoint at the path the endpoint table
gives (`mockidp.core.model.ENDPOINTS`), RFC 8414 metadata also at
``/.well-known/oauth-authorization-server/{issuer}``.  Data only."""

from __future__ import annotations

from types import MappingProxyType

from mockidp.core.model import ENDPOINTS
from mockidp.profiles import Profile

GENERIC = Profile(
    name="generic",
    mount="/{issuer}",
    paths=MappingProxyType({endpoint.name: endpoint.path for endpoint in ENDPOINTS}),
    metadata_root="/.well-known/oauth-authorization-server",  # RFC 8414 §3
)

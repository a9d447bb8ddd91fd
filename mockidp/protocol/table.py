"""The endpoint table: every protocol endpoint object, by endpoint name, wired to its
collaborators.  The names are those of `mockidp.core.model.ENDPOINTS` (and of the route
tables that map paths to them); `Provider.handle` looks a request's endpoint up here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from mockidp.protocol.approval import Approval
from mockidp.protocol.authorize import AuthorizeEndpoint
from mockidp.protocol.consent import ConsentEndpoint, ConsentStep
from mockidp.protocol.device import DeviceAuthorizationEndpoint, DeviceVerificationEndpoint
from mockidp.protocol.discovery import DiscoveryEndpoint, JwksEndpoint, OAuthMetadataEndpoint
from mockidp.protocol.endsession import EndSessionEndpoint
from mockidp.protocol.exchange import Endpoint, Exchanges
from mockidp.protocol.introspect import IntrospectEndpoint
from mockidp.protocol.issuance import Issuance
from mockidp.protocol.login import LoginEndpoint
from mockidp.protocol.par import PushedAuthorizationEndpoint
from mockidp.protocol.presented import TokenChecks
from mockidp.protocol.register import RegistrationEndpoint
from mockidp.protocol.revoke import RevokeEndpoint
from mockidp.protocol.token import TokenEndpoint
from mockidp.protocol.userinfo import UserinfoEndpoint


def endpoint_table(exchanges: Exchanges,
                   initial_access_token: Callable[[], str | None] = lambda: None
                   ) -> Mapping[str, Endpoint]:
    """One object per endpoint, sharing the exchange plumbing, the token checks, issuance
    and the approval step (with consent as its explicit collaborator);
    ``initial_access_token`` protects registration at strict issuers (RFC 7591 §3)."""
    checks = TokenChecks(exchanges)
    issuance = Issuance(exchanges)
    approval = Approval(exchanges, issuance, ConsentStep(exchanges))
    endpoints: tuple[Endpoint, ...] = (
        DiscoveryEndpoint(exchanges),
        OAuthMetadataEndpoint(exchanges),
        JwksEndpoint(exchanges),
        AuthorizeEndpoint(exchanges, approval),
        PushedAuthorizationEndpoint(exchanges, checks),
        LoginEndpoint(exchanges, approval),
        ConsentEndpoint(exchanges, approval),
        TokenEndpoint(exchanges, checks, issuance),
        UserinfoEndpoint(exchanges, checks),
        IntrospectEndpoint(exchanges, checks),
        RevokeEndpoint(exchanges, checks),
        EndSessionEndpoint(exchanges, checks),
        DeviceAuthorizationEndpoint(exchanges, checks),
        DeviceVerificationEndpoint(exchanges),
        RegistrationEndpoint(exchanges, initial_access_token),
    )
    return MappingProxyType({endpoint.name: endpoint for endpoint in endpoints})

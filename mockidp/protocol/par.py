"""Pushed authorization requests: RFC 9126 §2.

The client authenticates (as at the token endpoint), its authorization request is validated
as ``/authorize`` would validate it (errors as RFC 6749 §5.2 JSON), stored for one use within
`authz.PAR_LIFETIME` seconds, and answered with its ``request_uri`` (201, §2.2).
"""

from __future__ import annotations

from mockidp.core.errors import OAuthError
from mockidp.core.model import ErrorPage, Json, PushedAuthorizationRequest
from mockidp.core.records import PushedRequest, new_handle
from mockidp.protocol import authz
from mockidp.protocol.clientauth import authenticate, credentials
from mockidp.protocol.exchange import Call, Endpoint, Exchanges
from mockidp.protocol.issuer import Issuer
from mockidp.protocol.presented import TokenChecks, peek_client


class PushedAuthorizationEndpoint(Endpoint):
    """``POST`` of a pushed authorization request."""

    name = "par"

    def __init__(self, exchanges: Exchanges, checks: TokenChecks) -> None:
        super().__init__(exchanges)
        self.checks = checks

    def answer(self, call: Call, issuer: Issuer, req: PushedAuthorizationRequest) -> Json:
        peek_client(call, req)
        self.exchanges.early_or_raise(call, tuple((req.params.single().get("scope") or "")
                                                  .split()))
        client = authenticate(credentials(req.params, req.authorization), issuer.find_client,
                              issuer.settings.strict,
                              self.checks.trust(call, issuer, req).client_assertion)
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
        return Json({"request_uri": request_uri, "expires_in": authz.PAR_LIFETIME}, 201)

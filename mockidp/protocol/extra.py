"""The endpoints only a profile has, beside those of RFC 6749 and OpenID Connect Discovery 1.0
(Keycloak's realm document and login-status iframe, MSAL's instance discovery): one exchange
like any other endpoint's (rules first, then the profile's step, journaled under the extra
endpoint's own name).  The profile's step sees the issuer's JWKS and the ``sid`` of the
browser's live login session (Keycloak's realm key, its login-status iframe)."""

from __future__ import annotations

import dataclasses

from mockidp.core.errors import NotFound
from mockidp.core.model import EndpointRequest, Outcome
from mockidp.profiles import Extra
from mockidp.protocol.exchange import Exchanges


class ExtraEndpoint:
    """Answers a profile's `Extra` endpoints with the profile's own step."""

    def __init__(self, exchanges: Exchanges) -> None:
        self.exchanges = exchanges

    def __call__(self, name: str, extra: Extra, req: EndpointRequest) -> Outcome:
        issuer = self.exchanges.issuer(req.issuer)
        call = self.exchanges.begin(issuer, req, name)

        def answer() -> Outcome:
            self.exchanges.early_or_raise(call)
            if extra.answer is None:
                raise NotFound(f"endpoint {name!r} has nothing to answer")
            session = issuer.store.get_session(req.session_id, self.exchanges.clock.now()) \
                if req.session_id else None
            view = dataclasses.replace(self.exchanges.view(issuer, req.base_url),
                                       jwks=issuer.jwks(),
                                       session_sid=session.sid if session else None)
            return extra.answer(issuer.profile, view, req)

        return self.exchanges.run(call, answer)

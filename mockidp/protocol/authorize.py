"""The authorization endpoint: RFC 6749 §3.1, §4.1.1, §4.2.1; OIDC Core §3.1.2, §3.2.2,
§3.3.2 (``prompt``, ``max_age``, ``login_hint``); RFC 9126 §4 (``request_uri`` of a pushed
request).

Answers a redirect with a code and/or tokens, a login page, or an error: redirected to the
client when its redirect URI is trustworthy, shown otherwise (RFC 6749 §4.1.2.1).  The checks
of the request itself are `mockidp.protocol.authz`; what happens once the user is known is
`mockidp.protocol.approval`.
"""

from __future__ import annotations

from dataclasses import replace

from mockidp.core.errors import InvalidRequest
from mockidp.core.model import AuthorizeRequest, BrowserOutcome, ErrorPage, Params
from mockidp.core.records import AuthorizationDetails, Interaction, new_handle
from mockidp.protocol import authz
from mockidp.protocol.approval import Approval, default_user, login_page
from mockidp.protocol.exchange import Call, Endpoint, Exchanges
from mockidp.protocol.issuer import Issuer


class AuthorizeEndpoint(Endpoint):
    """``GET``/``POST`` of the authorization request."""

    name = "authorize"

    def __init__(self, exchanges: Exchanges, approval: Approval) -> None:
        super().__init__(exchanges)
        self.approval = approval

    def answer(self, call: Call, issuer: Issuer, req: AuthorizeRequest) -> BrowserOutcome:
        issuer_url = self.exchanges.issuer_url(issuer.name, req.base_url)
        params, pushed_error = req.params, None
        if "request_uri" in req.params:
            params, pushed_error = self.pushed_params(issuer, req)
            # Rules, templates and the journal see the pushed request (and its request_uri).
            call.req = replace(req, params=params)
        try:
            call.client_id = params.get("client_id")
            call.user = params.get("login_hint")
            response_type = authz.response_type_of(params.get("response_type") or "")
            call.grant_type = authz.grant_type_of(response_type) if response_type else None
        except InvalidRequest:
            pass
        scope = tuple((params.single().get("scope") or "").split())
        checked = authz.check_client(params, issuer.find_client, issuer.settings)
        if isinstance(checked, ErrorPage):
            answer = self.exchanges.early(call, scope)
            if answer.error is not None:
                return ErrorPage(answer.error.status, answer.error.error,
                                 answer.error.description)
            if pushed_error is not None:
                return ErrorPage(400, pushed_error.error, pushed_error.description)
            return checked
        client, redirect_uri, sent = checked
        mode = authz.safe_response_mode(params)
        state = authz.safe_state(params)
        answer = self.exchanges.early(call, scope)
        if answer.error is not None:
            return authz.respond(redirect_uri, mode, authz.error_fields(
                answer.error.error, answer.error.description, state, issuer_url))
        try:
            if pushed_error is not None:
                raise pushed_error
            details = authz.check_request(params, client, redirect_uri, sent, issuer.settings)
        except authz.AuthorizeError as exc:
            return authz.respond(redirect_uri, mode,
                                 authz.error_fields(exc.error, exc.description, state, issuer_url))
        return self.log_in(call, issuer, issuer_url, req, details)

    def log_in(self, call: Call, issuer: Issuer, issuer_url: str, req: AuthorizeRequest,
               details: AuthorizationDetails) -> BrowserOutcome:
        """Who the user is: the login session (within ``max_age``), ``login_hint``, the
        default user (``interactive_login`` off) or the login page (OIDC Core §3.1.2.3)."""
        now = self.clock.now()
        approve = self.approval.approve
        session = issuer.store.get_session(req.session_id, now)
        if session is not None and authz.session_too_old(session.auth_time, details.max_age,
                                                         now):
            session = None  # OIDC Core §3.1.2.1 max_age: log in again
        if "none" in details.prompt:
            if session is None:
                why = "no login session" if details.max_age is None else \
                    "no login session within max_age"
                return authz.deny(issuer_url, details, "login_required", why + " and prompt=none")
            call.user = session.user_id
            return approve(call, issuer, issuer_url, details, session.user_id,
                           session.login_claims, session)
        if details.login_hint:
            reuse = session if session is not None and session.user_id == details.login_hint \
                and "login" not in details.prompt else None
            return approve(call, issuer, issuer_url, details, details.login_hint, {}, reuse)
        if session is not None and "login" not in details.prompt:
            call.user = session.user_id
            return approve(call, issuer, issuer_url, details, session.user_id,
                           session.login_claims, session)
        if not issuer.settings.interactive_login:
            call.user = default_user(issuer)
            return approve(call, issuer, issuer_url, details, call.user, {}, None)
        interaction = Interaction(new_handle(), details, now + authz.INTERACTION_LIFETIME)
        issuer.store.put_interaction(interaction, now)
        return login_page(issuer, interaction, recent=req.recent)

    def pushed_params(self, issuer: Issuer, req: AuthorizeRequest
                      ) -> tuple[Params, authz.AuthorizeError | None]:
        """RFC 9126 §4: the parameters pushed for ``request_uri`` (used once, by the client
        that pushed them), with the ``request_uri`` itself; or the request's own parameters
        and the error to answer (``invalid_request_uri``)."""
        try:
            uri = req.params.get("request_uri") or ""
            client_id = req.params.get("client_id")
        except InvalidRequest as exc:
            return req.params, authz.AuthorizeError(exc.description)
        if client_id is None:
            return req.params, authz.AuthorizeError("missing 'client_id' (RFC 9126 section 4)")
        if not uri.startswith(authz.PAR_URN):
            return req.params, authz.AuthorizeError(
                "request_uri must be one issued by this provider's pushed authorization request "
                "endpoint (RFC 9126); request objects by reference are not supported",
                error="invalid_request_uri",
            )
        pushed, why = issuer.store.take_pushed(uri, client_id, self.clock.now())
        if pushed is None:
            return req.params, authz.AuthorizeError(why, error="invalid_request_uri")
        return Params([*pushed.params, ("request_uri", uri)]), None

"""RP-initiated logout: OpenID Connect RP-Initiated Logout 1.0 §2-3 (``id_token_hint``,
``post_logout_redirect_uri``, ``state``), with the notifications of Back-Channel Logout 1.0
§2.4-2.6 (a signed logout token POSTed to each client of the session) and Front-Channel
Logout 1.0 §3 (iframes on the signed-out page): `mockidp.protocol.logout`.

Where the profile says so (``token_logout``: Keycloak's ``LogoutEndpoint``), a POST carrying
a ``refresh_token`` is a back-channel logout instead: the client authenticates as at
revocation (RFC 7009 §2.1), the refresh token's grant is revoked and its login session ended,
and the answer is ``204 No Content``; a refusal is JSON in the profile's error shape.
"""

from __future__ import annotations

from urllib.parse import urlencode

from mockidp.core.errors import InvalidGrant, InvalidRequest, OAuthError
from mockidp.core.model import (
    BrowserOutcome,
    EndSessionRequest,
    ErrorPage,
    Json,
    Raw,
    Redirect,
    SessionChange,
    SignedOutPage,
)
from mockidp.core.settings import is_absolute_url
from mockidp.protocol.exchange import Call, Endpoint, Exchanges
from mockidp.protocol.issuer import Issuer
from mockidp.protocol.logout import deliver, frontchannel_url, logout_token_claims
from mockidp.protocol.presented import TokenChecks, peek_client
from mockidp.tokens.signer import TokenRejected, sign, verify


class EndSessionEndpoint(Endpoint):
    """``GET``/``POST`` of the end-session request: end the login session, then redirect or
    show the signed-out page."""

    name = "endsession"

    def __init__(self, exchanges: Exchanges, checks: TokenChecks | None = None) -> None:
        super().__init__(exchanges)
        self.checks = checks if checks is not None else TokenChecks(exchanges)

    def answer(self, call: Call, issuer: Issuer, req: EndSessionRequest
               ) -> BrowserOutcome | Json | Raw:
        if req.method == "POST" and issuer.profile.token_logout and "refresh_token" in req.params:
            try:
                return self.token_logout(call, issuer, req)
            except OAuthError as exc:  # no browser here: JSON, in the profile's shape
                return Json(issuer.profile.error_body(exc, self.name), status=exc.status)
        call.client_id = req.params.single().get("client_id")
        answer = self.exchanges.early(call)
        if answer.error is not None:
            return ErrorPage(answer.error.status, answer.error.error, answer.error.description)
        try:
            hint = req.params.get("id_token_hint")
            redirect_uri = req.params.get("post_logout_redirect_uri")
            state = req.params.get("state")
            client_id = req.params.get("client_id")
        except InvalidRequest as exc:
            return ErrorPage(400, exc.error, exc.description)
        hint_sid: str | None = None
        if hint is not None:
            try:
                hint_claims = verify(hint, issuer.keys, float("-inf"), check_times=False)
            except TokenRejected as exc:
                return ErrorPage(400, "invalid_request", f"id_token_hint rejected: {exc}")
            aud = hint_claims.get("aud")
            client_id = client_id or (aud if isinstance(aud, str) else None)
            sub = hint_claims.get("sub")
            call.user = sub if isinstance(sub, str) else None
            sid_claim = hint_claims.get("sid")
            hint_sid = sid_claim if isinstance(sid_claim, str) else None
        call.client_id = client_id
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
        issuer_url = self.exchanges.issuer_url(issuer.name, req.base_url)
        frontchannel = self.notify_logout(call, issuer, issuer_url, req.session_id, hint_sid)
        target = None
        if redirect_uri is not None:
            query = urlencode([("state", state)]) if state is not None else ""
            sep = "&" if "?" in redirect_uri else "?"
            target = redirect_uri + (sep + query if query else "")
        if target is not None and not frontchannel:
            return Redirect(target, change)
        return SignedOutPage(issuer.name, change, frontchannel, target)

    def token_logout(self, call: Call, issuer: Issuer, req: EndSessionRequest) -> Raw:
        """The back-channel logout of a refresh token's session (see the module docs)."""
        peek_client(call, req)
        self.exchanges.early_or_raise(call)
        client = self.checks.client(call, issuer, req, required=True)
        assert client is not None
        token = req.params.get("refresh_token")
        now = self.clock.now()
        record = issuer.store.get_refresh(token, now) if token is not None else None
        if token is None or record is None:
            raise InvalidGrant("Invalid refresh token")
        if record.client_id != client.id:
            raise InvalidGrant("Invalid refresh token. Token client and authorized client "
                               "don't match")
        call.user = record.user_id or record.sub
        issuer.store.revoke_refresh(token, now)  # its grant's access tokens too
        if record.session_id is not None:
            issuer_url = self.exchanges.issuer_url(issuer.name, req.base_url)
            self.notify_logout(call, issuer, issuer_url, None, record.session_id)
        return Raw(204)

    def notify_logout(self, call: Call, issuer: Issuer, issuer_url: str,
                      session_id: str | None, hint_sid: str | None) -> tuple[str, ...]:
        """End the login session (from the cookie, else the id_token_hint's ``sid``), send
        back-channel logout tokens to the clients of that session, and return their
        front-channel URLs to load."""
        now = self.clock.now()
        session = issuer.store.end_session(session_id)
        if session is None and hint_sid is not None:
            found = issuer.store.session_by_sid(hint_sid, now)
            session = issuer.store.end_session(found.id) if found is not None else None
        sid = session.sid if session is not None else hint_sid
        sub = session.sub if session is not None else call.user
        # only the clients of the session being ended: a client named in the request alone
        # gets no logout token (no request may make the provider POST to any URL it likes)
        clients = issuer.store.take_session_clients(sid) if sid is not None else set()
        frontchannel: list[str] = []
        for client_id in sorted(clients):
            client = issuer.find_client(client_id)
            if client is None:
                continue
            if client.backchannel_logout_uri:
                claims = logout_token_claims(issuer_url, client.id, sub, sid, int(now))
                alg = (client.id_token_signed_response_alg or client.signing_alg
                       or issuer.settings.signing_alg)
                token = sign(claims, issuer.keys.active(alg), "logout+jwt")
                delivery = deliver(client.id, client.backchannel_logout_uri, token,
                                   issuer.outbound)
                call.note_token(f"logout_token:{client.id}", {
                    **claims, "delivered_status": delivery.status, "delivery_error":
                    delivery.error}, token)
            if client.frontchannel_logout_uri:
                frontchannel.append(frontchannel_url(client.frontchannel_logout_uri,
                                                     issuer_url, sid))
        return tuple(frontchannel)

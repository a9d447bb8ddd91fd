"""A small resource server (an "orders API") that verifies OAuth 2.0 bearer access tokens with
PyJWT the way a careful production service does.

For every request to a protected route it:

1. takes the token from ``Authorization: Bearer <token>`` (RFC 6750 §2.1);
2. checks the JOSE header: ``typ`` is ``JWT`` or ``at+jwt`` (RFC 9068 §2.1), ``alg`` is an
   asymmetric algorithm (never ``none``, never ``HS*``) and a ``kid`` is given;
3. looks the ``kid`` up in the issuer's JWKS, whose address comes from the issuer's discovery
   document (``/.well-known/openid-configuration``); an unknown kid is refused (PyJWKClient
   refetches the JWKS once, with a cool-down, so a key rotation is picked up);
4. verifies the signature with that key and only that key's algorithm, then ``exp``, ``nbf``,
   ``iat`` (not in the future), ``iss`` and ``aud``; ``exp``, ``iat``, ``sub``, ``iss`` and
   ``aud`` are required;
5. optionally (``introspect=True``, the default) asks the issuer's introspection endpoint
   (RFC 7662) whether the token is still active, so a revoked token is refused.

A refused token gets ``401`` with ``WWW-Authenticate: Bearer error="invalid_token",
error_description="..."`` (RFC 6750 §3) and a JSON body whose ``reason`` names what was wrong.
When the issuer cannot be reached the answer is ``503``: the token was not judged.

The service talks to no host but the issuer's: discovered endpoints on another origin are
refused.  When the issuer URL (what tokens carry in ``iss``, e.g. ``http://localhost:8080/default``
as a browser sees it) cannot be reached from where the service runs (a container, where
``localhost`` is the container itself), ``internal_url`` names the issuer's origin as the
service reaches it (e.g. ``http://mockidp:8080``): discovery, JWKS and introspection are fetched
there, while ``iss`` is still checked against the issuer URL.  Run it against ``mockidp serve``
as shown in README.md next to this file, or in docker-compose (examples/compose/).
"""

from __future__ import annotations

import argparse
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
import requests
from flask import Flask, Response, jsonify, request

#: Signature algorithms this service accepts: asymmetric ones only.  ``none`` and the HMAC
#: family are absent on purpose: a public key must never be usable as an HMAC secret.
ASYMMETRIC_ALGORITHMS = frozenset({
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
})
#: Header ``typ`` values of an access token (compared case-insensitively, with or without the
#: ``application/`` prefix, RFC 7515 §4.1.9).
ACCESS_TOKEN_TYPES = frozenset({"jwt", "at+jwt"})
REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud")
DISCOVERY_PATH = "/.well-known/openid-configuration"
# RFC 6750 §3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
_NOT_DESCRIPTION_SAFE = re.compile(r'[^\x20-\x21\x23-\x5b\x5d-\x7e]')


class TokenRejected(Exception):
    """The bearer token is not acceptable; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description


class IssuerUnavailable(Exception):
    """The issuer's discovery document, JWKS or introspection endpoint could not be used."""


def _printable(value: object, limit: int = 60) -> str:
    """An attacker-supplied header value, safe to echo in an error description."""
    text = _NOT_DESCRIPTION_SAFE.sub("?", str(value))
    return text if len(text) <= limit else text[:limit] + "..."


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


@dataclass(frozen=True)
class IssuerMetadata:
    """What the service needs from the issuer's discovery document."""

    issuer: str
    jwks_uri: str
    introspection_endpoint: str | None


class BearerTokenVerifier:
    """Verifies access tokens of one issuer for one audience.  Thread-safe."""

    def __init__(
        self,
        issuer_url: str,
        audience: str,
        *,
        introspect: bool = True,
        introspection_auth: tuple[str, str] | None = None,
        leeway: float = 30.0,
        timeout: float = 5.0,
        internal_url: str | None = None,
    ) -> None:
        self.issuer_url = issuer_url.rstrip("/")
        self.internal_url = internal_url.rstrip("/") if internal_url else None
        self.audience = audience
        self.introspect = introspect
        self.introspection_auth = introspection_auth
        self.leeway = leeway
        self.timeout = timeout
        self._lock = threading.Lock()
        self._metadata: IssuerMetadata | None = None
        self._jwks_client: jwt.PyJWKClient | None = None

    # -- issuer metadata ------------------------------------------------------------------
    def _same_origin(self, url: object, what: str) -> str:
        if not isinstance(url, str) or _origin(url) != _origin(self.issuer_url):
            raise IssuerUnavailable(f"{what} {url!r} is not on the issuer's origin")
        return self._reachable(url)

    def _reachable(self, url: str) -> str:
        """``url`` (on the issuer's origin) as this service reaches it: on ``internal_url``'s
        origin when one is set, e.g. ``http://localhost:8080/default/jwks`` →
        ``http://mockidp:8080/default/jwks``."""
        if self.internal_url is None:
            return url
        inside, parts = urlsplit(self.internal_url), urlsplit(url)
        return urlunsplit((inside.scheme, inside.netloc, parts.path, parts.query, ""))

    def metadata(self) -> IssuerMetadata:
        """The issuer's discovery document (OpenID Connect Discovery 1.0), fetched once."""
        with self._lock:
            if self._metadata is not None:
                return self._metadata
            url = self._reachable(self.issuer_url + DISCOVERY_PATH)
            try:
                answer = requests.get(url, timeout=self.timeout,
                                      headers={"Accept": "application/json"})
                answer.raise_for_status()
                document = answer.json()
            except (requests.RequestException, ValueError) as exc:
                raise IssuerUnavailable(f"cannot read {url}: {exc}") from None
            if not isinstance(document, dict):
                raise IssuerUnavailable(f"{url}: not a JSON object")
            # Discovery §4.3: the document must name exactly the issuer it was fetched for.
            # (Fetched through internal_url, it names the issuer URL only when the provider
            # is told its public URL: mockidp serve --public-url / MOCKIDP_PUBLIC_URL.)
            if document.get("issuer") != self.issuer_url:
                raise IssuerUnavailable(f"{url} names issuer {document.get('issuer')!r}, "
                                        f"expected {self.issuer_url!r}")
            endpoint = document.get("introspection_endpoint")
            self._metadata = IssuerMetadata(
                issuer=self.issuer_url,
                jwks_uri=self._same_origin(document.get("jwks_uri"), "jwks_uri"),
                introspection_endpoint=(
                    self._same_origin(endpoint, "introspection_endpoint")
                    if endpoint is not None else None
                ),
            )
            return self._metadata

    def jwks_client(self) -> jwt.PyJWKClient:
        metadata = self.metadata()
        with self._lock:
            if self._jwks_client is None:
                self._jwks_client = jwt.PyJWKClient(metadata.jwks_uri, timeout=self.timeout)
            return self._jwks_client

    # -- verification ---------------------------------------------------------------------
    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or `TokenRejected` saying why; `IssuerUnavailable` when the
        issuer could not be asked."""
        header = self._check_header(token)
        key = self._signing_key(header)
        claims = self._decode(token, key)
        if self.introspect:
            self._check_active(token)
        return claims

    def _check_header(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise TokenRejected("malformed", f"the token is malformed: {exc}") from None
        typ = header.get("typ")
        normalized = typ.lower().removeprefix("application/") if isinstance(typ, str) else None
        if normalized not in ACCESS_TOKEN_TYPES:
            raise TokenRejected("unsupported_typ",
                                f"typ {_printable(typ)} is not an access token type")
        alg = header.get("alg")
        if alg not in ASYMMETRIC_ALGORITHMS:
            raise TokenRejected("disallowed_alg", f"algorithm {_printable(alg)} is not accepted")
        if not isinstance(header.get("kid"), str) or not header["kid"]:
            raise TokenRejected("unknown_kid", "the token names no key (kid)")
        return header

    def _signing_key(self, header: Mapping[str, Any]) -> jwt.PyJWK:
        kid: str = header["kid"]
        try:
            key = self.jwks_client().get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:
            raise IssuerUnavailable(f"cannot fetch the issuer's JWKS: {exc}") from None
        except jwt.PyJWKClientError:
            raise TokenRejected(
                "unknown_kid", f"no key {_printable(kid)} in the issuer's JWKS"
            ) from None
        # The algorithm comes from the key, never from the token alone: the header must agree.
        if key.algorithm_name not in ASYMMETRIC_ALGORITHMS:
            raise TokenRejected("disallowed_alg",
                                f"key {_printable(kid)} is not for an accepted algorithm")
        if header.get("alg") != key.algorithm_name:
            raise TokenRejected("disallowed_alg", f"algorithm {_printable(header.get('alg'))} "
                                f"does not match key {_printable(kid)}")
        return key

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=self.audience,
                issuer=self.issuer_url,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("expired", "the token has expired") from None
        except jwt.ImmatureSignatureError as exc:
            if "(iat)" in str(exc):
                raise TokenRejected("issued_in_future",
                                    "the token was issued in the future (iat)") from None
            raise TokenRejected("not_yet_valid", "the token is not valid yet (nbf)") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("wrong_issuer", "the token was issued by another issuer") \
                from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("wrong_audience", "the token is meant for another audience") \
                from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRejected("missing_claim",
                                f"the token has no {_printable(exc.claim)} claim") from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("bad_signature", "the signature does not verify") from None
        except jwt.InvalidAlgorithmError:
            raise TokenRejected("disallowed_alg", "the algorithm is not accepted") from None
        except jwt.DecodeError as exc:
            raise TokenRejected("malformed", f"the token is malformed: {exc}") from None
        except jwt.InvalidTokenError as exc:
            raise TokenRejected("invalid", f"the token is invalid: {exc}") from None
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise TokenRejected("missing_claim", "the token has no usable sub claim")
        return claims

    def _check_active(self, token: str) -> None:
        """RFC 7662: ask the issuer; anything but ``"active": true`` refuses the token."""
        endpoint = self.metadata().introspection_endpoint
        if endpoint is None:
            raise IssuerUnavailable("the issuer publishes no introspection_endpoint")
        try:
            answer = requests.post(
                endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                auth=self.introspection_auth,
                headers={"Accept": "application/json"},
                timeout=self.timeout,
            )
            answer.raise_for_status()
            result = answer.json()
        except (requests.RequestException, ValueError) as exc:
            raise IssuerUnavailable(f"introspection failed: {exc}") from None
        if not isinstance(result, dict) or result.get("active") is not True:
            raise TokenRejected("inactive",
                                "the issuer says the token is not active (revoked?)")


def _challenge(rejection: TokenRejected | None) -> Response:
    """401 with an RFC 6750 §3 challenge; no error code when no token was sent (§3.1)."""
    if rejection is None:
        body = {"error": "unauthorized", "reason": "missing_token",
                "error_description": "a bearer token is required"}
        header = "Bearer"
    else:
        description = _NOT_DESCRIPTION_SAFE.sub("?", rejection.description)
        body = {"error": "invalid_token", "reason": rejection.reason,
                "error_description": description}
        header = f'Bearer error="invalid_token", error_description="{description}"'
    response = jsonify(body)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = header
    response.headers["Cache-Control"] = "no-store"
    return response


def _bearer_token() -> str | None:
    """The token of ``Authorization: Bearer <token>``; None when none was sent."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def create_app(
    issuer_url: str,
    audience: str,
    *,
    introspect: bool = True,
    introspection_auth: tuple[str, str] | None = None,
    leeway: float = 30.0,
    timeout: float = 5.0,
    internal_url: str | None = None,
) -> Flask:
    """The orders API, accepting access tokens of ``issuer_url`` meant for ``audience``.

    ``introspect`` asks the issuer about every token (RFC 7662) so revoked tokens are refused;
    ``introspection_auth`` is the (client_id, secret) to introspect with, if the issuer wants
    one; ``leeway`` is the clock skew tolerated on ``exp``/``nbf``/``iat``, in seconds;
    ``internal_url`` is the issuer's origin as this service reaches it, when that differs from
    the issuer URL's (docker-compose: ``http://mockidp:8080``).
    """
    verifier = BearerTokenVerifier(issuer_url, audience, introspect=introspect,
                                   introspection_auth=introspection_auth, leeway=leeway,
                                   timeout=timeout, internal_url=internal_url)
    app = Flask(__name__)
    app.extensions["bearer_token_verifier"] = verifier

    @app.get("/api/me")
    def me() -> Response:
        token = _bearer_token()
        if token is None:
            return _challenge(None)
        try:
            claims = verifier.verify(token)
        except TokenRejected as rejection:
            return _challenge(rejection)
        except IssuerUnavailable:
            app.logger.exception("cannot verify tokens: the issuer is unavailable")
            response = jsonify({"error": "temporarily_unavailable",
                                "error_description": "cannot verify the token right now"})
            response.status_code = 503
            response.headers["Retry-After"] = "5"
            return response
        scope = claims.get("scope")
        return jsonify({"sub": claims["sub"], "scope": scope if isinstance(scope, str) else ""})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--issuer", default="http://127.0.0.1:8080/default",
                        help="issuer URL, as tokens carry it in iss (default: %(default)s)")
    parser.add_argument("--internal-url", default=None,
                        help="the issuer's origin as this service reaches it, when that is not "
                        "the issuer URL's (e.g. http://mockidp:8080 in docker-compose)")
    parser.add_argument("--audience", default="orders-api", help="audience (%(default)s)")
    parser.add_argument("--no-introspect", action="store_true",
                        help="do not ask the issuer's introspection endpoint")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (%(default)s; 0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=5000, help="port (%(default)s)")
    args = parser.parse_args(argv)
    app = create_app(args.issuer, args.audience, introspect=not args.no_introspect,
                     internal_url=args.internal_url)
    app.run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()

"""Signed JWTs presented *to* the provider (RFC 7523 §2-3, RFC 8693 §2.1, OIDC Core §9):
client assertions, assertion grants, tokens to exchange.

- RFC 7523 §2.2 and §3, OIDC Core §9: ``private_key_jwt`` (an asymmetric signature checked
  with a key from the client's ``jwks``, or from its ``jwks_uri``) and ``client_secret_jwt``
  (HMAC with the client's secret).  ``iss`` and ``sub`` are the client id, ``aud`` names this
  provider (the token endpoint, the issuer, or the endpoint the assertion was sent to), ``exp``
  is required, ``jti`` is required and single use until the assertion expires.
- RFC 7523 §2.1 and RFC 8693 §2.1 reuse the same checks (`Trust`) for the ``assertion`` of the
  jwt-bearer grant and the ``subject_token``/``actor_token`` of a token exchange.
- An unregistered client has no secret or key the provider could know.  A permissive issuer
  (not ``strict``) takes its client assertions, and the jwt-bearer assertions it issues
  itself, with every check but the signature (``alg`` still one of `ASSERTION_ALGS`,
  ``iss``/``sub``, ``aud``, times, ``jti``) and notes the parameter in the journal's
  ``unverified``; a strict issuer refuses them.  A registered client's signatures are
  always checked.

Times are read on the provider clock, with `LEEWAY` seconds of tolerance.  ``jwks_uri``
documents are fetched through `mockidp.protocol.outbound` (a deadline, a size cap, no
redirects, a few in flight), with a small cache per issuer; a key id that is not in the cached
document makes one fresh fetch (the client rotated its keys), at most 2 per 10 s.
Everything here is thread-safe and bounded: the replay cache forgets a
``jti`` once its assertion has expired on the provider clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

from mockidp.core.errors import InvalidClient
from mockidp.core.model import Client
from mockidp.core.settings import SIGNING_ALGS
from mockidp.protocol.outbound import Outbound, OutboundFailed
from mockidp.tokens.jose import MalformedJose, b64url_decode, json_value

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"  # RFC 7523 §2.2
HMAC_ALGS: Mapping[str, Callable[..., Any]] = {
    "HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512,
}
ASYMMETRIC_ALGS: tuple[str, ...] = SIGNING_ALGS
ASSERTION_ALGS: tuple[str, ...] = (*HMAC_ALGS, *ASYMMETRIC_ALGS)
JWT_METHODS: tuple[str, ...] = ("client_secret_jwt", "private_key_jwt")
LEEWAY = 60  # seconds of clock skew tolerated on exp, nbf and iat
JWKS_REFETCH = 10.0  # seconds: the window in which one jwks_uri is refetched for unknown
REFETCH_BURST = 2  # keys at most this many times
JWKS_TTL = 300.0  # seconds a fetched jwks_uri document is reused
JWKS_CACHE_SIZE = 64
_ASYMMETRIC_KTY = frozenset({"RSA", "EC", "OKP"})


class AssertionRejected(Exception):
    """A presented JWT failed a check; the message says which (for ``error_description``)."""


# -- reading ----------------------------------------------------------------------------------
def peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, *unverified*; `AssertionRejected` if it is not
    one (an encrypted JWT, five parts, is refused too: RFC 7523 §3 allows it, we do not)."""
    parts = token.split(".")
    if len(parts) == 5:
        raise AssertionRejected("encrypted JWTs (JWE) are not supported; send a signed JWT")
    if len(parts) != 3:
        raise AssertionRejected("not a JWT (expected header.payload.signature)")
    try:
        header = json_value(b64url_decode(parts[0], "header"), "header", finite=False)
        claims = json_value(b64url_decode(parts[1], "payload"), "payload", finite=False)
    except MalformedJose:
        raise AssertionRejected("malformed JWT: header or payload is not base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AssertionRejected("malformed JWT: header and payload must be JSON objects")
    return header, claims


def auth_method_of(header: Mapping[str, Any]) -> str:
    """``client_secret_jwt`` for an HMAC ``alg``, ``private_key_jwt`` for an asymmetric one
    (OIDC Core §9); any other ``alg`` (``none`` included) is refused."""
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise AssertionRejected(f"alg {alg!r} is not accepted; use one of "
                                + ", ".join(ASSERTION_ALGS))
    if alg in HMAC_ALGS:
        return "client_secret_jwt"
    if alg in ASYMMETRIC_ALGS:
        return "private_key_jwt"
    raise AssertionRejected(f"alg {alg!r} is not accepted; use one of "
                            + ", ".join(ASSERTION_ALGS))


def peek_client_assertion(assertion: str) -> tuple[str, str]:
    """(authentication method, client id) of a client assertion, before any check: the
    method from its ``alg``, the client from ``sub`` (RFC 7523 §3: ``sub`` is the client id)."""
    header, claims = peek(assertion)
    method = auth_method_of(header)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AssertionRejected("missing 'sub' (the client id, RFC 7523 section 3)")
    return method, sub


# -- state: the jwks_uri cache (the jti replay cache is the issuer store's) ---------------
def fetch_jwks(url: str, outbound: Outbound) -> list[Mapping[str, Any]]:
    """GET a JWK Set (RFC 7517 §5), bounded (`mockidp.protocol.outbound`); one generic
    `AssertionRejected` whatever failed, so that no answer tells a closed port from an HTTP
    error or a page that is not a JWK Set."""
    unusable = AssertionRejected(f"jwks_uri {url} did not give a usable JWK Set (unreachable, "
                                 "an error or redirect, too slow, too large, or not a JWK Set)")
    try:
        answer = outbound.request("GET", url, headers={
            "Accept": "application/jwk-set+json, application/json"})
    except OutboundFailed:
        raise unusable from None
    try:
        document = json.loads(answer.body)
    except ValueError:
        raise unusable from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise unusable
    return [k for k in keys if isinstance(k, dict)]


class JwksCache:
    """Clients' ``jwks_uri`` documents, fetched on demand and reused for `JWKS_TTL` seconds
    (real time: it saves network, it decides nothing).  A refetch asked for because a key is
    unknown (the client may have rotated) happens at most `REFETCH_BURST` times per
    `JWKS_REFETCH` seconds per URL: assertions with ever new ``kid`` values cannot make the
    provider fetch on every request.  At most `JWKS_CACHE_SIZE` URLs are kept.  Thread-safe;
    fetches happen outside the lock."""

    def __init__(self, fetch: Callable[[str], list[Mapping[str, Any]]]) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._documents: dict[str, tuple[float, list[Mapping[str, Any]]]] = {}
        self._refetches: dict[str, list[float]] = {}

    def get(self, url: str, fresh: bool = False) -> tuple[list[Mapping[str, Any]], bool]:
        """(keys, fetched now): the cached keys unless stale, or ``fresh`` is asked for and
        the refetch budget of ``url`` allows it."""
        now = time.monotonic()
        with self._lock:
            cached = self._documents.get(url)
            if cached is not None and not fresh and now - cached[0] < JWKS_TTL:
                return cached[1], False
            if cached is not None and fresh:
                recent = [t for t in self._refetches.get(url, ()) if now - t < JWKS_REFETCH]
                if len(recent) >= REFETCH_BURST:
                    return cached[1], False
                self._refetches[url] = [*recent, now]
                while len(self._refetches) > JWKS_CACHE_SIZE:
                    self._refetches.pop(next(iter(self._refetches)))
        keys = self._fetch(url)
        with self._lock:
            self._documents.pop(url, None)
            while len(self._documents) >= JWKS_CACHE_SIZE:
                self._documents.pop(next(iter(self._documents)))
            self._documents[url] = (time.monotonic(), keys)
        return keys, True

    def clear(self) -> None:
        with self._lock:
            self._documents.clear()
            self._refetches.clear()


class AssertionCaches:
    """An issuer's assertion state: the ``jti`` replay check (``(key, keep_until, now) ->
    first use?``, the issuer store's `first_use`) and the ``jwks_uri`` cache."""

    def __init__(self, replay: Callable[[str, float, float], bool], outbound: Outbound) -> None:
        self.replay = replay
        self.jwks = JwksCache(partial(fetch_jwks, outbound=outbound))

    def clear(self) -> None:
        """Forget fetched documents (`Provider.reset`; used ``jti`` values go with the
        store)."""
        self.jwks.clear()


# -- signatures ------------------------------------------------------------------------------
def _check_hmac(token: str, secret: str, alg: str) -> None:
    """RFC 7518 §3.2 HMAC, compared in constant time (done here rather than by PyJWT, which
    warns about short secrets: the client's secret is what it is)."""
    signing_input, _, signature = token.rpartition(".")
    expected = hmac.new(secret.encode(), signing_input.encode("ascii", "replace"),
                        HMAC_ALGS[alg]).digest()
    try:
        given = b64url_decode(signature, "signature")
    except MalformedJose:
        given = b""
    if not hmac.compare_digest(expected, given):
        raise AssertionRejected(f"{alg} signature does not verify with the client's secret")


def _check_with_keys(token: str, header: Mapping[str, Any], keys: Iterable[Mapping[str, Any]],
                     where: str) -> None:
    """Verify an asymmetric signature with the JWKs that fit the header (``kid``, ``kty``,
    ``alg``, ``use``)."""
    import jwt  # PyJWT: loaded when the first asymmetric assertion arrives
    from jwt.api_jws import PyJWS

    alg = str(header.get("alg"))
    kid = header.get("kid")
    candidates = [
        k for k in keys
        if k.get("kty") in _ASYMMETRIC_KTY and k.get("use", "sig") == "sig"
        and k.get("alg", alg) == alg and (kid is None or k.get("kid") == kid)
    ]
    if not candidates:
        raise AssertionRejected(
            f"no key in the client's {where} fits the assertion (alg {alg}"
            + (f", kid {kid!r})" if kid is not None else ")"))
    for jwk in candidates:
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=alg).key
            PyJWS().decode(token, key, algorithms=[alg])  # the signature alone
            return
        except (jwt.PyJWTError, KeyError, TypeError, ValueError, AttributeError):
            continue  # not this key (or not a usable JWK): try the next
    raise AssertionRejected(f"{alg} signature does not verify with the client's {where}")


def verify_client_signature(token: str, client: Client, jwks: JwksCache
                            ) -> tuple[dict[str, Any], str]:
    """Claims of a JWT signed by ``client`` and the method it used: HMAC with its secret
    (``client_secret_jwt``) or an asymmetric key from its ``jwks`` or ``jwks_uri``
    (``private_key_jwt``).  No claim is checked here."""
    header, claims = peek(token)
    method = auth_method_of(header)
    alg = str(header["alg"])
    if method == "client_secret_jwt":
        if client.secret is None:
            raise AssertionRejected(
                f"client '{client.id}' has no secret to check an {alg} signature with "
                "(client_secret_jwt needs a registered client with a secret)")
        _check_hmac(token, client.secret, alg)
    elif client.jwks is not None:
        keys = client.jwks.get("keys")
        _check_with_keys(token, header, keys if isinstance(keys, list) else [], "jwks")
    elif client.jwks_uri is not None:
        found, fetched = jwks.get(client.jwks_uri)
        try:
            _check_with_keys(token, header, found, "jwks_uri")
        except AssertionRejected:
            if fetched:
                raise
            found, _ = jwks.get(client.jwks_uri, fresh=True)  # the client may have rotated
            _check_with_keys(token, header, found, "jwks_uri")
    else:
        raise AssertionRejected(
            f"client '{client.id}' has no keys to check an {alg} signature with "
            "(private_key_jwt needs a registered client with jwks or jwks_uri)")
    return claims, method


# -- claims -----------------------------------------------------------------------------------
def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise AssertionRejected(f"'{name}' must be a number (NumericDate, RFC 7519 section 2)")
    return float(value)


def check_times(claims: Mapping[str, Any], now: float, require_exp: bool = True) -> float:
    """``exp`` (required unless told otherwise), ``nbf`` and ``iat`` against the provider
    clock with `LEEWAY`; returns ``exp`` (or ``now`` when there is none)."""
    exp = _numeric_date(claims, "exp")
    if exp is None:
        if require_exp:
            raise AssertionRejected("missing 'exp' (RFC 7523 section 3)")
    elif now > exp + LEEWAY:
        raise AssertionRejected(f"expired: exp {int(exp)} is before the provider's time "
                                f"{int(now)}")
    nbf = _numeric_date(claims, "nbf")
    if nbf is not None and now + LEEWAY < nbf:
        raise AssertionRejected(f"not valid yet: nbf {int(nbf)} is after the provider's time "
                                f"{int(now)}")
    iat = _numeric_date(claims, "iat")
    if iat is not None and now + LEEWAY < iat:
        raise AssertionRejected(f"issued in the future: iat {int(iat)} is after the provider's "
                                f"time {int(now)}")
    return exp if exp is not None else now


def check_audience(claims: Mapping[str, Any], audiences: Iterable[str]) -> None:
    """RFC 7523 §3: ``aud`` must contain a value that identifies this provider."""
    aud = claims.get("aud")
    if aud is None:
        raise AssertionRejected("missing 'aud' (RFC 7523 section 3)")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not values or not all(isinstance(v, str) for v in values):
        raise AssertionRejected("'aud' must be a string or a list of strings")
    accepted = {a.rstrip("/") for a in audiences}
    if not accepted & {str(v).rstrip("/") for v in values}:
        raise AssertionRejected(f"'aud' {aud!r} does not name this provider; expected one of "
                                + ", ".join(sorted(accepted)))


def string_claim(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise AssertionRejected(f"missing '{name}'")
    return value


# -- trust: what a request's presented JWTs are checked against ------------------------------
@dataclass(frozen=True)
class Trust:
    """Everything needed to verify JWTs presented at one endpoint of one issuer.

    ``audiences`` are the values an ``aud`` may carry (token endpoint, issuer, the endpoint in
    use).  ``own_token`` verifies a token of this provider (any of its issuers; JWT or opaque;
    signature, times, revocation) and returns its claims, returns None for a JWT another party
    issued, or raises `signer.TokenRejected`.
    """

    audiences_for: Callable[[], tuple[str, ...]]  # worked out only when a JWT is presented
    now: float
    caches: AssertionCaches
    own_token: Callable[[str], dict[str, Any] | None]
    permissive: bool  # the issuer is not strict: unregistered clients' JWTs go unverified
    note_unverified: Callable[[str], None]  # journals a parameter accepted unverified

    @cached_property
    def audiences(self) -> tuple[str, ...]:
        return self.audiences_for()

    def use_jti(self, issuer: str, claims: Mapping[str, Any], expires_at: float,
                required: bool) -> None:
        """RFC 7523 §3 ``jti``: single use until the JWT expires (plus `LEEWAY`)."""
        jti = claims.get("jti")
        if jti is None and not required:
            return
        if not isinstance(jti, str) or not jti:
            raise AssertionRejected("missing 'jti' (a unique string, single use)")
        key = json.dumps([issuer, jti])
        if not self.caches.replay(key, expires_at + LEEWAY, self.now):
            raise AssertionRejected(f"'jti' {jti!r} was already used (replay)")

    def signed_by(self, token: str, client: Client) -> tuple[dict[str, Any], str, bool]:
        """(claims, method, verified) of a JWT signed by ``client``: its signature checked
        (`verify_client_signature`), or, for an unregistered client of a permissive issuer,
        not (verified False: the provider has no secret or key of it).  No claim is checked."""
        if client.registered:
            return (*verify_client_signature(token, client, self.caches.jwks), True)
        if not self.permissive:
            raise AssertionRejected(
                f"client '{client.id}' is not registered and the issuer is strict: register "
                "it with a secret (client_secret_jwt) or jwks/jwks_uri (private_key_jwt)")
        header, claims = peek(token)
        return claims, auth_method_of(header), False

    def client_assertion(self, client: Client, assertion: str) -> str:
        """RFC 7523 §3 for client authentication (§2.2); returns the method used
        (``client_secret_jwt`` or ``private_key_jwt``) or raises ``invalid_client``.  An
        assertion taken unverified (`signed_by`) is journaled as ``client_assertion``."""
        try:
            claims, method, verified = self.signed_by(assertion, client)
            for name in ("iss", "sub"):
                if string_claim(claims, name) != client.id:
                    raise AssertionRejected(
                        f"'{name}' must be the client id '{client.id}' (RFC 7523 section 3)")
            check_audience(claims, self.audiences)
            exp = check_times(claims, self.now)
            self.use_jti(client.id, claims, exp, required=True)
        except AssertionRejected as exc:
            raise InvalidClient(f"client_assertion rejected: {exc}") from None
        if not verified:
            self.note_unverified("client_assertion")
        return method

    def client_jwt(self, token: str, client: Client) -> dict[str, Any]:
        """Claims of a JWT signed by ``client``'s keys or secret, times checked (``exp``
        required); the issuer is whoever the client vouches for."""
        claims, _ = verify_client_signature(token, client, self.caches.jwks)
        check_times(claims, self.now)
        return claims

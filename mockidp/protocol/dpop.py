"""DPoP (RFC 9449): proof-of-possession proofs, checked at the token endpoint and by userinfo.

RFC 9449 §4.2-4.3 (the proof and how it is checked), §6.1 (``cnf.jkt``), §7.1 (``ath``),
§8 (server nonces), §11.1 (proof replay); RFC 7638 (the key thumbprint).

A proof is a JWT with header ``typ: dpop+jwt``, an asymmetric ``alg`` and the public ``jwk``,
and claims ``jti``, ``htm``, ``htu``, ``iat`` (plus ``ath`` when an access token goes with it,
and ``nonce`` when the server asks for one).  Access tokens issued against a proof carry
``cnf.jkt``, the RFC 7638 thumbprint of the proof's key, and ``token_type: DPoP``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives import serialization

from mockidp.core.errors import OAuthError
from mockidp.tokens.jose import b64url_encode, jose_header
from mockidp.tokens.keys import KeySet, SigningKey, thumbprint

DPOP_ALGS: tuple[str, ...] = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)
IAT_WINDOW = 300  # seconds either side of the provider clock
NONCE_LIFETIME = 300  # seconds: one nonce window (RFC 9449 §8)
NONCE_KEY_ALG = "EdDSA"  # the issuer key the nonces' secret derives from (see `Nonces`)
_PUBLIC_MEMBERS = {"RSA": ("kty", "n", "e"), "EC": ("kty", "crv", "x", "y"),
                   "OKP": ("kty", "crv", "x")}


class InvalidDPoPProof(OAuthError):
    """RFC 9449 §5 ``invalid_dpop_proof`` (400 at the token endpoint)."""

    error = "invalid_dpop_proof"


class UseDPoPNonce(OAuthError):
    """RFC 9449 §8 ``use_dpop_nonce``: retry with the nonce in the ``DPoP-Nonce`` header."""

    error = "use_dpop_nonce"


def ath(access_token: str) -> str:
    """RFC 9449 §4.2 ``ath``: base64url(SHA-256(access token))."""
    return b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())


def normalise_htu(url: str) -> str:
    """RFC 9449 §4.3: compare ``htu`` without query and fragment, scheme and host lowercased."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc.lower()
    for scheme, port in (("http", ":80"), ("https", ":443")):
        if parts.scheme.lower() == scheme and netloc.endswith(port):
            netloc = netloc[: -len(port)]
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", "", ""))


class Nonces:
    """Server-issued DPoP nonces (RFC 9449 §8) for one issuer, the same in every process that
    shares its signing keys (replicas and workers on one store), with no state of their own.

    The nonce of time window ``w = floor(now / NONCE_LIFETIME)`` on the provider clock (which
    replicas share) is ``base64url(HMAC-SHA256(secret, "{issuer}:{w}")[:16])``; the current
    window's nonce and the previous one's are accepted, so a nonce handed out lives between
    `NONCE_LIFETIME` and twice that.  The secret is a SHA-256 of the private key of the
    issuer's active `NONCE_KEY_ALG` key: every process sharing the keys (a keys directory, or
    the shared store's `SharedKeySet`) derives the same one, and nobody without the key can.
    That key is made lazily, at the first nonce, not when the issuer is; the secret is cached
    per key object, so a request costs a key look-up and a dictionary hit, no round trip.
    Ed25519 rather than RS256: its key is cheap to make and never one of the pooled RSA keys
    of issuers made on first use (`mockidp.tokens.keypool`: not secret).

    Rotating the issuer's keys (all of them, or EdDSA's) changes the nonces: a client holding
    an old one is told ``use_dpop_nonce`` once, with the new nonce, and retries.
    """

    def __init__(self, issuer: str, keys: KeySet) -> None:
        self._issuer = issuer
        self._keys = keys
        # the active key, the secret derived from it, and its nonces by window
        self._derived: tuple[SigningKey, bytes, dict[int, str]] | None = None

    def _for_key(self) -> tuple[bytes, dict[int, str]]:
        key = self._keys.active(NONCE_KEY_ALG)
        derived = self._derived
        if derived is None or derived[0] is not key:
            der = key.private_key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption())
            secret = hashlib.sha256(b"mockidp DPoP nonces\0" + der).digest()
            derived = self._derived = (key, secret, {})
        return derived[1], derived[2]

    def _nonce(self, window: int) -> str:
        secret, memo = self._for_key()
        nonce = memo.get(window)
        if nonce is None:
            if len(memo) >= 8:  # a clock moved back and forth: keep it small
                memo.clear()
            mac = hmac.new(secret, f"{self._issuer}:{window}".encode(), hashlib.sha256)
            nonce = memo[window] = b64url_encode(mac.digest()[:16])
        return nonce

    def current(self, now: float) -> str:
        """The nonce to hand out at ``now`` (provider clock)."""
        return self._nonce(int(now // NONCE_LIFETIME))

    def accepts(self, nonce: object, now: float) -> bool:
        """Whether ``nonce`` is the current window's nonce or the previous one's."""
        if not isinstance(nonce, str):
            return False
        window = int(now // NONCE_LIFETIME)
        return nonce == self._nonce(window) or nonce == self._nonce(window - 1)


ReplayCheck: TypeAlias = Callable[[str, float, float], bool]
"""``(jti, keep_until, now) -> first use?``: an issuer store's replay cache (`first_use`)."""


def check_proof(
    proof: str,
    method: str,
    urls: Iterable[str],
    now: float,
    replay: ReplayCheck,
    *,
    access_token: str | None = None,
    nonces: Nonces | None = None,
    error: type[OAuthError] = InvalidDPoPProof,
    status: int = 400,
) -> str:
    """Verify a DPoP proof; return the JWK thumbprint (``jkt``) of its key.

    ``urls`` are the acceptable ``htu`` values (the request URL and the URL the discovery
    document advertises).  Failures raise ``error`` (``invalid_dpop_proof`` by default) or
    `UseDPoPNonce` with the ``DPoP-Nonce`` header to retry with.
    """
    def refuse(why: str) -> OAuthError:
        return error(f"DPoP proof {why}", status=status,
                     www_authenticate=f'DPoP error="{error.error}", algs="{" ".join(DPOP_ALGS)}"'
                     if status == 401 else None)

    header = jose_header(proof)
    if header is None:
        raise refuse("is not a JWT")
    if header.get("typ") != "dpop+jwt":
        raise refuse("must have typ dpop+jwt")
    alg = header.get("alg")
    if alg not in DPOP_ALGS:
        raise refuse(f"alg must be one of {', '.join(DPOP_ALGS)}")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") not in _PUBLIC_MEMBERS:
        raise refuse("must carry the public key in its jwk header")
    if "d" in jwk:
        raise refuse("jwk header must not contain a private key")
    import jwt  # PyJWT: loaded when the first DPoP proof arrives

    try:
        key = jwt.PyJWK({k: jwk[k] for k in _PUBLIC_MEMBERS[jwk["kty"]]}, algorithm=alg)
        claims: dict[str, Any] = jwt.decode(
            proof, key.key, algorithms=[alg],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                     "verify_aud": False, "verify_iss": False},
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise refuse(f"does not verify: {exc}") from None
    for name in ("jti", "htm", "htu", "iat"):
        if name not in claims:
            raise refuse(f"lacks the {name} claim")
    if claims["htm"] != method:
        raise refuse(f"htm is {claims['htm']!r}, this request is {method}")
    wanted = {normalise_htu(u) for u in urls}
    if not isinstance(claims["htu"], str) or normalise_htu(claims["htu"]) not in wanted:
        raise refuse(f"htu {claims['htu']!r} is not this endpoint")
    iat = claims["iat"]
    if not isinstance(iat, (int, float)) or abs(iat - now) > IAT_WINDOW:
        raise refuse("iat is too far from the provider's clock")
    if access_token is not None and claims.get("ath") != ath(access_token):
        raise refuse("ath does not match the access token")
    if nonces is not None and not nonces.accepts(claims.get("nonce"), now):
        raise UseDPoPNonce(
            "the authorization server requires a DPoP nonce; retry with the DPoP-Nonce value",
            status=status,
            www_authenticate='DPoP error="use_dpop_nonce"' if status == 401 else None,
            headers={"DPoP-Nonce": nonces.current(now)},
        )
    if not isinstance(claims["jti"], str) or not replay(claims["jti"], now + 2 * IAT_WINDOW, now):
        raise refuse("jti was already used")
    return thumbprint({k: jwk[k] for k in _PUBLIC_MEMBERS[jwk["kty"]]})

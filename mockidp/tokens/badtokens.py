"""The bad-token catalogue: deliberately invalid tokens for testing that a resource server
rejects them.  Each kind breaks exactly one thing of an otherwise good access token.

Each kind breaks one rule a verifier must check: RFC 7519 §7.2 and §4.1 (``exp``, ``nbf``,
``iat``, ``iss``, ``aud``, ``sub``), RFC 7515 §5.2 (the signature, ``kid``, base64url and JSON
segments), RFC 8725 §2.1 and §3.1-3.2 (``alg: none``, algorithm confusion), RFC 9068 §4
(``typ``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives import serialization

from mockidp.tokens.jose import b64url_decode, b64url_encode, json_segment
from mockidp.tokens.keys import KeySet, SigningKey
from mockidp.tokens.signer import sign, signature

BAD_TOKEN_KINDS: Mapping[str, str] = MappingProxyType({
    "expired": "exp is in the past",
    "not_yet_valid": "nbf is in the future",
    "issued_in_future": "iat is in the future",
    "wrong_issuer": "iss names another issuer",
    "wrong_audience": "aud names another audience",
    "bad_signature": "the signature does not verify",
    "unknown_kid": "signed by a key whose kid is not in the JWKS",
    "alg_none": "alg none, no signature",
    "hs256_public_key": "HS256 signed with the issuer's public key (algorithm confusion)",
    "missing_exp": "no exp claim",
    "missing_sub": "no sub claim",
    "wrong_typ": "typ header is secevent+jwt, not a JWT access token",
    "malformed_parts": "not three dot-separated parts",
    "malformed_base64": "the payload is not base64url",
    "malformed_json": "the payload is not JSON",
    "rotated_out": "signed by a key that is no longer published",
    "revoked": "well formed and signed, but revoked (introspects inactive)",
})
WRONG_ISSUER = "https://wrong-issuer.mockidp.invalid/"
WRONG_AUDIENCE = "mockidp-wrong-audience"
WRONG_TYP = "secevent+jwt"


def adjust_claims(kind: str, claims: dict[str, Any], now: int) -> None:
    """Change the claims for the claim-level kinds (in place)."""
    if kind == "expired":
        # an hour past: beyond any verifier's clock-skew leeway
        claims.update(iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    elif kind == "not_yet_valid":
        claims.update(nbf=now + 3600, exp=now + 7200)
    elif kind == "issued_in_future":
        claims.update(iat=now + 3600, exp=now + 7200)
        claims.pop("nbf", None)
    elif kind == "wrong_issuer":
        claims["iss"] = WRONG_ISSUER
    elif kind == "wrong_audience":
        claims["aud"] = WRONG_AUDIENCE
    elif kind == "missing_exp":
        claims.pop("exp", None)
    elif kind == "missing_sub":
        claims.pop("sub", None)


def _flip_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(b64url_decode(signature, "signature"))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{payload}.{b64url_encode(bytes(raw))}"


def _hs256_with_public_key(claims: Mapping[str, Any], key: SigningKey) -> str:
    secret = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{json_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}." \
        f"{json_segment(dict(claims))}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(mac)}"


def _sign_raw(header: Mapping[str, Any], payload_segment: str, key: SigningKey) -> str:
    """A JWS whose signature really covers ``header.payload_segment`` as given, broken or not,
    so that only the one documented defect is wrong."""
    head = json_segment(dict(header))
    signing_input = f"{head}.{payload_segment}".encode("ascii")
    return f"{head}.{payload_segment}.{b64url_encode(signature(key, signing_input))}"


def make_bad(kind: str, claims: dict[str, Any], key: SigningKey, keys: KeySet, now: int,
             typ: str = "JWT") -> str:
    """A token of ``kind`` built from good ``claims``; ``key`` is the issuer's active key.

    ``revoked`` is signed normally here; the provider revokes it.
    """
    adjust_claims(kind, claims, now)
    if kind == "bad_signature":
        return _flip_signature(sign(claims, key, typ))
    if kind == "unknown_kid":
        return sign(claims, keys.stray(key.alg), typ)
    if kind == "rotated_out":
        return sign(claims, keys.retired(key.alg), typ)
    if kind == "alg_none":
        return f"{json_segment({'alg': 'none', 'typ': typ})}.{json_segment(claims)}."
    if kind == "hs256_public_key":
        rsa_key = keys.active("RS256") if not key.alg.startswith(("RS", "PS")) else key
        return _hs256_with_public_key(claims, rsa_key)
    if kind == "wrong_typ":
        return sign(claims, key, WRONG_TYP)
    if kind == "malformed_parts":
        head, payload, _ = sign(claims, key, typ).split(".")
        return f"{head}.{payload}"
    header = {"alg": key.alg, "typ": typ, "kid": key.kid}
    if kind == "malformed_base64":
        payload = json_segment(claims)
        payload += "A" * ((1 - len(payload)) % 4)  # 4k+1 characters never decode
        return _sign_raw(header, f"{payload[:8]}!*{payload[8:]}", key)
    if kind == "malformed_json":
        broken = b'{"sub": "' + str(claims.get("sub", "")).encode() + b'", '
        return _sign_raw(header, b64url_encode(broken), key)
    return sign(claims, key, typ)

"""Sign claims into JWTs and verify the provider's own tokens against its clock.

RFC 7515 §5.1-5.2 (creating and validating a compact JWS), RFC 7518 §3 (the RS, PS, ES
signatures), RFC 8037 §3.1 (EdDSA), RFC 7519 §7.2 and §4.1.4-4.1.6 (JWT validation, ``exp``,
``nbf``, ``iat``), OIDC Core §3.1.3.6 (``at_hash``/``c_hash``).

Signing uses the issuer's active key for the algorithm: the JOSE header segment and the
signing function are prepared once per key (no PEM parsing, no header encoding per token).
Verification checks the signature against the issuer's own keys and
``exp``/``nbf`` against the provider clock, never the system clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from mockidp.tokens.jose import (
    MalformedJose,
    b64url_decode,
    b64url_encode,
    decode_segment,
    header_segment,
    json_segment,
)
from mockidp.tokens.keys import KeySet, SigningKey

__all__ = [
    "ACCESS_TOKEN_TYPES", "TokenRejected", "half_hash", "sign", "signature",
    "verify",
]

_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512,
}


class TokenRejected(Exception):
    """A token failed verification; the message says why."""


def _header_segment(key: SigningKey, typ: str) -> str:
    """The base64url JOSE header for (alg, kid, typ), computed once per key."""
    segment = key.cache.get(typ)
    if segment is None:
        segment = key.cache[typ] = json_segment({"alg": key.alg, "kid": key.kid, "typ": typ})
    return str(segment)


def _rsa_padding(alg: str) -> tuple[hashes.HashAlgorithm, padding.AsymmetricPadding]:
    """RFC 7518 §3.3 (RS*: PKCS #1 v1.5) and §3.5 (PS*: PSS, salt as long as the hash)."""
    digest = _DIGESTS[alg[-3:]]()
    if alg.startswith("RS"):
        return digest, padding.PKCS1v15()
    return digest, padding.PSS(padding.MGF1(_DIGESTS[alg[-3:]]()), digest.digest_size)


def _verifier(key: SigningKey) -> Callable[[bytes, bytes], bool]:
    """A function telling whether a JWS signature over a signing input is ``key``'s, made
    once per key (the inverse of `_signer`)."""
    found = key.cache.get(_VERIFY)
    if found is not None:
        return found  # type: ignore[no-any-return]
    public = key.public_key

    def checked(check: Callable[[bytes, bytes], None]) -> Callable[[bytes, bytes], bool]:
        def verify_signature(message: bytes, signature: bytes) -> bool:
            try:
                check(message, signature)
            except (InvalidSignature, ValueError):
                return False
            return True

        return verify_signature

    if isinstance(public, rsa.RSAPublicKey):
        digest, pad = _rsa_padding(key.alg)
        rsa_public = public

        def rsa_check(message: bytes, signature: bytes) -> None:
            rsa_public.verify(signature, message, pad, digest)

        found = checked(rsa_check)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        ecdsa = ec.ECDSA(_DIGESTS[key.alg[-3:]]())
        size = (public.curve.key_size + 7) // 8
        ec_public = public

        def ec_check(message: bytes, signature: bytes) -> None:
            if len(signature) != 2 * size:
                raise InvalidSignature
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            ec_public.verify(encode_dss_signature(r, s), message, ecdsa)

        found = checked(ec_check)
    elif isinstance(public, ed25519.Ed25519PublicKey):
        ed_public = public

        def ed_check(message: bytes, signature: bytes) -> None:
            ed_public.verify(signature, message)

        found = checked(ed_check)
    else:  # pragma: no cover - keys.generate makes only these families
        raise TypeError(f"no verifier for {type(public).__name__}")
    key.cache[_VERIFY] = found
    return found


def _signer(key: SigningKey) -> Callable[[bytes], bytes]:
    """A function producing the JWS signature bytes (RFC 7518 §3) for ``key``, made once."""
    found = key.cache.get(_SIGN)
    if found is not None:
        return found  # type: ignore[no-any-return]
    private = key.private_key
    if isinstance(private, rsa.RSAPrivateKey):
        digest, pad = _rsa_padding(key.alg)

        def rsa_sign(message: bytes) -> bytes:
            return private.sign(message, pad, digest)

        found = rsa_sign
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        ecdsa = ec.ECDSA(_DIGESTS[key.alg[-3:]]())
        size = (private.curve.key_size + 7) // 8

        def ec_sign(message: bytes) -> bytes:
            # RFC 7518 §3.4: the raw R || S, not DER
            r, s = decode_dss_signature(private.sign(message, ecdsa))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")

        found = ec_sign
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        found = private.sign  # RFC 8037 §3.1: EdDSA signs the input itself
    else:  # pragma: no cover - keys.generate makes only these families
        raise TypeError(f"no signer for {type(private).__name__}")
    key.cache[_SIGN] = found
    return found


_SIGN = "\x00sign"
_VERIFY = "\x00verify"


def signature(key: SigningKey, signing_input: bytes) -> bytes:
    """The JWS signature (RFC 7515 §5.1) of ``signing_input`` with ``key``'s algorithm."""
    return _signer(key)(signing_input)


def sign(claims: Mapping[str, Any], key: SigningKey, typ: str = "JWT") -> str:
    """A compact JWS (RFC 7515 §7.1) of ``claims`` signed by ``key``; the header carries
    ``alg``, ``kid`` and ``typ``.  Equivalent to ``jwt.encode`` with the same header, with the
    header segment and the signing function prepared once per key."""
    payload = json_segment(claims if isinstance(claims, dict) else dict(claims))
    signing_input = f"{_header_segment(key, typ)}.{payload}"
    signature = _signer(key)(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def half_hash(value: str, alg: str) -> str:
    """OIDC Core §3.1.3.6 ``at_hash``/``c_hash``: left half of the hash matching ``alg``
    (SHA-512 for EdDSA with Ed25519)."""
    digest = _HASHES["512" if alg == "EdDSA" else alg[-3:]](value.encode("ascii")).digest()
    return b64url_encode(digest[: len(digest) // 2])


ACCESS_TOKEN_TYPES = ("JWT", "at+jwt")


def verify(token: str, keys: KeySet, now: float, check_times: bool = True,
           types: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Verify a JWT issued by this issuer; return its claims or raise `TokenRejected`.

    Checks: well-formed, the ``typ`` header (when ``types`` is given), ``kid`` of one of the
    issuer's keys, the key's algorithm, the signature, and (with ``check_times``) ``exp``,
    ``nbf`` and ``iat`` against ``now`` (the provider clock).
    """
    parts = token.split(".")
    header = header_segment(parts[0]) if len(parts) == 3 and token.isascii() else None
    if header is None:
        raise TokenRejected("malformed token")
    if types is not None and header.get("typ", "JWT") not in types:
        raise TokenRejected(f"token type {header.get('typ')!r} is not one of {', '.join(types)}")
    kid = header.get("kid")
    key = keys.find(kid) if isinstance(kid, str) else None
    if key is None:
        raise TokenRejected("token was not signed by a key of this issuer")
    if header.get("alg") != key.alg:
        raise TokenRejected("invalid token: The specified alg value is not allowed")
    try:
        signature = b64url_decode(parts[2], "signature")
    except MalformedJose:
        signature = b""
    if not _verifier(key)(f"{parts[0]}.{parts[1]}".encode("ascii"), signature):
        raise TokenRejected("invalid token: Signature verification failed")
    try:
        claims = decode_segment(parts[1], "payload")
    except MalformedJose:
        raise TokenRejected("invalid token: Invalid payload string: must be a json object") \
            from None
    if not check_times:
        return claims
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and now >= exp:
        raise TokenRejected("token has expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, (int, float)) and now < nbf:
        raise TokenRejected("token is not valid yet")
    iat = claims.get("iat")
    if isinstance(iat, (int, float)) and now < iat:
        raise TokenRejected("token was issued in the future")
    return claims

"""Sign claims into JWTs and verify the provider's own tokens against its clock.

Signing uses the issuer's active key for the algorithm (PyJWT with a ready key object, so no
PEM parsing per token).  Verification checks the signature against the issuer's own keys and
``exp``/``nbf`` against the provider clock, never the system clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import jwt

from .keys import KeySet, SigningKey, b64url

_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


class TokenRejected(Exception):
    """A token failed verification; the message says why."""


def sign(claims: Mapping[str, Any], key: SigningKey, typ: str = "JWT") -> str:
    """A compact JWS of ``claims`` signed by ``key``; header carries ``kid`` and ``typ``."""
    return jwt.encode(
        dict(claims), key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": typ}
    )


def half_hash(value: str, alg: str) -> str:
    """OIDC Core §3.1.3.6 ``at_hash``/``c_hash``: left half of the hash matching ``alg``
    (SHA-512 for EdDSA with Ed25519)."""
    digest = _HASHES["512" if alg == "EdDSA" else alg[-3:]](value.encode("ascii")).digest()
    return b64url(digest[: len(digest) // 2])


ACCESS_TOKEN_TYPES = ("JWT", "at+jwt")


def verify(token: str, keys: KeySet, now: float, check_times: bool = True,
           types: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Verify a JWT issued by this issuer; return its claims or raise `TokenRejected`.

    Checks: well-formed, the ``typ`` header (when ``types`` is given), ``kid`` of one of the
    issuer's keys, the key's algorithm, the signature, and (with ``check_times``) ``exp``,
    ``nbf`` and ``iat`` against ``now`` (the provider clock).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenRejected("malformed token") from None
    if types is not None and header.get("typ", "JWT") not in types:
        raise TokenRejected(f"token type {header.get('typ')!r} is not one of {', '.join(types)}")
    kid = header.get("kid")
    key = keys.find(kid) if isinstance(kid, str) else None
    if key is None:
        raise TokenRejected("token was not signed by a key of this issuer")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.public_key,
            algorithms=[key.alg],
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise TokenRejected(f"invalid token: {exc}") from None
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

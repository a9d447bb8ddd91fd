"""Signing keys per issuer and algorithm, published as a JWKS.

Keys are generated on first use.  With a keys directory they are loaded from
``{keys_dir}/{issuer}/{alg}.pem`` or generated and written there atomically (temporary file,
then rename), so a restarted provider keeps validating the tokens it issued before.  Key ids
are RFC 7638 thumbprints, stable across restarts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from .errors import MockIdPError
from .settings import SIGNING_ALGS

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class SigningKey:
    """One private key, its algorithm, key id and public JWK."""

    kid: str
    alg: str
    private_key: PrivateKey
    public_key: PublicKey
    public_jwk: dict[str, Any]


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _generate(alg: str) -> PrivateKey:
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise MockIdPError(f"signing_alg: expected one of {', '.join(SIGNING_ALGS)}, got {alg!r}")


def _public_jwk(public_key: PublicKey) -> dict[str, Any]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return dict(RSAAlgorithm.to_jwk(public_key, as_dict=True))
    return dict(ECAlgorithm.to_jwk(public_key, as_dict=True))


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of a public JWK."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def make_signing_key(private_key: PrivateKey, alg: str) -> SigningKey:
    """Wrap a private key: compute its public JWK (with ``kid``, ``use``, ``alg``)."""
    public_key = private_key.public_key()
    jwk = _public_jwk(public_key)
    kid = thumbprint(jwk)
    jwk.update({"kid": kid, "use": "sig", "alg": alg})
    return SigningKey(kid=kid, alg=alg, private_key=private_key, public_key=public_key,
                      public_jwk=jwk)


def _expected_type(alg: str) -> type:
    return rsa.RSAPrivateKey if alg.startswith(("RS", "PS")) else ec.EllipticCurvePrivateKey


def load_key_file(path: Path, alg: str) -> SigningKey:
    """Load a PEM private key; a corrupt or unreadable file raises `MockIdPError` naming it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MockIdPError(f"{path}: cannot read key file: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise MockIdPError(f"{path}: not a usable PEM private key ({exc})") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)) or not isinstance(
        key, _expected_type(alg)
    ):
        raise MockIdPError(f"{path}: expected a key for {alg}, got {type(key).__name__}")
    return make_signing_key(key, alg)


def write_key_file(path: Path, key: PrivateKey) -> None:
    """Write a PEM private key atomically (temporary file in the same folder, then rename)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise MockIdPError(f"{path}: cannot write key file: {exc.strerror or exc}") from None


class KeySet:
    """The keys of one issuer: one active key per algorithm, created on first use.

    Thread-safe.  With ``keys_dir`` set, keys live in ``keys_dir/issuer/ALG.pem``.
    """

    def __init__(self, issuer: str, keys_dir: Path | None = None) -> None:
        self.issuer = issuer
        self.keys_dir = keys_dir
        self._lock = threading.Lock()
        self._active: dict[str, SigningKey] = {}
        self._by_kid: dict[str, SigningKey] = {}
        self._jwks: dict[str, Any] | None = None
        self._retired: dict[str, SigningKey] = {}
        self._stray: dict[str, SigningKey] = {}

    def active(self, alg: str) -> SigningKey:
        """The active signing key for ``alg`` (generated or loaded on first use)."""
        key = self._active.get(alg)
        if key is not None:
            return key
        with self._lock:
            key = self._active.get(alg)
            if key is None:
                key = self._load_or_create(alg)
                self._active[alg] = key
                self._by_kid[key.kid] = key
                self._jwks = None
            return key

    def _load_or_create(self, alg: str) -> SigningKey:
        if alg not in SIGNING_ALGS:
            raise MockIdPError(
                f"signing_alg: expected one of {', '.join(SIGNING_ALGS)}, got {alg!r}"
            )
        if self.keys_dir is None:
            return make_signing_key(_generate(alg), alg)
        path = self.keys_dir / self.issuer / f"{alg}.pem"
        if path.exists():
            return load_key_file(path, alg)
        key = _generate(alg)
        write_key_file(path, key)
        return make_signing_key(key, alg)

    def retired(self, alg: str) -> SigningKey:
        """A key for ``alg`` that this issuer no longer publishes (for bad tokens)."""
        with self._lock:
            key = self._retired.get(alg)
            if key is None:
                key = self._retired[alg] = make_signing_key(_generate(alg), alg)
            return key

    def stray(self, alg: str) -> SigningKey:
        """A key for ``alg`` that was never this issuer's, with an unknown kid."""
        with self._lock:
            key = self._stray.get(alg)
            if key is None:
                key = self._stray[alg] = make_signing_key(_generate(alg), alg)
            return key

    def ensure_all(self) -> None:
        """Create (or load) a key for every supported algorithm."""
        for alg in SIGNING_ALGS:
            self.active(alg)

    def find(self, kid: str) -> SigningKey | None:
        """The key with this ``kid``, if this issuer has one.

        With a keys directory, keys already on disk count even before they were first used
        here, so a restarted provider accepts what it (or ``mockidp mint``) signed before.
        """
        key = self._by_kid.get(kid)
        if key is None and self.keys_dir is not None:
            folder = self.keys_dir / self.issuer
            for alg in SIGNING_ALGS:
                if alg not in self._active and (folder / f"{alg}.pem").exists():
                    self.active(alg)
            key = self._by_kid.get(kid)
        return key

    def jwks(self) -> dict[str, Any]:
        """The public JWKS (RFC 7517 §5): public members only, each with kid, use and alg."""
        jwks = self._jwks
        if jwks is None:
            self.ensure_all()
            with self._lock:
                jwks = {"keys": [dict(k.public_jwk) for k in self._active.values()]}
                self._jwks = jwks
        return jwks

"""Signing keys per issuer, published as a JWKS; rotation and retirement.

RFC 7517 §4-5 (JWK, JWK Set), RFC 7518 §6.2-6.3 (EC and RSA key members, Base64urlUInt),
RFC 8037 §2 (OKP keys for Ed25519), RFC 7638 §3 (JWK thumbprints, the key ids).

Algorithms: RS256/384/512 and PS256/384/512 (one RSA 2048 key serves them all), ES256, ES384,
ES512 (P-256, P-384, P-521) and EdDSA (Ed25519).  Every algorithm is published as its own JWK
with ``kid``, ``kty``, ``use`` and ``alg``; the ``kid`` is the key's RFC 7638 thumbprint, with
``-{alg}`` appended for the RSA algorithms other than RS256 (they share one key).

Keys are made when first needed, per family: an issuer costs nothing until it signs (which makes
that algorithm's key) or publishes its JWKS.  The JWKS lists every algorithm, so that a resource
server that fetched it before a token already holds the key that signs it, whatever algorithm
the token uses (PyJWT's ``PyJWKClient`` waits 30 s before it fetches a JWKS again for an unknown
kid); making the EC and Ed25519 keys for it costs well under a millisecond.  The RSA key is the
costly one (about 40 ms); an issuer made on first use draws it from `mockidp.tokens.keypool`
instead (``pooled``), in well under a millisecond.

`KeySet.rotate` makes new active keys; the old ones stay published (so a resource server's JWKS
cache can be tested) until `KeySet.retire` removes them, after which tokens they signed no longer
verify.  With a keys directory, active keys live in ``{keys_dir}/{issuer}/{family}.pem`` and
rotated-out ones in ``.../previous/``; every write is atomic (temporary file, then rename), so a
restarted provider keeps validating what it issued before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from mockidp.core.errors import MockIdPError
from mockidp.core.settings import SIGNING_ALGS
from mockidp.tokens.jose import b64url_encode
from mockidp.tokens.keypool import POOL

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

FAMILY: dict[str, str] = {
    "RS256": "rsa", "RS384": "rsa", "RS512": "rsa",
    "PS256": "rsa", "PS384": "rsa", "PS512": "rsa",
    "ES256": "p256", "ES384": "p384", "ES512": "p521", "EdDSA": "ed25519",
}
FAMILIES: tuple[str, ...] = ("rsa", "p256", "p384", "p521", "ed25519")
_PRIMARY = frozenset({"RS256", "ES256", "ES384", "ES512", "EdDSA"})
_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "p256": ec.SECP256R1, "p384": ec.SECP384R1, "p521": ec.SECP521R1,
}


@dataclass(frozen=True)
class SigningKey:
    """One private key used for one algorithm, with its key id and public JWK."""

    kid: str
    alg: str
    private_key: PrivateKey
    public_key: PublicKey
    public_jwk: dict[str, Any]
    # per-key memo for the signer (prepared header segments, the signing function)
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class KeyPair:
    """A private key of one family and the signing keys (one per algorithm) it serves."""

    family: str
    private_key: PrivateKey
    thumbprint: str
    keys: dict[str, SigningKey]


def _check_alg(alg: str) -> str:
    if alg not in FAMILY:
        raise MockIdPError(f"signing_alg: expected one of {', '.join(SIGNING_ALGS)}, got {alg!r}")
    return FAMILY[alg]


def generate(family: str) -> PrivateKey:
    """A new private key of ``family``."""
    if family == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if family == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(_CURVES[family]())


_CRV = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def _uint(value: int, size: int | None = None) -> str:
    """RFC 7518 §2 Base64urlUInt (big-endian, at least one octet; ``size`` octets for EC
    coordinates, RFC 7518 §6.2.1.2)."""
    return b64url_encode(value.to_bytes(size or max(1, (value.bit_length() + 7) // 8), "big"))


def _public_jwk(public_key: PublicKey) -> dict[str, Any]:
    """The public JWK (RFC 7517/7518/8037) of a key: ``kty`` and its key members."""
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        point = public_key.public_numbers()
        size = (public_key.curve.key_size + 7) // 8
        return {"kty": "EC", "crv": _CRV[public_key.curve.name], "x": _uint(point.x, size),
                "y": _uint(point.y, size)}
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3 JWK thumbprint (SHA-256) of a public JWK: the required members only, in
    lexicographic order, without whitespace."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"),
                "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


def family_of_key(key: Any) -> str | None:
    """The family a private key belongs to, or None."""
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        for family, curve in _CURVES.items():
            if isinstance(key.curve, curve):
                return family
    return None


def make_pair(private_key: PrivateKey, family: str) -> KeyPair:
    """Wrap a private key: one `SigningKey` (public JWK with kid, use, alg) per algorithm."""
    public_key = private_key.public_key()
    base = _public_jwk(public_key)
    thumb = thumbprint(base)
    keys: dict[str, SigningKey] = {}
    for alg, fam in FAMILY.items():
        if fam != family:
            continue
        kid = thumb if alg in _PRIMARY else f"{thumb}-{alg}"
        jwk = {**base, "kid": kid, "use": "sig", "alg": alg}
        keys[alg] = SigningKey(kid, alg, private_key, public_key, jwk)
    return KeyPair(family, private_key, thumb, keys)


def make_signing_key(private_key: PrivateKey, alg: str) -> SigningKey:
    """The `SigningKey` for one algorithm of a private key."""
    return make_pair(private_key, _check_alg(alg)).keys[alg]


def load_key_file(path: Path, family: str) -> KeyPair:
    """Load a PEM private key; a corrupt or unreadable file raises `MockIdPError` naming it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MockIdPError(f"{path}: cannot read key file: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise MockIdPError(f"{path}: not a usable PEM private key ({exc})") from None
    found = family_of_key(key)
    if found != family or not isinstance(
        key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)
    ):
        raise MockIdPError(f"{path}: expected a {family} key, got {type(key).__name__}"
                           + (f" ({found})" if found else ""))
    return make_pair(key, family)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600, exclusive: bool = False,
                 what: str = "file") -> bool:
    """Write ``data`` atomically: a temporary file in the same folder (``mode``), then a
    rename.  With ``exclusive`` an existing file is kept (the temporary file is hard-linked
    into place, which fails if the name exists) and False is returned.  Errors raise
    `MockIdPError` naming the file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            if exclusive:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    return False
                finally:
                    Path(tmp).unlink(missing_ok=True)
            else:
                os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise MockIdPError(f"{path}: cannot write {what}: {exc.strerror or exc}") from None
    return True


def write_key_file(path: Path, key: PrivateKey, exclusive: bool = False) -> bool:
    """Write a PEM private key atomically (see `write_atomic`); with ``exclusive`` an
    existing file is kept and False returned, so that providers starting together on one
    keys directory all end up with the same key."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return write_atomic(path, pem, exclusive=exclusive, what="key file")


class KeySet:
    """The keys of one issuer: an active pair per family, created on first use, plus the
    rotated-out pairs still published.  ``pooled`` (an issuer made on first use, no keys
    directory): its RSA keys come from the shared prime pool, cheap and not secret.
    Thread-safe: threads needing a family's first key at once get one key."""

    def __init__(self, issuer: str, keys_dir: Path | None = None, pooled: bool = False) -> None:
        self.issuer = issuer
        self.keys_dir = keys_dir
        self.pooled = pooled and keys_dir is None
        self._lock = threading.RLock()
        self._active: dict[str, KeyPair] = {}
        self._previous: dict[str, list[KeyPair]] = {}
        self._by_kid: dict[str, SigningKey] = {}
        self._jwks: dict[str, Any] | None = None
        self._retired: dict[str, KeyPair] = {}
        self._stray: dict[str, KeyPair] = {}
        self._loaded_previous = False
        self._previous_files: dict[str, Path] = {}  # thumbprint -> its file in previous/

    # -- files --------------------------------------------------------------------------------
    def _folder(self) -> Path | None:
        return self.keys_dir / self.issuer if self.keys_dir is not None else None

    def _load_previous(self) -> None:
        """Rotated-out keys still published, from ``previous/`` (once, under the lock)."""
        if self._loaded_previous:
            return
        self._loaded_previous = True
        folder = self._folder()
        if folder is None or not (folder / "previous").is_dir():
            return
        for path in sorted((folder / "previous").glob("*.pem")):
            family = path.name.split("-", 1)[0]
            if family not in FAMILIES:
                raise MockIdPError(f"{path}: expected a name like 'rsa-<thumbprint>.pem'")
            pair = load_key_file(path, family)
            self._previous.setdefault(family, []).append(pair)
            self._previous_files[pair.thumbprint] = path
            self._index(pair)

    def _index(self, pair: KeyPair) -> None:
        for key in pair.keys.values():
            self._by_kid[key.kid] = key
        self._jwks = None

    def _unindex(self, pair: KeyPair) -> None:
        for key in pair.keys.values():
            self._by_kid.pop(key.kid, None)
        self._jwks = None

    def _pair(self, family: str) -> KeyPair:
        pair = self._active.get(family)
        if pair is not None:
            return pair
        with self._lock:
            pair = self._active.get(family)
            if pair is None:
                self._load_previous()
                pair = self._load_or_create(family)
                self._drop_stale_copies(family, pair)
                self._active[family] = pair
                self._index(pair)
            return pair

    def _drop_stale_copies(self, family: str, active: KeyPair) -> None:
        """A rotation stopped between its two writes (the old key copied to ``previous/``, the
        new one not yet written) leaves the active key in ``previous/`` too: the active file
        wins and the copy goes, so the JWKS lists each kid once and retiring the rotated-out
        keys never retires the active one (caller holds the lock)."""
        copies = [p for p in self._previous.get(family, []) if p.thumbprint == active.thumbprint]
        for pair in copies:
            self._previous[family].remove(pair)
            path = self._previous_files.pop(pair.thumbprint, None)
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink()

    def _generate(self, family: str) -> PrivateKey:
        return POOL.key() if self.pooled and family == "rsa" else generate(family)

    def _load_or_create(self, family: str) -> KeyPair:
        folder = self._folder()
        if folder is None:
            return make_pair(self._generate(family), family)
        path = folder / f"{family}.pem"
        if path.exists():
            return load_key_file(path, family)
        key = generate(family)
        if not write_key_file(path, key, exclusive=True):
            return load_key_file(path, family)  # another provider wrote it first: share it
        return make_pair(key, family)

    # -- use ----------------------------------------------------------------------------------
    def active(self, alg: str) -> SigningKey:
        """The active signing key for ``alg`` (generated or loaded on first use)."""
        return self._pair(_check_alg(alg)).keys[alg]

    def ensure_all(self) -> None:
        """Create (or load) the active key of every family."""
        for family in FAMILIES:
            self._pair(family)

    def find(self, kid: str) -> SigningKey | None:
        """The published key with this ``kid`` (active or rotated out, not retired).

        With a keys directory, keys already on disk count even before they were first used
        here, so a restarted provider accepts what it (or ``mockidp mint``) signed before.
        """
        key = self._by_kid.get(kid)
        if key is None and (self.keys_dir is not None or not self._loaded_previous):
            with self._lock:
                self._load_previous()
                folder = self._folder()
                if folder is not None:
                    for family in FAMILIES:
                        if family not in self._active and (folder / f"{family}.pem").exists():
                            self._pair(family)
            key = self._by_kid.get(kid)
        return key

    def jwks(self) -> dict[str, Any]:
        """The public JWKS (RFC 7517 §5): active keys first, then rotated-out ones."""
        jwks = self._jwks
        if jwks is None:
            self.ensure_all()
            with self._lock:
                entries = [dict(k.public_jwk) for f in FAMILIES
                           for k in self._active[f].keys.values()]
                entries += [dict(k.public_jwk) for f in FAMILIES
                            for pair in self._previous.get(f, ()) for k in pair.keys.values()]
                jwks = self._jwks = {"keys": entries}
        return jwks

    def describe(self) -> list[dict[str, Any]]:
        """Every published key: kid, alg, kty and whether it is active."""
        self.ensure_all()
        with self._lock:
            out = [{"kid": k.kid, "alg": k.alg, "kty": k.public_jwk["kty"], "active": True}
                   for f in FAMILIES for k in self._active[f].keys.values()]
            out += [{"kid": k.kid, "alg": k.alg, "kty": k.public_jwk["kty"], "active": False}
                    for f in FAMILIES for pair in self._previous.get(f, ())
                    for k in pair.keys.values()]
            return out

    # -- rotation -----------------------------------------------------------------------------
    def rotate(self, alg: str | None = None) -> list[str]:
        """New active keys for ``alg``'s family (or every family); the old ones stay published.
        Returns the new kids."""
        families = (_check_alg(alg),) if alg is not None else FAMILIES
        new_kids: list[str] = []
        with self._lock:
            self._load_previous()
            for family in families:
                old = self._pair(family)
                fresh_key = self._generate(family)
                fresh = make_pair(fresh_key, family)
                folder = self._folder()
                if folder is not None:
                    write_key_file(folder / "previous" / f"{family}-{old.thumbprint}.pem",
                                   old.private_key)
                    write_key_file(folder / f"{family}.pem", fresh_key)
                self._previous.setdefault(family, []).append(old)
                self._active[family] = fresh
                self._index(fresh)
                new_kids += [k.kid for k in fresh.keys.values()]
        return new_kids

    def retire(self, kid: str | None = None) -> list[str]:
        """Stop publishing rotated-out keys: the one with ``kid`` (its whole pair), or all.
        Tokens they signed no longer verify.  Active keys cannot be retired (rotate first).
        Returns the kids removed."""
        removed: list[str] = []
        with self._lock:
            self._load_previous()
            if kid is not None:
                active = {k.kid for p in self._active.values() for k in p.keys.values()}
                if kid in active:
                    raise MockIdPError(f"key {kid!r} is active: rotate before retiring it")
            for family in FAMILIES:
                keep: list[KeyPair] = []
                for pair in self._previous.get(family, []):
                    kids = [k.kid for k in pair.keys.values()]
                    if kid is None or kid in kids:
                        self._unindex(pair)
                        self._retired[family] = pair
                        removed += kids
                        folder = self._folder()
                        if folder is not None:
                            path = folder / "previous" / f"{family}-{pair.thumbprint}.pem"
                            path.unlink(missing_ok=True)
                    else:
                        keep.append(pair)
                self._previous[family] = keep
            if kid is not None and not removed:
                raise MockIdPError(f"no rotated-out key with kid {kid!r}")
        return removed

    def retired(self, alg: str) -> SigningKey:
        """A key for ``alg`` that this issuer no longer publishes: the last retired one, or a
        fresh one that was never published (for bad tokens)."""
        family = _check_alg(alg)
        with self._lock:
            pair = self._retired.get(family)
            if pair is None:
                pair = self._retired[family] = make_pair(self._generate(family), family)
            return pair.keys[alg]

    def stray(self, alg: str) -> SigningKey:
        """A key for ``alg`` that was never this issuer's, with an unknown kid."""
        family = _check_alg(alg)
        with self._lock:
            pair = self._stray.get(family)
            if pair is None:
                pair = self._stray[family] = make_pair(self._generate(family), family)
            return pair.keys[alg]

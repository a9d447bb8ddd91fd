"""HTTPS for the server: a self-signed certificate made with cryptography, or your own files.

`self_signed` makes (or reuses) a certificate for ``localhost``, ``127.0.0.1`` and ``::1``
(plus any extra host names asked for, e.g. the public URL's) with an EC P-256 key.  With a
keys directory it lives in ``{keys_dir}/_tls/cert.pem`` and ``key.pem`` (issuer names cannot
start with ``_``, so this never collides with an issuer's keys) and is reused across restarts
while it is valid and names every host asked for; without one it goes to a fresh temporary
folder.  The certificate is its own trust anchor: give its path to a client (``requests``'
``verify=``, ``curl --cacert``, ``NODE_EXTRA_CA_CERTS``) or to the system trust store.

`check_files` validates a certificate and key of your own; `server_context` turns either into
an `ssl.SSLContext`.  Every problem raises `MockIdPError` naming the file.  This module never
imports Flask or werkzeug: the core may use it.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mockidp.core.errors import MockIdPError
from mockidp.tokens.keys import write_atomic

TLS_FOLDER = "_tls"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
LIFETIME = datetime.timedelta(days=365)
#: A stored certificate closer than this to its expiry is replaced at start.
RENEW_BEFORE = datetime.timedelta(days=7)


@dataclass(frozen=True)
class TlsFiles:
    """A certificate and private key in PEM files; ``generated``: made by mockidp."""

    cert: Path
    key: Path
    generated: bool


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _names(extra: Iterable[str]) -> list[str]:
    out: list[str] = []
    for name in (*DEFAULT_NAMES, *extra):
        name = name.strip("[]").lower()
        if name and name not in out and name not in ("0.0.0.0", "::"):
            out.append(name)
    return out


def _make_certificate(names: list[str]) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mockidp (test double)"),
        x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
    ])
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + LIFETIME)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]),
                       critical=False)
        # An end-entity certificate (browsers refuse a CA certificate used as a server's),
        # self-signed, so a client can trust it directly.
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MockIdPError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None


def _load_certificates(path: Path) -> list[x509.Certificate]:
    data = _read(path, "TLS certificate")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise MockIdPError(f"{path}: not a PEM certificate "
                           "(expected '-----BEGIN CERTIFICATE-----')")
    return certs


def _load_key(path: Path) -> PrivateKeyTypes:
    data = _read(path, "TLS private key")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise MockIdPError(f"{path}: the private key is encrypted; give an unencrypted PEM "
                           "key") from None
    except ValueError as exc:
        raise MockIdPError(f"{path}: not a usable PEM private key ({exc})") from None


def _spki(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def check_files(cert: str | Path, key: str | Path) -> TlsFiles:
    """Validate a certificate (chain) and its private key; `MockIdPError` names the bad file:
    unreadable, not PEM, an encrypted key, or a key that does not match the certificate."""
    cert_path, key_path = Path(cert), Path(key)
    leaf = _load_certificates(cert_path)[0]
    private_key = _load_key(key_path)
    if _spki(leaf.public_key()) != _spki(private_key.public_key()):
        raise MockIdPError(f"{key_path}: this private key does not match the certificate "
                           f"{cert_path}")
    return TlsFiles(cert_path, key_path, generated=False)


def _still_good(files: TlsFiles, names: list[str]) -> bool:
    """A stored certificate is reused while it is valid a while longer and names every host."""
    cert = _load_certificates(files.cert)[0]
    check_files(files.cert, files.key)
    if cert.not_valid_after_utc - RENEW_BEFORE < _now():
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(n.value).lower() for n in san}
    return all(name in have for name in names)


def self_signed(keys_dir: str | Path | None, extra_names: Iterable[str] = ()) -> TlsFiles:
    """A self-signed certificate for localhost, 127.0.0.1, ::1 and ``extra_names``.

    With ``keys_dir``: reuse ``{keys_dir}/_tls/cert.pem`` and ``key.pem`` when they are valid
    for at least a week more and name every host, else make new ones there (the key file is
    readable by its owner only).  Without: a new pair in a new temporary folder, which the
    caller may delete.  An unreadable or corrupt stored file raises `MockIdPError` naming it.
    """
    names = _names(extra_names)
    if keys_dir is not None:
        folder = Path(keys_dir) / TLS_FOLDER
        stored = TlsFiles(folder / CERT_FILE, folder / KEY_FILE, generated=True)
        if stored.cert.exists() and stored.key.exists() and _still_good(stored, names):
            return stored
    else:
        folder = Path(tempfile.mkdtemp(prefix="mockidp-tls-"))
    cert, key = _make_certificate(names)
    files = TlsFiles(folder / CERT_FILE, folder / KEY_FILE, generated=True)
    write_atomic(files.key, key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()), mode=0o600)
    write_atomic(files.cert, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return files


def certificate_names(cert: str | Path) -> list[str]:
    """The DNS names and IP addresses a certificate's subject alternative names list."""
    leaf = _load_certificates(Path(cert))[0]
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(name.value) for name in san]


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A server-side `ssl.SSLContext` (TLS 1.2 or later) for ``files``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.cert, files.key)
    except (OSError, ssl.SSLError) as exc:
        raise MockIdPError(f"{files.cert} with {files.key}: cannot be used for TLS: "
                           f"{getattr(exc, 'reason', None) or exc}") from None
    return context

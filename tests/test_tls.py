"""HTTPS: ``MockIdP(tls=True)`` / ``mockidp serve --tls`` with a self-signed certificate made at
start, or ``--tls-cert``/``--tls-key`` with your own; clients trust the printed file."""

from __future__ import annotations

import datetime
import gc
import queue
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mockidp import MockIdP
from mockidp.core.errors import MockIdPError

from .conftest import REDIRECT, SAMPLE_CONFIG, pkce_pair, query_of
from .local_server import clean_env, pump_lines

MOCKIDP = Path(sys.executable).with_name("mockidp")
START_TIMEOUT = 30.0
HTTP_TIMEOUT = 10.0


def discovery(issuer: str, verify: Path | str) -> dict[str, Any]:
    response = requests.get(f"{issuer}/.well-known/openid-configuration", verify=str(verify),
                            timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def san_of(cert: Path) -> set[str]:
    leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(name.value) for name in names}


def make_cert(folder: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A certificate and key of the test's own (not mockidp's), for localhost and 127.0.0.1."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def served_certificate(port: int) -> bytes:
    """The DER certificate the server presents (not verified: just read)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def pem_to_der(path: Path) -> bytes:
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(
        serialization.Encoding.DER)


# -- Python API -------------------------------------------------------------------------------

def test_discovery_over_https_with_the_generated_certificate() -> None:
    with MockIdP(tls=True) as idp:
        assert idp.tls and idp.tls_cert is not None
        assert idp.url.startswith("https://127.0.0.1:")
        issuer = idp.issuer_url()
        assert issuer.startswith("https://")
        doc = discovery(issuer, idp.tls_cert)
        assert doc["issuer"] == issuer
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
            assert doc[name].startswith(issuer + "/"), (name, doc[name])
        # The certificate names both localhost and 127.0.0.1: either works with verification.
        assert {"localhost", "127.0.0.1"} <= san_of(idp.tls_cert)
        by_name = discovery(issuer.replace("127.0.0.1", "localhost"), idp.tls_cert)
        assert by_name["issuer"] == issuer.replace("127.0.0.1", "localhost")
        # Not trusted by default: it is self-signed.
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{issuer}/jwks", timeout=HTTP_TIMEOUT)


@dataclass
class TrustingClient:
    """requests, trusting one certificate file."""

    cert: str

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return requests.get(url, verify=self.cert, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return requests.post(url, verify=self.cert, **kwargs)


def test_code_flow_over_https() -> None:
    verifier, challenge = pkce_pair()
    with MockIdP(SAMPLE_CONFIG, tls=True) as idp:
        # verify= on every call: a Session's verify loses to REQUESTS_CA_BUNDLE in requests.
        http = TrustingClient(str(idp.tls_cert))
        issuer = idp.issuer_url()
        doc = http.get(f"{issuer}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT).json()
        response = http.get(doc["authorization_endpoint"], allow_redirects=False,
                            timeout=HTTP_TIMEOUT, params={
                                "response_type": "code", "client_id": "web-app",
                                "redirect_uri": REDIRECT, "scope": "openid email",
                                "state": "st", "nonce": "nn", "login_hint": "alice",
                                "code_challenge": challenge, "code_challenge_method": "S256"})
        assert response.status_code == 302, response.text
        params = query_of(response.headers["Location"])
        assert params["iss"] == issuer  # RFC 9207: the https issuer
        tokens = http.post(doc["token_endpoint"], auth=("web-app", "web-secret"),
                           timeout=HTTP_TIMEOUT, data={
                               "grant_type": "authorization_code", "code": params["code"],
                               "redirect_uri": REDIRECT, "code_verifier": verifier})
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        jwks = http.get(doc["jwks_uri"], timeout=HTTP_TIMEOUT).json()
        kid = jwt.get_unverified_header(body["id_token"])["kid"]
        key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
        claims = jwt.decode(body["id_token"], key.key, algorithms=[key.algorithm_name],
                            audience="web-app", issuer=issuer)
        assert claims["sub"] == "alice" and claims["nonce"] == "nn"
        info = http.get(doc["userinfo_endpoint"], timeout=HTTP_TIMEOUT,
                        headers={"Authorization": f"Bearer {body['access_token']}"})
        assert info.json()["email"] == "alice@example.com"


def test_own_certificate_and_key(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    with MockIdP(tls_cert=cert, tls_key=key) as idp:
        assert idp.tls_cert == cert
        assert served_certificate(int(idp.url.rsplit(":", 1)[1])) == pem_to_der(cert)
        assert discovery(idp.issuer_url(), cert)["issuer"].startswith("https://")


def test_keys_dir_keeps_the_certificate(tmp_path: Path) -> None:
    first = MockIdP(tls=True, keys_dir=tmp_path)
    assert first.tls_cert == tmp_path / "_tls" / "cert.pem"
    assert (tmp_path / "_tls" / "key.pem").stat().st_mode & 0o077 == 0  # owner only
    again = MockIdP(tls=True, keys_dir=tmp_path)
    assert again.tls_cert is not None
    assert again.tls_cert.read_bytes() == first.tls_cert.read_bytes()  # reused, not remade
    # A public URL's host the stored certificate does not name: a new one that does.
    other = MockIdP(tls=True, keys_dir=tmp_path, public_url="https://idp.test:8443")
    assert other.tls_cert is not None and "idp.test" in san_of(other.tls_cert)
    # The signing keys' issuers are untouched by the _tls folder.
    assert [k["active"] for k in other.keys("default")]


def test_temporary_certificate_goes_with_its_provider() -> None:
    idp = MockIdP(tls=True)
    folder = idp.tls_cert.parent if idp.tls_cert else None
    assert folder is not None and folder.is_dir()
    del idp
    gc.collect()
    assert not folder.exists()


def test_an_idle_connection_does_not_block_others() -> None:
    with MockIdP(tls=True) as idp:
        port = int(idp.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT) as idle:
            idle.sendall(b"")  # connected, says nothing: no handshake
            assert discovery(idp.issuer_url(), str(idp.tls_cert))
        # Plain HTTP on the HTTPS port fails for that client only.
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(idp.url.replace("https:", "http:") + "/default/jwks",
                         timeout=HTTP_TIMEOUT)
        assert discovery(idp.issuer_url(), str(idp.tls_cert))


@pytest.mark.parametrize("problem", ["missing", "garbage", "encrypted", "mismatch"])
def test_bad_files_name_the_file(tmp_path: Path, problem: str) -> None:
    cert, key = make_cert(tmp_path)
    other_cert, _ = make_cert(tmp_path, "other")
    named = {"missing": cert, "garbage": cert, "encrypted": key, "mismatch": key}[problem]
    if problem == "missing":
        cert.unlink()
    elif problem == "garbage":
        cert.write_text("not a certificate\n")
    elif problem == "encrypted":
        loaded = serialization.load_pem_private_key(key.read_bytes(), password=None)
        key.write_bytes(loaded.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret")))
    else:
        cert = other_cert
    with pytest.raises(MockIdPError) as caught:
        MockIdP(tls_cert=cert, tls_key=key)
    message = str(caught.value)
    assert message.startswith(f"{named}: "), message
    expected = {"missing": "cannot read", "garbage": "not a PEM certificate",
                "encrypted": "encrypted", "mismatch": f"does not match the certificate {cert}"}
    assert expected[problem] in message


def test_cert_without_key_is_refused(tmp_path: Path) -> None:
    cert, _ = make_cert(tmp_path)
    with pytest.raises(MockIdPError, match="tls_cert and tls_key"):
        MockIdP(tls_cert=cert)


def test_a_corrupt_stored_certificate_names_the_file(tmp_path: Path) -> None:
    stored = MockIdP(tls=True, keys_dir=tmp_path).tls_cert
    assert stored is not None
    stored.write_text("broken\n")
    with pytest.raises(MockIdPError, match=f"^{stored}: not a PEM certificate"):
        MockIdP(tls=True, keys_dir=tmp_path)


# -- CLI --------------------------------------------------------------------------------------

@dataclass
class Served:
    process: subprocess.Popen[str]
    lines: list[str]

    def value(self, label: str) -> str:
        return next(line for line in self.lines if line.startswith(label))[len(label):].strip()


@contextmanager
def serve(*args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """``mockidp serve ARGS`` until its start-up lines are out; always killed after."""
    process = subprocess.Popen([str(MOCKIDP), "serve", "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, env=clean_env(env))
    try:
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=pump_lines, args=(process.stdout, lines), daemon=True).start()
        seen: list[str] = []
        while not any(line.startswith("Any other issuer") for line in seen):
            try:
                line = lines.get(timeout=START_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no start-up lines within {START_TIMEOUT}s: {seen}")
            if line is None:
                pytest.fail(f"mockidp serve exited ({process.wait(5)}): {seen}")
            seen.append(line)
        yield Served(process, seen)
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_serve_tls_prints_https_issuer_and_the_certificate(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    with serve("--tls", "--keys-dir", str(keys)) as server:
        issuer = server.value("Issuer:")
        assert issuer.startswith("https://127.0.0.1:") and issuer.endswith("/default")
        cert = keys / "_tls" / "cert.pem"
        tls_line = server.value("TLS:")
        assert str(cert) in tls_line and "localhost" in tls_line and "127.0.0.1" in tls_line
        assert discovery(issuer, cert)["issuer"] == issuer
        first = cert.read_bytes()
    with serve(env={"MOCKIDP_TLS": "true", "MOCKIDP_KEYS_DIR": str(keys)}) as server:
        issuer = server.value("Issuer:")
        assert discovery(issuer, cert)["issuer"] == issuer
        assert cert.read_bytes() == first  # the keys directory keeps it across restarts


def test_serve_with_own_certificate_from_env(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    with serve(env={"MOCKIDP_TLS_CERT": str(cert), "MOCKIDP_TLS_KEY": str(key)}) as server:
        issuer = server.value("Issuer:")
        assert issuer.startswith("https://")
        assert str(cert) in server.value("TLS:")
        port = int(issuer.split(":")[2].split("/")[0])
        assert served_certificate(port) == pem_to_der(cert)
        assert discovery(issuer, cert)["issuer"] == issuer


def _serve_fails(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(MOCKIDP), "serve", "--port", "0", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, env=clean_env(),
                          timeout=START_TIMEOUT)
    assert done.returncode != 0
    assert "Issuer:" not in done.stdout
    assert "Traceback" not in done.stderr
    return done


def test_serve_with_a_bad_certificate_names_the_file(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    cert.write_text("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    done = _serve_fails("--tls-cert", str(cert), "--tls-key", str(key))
    assert f"{cert}: not a PEM certificate" in done.stderr, done.stderr


def test_serve_with_a_key_of_another_certificate_names_both(tmp_path: Path) -> None:
    cert, _ = make_cert(tmp_path)
    _, other_key = make_cert(tmp_path, "other")
    done = _serve_fails("--tls-cert", str(cert), "--tls-key", str(other_key))
    assert f"{other_key}: this private key does not match the certificate {cert}" \
        in done.stderr, done.stderr


def test_serve_with_cert_but_no_key_says_both_are_needed(tmp_path: Path) -> None:
    cert, _ = make_cert(tmp_path)
    done = _serve_fails("--tls-cert", str(cert))
    assert "--tls-cert and --tls-key" in done.stderr, done.stderr

"""The keys directory is reliable: never a partial file, a bad file stops start-up naming it, and
a restarted provider still accepts what it issued before.

- Writes are atomic: while keys rotate, a reader of the directory only ever finds complete PEM
  private keys, and no temporary file is left behind.
- A corrupt, truncated, unreadable or misplaced key file stops start-up (`MockIdP.start`, the
  ``serve`` command) with a message naming the file, instead of answering 500 to every request
  that needs a key.
- After a restart on the same directory, tokens issued before (with active or rotated-out keys)
  introspect as active and verify with PyJWT against the new server's JWKS; so do tokens of
  providers that share the directory (pytest-xdist workers with ``mockidp_keys_dir``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from mockidp import MockIdP, MockIdPError

from .local_server import mockidp_serve

TIMEOUT = 10.0
FAMILIES = ("rsa", "p256", "p384", "p521", "ed25519")
PUBLIC = "http://idp.test"  # a fixed issuer URL, whatever port each run gets
ALGS = ("RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA")
CONFIG = {"public_url": PUBLIC,
          "clients": {f"app-{alg.lower()}": {"secret": "s", "signing_alg": alg} for alg in ALGS}}


def pem_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def load(path: Path) -> object:
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


@contextlib.contextmanager
def serving(keys_dir: Path, config: dict | None = None) -> Iterator[MockIdP]:
    idp = MockIdP(config or CONFIG, keys_dir=keys_dir)
    idp.start()
    try:
        yield idp
    finally:
        idp.stop()


def verified(server: MockIdP, token: str) -> dict:
    """What a resource server sees: the signature checked with ``server``'s published JWKS."""
    key = jwt.PyJWKClient(server.url + "/default/jwks").get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=[key.algorithm_name], issuer=PUBLIC + "/default",
                      options={"verify_aud": False})


def introspected(server: MockIdP, token: str) -> bool:
    response = requests.post(server.url + "/default/introspect", data={"token": token},
                             timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


def client_token(server: MockIdP, alg: str) -> str:
    response = requests.post(server.url + "/default/token", auth=(f"app-{alg.lower()}", "s"),
                             data={"grant_type": "client_credentials"}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == alg
    return token


# -- atomic writes -------------------------------------------------------------------------------

def test_readers_never_see_a_partial_key_file_while_keys_rotate(tmp_path: Path) -> None:
    idp = MockIdP(keys_dir=tmp_path)
    idp.jwks()  # every family on disk
    folder = tmp_path / "default"
    stop = threading.Event()
    seen: list[str] = []
    bad: list[str] = []

    def read_continuously() -> None:
        while not stop.is_set():
            for path in pem_files(folder):
                if path.name.startswith("."):
                    continue  # a temporary file being written, not a key file (yet)
                try:
                    load(path)
                except FileNotFoundError:
                    continue  # retired meanwhile
                except (ValueError, TypeError) as exc:
                    bad.append(f"{path.relative_to(tmp_path)}: {exc}")
                seen.append(path.name)

    def rotate(alg: str, times: int) -> None:
        for _ in range(times):
            idp.rotate_keys(alg=alg)

    reader = threading.Thread(target=read_continuously, daemon=True)
    rotators = [threading.Thread(target=rotate, args=(alg, n), daemon=True)
                for alg, n in (("EdDSA", 30), ("ES256", 30), ("ES384", 10), ("RS256", 2))]
    reader.start()
    try:
        for thread in rotators:
            thread.start()
        for thread in rotators:
            thread.join(120)
        assert not [t for t in rotators if t.is_alive()]
    finally:
        stop.set()
        reader.join(30)
    assert not bad, bad[:5]
    assert seen
    assert_complete_and_consistent(idp, tmp_path)


def test_concurrent_rotations_leave_only_complete_keys(tmp_path: Path) -> None:
    idp = MockIdP(keys_dir=tmp_path)
    idp.jwks()
    barrier = threading.Barrier(6)

    def rotate() -> None:
        barrier.wait(TIMEOUT)
        for _ in range(5):
            idp.rotate_keys(alg="EdDSA")
            idp.rotate_keys(alg="ES256")

    threads = [threading.Thread(target=rotate, daemon=True) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert_complete_and_consistent(idp, tmp_path)
    previous = {p.name.split("-", 1)[0] for p in (tmp_path / "default" / "previous").iterdir()}
    assert previous == {"ed25519", "p256"}
    assert len(list((tmp_path / "default" / "previous").glob("ed25519-*.pem"))) == 30


def assert_complete_and_consistent(idp: MockIdP, keys_dir: Path) -> None:
    """Only complete, private PEM keys on disk, no temporary files; a provider started on the
    directory publishes exactly what ``idp`` publishes."""
    files = pem_files(keys_dir)
    assert not [p for p in files if p.name.startswith(".") or p.suffix != ".pem"], files
    for path in files:
        load(path)
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
    assert {p.name for p in (keys_dir / "default").glob("*.pem")} == {f"{f}.pem" for f in FAMILIES}
    restarted = MockIdP(keys_dir=keys_dir)
    assert published(restarted) == published(idp)


def published(idp: MockIdP) -> set[tuple[str, str, bool]]:
    described = idp.keys()
    return {(k["kid"], k["alg"], k["active"]) for k in described}


# -- bad key files stop start-up -----------------------------------------------------------------

def corrupt(keys_dir: Path, how: str) -> Path:
    """Break one key file of a directory made by a provider; the path that is bad."""
    MockIdP(keys_dir=keys_dir).jwks()
    folder = keys_dir / "default"
    bad = folder / "rsa.pem"
    if how == "garbage":
        bad.write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    elif how == "truncated":  # what a non-atomic write interrupted half-way would leave
        data = bad.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        bad.write_bytes(b"")
    elif how == "not-pem":
        bad.write_bytes(os.urandom(512))
    elif how == "wrong-type":
        bad.write_bytes((folder / "p256.pem").read_bytes())
    elif how == "directory":
        bad.unlink()
        bad.mkdir()
    elif how == "unreadable":
        bad.chmod(0)
    elif how == "previous":
        MockIdP(keys_dir=keys_dir).rotate_keys(alg="ES256")
        (bad,) = (folder / "previous").glob("p256-*.pem")
        bad.write_text("not a key")
    else:  # pragma: no cover
        raise AssertionError(how)
    return bad


KINDS = ["garbage", "truncated", "empty", "not-pem", "wrong-type", "directory", "unreadable",
         "previous"]


@pytest.mark.parametrize("how", KINDS)
def test_a_bad_key_file_stops_start_up_naming_the_file(tmp_path: Path, how: str) -> None:
    if how == "unreadable" and os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode (covered by 'directory')")
    bad = corrupt(tmp_path, how)
    try:
        idp = MockIdP(CONFIG, keys_dir=tmp_path)
        idp.start()
    except MockIdPError as exc:
        assert str(bad) in str(exc)
        return
    try:  # it started: what does a client see?
        answer = requests.get(idp.url + "/default/jwks", timeout=TIMEOUT)
    finally:
        idp.stop()
    pytest.fail(f"started with the bad key file {bad}; GET /default/jwks then answered "
                f"{answer.status_code} {answer.text[:200]}")


@pytest.mark.parametrize("how", ["garbage", "truncated", "directory", "previous"])
def test_serve_refuses_to_start_with_a_bad_key_file(tmp_path: Path, how: str) -> None:
    bad = corrupt(tmp_path, how)
    with mockidp_serve("--port", "0", "--keys-dir", str(tmp_path)) as served:
        issuer = served.issuer()
        assert issuer is None, f"serve started with the bad key file {bad}: {served.output}"
        assert served.process.wait(TIMEOUT) != 0
        assert str(bad) in served.output
        assert "Traceback" not in served.output


# -- a restart keeps validating what was issued --------------------------------------------------

def test_a_restart_validates_tokens_issued_before(tmp_path: Path) -> None:
    with serving(tmp_path) as first:
        before_rotation = {alg: client_token(first, alg) for alg in ALGS}
        first.rotate_keys()  # every family: the tokens above are now signed by previous keys
        after_rotation = {alg: client_token(first, alg) for alg in ALGS}
        minted = first.mint("alice", audience="api")
        keys = published(first)
    with serving(tmp_path) as second:
        assert published(second) == keys
        for token in [*before_rotation.values(), *after_rotation.values(), minted]:
            assert introspected(second, token), jwt.get_unverified_header(token)
            claims = verified(second, token)
            assert claims["iss"] == PUBLIC + "/default"
        # and the keys it signs with now are the ones active before the restart
        again = client_token(second, "RS256")
        assert jwt.get_unverified_header(again)["kid"] == \
            jwt.get_unverified_header(after_rotation["RS256"])["kid"]


def test_a_restart_after_retiring_keeps_them_retired(tmp_path: Path) -> None:
    with serving(tmp_path) as first:
        old = client_token(first, "ES256")
        first.rotate_keys(alg="ES256")
        first.retire_keys()
        assert not introspected(first, old)
    with serving(tmp_path) as second:
        assert not introspected(second, old)
        with pytest.raises(jwt.PyJWKClientError):
            verified(second, old)


def test_providers_sharing_a_keys_directory_agree_on_the_keys(tmp_path: Path) -> None:
    """Several providers on one directory (pytest-xdist workers with ``mockidp_keys_dir``,
    or containers sharing a volume) create the keys at the same moment: they must end up
    signing with the same keys, those on disk, so that each accepts the others' tokens and
    a restart accepts them all."""
    providers = [MockIdP(CONFIG, keys_dir=tmp_path) for _ in range(4)]
    barrier = threading.Barrier(len(providers))
    tokens: dict[int, str] = {}

    def first_use(i: int) -> None:
        barrier.wait(TIMEOUT)
        tokens[i] = providers[i].mint("alice", alg="EdDSA")

    threads = [threading.Thread(target=first_use, args=(i,), daemon=True)
               for i in range(len(providers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(tokens) == len(providers)
    kids = {jwt.get_unverified_header(token)["kid"] for token in tokens.values()}
    assert len(kids) == 1, f"{len(kids)} different EdDSA keys for one keys directory"
    with serving(tmp_path) as restarted:
        for token in tokens.values():
            assert introspected(restarted, token)
            verified(restarted, token)

"""Keys: generated per issuer, or kept in a keys directory written atomically."""

from __future__ import annotations

import re
from pathlib import Path

import jwt
import pytest
import requests

from mockidp import MockIdP, MockIdPError

FILES = ["ed25519.pem", "p256.pem", "p384.pem", "p521.pem", "rsa.pem"]


def test_keys_directory_survives_a_restart(tmp_path: Path) -> None:
    with MockIdP(keys_dir=tmp_path) as first:
        response = requests.post(f"{first.issuer_url()}/token", auth=("c", "s"),
                                 data={"grant_type": "client_credentials"})
        token = response.json()["access_token"]
        kids = {k["kid"] for k in first.jwks()["keys"]}
    assert sorted(p.name for p in (tmp_path / "default").iterdir()) == FILES
    with MockIdP(keys_dir=tmp_path) as second:
        assert {k["kid"] for k in second.jwks()["keys"]} == kids
        check = requests.post(f"{second.issuer_url()}/introspect", data={"token": token})
        assert check.json()["active"] is True


def test_without_keys_dir_every_provider_has_its_own_keys() -> None:
    one, two = MockIdP(), MockIdP()
    token = one.mint("alice")
    with pytest.raises(jwt.PyJWTError):
        jwk = two.jwks()["keys"][0]
        jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"],
                   options={"verify_aud": False})


def test_key_files_are_private_and_no_temp_files_left(tmp_path: Path) -> None:
    MockIdP(keys_dir=tmp_path).jwks()
    files = list((tmp_path / "default").iterdir())
    assert sorted(f.name for f in files) == FILES
    for file in files:
        assert file.stat().st_mode & 0o077 == 0


def test_corrupt_key_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "default").mkdir()
    bad = tmp_path / "default" / "rsa.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    with pytest.raises(MockIdPError, match=re.escape(str(bad))):
        MockIdP(keys_dir=tmp_path).mint("alice")


def test_wrong_key_type_names_the_file(tmp_path: Path) -> None:
    MockIdP(keys_dir=tmp_path).jwks()
    rs = tmp_path / "default" / "rsa.pem"
    es = tmp_path / "default" / "p256.pem"
    rs.write_bytes(es.read_bytes())
    with pytest.raises(MockIdPError, match=r"rsa\.pem: expected a rsa key"):
        MockIdP(keys_dir=tmp_path).mint("alice")


def test_kid_is_derived_from_the_thumbprint(tmp_path: Path) -> None:
    from jwcrypto import jwk

    jwks = MockIdP(keys_dir=tmp_path).jwks()
    for key in jwks["keys"]:
        thumb = jwk.JWK(**key).thumbprint()
        assert key["kid"] in (thumb, f"{thumb}-{key['alg']}")

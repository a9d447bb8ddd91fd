"""Keys: generated per issuer, or kept in a keys directory written atomically.

Keys are made when first needed, per family, and the JWKS lists every algorithm.  Issuers made
on first use are cheap: their RSA keys are products of pooled primes (`mockidp.tokens.keypool`),
each issuer's its own.
"""

from __future__ import annotations

import base64
import math
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from mockidp import MockIdP, MockIdPError

FILES = ["ed25519.pem", "p256.pem", "p384.pem", "p521.pem", "rsa.pem"]
ALL_ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
            "EdDSA"}


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


# -- issuers made on first use are cheap ----------------------------------------------------------

@pytest.fixture
def generated(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts the RSA keys generated in full while the test runs (the costly part of a key set:
    about 40 ms each)."""
    counts: Counter[str] = Counter()
    generate = rsa.generate_private_key

    def counting(*args: Any, **kwargs: Any) -> rsa.RSAPrivateKey:
        counts["rsa"] += 1
        return generate(*args, **kwargs)

    monkeypatch.setattr(rsa, "generate_private_key", counting)
    yield counts


def algs(jwks: dict[str, Any]) -> set[str]:
    return {key["alg"] for key in jwks["keys"]}


def modulus(jwks: dict[str, Any]) -> int:
    (n,) = {key["n"] for key in jwks["keys"] if key["kty"] == "RSA"}
    return int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big")


def test_first_use_issuers_cost_no_rsa_generation_each(generated: Counter[str]) -> None:
    """200 anonymous ``GET /x{i}/jwks``: 200 complete JWKS, each with an RSA key of its own,
    for at most 10 RSA keys generated in full (20 pooled primes make 190 pairs, 21 make 210),
    not 200; the declared issuers' keys share no prime with them."""
    with MockIdP({"issuers": {"declared": {}}}) as idp, requests.Session() as http:
        own = [modulus(idp.jwks()), modulus(idp.jwks("declared"))]
        before = generated["rsa"]
        moduli = []
        for i in range(200):
            response = http.get(f"{idp.url}/x{i}/jwks", timeout=10)
            assert response.status_code == 200, response.text
            assert algs(response.json()) == ALL_ALGS
            moduli.append(modulus(response.json()))
    assert generated["rsa"] - before <= 11, f"{generated['rsa'] - before} RSA keys generated"
    assert len(set(moduli)) == 200, "two issuers share an RSA key"
    assert {n.bit_length() for n in moduli} == {2048}
    assert all(math.gcd(n, m) == 1 for n in own for m in moduli)


def test_strict_first_use_issuers_get_keys_generated_in_full(generated: Counter[str]) -> None:
    """Pooled keys are not secret: a strict issuer (tokens only for registered clients) made
    on first use gets its RSA key generated in full, sharing no prime with the pool's."""
    with MockIdP({"strict": True}) as idp, requests.Session() as http:
        idp.issuer("default").keys.ensure_all()  # the keys made ahead at start are not counted
        before = generated["rsa"]
        moduli = [modulus(http.get(f"{idp.url}/s{i}/jwks", timeout=10).json())
                  for i in range(3)]
    assert generated["rsa"] - before == 3
    assert len(set(moduli)) == 3


def test_tokens_of_every_alg_verify_with_a_jwks_fetched_before() -> None:
    """A resource server fetches the JWKS of an issuer made on first use before any token: it
    already holds the key of every algorithm (PyJWKClient would wait 30 s before fetching it
    again for an unknown kid), and another issuer's JWKS holds none of them."""
    with MockIdP() as idp:
        client = jwt.PyJWKClient(f"{idp.url}/fresh/jwks")
        other = jwt.PyJWKClient(f"{idp.url}/other/jwks")
        assert {key.algorithm_name for key in client.get_signing_keys()} == ALL_ALGS
        assert other.get_signing_keys()
        tokens = {alg: idp.mint("alice", issuer="fresh", alg=alg, audience="api")
                  for alg in sorted(ALL_ALGS)}
        idp.rotate_keys("fresh")  # rotated-out pooled keys stay published
        tokens["new"] = idp.mint("alice", issuer="fresh", audience="api")
        client = jwt.PyJWKClient(f"{idp.url}/fresh/jwks")
        for name, token in tokens.items():
            key = client.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=[key.algorithm_name],
                                audience="api", issuer=idp.issuer_url("fresh"))
            assert claims["sub"] == "alice", name
            with pytest.raises(jwt.PyJWKClientError):
                other.get_signing_key_from_jwt(token)


def test_concurrent_first_use_makes_one_key_per_issuer(generated: Counter[str]) -> None:
    """16 threads, two per new issuer, sign and publish at once: one RSA key per issuer, each
    issuer's its own, and 8 issuers cost at most 3 RSA keys generated in full."""
    idp = MockIdP()
    barrier = threading.Barrier(16)
    kids: dict[str, set[str]] = {f"c{i}": set() for i in range(8)}
    lock = threading.Lock()

    def first_use(i: int) -> None:
        issuer = f"c{i // 2}"
        barrier.wait(10)
        if i % 2:
            kid = jwt.get_unverified_header(idp.mint(issuer=issuer))["kid"]
        else:
            (kid,) = {k["kid"] for k in idp.jwks(issuer)["keys"] if k["alg"] == "RS256"}
        with lock:
            kids[issuer].add(kid)

    threads = [threading.Thread(target=first_use, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(len(found) == 1 for found in kids.values()), kids
    assert len({kid for found in kids.values() for kid in found}) == 8
    assert len({modulus(idp.jwks(issuer)) for issuer in kids}) == 8
    assert generated["rsa"] <= 3

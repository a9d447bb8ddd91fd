"""Signing algorithms, key rotation, access-token formats and the public issuer URL."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import jwt
import pytest
import requests
from click.testing import CliRunner
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt

from mockidp import MockIdP
from mockidp.cli import main
from mockidp.core.settings import SIGNING_ALGS

from .conftest import code_for, token_url


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def verify_pyjwt(idp: MockIdP, token: str, audience: str, issuer: str = "default") -> dict:
    client = jwt.PyJWKClient(f"{idp.issuer_url(issuer)}/jwks", cache_keys=False)
    key = client.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=[jwt.get_unverified_header(token)["alg"]],
                      audience=audience, issuer=idp.issuer_url(issuer))


def verify_jwcrypto(idp: MockIdP, token: str, issuer: str = "default") -> dict:
    keyset = jwcrypto_jwk.JWKSet.from_json(requests.get(f"{idp.issuer_url(issuer)}/jwks").text)
    parsed = jwcrypto_jwt.JWT(jwt=token, key=keyset, expected_type="JWS",
                              algs=list(SIGNING_ALGS))
    return dict(json.loads(parsed.claims))


def code_tokens(idp: MockIdP, client_id: str, secret: str) -> dict:
    code = code_for(idp, client_id=client_id, redirect_uri="http://localhost/cb",
                    scope="openid email", nonce="n")
    response = requests.post(token_url(idp), auth=(client_id, secret),
                             data={"grant_type": "authorization_code", "code": code,
                                   "redirect_uri": "http://localhost/cb"})
    assert response.status_code == 200, response.text
    return response.json()


# -- algorithms ---------------------------------------------------------------------------------

@pytest.mark.parametrize("alg", SIGNING_ALGS)
def test_every_algorithm_from_the_token_endpoint(mockidp: MockIdP, alg: str) -> None:
    mockidp.add_client("c-" + alg, "s", signing_alg=alg, redirect_uris=["http://localhost/cb"])
    tokens = code_tokens(mockidp, "c-" + alg, "s")
    for name in ("access_token", "id_token"):
        assert jwt.get_unverified_header(tokens[name])["alg"] == alg
    assert verify_pyjwt(mockidp, tokens["access_token"], "c-" + alg)["sub"] == "alice"
    assert verify_jwcrypto(mockidp, tokens["id_token"])["aud"] == "c-" + alg
    # at_hash: left half of the hash named by the algorithm (SHA-512 for EdDSA/Ed25519)
    hasher = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}[
        "512" if alg == "EdDSA" else alg[-3:]]
    digest = hasher(tokens["access_token"].encode()).digest()
    expected = base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()
    assert claims_of(tokens["id_token"])["at_hash"] == expected


@pytest.mark.parametrize("alg", SIGNING_ALGS)
def test_every_algorithm_minted_directly(mockidp: MockIdP, alg: str) -> None:
    token = mockidp.mint("alice", audience="api", alg=alg)
    assert verify_pyjwt(mockidp, token, "api")["sub"] == "alice"


def test_id_token_signed_response_alg_per_client(mockidp: MockIdP) -> None:
    mockidp.add_client("split", "s", redirect_uris=["http://localhost/cb"],
                       id_token_signed_response_alg="EdDSA", signing_alg="PS384")
    tokens = code_tokens(mockidp, "split", "s")
    assert jwt.get_unverified_header(tokens["id_token"])["alg"] == "EdDSA"
    assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "PS384"
    assert verify_jwcrypto(mockidp, tokens["id_token"])["sub"] == "alice"


def test_issuer_algorithm_from_config() -> None:
    with MockIdP({"issuers": {"eu": {"signing_alg": "ES384"}}}) as idp:
        body = requests.post(token_url(idp, "eu"), auth=("c", "s"),
                             data={"grant_type": "client_credentials"}).json()
        assert jwt.get_unverified_header(body["access_token"])["alg"] == "ES384"
        assert verify_pyjwt(idp, body["access_token"], "c", "eu")["sub"] == "c"


def test_jwks_lists_every_algorithm_once_with_distinct_kids(mockidp: MockIdP) -> None:
    keys = requests.get(f"{mockidp.issuer_url()}/jwks").json()["keys"]
    assert sorted(k["alg"] for k in keys) == sorted(SIGNING_ALGS)
    assert len({k["kid"] for k in keys}) == len(keys)
    assert {k["kty"] for k in keys} == {"RSA", "EC", "OKP"}


# -- rotation -----------------------------------------------------------------------------------

def test_rotation_keeps_old_keys_published_until_retired(mockidp: MockIdP) -> None:
    old_token = mockidp.mint("alice", audience="api")
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    new_kids = mockidp.rotate_keys(alg="RS256")
    new_token = mockidp.mint("alice", audience="api")
    assert jwt.get_unverified_header(new_token)["kid"] in new_kids
    published = {k["kid"] for k in mockidp.jwks()["keys"]}
    assert old_kid in published and jwt.get_unverified_header(new_token)["kid"] in published
    # a resource server that refreshes its JWKS still accepts both
    assert verify_pyjwt(mockidp, old_token, "api")["sub"] == "alice"
    assert verify_pyjwt(mockidp, new_token, "api")["sub"] == "alice"
    introspect = f"{mockidp.issuer_url()}/introspect"
    assert requests.post(introspect, data={"token": old_token}).json()["active"] is True
    retired = mockidp.retire_keys()
    assert old_kid in retired
    assert old_kid not in {k["kid"] for k in mockidp.jwks()["keys"]}
    with pytest.raises(jwt.PyJWKClientError):
        verify_pyjwt(mockidp, old_token, "api")
    assert requests.post(introspect, data={"token": old_token}).json() == {"active": False}
    assert verify_pyjwt(mockidp, new_token, "api")["sub"] == "alice"


def test_rotation_over_the_control_api(mockidp: MockIdP) -> None:
    control = f"{mockidp.url}/_mockidp/keys"
    before = requests.get(control).json()["keys"]
    assert all(k["active"] for k in before)
    rotated = requests.post(control + "/rotate", json={"alg": "ES256"}).json()
    assert len(rotated["rotated"]) == 1
    states = {k["kid"]: k["active"] for k in rotated["keys"]}
    assert list(states.values()).count(False) == 1
    old_kid = next(kid for kid, active in states.items() if not active)
    bad = requests.post(control + "/retire", json={"kid": rotated["rotated"][0]})
    assert bad.status_code == 400 and "active" in bad.json()["error_description"]
    gone = requests.post(control + "/retire", json={"kid": old_kid}).json()
    assert gone["retired"] == [old_kid]
    assert requests.post(control + "/rotate", json={"alg": "HS256"}).status_code == 400


def test_rotation_persists_in_the_keys_directory(tmp_path: Path) -> None:
    first = MockIdP(keys_dir=tmp_path)
    old_token = first.mint("alice", audience="api")
    first.rotate_keys()
    new_token = first.mint("alice", audience="api")
    with MockIdP(keys_dir=tmp_path) as second:
        for token in (old_token, new_token):
            check = requests.post(f"{second.issuer_url()}/introspect", data={"token": token})
            assert check.json()["active"] is True
        assert len(second.jwks()["keys"]) == 2 * len(SIGNING_ALGS)
        second.retire_keys()
    with MockIdP(keys_dir=tmp_path) as third:
        assert len(third.jwks()["keys"]) == len(SIGNING_ALGS)
        check = requests.post(f"{third.issuer_url()}/introspect", data={"token": old_token})
        assert check.json() == {"active": False}


def test_rotation_through_the_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"MOCKIDP_KEYS_DIR": str(tmp_path)}
    rotated = runner.invoke(main, ["keys", "rotate", "--alg", "EdDSA"], env=env)
    assert rotated.exit_code == 0, rotated.output
    listing = runner.invoke(main, ["keys", "list"], env=env).output
    assert listing.count("rotated out") == 1 and "EdDSA" in listing
    retired = runner.invoke(main, ["keys", "retire"], env=env)
    assert retired.exit_code == 0 and retired.output.strip()
    assert "rotated out" not in runner.invoke(main, ["keys", "list"], env=env).output
    refused = runner.invoke(main, ["keys", "rotate"], env={"MOCKIDP_KEYS_DIR": ""})
    assert refused.exit_code != 0 and "--keys-dir" in refused.output


# -- access-token formats -----------------------------------------------------------------------

def test_rfc9068_access_tokens(mockidp: MockIdP) -> None:
    mockidp.add_client("rs", "s", access_token_format="at+jwt",
                       redirect_uris=["http://localhost/cb"])
    tokens = code_tokens(mockidp, "rs", "s")
    assert jwt.get_unverified_header(tokens["access_token"])["typ"] == "at+jwt"
    claims = verify_pyjwt(mockidp, tokens["access_token"], "rs")
    for claim in ("iss", "exp", "aud", "sub", "client_id", "iat", "jti"):  # RFC 9068 §2.2
        assert claim in claims
    assert jwt.get_unverified_header(tokens["id_token"])["typ"] == "JWT"
    info = requests.get(f"{mockidp.issuer_url()}/userinfo",
                        headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200 and info.json()["sub"] == "alice"


def test_opaque_access_tokens_resolve_at_introspection_and_userinfo() -> None:
    with MockIdP({"access_token_format": "opaque", "access_token_lifetime": 60}) as idp:
        tokens = code_tokens(idp, "web", "s")
        access = tokens["access_token"]
        assert access.count(".") != 2, "an opaque token is not a JWT"
        assert tokens["expires_in"] == 60
        info = requests.get(f"{idp.issuer_url()}/userinfo",
                            headers={"Authorization": f"Bearer {access}"})
        assert info.json() == {"sub": "alice"}
        answer = requests.post(f"{idp.issuer_url()}/introspect", data={"token": access}).json()
        assert answer["active"] is True and answer["client_id"] == "web"
        assert answer["scope"] == "openid email"
        # the ID token's at_hash covers the opaque string
        digest = hashlib.sha256(access.encode()).digest()[:16]
        at_hash = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        assert claims_of(tokens["id_token"])["at_hash"] == at_hash
        assert requests.post(f"{idp.issuer_url()}/revoke", data={"token": access},
                             auth=("web", "s")).status_code == 200
        answer = requests.post(f"{idp.issuer_url()}/introspect", data={"token": access}).json()
        assert answer == {"active": False}


def test_opaque_tokens_expire_on_the_provider_clock() -> None:
    with MockIdP({"access_token_format": "opaque", "access_token_lifetime": 60}) as idp:
        access = requests.post(token_url(idp), auth=("svc", "s"),
                               data={"grant_type": "client_credentials"}).json()["access_token"]
        idp.clock.advance(61)
        info = requests.get(f"{idp.issuer_url()}/userinfo",
                            headers={"Authorization": f"Bearer {access}"})
        assert info.status_code == 401 and info.json()["error"] == "invalid_token"


def test_unknown_opaque_token_is_invalid(mockidp: MockIdP) -> None:
    info = requests.get(f"{mockidp.issuer_url()}/userinfo",
                        headers={"Authorization": "Bearer not-a-token-we-issued"})
    assert info.status_code == 401
    answer = requests.post(f"{mockidp.issuer_url()}/introspect", data={"token": "nope"}).json()
    assert answer == {"active": False}


# -- public URL ---------------------------------------------------------------------------------

def test_public_url_fixes_the_issuer_whatever_the_host() -> None:
    with MockIdP(public_url="http://localhost:8080/") as idp:
        doc = requests.get(f"{idp.url}/default/.well-known/openid-configuration").json()
        assert doc["issuer"] == "http://localhost:8080/default"
        assert doc["token_endpoint"] == "http://localhost:8080/default/token"
        assert idp.issuer_url() == "http://localhost:8080/default"
        body = requests.post(f"{idp.url}/default/token", auth=("c", "s"),
                             data={"grant_type": "client_credentials"}).json()
        assert claims_of(body["access_token"])["iss"] == "http://localhost:8080/default"
        assert claims_of(idp.mint("alice"))["iss"] == "http://localhost:8080/default"
        # the provider accepts its own tokens whichever name the caller used
        info = requests.get(f"{idp.url}/default/userinfo",
                            headers={"Authorization": f"Bearer {body['access_token']}"})
        assert info.status_code == 200


def test_public_url_from_config_and_validation(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('public_url = "https://idp.example.test"\n')
    assert MockIdP(path).issuer_url("x") == "https://idp.example.test/x"
    path.write_text('public_url = "not a url"\n')
    with pytest.raises(Exception, match=r"c\.toml: public_url: expected an absolute"):
        MockIdP(path)

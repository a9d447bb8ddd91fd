"""DPoP (RFC 9449): proofs at the token endpoint, bound tokens, userinfo, nonces."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from mockidp import MockIdP
from mockidp.core.settings import IssuerSettings
from mockidp.protocol.dpop import NONCE_LIFETIME
from mockidp.protocol.issuer import Issuer
from mockidp.tokens.keys import KeySet

from .conftest import pkce_pair, query_of, run_node, token_url


class Prover:
    """Makes DPoP proofs the way RFC 9449 §4.2 describes (for the negative tests)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)

    def proof(self, method: str, url: str, *, access_token: str | None = None,
              nonce: str | None = None, **override: Any) -> str:
        claims: dict[str, Any] = {"jti": str(uuid.uuid4()), "htm": method, "htu": url,
                                  "iat": int(time.time())}
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode()).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if nonce is not None:
            claims["nonce"] = nonce
        headers = {"typ": "dpop+jwt", "jwk": self.jwk}
        headers.update(override.pop("headers", {}))
        claims.update(override)
        return jwt.encode(claims, self.key, algorithm="ES256", headers=headers)

    @property
    def jkt(self) -> str:
        members = {k: self.jwk[k] for k in ("crv", "kty", "x", "y")}
        import json
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def dpop_token(idp: MockIdP, prover: Prover, **data: str) -> requests.Response:
    url = token_url(idp)
    return requests.post(url, auth=("svc", "s"), headers={"DPoP": prover.proof("POST", url)},
                         data={"grant_type": "client_credentials", **data})


def userinfo(idp: MockIdP, token: str, proof: str | None, scheme: str = "DPoP"
             ) -> requests.Response:
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return requests.get(f"{idp.issuer_url()}/userinfo", headers=headers)


def test_openid_client_dpop_end_to_end(mockidp: MockIdP) -> None:
    result = run_node("dpop.mjs", mockidp.issuer_url(), "svc", "s")
    assert result["token_type"].lower() == "dpop"
    assert set(result["cnf"]) == {"jkt"}
    assert result["userinfo"]["sub"] == "svc"


def test_openid_client_follows_server_nonces() -> None:
    with MockIdP({"dpop_nonce": True}) as idp:
        result = run_node("dpop.mjs", idp.issuer_url(), "svc", "s")
        assert result["userinfo"]["sub"] == "svc"
        errors = [c.error for c in idp.calls()]
        assert "use_dpop_nonce" in errors  # the first attempt was told to use a nonce


def test_bound_token_has_cnf_and_dpop_type(mockidp: MockIdP) -> None:
    prover = Prover()
    body = dpop_token(mockidp, prover).json()
    assert body["token_type"] == "DPoP"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": prover.jkt}
    answer = requests.post(f"{mockidp.issuer_url()}/introspect",
                           data={"token": body["access_token"]}).json()
    assert answer["active"] is True and answer["token_type"] == "DPoP"
    assert answer["cnf"] == {"jkt": prover.jkt}


def test_userinfo_with_a_bound_token(mockidp: MockIdP) -> None:
    prover = Prover()
    token = dpop_token(mockidp, prover).json()["access_token"]
    url = f"{mockidp.issuer_url()}/userinfo"
    ok = userinfo(mockidp, token, prover.proof("GET", url, access_token=token))
    assert ok.status_code == 200 and ok.json()["sub"] == "svc"
    as_bearer = userinfo(mockidp, token, None, scheme="Bearer")
    assert as_bearer.status_code == 401 and as_bearer.json()["error"] == "invalid_token"
    assert as_bearer.headers["WWW-Authenticate"].startswith("DPoP")
    no_proof = userinfo(mockidp, token, None)
    assert no_proof.status_code == 401 and no_proof.json()["error"] == "invalid_dpop_proof"
    other_key = userinfo(mockidp, token, Prover().proof("GET", url, access_token=token))
    assert other_key.status_code == 401 and other_key.json()["error"] == "invalid_dpop_proof"
    no_ath = userinfo(mockidp, token, prover.proof("GET", url))
    assert no_ath.status_code == 401 and "ath" in no_ath.json()["error_description"]


def test_unbound_token_cannot_be_sent_as_dpop(mockidp: MockIdP) -> None:
    token = requests.post(token_url(mockidp), auth=("svc", "s"),
                          data={"grant_type": "client_credentials"}).json()["access_token"]
    prover = Prover()
    answer = userinfo(mockidp, token, prover.proof("GET", f"{mockidp.issuer_url()}/userinfo",
                                                   access_token=token))
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"


@pytest.mark.parametrize("case", ["typ", "htm", "htu", "iat", "jti-reuse", "private", "alg",
                                  "garbage", "signature"])
def test_bad_proofs_are_invalid_dpop_proof(mockidp: MockIdP, case: str) -> None:
    prover = Prover()
    url = token_url(mockidp)
    proofs = {
        "typ": prover.proof("POST", url, headers={"typ": "JWT"}),
        "htm": prover.proof("GET", url),
        "htu": prover.proof("POST", "http://elsewhere.example/token"),
        "iat": prover.proof("POST", url, iat=int(time.time()) - 3600),
        "private": prover.proof("POST", url, headers={"jwk": {**prover.jwk, "d": "AAAA"}}),
        "alg": jwt.encode({"jti": "x", "htm": "POST", "htu": url, "iat": int(time.time())},
                          "a-shared-secret-of-at-least-32-bytes", algorithm="HS256",
                          headers={"typ": "dpop+jwt"}),
        "garbage": "not-a-jwt",
        "signature": prover.proof("POST", url)[:-6] + "AAAAAA",
    }
    if case == "jti-reuse":
        proof = prover.proof("POST", url)
        first = requests.post(url, auth=("svc", "s"), headers={"DPoP": proof},
                              data={"grant_type": "client_credentials"})
        assert first.status_code == 200
        proofs[case] = proof
    answer = requests.post(url, auth=("svc", "s"), headers={"DPoP": proofs[case]},
                           data={"grant_type": "client_credentials"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_dpop_proof"


def test_nonce_required_answers_use_dpop_nonce_with_header() -> None:
    with MockIdP({"dpop_nonce": True}) as idp:
        prover = Prover()
        url = token_url(idp)
        first = requests.post(url, auth=("svc", "s"), headers={"DPoP": prover.proof("POST", url)},
                              data={"grant_type": "client_credentials"})
        assert first.status_code == 400 and first.json()["error"] == "use_dpop_nonce"
        nonce = first.headers["DPoP-Nonce"]
        retry = requests.post(url, auth=("svc", "s"),
                              headers={"DPoP": prover.proof("POST", url, nonce=nonce)},
                              data={"grant_type": "client_credentials"})
        assert retry.status_code == 200 and retry.json()["token_type"] == "DPoP"


def test_client_that_must_use_dpop(mockidp: MockIdP) -> None:
    mockidp.add_client("bound", "s", dpop_bound_access_tokens=True)
    plain = requests.post(token_url(mockidp), auth=("bound", "s"),
                          data={"grant_type": "client_credentials"})
    assert plain.status_code == 400 and plain.json()["error"] == "invalid_dpop_proof"


def test_public_client_refresh_token_is_bound(mockidp: MockIdP) -> None:
    prover = Prover()
    url = token_url(mockidp)
    verifier, challenge = pkce_pair()
    location = requests.get(f"{mockidp.issuer_url()}/authorize", allow_redirects=False, params={
        "client_id": "pub", "redirect_uri": "http://localhost/cb", "response_type": "code",
        "login_hint": "alice", "code_challenge": challenge, "code_challenge_method": "S256",
    }).headers["Location"]
    tokens = requests.post(url, headers={"DPoP": prover.proof("POST", url)}, data={
        "grant_type": "authorization_code", "code": query_of(location)["code"],
        "client_id": "pub", "redirect_uri": "http://localhost/cb", "code_verifier": verifier,
    }).json()
    assert tokens["token_type"] == "DPoP"
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
               "client_id": "pub"}
    unproven = requests.post(url, data=refresh)
    assert unproven.status_code == 400 and unproven.json()["error"] == "invalid_dpop_proof"
    other = requests.post(url, headers={"DPoP": Prover().proof("POST", url)}, data=refresh)
    assert other.status_code == 400 and other.json()["error"] == "invalid_dpop_proof"
    ok = requests.post(url, headers={"DPoP": prover.proof("POST", url)}, data=refresh)
    assert ok.status_code == 200, ok.text
    assert ok.json()["token_type"] == "DPoP"


def test_discovery_advertises_dpop(mockidp: MockIdP) -> None:
    doc = requests.get(f"{mockidp.issuer_url()}/.well-known/openid-configuration").json()
    assert "ES256" in doc["dpop_signing_alg_values_supported"]


# -- server nonces: the same wherever the issuer's keys are, windows of the provider clock --------

WINDOW_START = 1_900_000_200  # a multiple of NONCE_LIFETIME (300 s): a window begins here


class CountingKeySet(KeySet):
    """A `KeySet` that counts the keys it makes or loads."""

    made = 0

    def _load_or_create(self, family: str) -> Any:
        self.made += 1
        return super()._load_or_create(family)


def test_issuers_over_the_same_keys_agree_on_nonces(tmp_path: Path) -> None:
    settings = IssuerSettings("default", dpop_nonce=True)
    keys = CountingKeySet("default", tmp_path)
    a = Issuer("default", settings, tmp_path, keys=keys)
    assert keys.made == 0  # the nonces' key is made at the first nonce, not with the issuer
    nonce = a.dpop_nonces.current(WINDOW_START)
    assert keys.made == 1 and a.dpop_nonces.current(WINDOW_START + 299) == nonce
    assert keys.made == 1
    b = Issuer("default", settings, tmp_path)  # its own KeySet, loaded from the same files
    assert b.dpop_nonces.current(WINDOW_START) == nonce
    assert b.dpop_nonces.accepts(nonce, WINDOW_START + NONCE_LIFETIME)  # the previous window
    assert not b.dpop_nonces.accepts(nonce, WINDOW_START + 2 * NONCE_LIFETIME)
    assert not b.dpop_nonces.accepts(nonce, WINDOW_START - 1)  # not one of a later window
    assert not b.dpop_nonces.accepts(None, WINDOW_START)
    other = Issuer("default", settings, None)  # keys of its own: nonces of its own
    assert other.dpop_nonces.current(WINDOW_START) != nonce
    keys.rotate("EdDSA")  # a new nonce key: new nonces
    assert a.dpop_nonces.current(WINDOW_START) != nonce
    assert not a.dpop_nonces.accepts(nonce, WINDOW_START)


def nonce_token(idp: MockIdP, prover: Prover, nonce: str | None, now: float
                ) -> requests.Response:
    url = token_url(idp)
    return requests.post(url, auth=("svc", "s"),
                         headers={"DPoP": prover.proof("POST", url, nonce=nonce, iat=int(now))},
                         data={"grant_type": "client_credentials"})


def test_two_providers_on_one_keys_dir_accept_each_others_nonces(tmp_path: Path) -> None:
    config = {"dpop_nonce": True}
    with MockIdP(config, keys_dir=tmp_path) as a, MockIdP(config, keys_dir=tmp_path) as b:
        for idp in (a, b):
            idp.set_clock(freeze=WINDOW_START)
        prover = Prover()
        first = nonce_token(a, prover, None, WINDOW_START)
        assert first.status_code == 400 and first.json()["error"] == "use_dpop_nonce"
        nonce = first.headers["DPoP-Nonce"]
        at_b = nonce_token(b, prover, nonce, WINDOW_START)
        assert at_b.status_code == 200, at_b.text
        assert at_b.json()["token_type"] == "DPoP"
        for idp in (a, b):
            idp.set_clock(advance=NONCE_LIFETIME)  # the next window: the nonce is the previous
        now = WINDOW_START + NONCE_LIFETIME
        assert nonce_token(b, prover, nonce, now).status_code == 200
        assert nonce_token(a, prover, nonce, now).status_code == 200
        for idp in (a, b):
            idp.set_clock(advance=NONCE_LIFETIME)  # two windows on: too old
        now += NONCE_LIFETIME
        stale = nonce_token(b, prover, nonce, now)
        assert stale.status_code == 400 and stale.json()["error"] == "use_dpop_nonce"
        fresh = stale.headers["DPoP-Nonce"]
        assert fresh != nonce
        assert nonce_token(a, prover, fresh, now).status_code == 200


def test_rotating_the_keys_changes_the_nonces() -> None:
    with MockIdP({"dpop_nonce": True}) as idp:
        idp.set_clock(freeze=WINDOW_START)
        prover = Prover()
        nonce = nonce_token(idp, prover, None, WINDOW_START).headers["DPoP-Nonce"]
        assert nonce_token(idp, prover, nonce, WINDOW_START).status_code == 200
        idp.rotate_keys()
        refused = nonce_token(idp, prover, nonce, WINDOW_START)
        assert refused.status_code == 400 and refused.json()["error"] == "use_dpop_nonce"
        fresh = refused.headers["DPoP-Nonce"]
        assert fresh != nonce
        assert nonce_token(idp, prover, fresh, WINDOW_START).status_code == 200

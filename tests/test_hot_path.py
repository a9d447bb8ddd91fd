"""The helpers that make the token path cheap behave exactly like what they replace: the
hand-split form parser, the lazily built journal entries, the JWK export and the signature
check that need no PyJWT."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any
from urllib.parse import parse_qsl

import jwt
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from mockidp import MockIdP
from mockidp.core.journal import Exchange, Journal
from mockidp.core.model import Params
from mockidp.core.settings import SIGNING_ALGS
from mockidp.http.body import form_pairs as _form_pairs
from mockidp.tokens.jose import b64url_encode as b64url
from mockidp.tokens.keys import (
    FAMILIES,
    KeySet,
    _public_jwk,
    generate,
)
from mockidp.tokens.signer import (
    TokenRejected,
    sign,
    verify,
)

form_text = st.text(alphabet="ab=&%+2 0x\u00e9", max_size=40)


@given(form_text)
def test_form_pairs_is_parse_qsl(text: str) -> None:
    def run(parse: Any) -> Any:
        try:
            return parse()
        except (ValueError, UnicodeError) as exc:
            return type(exc)

    assert run(lambda: _form_pairs(text, 5)) == run(lambda: parse_qsl(
        text, keep_blank_values=True, errors="strict", max_num_fields=5))


def test_lazy_journal_entries_read_like_recorded_ones() -> None:
    journal = Journal(size=3)
    built: list[int] = []

    def later(seq: int) -> Exchange:
        built.append(seq)
        return Exchange(seq=seq, time=0.0, provider_time=0.0, issuer="default",
                        endpoint="token", method="POST", path="/default/token")

    journal.record(Exchange(seq=1, time=0.0, provider_time=0.0, issuer="default",
                            endpoint="jwks", method="GET", path="/default/jwks"))
    for seq in (2, 3, 4):
        journal.record_later(lambda params, seq: later(seq), Params(), (seq,), 0)
    assert built == []  # nothing is built until the journal is read
    assert [e.seq for e in journal.calls()] == [2, 3, 4]  # a ring buffer of 3
    assert [e.seq for e in journal.calls(endpoint="token")] == [2, 3, 4]
    assert built == [2, 3, 4]  # each built once ...
    journal.calls()
    assert built == [2, 3, 4]  # ... and only once


def test_the_journal_records_a_token_request_as_it_finished() -> None:
    """The journal entry is built from the finished call when read, with the secret masked,
    the token's claims and its JOSE header."""
    with MockIdP() as idp:
        answer = requests.post(f"{idp.url}/default/token", timeout=10, data={
            "grant_type": "client_credentials", "client_id": "svc", "client_secret": "s3cret"})
        assert answer.status_code == 200
        (call,) = idp.calls(endpoint="token")
    assert call.params["client_secret"] == "***"
    assert call.client_id == "svc" and call.status == 200
    assert call.tokens["access_token"]["sub"] == "svc"
    assert call.headers["access_token"]["alg"] == "RS256"
    assert call.headers["access_token"]["typ"] == "JWT"


def test_flask_is_imported_only_when_a_request_needs_it() -> None:
    """The servers answer every protocol endpoint (discovery, JWKS, tokens, the login page)
    from the protocol adapter; Flask (and werkzeug, for granian) is imported on the first
    request the adapter passes on (the control API), which is then answered as usual."""
    script = """
import sys, requests
from mockidp import MockIdP
with MockIdP() as idp:
    base = idp.url + "/default"
    assert requests.get(base + "/.well-known/openid-configuration", timeout=10).ok
    assert requests.get(base + "/jwks", timeout=10).ok
    assert requests.post(base + "/token", data={"grant_type": "client_credentials"},
                         auth=("svc", "s"), timeout=10).ok
    print("flask before:", "flask" in sys.modules)
    page = requests.get(base + "/authorize", timeout=10, params={
        "client_id": "app", "redirect_uri": "http://127.0.0.1/cb", "response_type": "code"})
    assert page.status_code == 200 and "<form" in page.text, page.text
    print("flask after the login page:", "flask" in sys.modules)
    assert requests.get(idp.url + "/_mockidp/health", timeout=10).ok
    print("flask after:", "flask" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "flask before: False" in out and "flask after: True" in out, out
    assert "flask after the login page: False" in out, out


@pytest.mark.parametrize("family", FAMILIES)
def test_public_jwks_equal_pyjwts(family: str) -> None:
    """The JWK export needs no PyJWT, and says what PyJWT's ``to_jwk`` says."""
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    exporter = {"rsa": RSAAlgorithm, "ed25519": OKPAlgorithm}.get(family, ECAlgorithm)
    for _ in range(5):  # EC coordinates with leading zero octets keep their full length
        public = generate(family).public_key()
        expected = dict(exporter.to_jwk(public, as_dict=True))  # type: ignore[attr-defined]
        expected.pop("key_ops", None)
        assert _public_jwk(public) == expected


@pytest.mark.parametrize("alg", SIGNING_ALGS)
def test_own_verifier_agrees_with_pyjwt(alg: str) -> None:
    """`signer.verify` (no PyJWT) accepts what PyJWT accepts and refuses tampering, the wrong
    algorithm and garbage with a reason, never an exception of another kind."""
    keys = KeySet("default")
    key = keys.active(alg)
    token = sign({"sub": "s", "exp": 2_000_000_000}, key)
    assert verify(token, keys, 1_000_000_000) == jwt.decode(
        token, key.public_key, algorithms=[alg], options={"verify_exp": False})
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    forged_payload = b64url(b'{"sub":"admin","exp":2000000000}')
    other_alg = b64url(json.dumps({"alg": "HS256", "kid": key.kid}).encode())
    for bad, why in [
        (f"{head}.{payload}.{flipped}", "Signature verification failed"),
        (f"{head}.{forged_payload}.{signature}", "Signature verification failed"),
        (f"{other_alg}.{payload}.{signature}", "alg value is not allowed"),
        (f"{head}.{payload}", "malformed"),
        (f"{head}.\u00e9\u00e9.{signature}", "malformed"),
        ("not-a-token", "malformed"),
        (f"{b64url(b'[1]')}.{payload}.{signature}", "malformed"),
    ]:
        with pytest.raises(TokenRejected, match=why):
            verify(bad, keys, 1_000_000_000)
        with pytest.raises(jwt.PyJWTError):
            jwt.decode(bad, key.public_key, algorithms=[alg], options={"verify_exp": False})
    with pytest.raises(TokenRejected, match="expired"):
        verify(token, keys, 2_000_000_001)


def test_starting_a_provider_loads_neither_pyjwt_nor_x509() -> None:
    """Memory and start-up: PyJWT (with cryptography's X.509 support) is loaded only by the
    features that need it (client assertions, DPoP, the token debugger)."""
    script = """
import sys, requests
from mockidp import MockIdP
with MockIdP() as idp:
    base = idp.url + "/default"
    token = requests.post(base + "/token", data={"grant_type": "client_credentials"},
                          auth=("svc", "s"), timeout=10).json()["access_token"]
    assert requests.get(base + "/jwks", timeout=10).ok
    info = requests.post(base + "/introspect", data={"token": token}, auth=("svc", "s"),
                         timeout=10).json()
    assert info["active"] is True, info
    print(sorted(m for m in ("jwt", "cryptography.x509") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]", out


@pytest.mark.parametrize("config", [{"signing_alg": "RS256"}, {"signing_alg": "ES256"},
                                    {"signing_alg": "EdDSA"}, {"access_token_format": "opaque"}],
                         ids=["RS256", "ES256", "EdDSA", "opaque"])
def test_the_cheap_weight_of_an_entry_covers_its_json(config: dict[str, Any]) -> None:
    """The journal weighs a recorded call without walking its claims (a JWS by its length,
    parameters by `Params.size`): never less than `weigh` of the built entry, nor than its
    JSON, so ``journal_bytes`` bounds what the control API serves."""
    from mockidp.core.journal import _WEIGHED, ENTRY_BYTES, weigh

    with MockIdP({**config, "users": {"al": {"password": "p", "claims": {"email": "a@x"}}}}
                 ) as idp:
        base = idp.issuer_url()
        tokens = requests.post(f"{base}/token", auth=("app", "x"), timeout=10, data={
            "grant_type": "password", "username": "al", "password": "p",
            "scope": "openid email offline_access", "x": "y" * 5000}).json()
        requests.get(f"{base}/userinfo", timeout=10,
                     headers={"Authorization": f"Bearer {tokens['access_token']}"})
        requests.post(f"{base}/token", auth=("app", "x"), timeout=10, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        requests.post(f"{base}/token", timeout=10, data={"grant_type": "nope"})
        weights = [entry.weight for entry in idp.journal._entries]
        calls = idp.calls()
    assert [c.endpoint for c in calls] == ["token", "userinfo", "token", "token"]
    for weight, call in zip(weights, calls, strict=True):
        full = ENTRY_BYTES + sum(weigh(getattr(call, name)) for name in _WEIGHED)
        assert weight >= full, call.endpoint
        assert weight >= len(json.dumps(call.as_dict(), separators=(",", ":"))), call.endpoint

"""The bad-token catalogue, as a user sees it.

- The headline: the example resource server (examples/resource_server/app.py, verifying over
  HTTP against the live provider) answers 401 ``invalid_token`` to every kind, and 200 to the
  good twin.
- Each kind is bad for exactly the documented reason: PyJWT, with the issuer's JWKS, refuses it
  with the matching exception, and forgiving that one defect makes the rest of the token check
  out (sub, audience, issuer and the user's claims are still the requested ones).
- jwcrypto, a second verifier, refuses every kind too.
- The other doors: ``mockidp mint --bad``, ``mockidp bad-tokens``, ``POST /_mockidp/mint-bad``,
  ``GET /_mockidp/bad-tokens``, and misuse naming ``kind``.
- The ES256 issuer ``partner`` (fixtures/config.toml) makes the same kinds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Any

import jwt
import pytest
import requests
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from flask.testing import FlaskClient
from jwcrypto import jwk
from jwcrypto import jwt as jcjwt
from jwcrypto.common import JWException

from examples.resource_server.app import create_app
from mockidp import MockIdP
from mockidp.cli import main
from mockidp.core.errors import MockIdPError
from mockidp.tokens.badtokens import BAD_TOKEN_KINDS

AUDIENCE = "orders-api"
REQUIRED = ("exp", "iat", "sub", "iss", "aud")
HTTP_TIMEOUT = 10.0
# (issuer, its algorithm in fixtures/config.toml, a user of that issuer, that user's name)
ISSUERS = [("default", "RS256", "alice", "Alice Admin"),
           ("partner", "ES256", "carol", "Carol Partner")]
by_issuer = pytest.mark.parametrize(("issuer", "alg", "user", "name"), ISSUERS,
                                    ids=["RS256", "ES256"])
# What the catalogue documents, and what the tests below hold each kind to.
WRONG_ISSUER = "https://wrong-issuer.mockidp.invalid/"
WRONG_AUDIENCE = "mockidp-wrong-audience"
WRONG_TYP = "secevent+jwt"


# -- helpers ----------------------------------------------------------------------------------
def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_for(idp: MockIdP, issuer: str = "default", **options: Any) -> FlaskClient:
    """The example API in Flask's test client, trusting ``issuer`` of the live provider."""
    return create_app(idp.issuer_url(issuer), AUDIENCE, **options).test_client()


def jwks_of(idp: MockIdP, issuer: str = "default") -> dict[str, Any]:
    """The issuer's JWKS, over HTTP, as a resource server sees it."""
    answer = requests.get(f"{idp.issuer_url(issuer)}/jwks", timeout=HTTP_TIMEOUT)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def published_kids(idp: MockIdP, issuer: str = "default") -> set[str]:
    return {key["kid"] for key in jwks_of(idp, issuer)["keys"]}


def key_for(idp: MockIdP, token: str, issuer: str = "default") -> jwt.PyJWK:
    """The JWKS key named by the token's kid (KeyError when the JWKS has none)."""
    kid = jwt.get_unverified_header(token).get("kid")
    keys = {key["kid"]: jwt.PyJWK(key) for key in jwks_of(idp, issuer)["keys"]}
    return keys[kid]


def strict_decode(idp: MockIdP, token: str, issuer: str = "default",
                  require: tuple[str, ...] = REQUIRED, **options: Any) -> dict[str, Any]:
    """PyJWT as a careful resource server calls it: the JWKS key named by kid, that key's
    algorithm only, issuer, audience and required claims; ``options`` forgive one check."""
    key = key_for(idp, token, issuer)
    checks: Any = {"require": list(require), **options}
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=[key.algorithm_name], audience=AUDIENCE,
        issuer=idp.issuer_url(issuer), options=checks,
    )
    return claims


def unverified_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def introspect(idp: MockIdP, token: str, issuer: str = "default") -> dict[str, Any]:
    answer = requests.post(f"{idp.issuer_url(issuer)}/introspect", data={"token": token},
                           timeout=HTTP_TIMEOUT)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def control(idp: MockIdP, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{idp.url}/_mockidp{path}", timeout=HTTP_TIMEOUT, **kwargs)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def no_mockidp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI tests start from no ``MOCKIDP_*`` variables."""
    for name in list(os.environ):
        if name.startswith("MOCKIDP_"):
            monkeypatch.delenv(name)


# -- the headline: the example resource server rejects every kind ----------------------------
def test_resource_server_rejects(mockidp: MockIdP, mockidp_bad_token_kind: str) -> None:
    api = create_app(mockidp.issuer_url(), "orders-api").test_client()
    token = mockidp.mint_bad(mockidp_bad_token_kind, "alice", audience="orders-api")

    response = api.get("/api/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert response.json is not None and response.json["error"] == "invalid_token"


def test_good_token_gets_200(mockidp: MockIdP) -> None:
    api = create_app(mockidp.issuer_url(), "orders-api").test_client()
    token = mockidp.mint("alice", audience="orders-api")

    response = api.get("/api/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200, response.json
    assert response.json == {"sub": "alice", "scope": ""}


def test_the_parametrized_test_ids_are_the_kind_names(
    request: pytest.FixtureRequest, mockidp: MockIdP, mockidp_bad_token_kind: str
) -> None:
    assert mockidp_bad_token_kind in mockidp.bad_token_kinds()
    assert request.node.callspec.id == mockidp_bad_token_kind
    assert request.node.name.endswith(f"[{mockidp_bad_token_kind}]")


def test_a_test_taking_the_kind_runs_once_per_kind_in_catalogue_order(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_kinds="def test_api(mockidp_bad_token_kind):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--collect-only", "-q")
    assert result.ret == 0, result.stdout.str()
    ids = [line.partition("[")[2].rstrip("]") for line in result.outlines
           if line.startswith("test_kinds.py::test_api[")]
    # the generic kinds: a provider profile's own kinds are proven with its SDKs
    # (tests/test_profile_*.py), and come after them in the catalogue
    assert ids == list(BAD_TOKEN_KINDS) == list(MockIdP().bad_token_kinds())[:len(ids)]


# The reason the example API names for each kind: each is refused for its own defect.
API_REASONS = {
    "expired": "expired",
    "not_yet_valid": "not_yet_valid",
    "issued_in_future": "issued_in_future",
    "wrong_issuer": "wrong_issuer",
    "wrong_audience": "wrong_audience",
    "bad_signature": "bad_signature",
    "unknown_kid": "unknown_kid",
    "alg_none": "disallowed_alg",
    "hs256_public_key": "disallowed_alg",
    "missing_exp": "missing_claim",
    "missing_sub": "missing_claim",
    "wrong_typ": "unsupported_typ",
    "malformed_parts": "malformed",
    "malformed_base64": "malformed",
    "malformed_json": "malformed",
    "rotated_out": "unknown_kid",
    "revoked": "inactive",
}


@by_issuer
def test_resource_server_names_the_documented_reason(
    mockidp: MockIdP, mockidp_bad_token_kind: str, issuer: str, alg: str, user: str, name: str
) -> None:
    kind = mockidp_bad_token_kind
    token = mockidp.mint_bad(kind, user, audience=AUDIENCE, issuer=issuer)

    response = api_for(mockidp, issuer).get("/api/me", headers=bearer(token))

    assert response.status_code == 401
    body = response.json
    assert body is not None
    assert body["error"] == "invalid_token"
    assert body["reason"] == API_REASONS[kind], body
    challenge = response.headers["WWW-Authenticate"]
    assert challenge == (f'Bearer error="invalid_token", '
                         f'error_description="{body["error_description"]}"')
    if kind in ("missing_exp", "missing_sub"):
        assert f"no {kind.removeprefix('missing_')} claim" in body["error_description"]


@by_issuer
def test_resource_server_accepts_the_good_twin_with_its_scope(
    mockidp: MockIdP, issuer: str, alg: str, user: str, name: str
) -> None:
    token = mockidp.mint(user, audience=AUDIENCE, issuer=issuer, scope="openid orders:read")

    response = api_for(mockidp, issuer).get("/api/me", headers=bearer(token))

    assert response.status_code == 200, response.json
    assert response.json == {"sub": user, "scope": "openid orders:read"}


def test_resource_server_verifies_over_http_against_the_provider(mockidp: MockIdP) -> None:
    api = api_for(mockidp)
    assert api.get("/api/me", headers=bearer(mockidp.mint("alice", audience=AUDIENCE))) \
        .status_code == 200
    mockidp.assert_called(1, endpoint="discovery")
    mockidp.assert_called(1, endpoint="jwks")
    mockidp.assert_called(1, endpoint="introspect", user="alice")


def test_only_introspection_catches_a_revoked_token(mockidp: MockIdP) -> None:
    token = mockidp.mint_bad("revoked", "alice", audience=AUDIENCE)

    without = api_for(mockidp, introspect=False).get("/api/me", headers=bearer(token))
    with_introspection = api_for(mockidp).get("/api/me", headers=bearer(token))

    assert without.status_code == 200
    assert without.json == {"sub": "alice", "scope": ""}
    assert with_introspection.status_code == 401
    assert with_introspection.json is not None
    assert with_introspection.json["reason"] == "inactive"


def test_resource_server_without_a_token_asks_for_one(mockidp: MockIdP) -> None:
    response = api_for(mockidp).get("/api/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"  # RFC 6750 §3.1: no error code
    assert response.json is not None and response.json["reason"] == "missing_token"


# -- each kind is bad for exactly the documented reason (PyJWT, the issuer's JWKS) -----------
# kind -> the exception a strict PyJWT decode raises (exact type), and text of its message
PYJWT_REFUSALS: dict[str, tuple[type[jwt.PyJWTError], str]] = {
    "expired": (jwt.ExpiredSignatureError, "expired"),
    "not_yet_valid": (jwt.ImmatureSignatureError, "(nbf)"),
    "issued_in_future": (jwt.ImmatureSignatureError, "(iat)"),
    "wrong_issuer": (jwt.InvalidIssuerError, "issuer"),
    "wrong_audience": (jwt.InvalidAudienceError, "Audience"),
    "bad_signature": (jwt.InvalidSignatureError, "Signature verification failed"),
    "hs256_public_key": (jwt.InvalidAlgorithmError, "alg"),
    "missing_exp": (jwt.MissingRequiredClaimError, '"exp"'),
    "missing_sub": (jwt.MissingRequiredClaimError, '"sub"'),
    "malformed_base64": (jwt.DecodeError, "padding"),
    "malformed_json": (jwt.DecodeError, "payload string"),
}
# Kinds whose kid names no published key (PyJWT never gets a key to try).
UNPUBLISHED_KID = ("unknown_kid", "rotated_out")
# kind -> the PyJWT options that forgive exactly the documented defect, and nothing else.
SIGNATURE_ONLY = {"verify_signature": False, "verify_exp": True, "verify_nbf": True,
                  "verify_iat": True, "verify_iss": True, "verify_aud": True}
FORGIVEN: dict[str, dict[str, Any]] = {
    "expired": {"verify_exp": False},
    "not_yet_valid": {"verify_nbf": False},
    "issued_in_future": {"verify_iat": False},
    "wrong_issuer": {"verify_iss": False},
    "wrong_audience": {"verify_aud": False},
    "missing_exp": {"require": [c for c in REQUIRED if c != "exp"]},
    "missing_sub": {"require": [c for c in REQUIRED if c != "sub"]},
    "wrong_typ": {},  # PyJWT does not read typ: everything else verifies as it is
    "revoked": {},  # only the provider knows: everything verifies
    "bad_signature": SIGNATURE_ONLY,
    "unknown_kid": SIGNATURE_ONLY,
    "rotated_out": SIGNATURE_ONLY,
    "alg_none": SIGNATURE_ONLY,
    "hs256_public_key": SIGNATURE_ONLY,
}


def test_every_kind_is_held_to_its_documented_reason(mockidp: MockIdP) -> None:
    # A kind added to the catalogue must get its expectations here (and in API_REASONS).
    # (the generic kinds; each provider profile's own are held in tests/test_profile_*.py)
    malformed = {"malformed_parts", "malformed_base64", "malformed_json"}
    # (the generic kinds: each profile's own are held to their reasons in test_profile_*.py)
    assert set(FORGIVEN) | malformed == set(BAD_TOKEN_KINDS)
    assert set(API_REASONS) == set(BAD_TOKEN_KINDS)
    assert set(BAD_TOKEN_KINDS) <= set(mockidp.bad_token_kinds())


@by_issuer
@pytest.mark.parametrize("kind", list(PYJWT_REFUSALS))
def test_pyjwt_refuses_for_the_documented_reason(
    mockidp: MockIdP, kind: str, issuer: str, alg: str, user: str, name: str
) -> None:
    expected, message = PYJWT_REFUSALS[kind]
    token = mockidp.mint_bad(kind, user, audience=AUDIENCE, issuer=issuer)

    with pytest.raises(jwt.PyJWTError) as refused:
        strict_decode(mockidp, token, issuer)

    assert type(refused.value) is expected, repr(refused.value)
    assert message in str(refused.value)
    if expected is jwt.MissingRequiredClaimError:
        assert isinstance(refused.value, jwt.MissingRequiredClaimError)
        assert refused.value.claim == kind.removeprefix("missing_")


@by_issuer
@pytest.mark.parametrize("kind", list(FORGIVEN))
def test_apart_from_the_one_defect_the_token_is_the_requested_one(
    mockidp: MockIdP, kind: str, issuer: str, alg: str, user: str, name: str
) -> None:
    token = mockidp.mint_bad(kind, user, {"tenant": "acme"}, audience=AUDIENCE, issuer=issuer)
    options = dict(FORGIVEN[kind])
    require = tuple(options.pop("require", REQUIRED))

    if options.get("verify_signature") is False:
        checks: Any = {"require": list(require), **options}
        claims: dict[str, Any] = jwt.decode(
            token, audience=AUDIENCE, issuer=idp_issuer(mockidp, issuer, kind), options=checks,
        )
    else:
        claims = strict_decode(mockidp, token, issuer, require, **options)

    assert claims.get("sub") == (None if kind == "missing_sub" else user)
    assert claims["aud"] == (WRONG_AUDIENCE if kind == "wrong_audience" else AUDIENCE)
    assert claims["iss"] == idp_issuer(mockidp, issuer, kind)
    assert claims["name"] == name  # the user's claims are there
    assert claims["tenant"] == "acme"  # and so are the requested ones
    assert ("exp" in claims) == (kind != "missing_exp")


def idp_issuer(idp: MockIdP, issuer: str, kind: str) -> str:
    return WRONG_ISSUER if kind == "wrong_issuer" else idp.issuer_url(issuer)


@by_issuer
def test_expired_and_premature_tokens_say_so_in_their_time_stamps(
    mockidp: MockIdP, issuer: str, alg: str, user: str, name: str
) -> None:
    now = mockidp.clock_state()["now"]
    expired = unverified_claims(mockidp.mint_bad("expired", user, issuer=issuer))
    not_yet = unverified_claims(mockidp.mint_bad("not_yet_valid", user, issuer=issuer))
    future = unverified_claims(mockidp.mint_bad("issued_in_future", user, issuer=issuer))

    assert expired["iat"] <= expired["nbf"] < expired["exp"] < now
    assert not_yet["iat"] <= now < not_yet["nbf"] < not_yet["exp"]
    assert now < future["iat"] < future["exp"]
    assert "nbf" not in future  # nothing else says "not yet": only iat is wrong


@by_issuer
@pytest.mark.parametrize("kind", UNPUBLISHED_KID)
def test_unpublished_kid_is_absent_from_the_jwks(
    mockidp: MockIdP, kind: str, issuer: str, alg: str, user: str, name: str
) -> None:
    token = mockidp.mint_bad(kind, user, audience=AUDIENCE, issuer=issuer)
    header = jwt.get_unverified_header(token)

    assert header["alg"] == alg  # a real signature of the issuer's algorithm...
    assert header["typ"] == "JWT"
    assert header["kid"] not in published_kids(mockidp, issuer)  # ...by a key not published
    with pytest.raises(jwt.PyJWKClientError, match="Unable to find a signing key"):
        jwt.PyJWKClient(f"{mockidp.issuer_url(issuer)}/jwks").get_signing_key_from_jwt(token)


def test_unknown_kid_and_rotated_out_are_two_different_unpublished_keys(
    mockidp: MockIdP,
) -> None:
    unknown = jwt.get_unverified_header(mockidp.mint_bad("unknown_kid", "alice"))["kid"]
    rotated = jwt.get_unverified_header(mockidp.mint_bad("rotated_out", "alice"))["kid"]
    assert unknown != rotated
    assert not {unknown, rotated} & published_kids(mockidp)


@by_issuer
def test_alg_none_is_unsigned_and_refused(
    mockidp: MockIdP, issuer: str, alg: str, user: str, name: str
) -> None:
    token = mockidp.mint_bad("alg_none", user, audience=AUDIENCE, issuer=issuer)
    header = jwt.get_unverified_header(token)
    issuer_key = next(jwt.PyJWK(k) for k in jwks_of(mockidp, issuer)["keys"] if k["alg"] == alg)

    assert header == {"alg": "none", "typ": "JWT"}
    assert token.endswith(".")  # an empty signature
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, issuer_key.key, algorithms=["RS256", "ES256"], audience=AUDIENCE,
                   issuer=mockidp.issuer_url(issuer))


@by_issuer
def test_hs256_public_key_is_the_algorithm_confusion_attack(
    mockidp: MockIdP, issuer: str, alg: str, user: str, name: str
) -> None:
    token = mockidp.mint_bad("hs256_public_key", user, audience=AUDIENCE, issuer=issuer)
    header = jwt.get_unverified_header(token)
    rsa_jwk = next(k for k in jwks_of(mockidp, issuer)["keys"] if k["alg"] == "RS256")
    rsa_key = jwt.PyJWK(rsa_jwk)
    public_pem = rsa_key.key.public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)

    # HS256, naming the issuer's published RSA key...
    assert header["alg"] == "HS256"
    assert header["kid"] == rsa_jwk["kid"]
    # ...and MACed with that public key's PEM: a verifier that lets the token pick the
    # algorithm and feeds it the key material would accept it.
    signing_input, _, signature = token.rpartition(".")
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(mac, b64decode(signature))
    # PyJWT refuses both ways round: HS256 is not the key's algorithm, and a PEM public key is
    # not an HMAC secret.
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, rsa_key.key, algorithms=[rsa_key.algorithm_name], audience=AUDIENCE)
    with pytest.raises(jwt.InvalidKeyError):
        jwt.decode(token, public_pem, algorithms=["HS256"], audience=AUDIENCE)


@by_issuer
def test_bad_signature_is_the_issuer_key_over_other_bytes(
    mockidp: MockIdP, issuer: str, alg: str, user: str, name: str
) -> None:
    token = mockidp.mint_bad("bad_signature", user, audience=AUDIENCE, issuer=issuer)
    header = jwt.get_unverified_header(token)

    assert header["alg"] == alg
    assert header["kid"] in published_kids(mockidp, issuer)
    with pytest.raises(jwt.InvalidSignatureError):
        strict_decode(mockidp, token, issuer)


@by_issuer
def test_wrong_typ_is_only_the_typ(
    mockidp: MockIdP, issuer: str, alg: str, user: str, name: str
) -> None:
    token = mockidp.mint_bad("wrong_typ", user, audience=AUDIENCE, issuer=issuer)
    header = jwt.get_unverified_header(token)

    assert header["typ"] == WRONG_TYP
    assert header["typ"].lower() not in ("jwt", "at+jwt", "application/jwt",
                                         "application/at+jwt")
    assert header["kid"] in published_kids(mockidp, issuer)
    assert strict_decode(mockidp, token, issuer)["sub"] == user  # all else verifies


def test_malformed_parts_has_two_segments(mockidp: MockIdP) -> None:
    token = mockidp.mint_bad("malformed_parts", "alice", audience=AUDIENCE)

    assert token.count(".") == 1
    with pytest.raises(jwt.DecodeError, match="segments") as refused:
        strict_decode(mockidp, token)
    assert type(refused.value) is jwt.DecodeError
    assert json.loads(b64decode(token.split(".")[1]))["sub"] == "alice"  # just cut short


def test_malformed_base64_payload_is_not_base64url(mockidp: MockIdP) -> None:
    token = mockidp.mint_bad("malformed_base64", "alice", audience=AUDIENCE)
    header, payload, signature = token.split(".")
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    assert json.loads(b64decode(header))["kid"] in published_kids(mockidp)  # header intact
    assert not set(payload) <= alphabet
    assert set(signature) <= alphabet
    with pytest.raises(jwt.DecodeError, match="padding") as refused:
        strict_decode(mockidp, token)
    assert type(refused.value) is jwt.DecodeError


@by_issuer
def test_malformed_json_payload_is_base64url_but_not_json(
    mockidp: MockIdP, issuer: str, alg: str, user: str, name: str
) -> None:
    token = mockidp.mint_bad("malformed_json", user, audience=AUDIENCE, issuer=issuer)
    signing_input, _, signature = token.rpartition(".")
    payload = b64decode(signing_input.split(".")[1])
    key = key_for(mockidp, token, issuer)

    assert jwt.get_unverified_header(token)["alg"] == alg
    assert payload.startswith(f'{{"sub": "{user}"'.encode())
    with pytest.raises(json.JSONDecodeError):
        json.loads(payload)
    # Exactly one thing is wrong: the issuer's key signed this very header and payload...
    signed_here = key.Algorithm.verify(signing_input.encode(), key.key, b64decode(signature))
    assert signed_here, "the signature is not over this header and payload: it is wrong too"
    # ...so a verifier gets past the signature and refuses the payload.
    with pytest.raises(jwt.DecodeError, match="payload string") as refused:
        strict_decode(mockidp, token, issuer)
    assert type(refused.value) is jwt.DecodeError


@by_issuer
def test_revoked_verifies_but_introspects_inactive(
    mockidp: MockIdP, issuer: str, alg: str, user: str, name: str
) -> None:
    token = mockidp.mint_bad("revoked", user, audience=AUDIENCE, issuer=issuer)
    good = mockidp.mint(user, audience=AUDIENCE, issuer=issuer)

    assert strict_decode(mockidp, token, issuer)["sub"] == user  # signature and claims fine
    assert introspect(mockidp, token, issuer) == {"active": False}
    assert introspect(mockidp, good, issuer)["active"] is True


# -- a second verifier: jwcrypto --------------------------------------------------------------
class NotAnAccessToken(Exception):
    """Raised by the checks jwcrypto leaves to its caller."""


# What jwcrypto (1.6, configured with ``algs`` and ``check_claims``) does not check itself and
# a careful caller adds: the typ header, nbf when check_claims does not name it, iat in the
# future.  The catalogue catches each of these gaps.
JWCRYPTO_LEAVES_TO_CALLER = {"not_yet_valid": "nbf", "issued_in_future": "iat",
                             "wrong_typ": "typ"}


def jwcrypto_verify(token: str, jwks: dict[str, Any], issuer_url: str,
                    caller_checks: bool = True) -> dict[str, Any]:
    keyset = jwk.JWKSet.from_json(json.dumps(jwks))
    verified = jcjwt.JWT(
        algs=["RS256", "ES256"], expected_type="JWS",
        check_claims={"iss": issuer_url, "aud": AUDIENCE, "exp": None, "iat": None, "sub": None},
    )
    verified.leeway = 30  # clear of the 60 seconds by which `expired` is expired
    verified.deserialize(token, keyset)
    header: dict[str, Any] = json.loads(verified.header)
    claims: dict[str, Any] = json.loads(verified.claims)
    if caller_checks:
        now = time.time()
        if str(header.get("typ", "")).lower().removeprefix("application/") not in ("jwt",
                                                                                  "at+jwt"):
            raise NotAnAccessToken(f"typ {header.get('typ')!r}")
        if "nbf" in claims and claims["nbf"] > now + verified.leeway:
            raise NotAnAccessToken("nbf is in the future")
        if claims["iat"] > now + verified.leeway:
            raise NotAnAccessToken("iat is in the future")
    return claims


@by_issuer
def test_jwcrypto_rejects_every_kind(
    mockidp: MockIdP, mockidp_bad_token_kind: str, issuer: str, alg: str, user: str, name: str
) -> None:
    kind = mockidp_bad_token_kind
    jwks, url = jwks_of(mockidp, issuer), mockidp.issuer_url(issuer)
    token = mockidp.mint_bad(kind, user, audience=AUDIENCE, issuer=issuer)

    if kind == "revoked":
        # jwcrypto alone accepts it: only the provider knows it was revoked.
        assert jwcrypto_verify(token, jwks, url)["sub"] == user
        assert introspect(mockidp, token, issuer) == {"active": False}
        return
    if kind in JWCRYPTO_LEAVES_TO_CALLER:
        assert jwcrypto_verify(token, jwks, url, caller_checks=False)["sub"] == user
        with pytest.raises(NotAnAccessToken, match=JWCRYPTO_LEAVES_TO_CALLER[kind]):
            jwcrypto_verify(token, jwks, url)
        return
    with pytest.raises((JWException, ValueError)):
        jwcrypto_verify(token, jwks, url)


@by_issuer
def test_jwcrypto_accepts_the_good_twin(
    mockidp: MockIdP, issuer: str, alg: str, user: str, name: str
) -> None:
    token = mockidp.mint(user, audience=AUDIENCE, issuer=issuer)
    claims = jwcrypto_verify(token, jwks_of(mockidp, issuer), mockidp.issuer_url(issuer))
    assert claims["sub"] == user


# -- the other doors: CLI, control API, misuse ------------------------------------------------
def test_cli_mint_bad_expired(no_mockidp_env: None, tmp_path: Any) -> None:
    keys = str(tmp_path / "keys")
    result = invoke("mint", "--bad", "expired", "--sub", "alice", "--audience", AUDIENCE,
                    "--keys-dir", keys)
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    jwks = json.loads(invoke("jwks", "--keys-dir", keys).output)
    key = next(jwt.PyJWK(k) for k in jwks["keys"]
               if k["kid"] == jwt.get_unverified_header(token)["kid"])

    claims = unverified_claims(token)
    assert claims["sub"] == "alice"
    assert claims["exp"] < time.time()
    # Signed by the keys the CLI keeps: expired, and nothing else wrong.
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, key.key, algorithms=[key.algorithm_name], audience=AUDIENCE,
                   issuer="http://127.0.0.1:8080/default", options={"require": list(REQUIRED)})


def test_cli_mint_unknown_kind_names_kind(no_mockidp_env: None) -> None:
    result = invoke("mint", "--bad", "expried", "--sub", "alice")
    assert result.exit_code != 0
    assert "kind" in result.output
    assert "'expried'" in result.output
    assert "expired" in result.output.replace("'expried'", "")  # the valid kinds are listed


def test_cli_bad_tokens_lists_every_kind(no_mockidp_env: None, mockidp: MockIdP) -> None:
    result = invoke("bad-tokens")
    assert result.exit_code == 0, result.output
    listed = dict(line.split(None, 1) for line in result.output.splitlines())
    assert listed == mockidp.bad_token_kinds()


def test_cli_mint_bad_revoked_is_revoked_where_it_is_used(
    no_mockidp_env: None, tmp_path: Any
) -> None:
    """``mockidp mint --bad revoked`` must not print a token that the server sharing its
    keys (and host and port, as ``mint --help`` says) still calls active."""
    keys = tmp_path / "keys"
    with MockIdP(keys_dir=keys) as server:
        port = server.url.rsplit(":", 1)[1]
        result = invoke("mint", "--bad", "revoked", "--sub", "alice", "--keys-dir", str(keys),
                        "--port", port)
        good = invoke("mint", "--sub", "alice", "--keys-dir", str(keys), "--port", port)
        assert introspect(server, good.output.strip())["active"] is True  # keys are shared
        if result.exit_code != 0:  # refusing the kind, naming it, would be fine too
            assert "revoked" in result.output
            return
        assert introspect(server, result.output.strip()) == {"active": False}


def test_control_mint_bad_expired(mockidp: MockIdP) -> None:
    answer = control(mockidp, "POST", "/mint-bad", json={"kind": "expired", "sub": "alice"})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["kind"] == "expired"
    claims = unverified_claims(body["token"])
    assert claims["sub"] == "alice"
    assert claims["exp"] < mockidp.clock_state()["now"]
    assert claims["aud"] == "mockidp"  # no audience asked for: the default client id
    with pytest.raises(jwt.ExpiredSignatureError):  # signed by the issuer, only expired
        strict_decode(mockidp, body["token"], verify_aud=False)


def test_control_mint_bad_revoked_introspects_inactive(mockidp: MockIdP) -> None:
    answer = control(mockidp, "POST", "/mint-bad",
                     json={"kind": "revoked", "sub": "carol", "issuer": "partner",
                           "audience": AUDIENCE})
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert introspect(mockidp, token, "partner") == {"active": False}


def test_control_bad_tokens_lists_the_catalogue(mockidp: MockIdP) -> None:
    answer = control(mockidp, "GET", "/bad-tokens")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"kinds": mockidp.bad_token_kinds()}
    assert list(answer.json()["kinds"]) == list(mockidp.bad_token_kinds())


@pytest.mark.parametrize("body", [{"kind": "expried", "sub": "alice"}, {"sub": "alice"}],
                         ids=["unknown", "missing"])
def test_control_mint_bad_without_a_known_kind_is_400_naming_kind(
    mockidp: MockIdP, body: dict[str, Any]
) -> None:
    answer = control(mockidp, "POST", "/mint-bad", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["error"] == "invalid_request"
    assert "kind" in error["error_description"]
    assert "expired" in error["error_description"]  # the valid kinds are listed


def test_python_mint_bad_unknown_kind_names_kind(mockidp: MockIdP) -> None:
    with pytest.raises(MockIdPError, match=r"kind: expected one of expired, .*'expried'"):
        mockidp.mint_bad("expried", "alice")


def test_bad_token_kinds_is_a_copy(mockidp: MockIdP) -> None:
    kinds = mockidp.bad_token_kinds()
    kinds.clear()
    assert "expired" in mockidp.bad_token_kinds()

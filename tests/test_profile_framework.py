"""The profile machinery with a made-up profile: fixed mounts beside generic issuers, the
identifier and endpoint URLs, the claims, token-response, discovery, JWKS and error steps,
JSON bodies, parameter and grant aliases, extra endpoints, bad-token kinds, config errors and
``--profile``.  Each provider's own profile is tested with its SDKs in test_profile_*.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import jwt
import pytest
import requests

import mockidp.provider
from mockidp import MockIdP
from mockidp.core.errors import MockIdPError, OAuthError
from mockidp.core.model import EndpointRequest, GrantFacts, Json, Raw
from mockidp.core.settings import load_settings, with_profiles
from mockidp.profiles import Extra, IssuerView, Profile, catalog, declared, frozen


def _hello(profile: Profile, view: IssuerView, req: EndpointRequest) -> Json:
    return Json({"realm": view.name, "issuer": view.issuer_url,
                 "token": view.url(profile, "token")}, no_store=False)


def _empty(profile: Profile, view: IssuerView, req: EndpointRequest) -> Raw:
    return Raw(204)


@dataclass(frozen=True)
class Acme(Profile):
    """A provider that puts issuers at /acme/{realm}, spells its token path its own way, adds
    claims, takes JSON token requests and has its own error shape."""

    def mounts(self, issuer: str, options: Mapping[str, Any]) -> tuple[str, ...]:
        return (f"/acme/{options['realm']}", f"/legacy/acme/{options['realm']}")

    def option_defaults(self, issuer: str) -> Mapping[str, Any]:
        return {"realm": issuer}

    def check(self, options: Mapping[str, Any]) -> None:
        if options["realm"] == "bad":
            raise ValueError("realm: expected anything but 'bad', got 'bad'")

    def identifier(self, base_url: str, mount: str, options: Mapping[str, Any]) -> str:
        return base_url + mount + "/"

    def owns(self, iss: str, mount: str, options: Mapping[str, Any]) -> bool:
        return iss.endswith(mount + "/")

    def access_claims(self, claims: dict[str, Any], facts: GrantFacts, view: IssuerView
                      ) -> None:
        claims["acme_realm"] = view.name
        claims["roles_seen"] = list((facts.user.claims if facts.user else {}).get("roles", []))

    def token_response(self, response: dict[str, Any], facts: GrantFacts, view: IssuerView
                       ) -> None:
        response["acme"] = True

    def discovery(self, document: dict[str, Any], view: IssuerView) -> None:
        document["acme_hello"] = view.url(self, "hello")

    def error_body(self, error: OAuthError, endpoint: str) -> Mapping[str, Any]:
        return {"code": error.error, "message": error.description, "endpoint": endpoint}

    def bad_token(self, kind: str, claims: dict[str, Any], view: IssuerView) -> None:
        claims["acme_realm"] = "another"


ACME = Acme(
    name="acme", mount="/acme/{issuer}", title="Acme", fixed=True,
    paths=frozen({"discovery": "/.well-known/openid-configuration", "jwks": "/keys",
                  "token": "/oauth/token", "userinfo": "/me", "authorize": "/authorize",
                  "login": "/authorize/login", "consent": "/authorize/consent",
                  "introspect": "/introspect", "revoke": "/revoke"}),
    root_paths=frozen({"endsession": "/acme-logout"}),
    options=frozen({"realm": None, "mount": None}),
    defaults=frozen({"signing_alg": "RS256"}),
    json_bodies=frozenset({"token"}),
    grant_aliases=frozen({"urn:acme:password": "password"}),
    param_aliases=MappingProxyType({"endsession": frozen({"returnTo":
                                                          "post_logout_redirect_uri"})}),
    extras=frozen({"hello": Extra("/hello", answer=_hello),
                   "ping": Extra("/acme-ping", root=True, answer=_empty)}),
    bad_kinds=frozen({"acme_other_realm": "acme_realm names another realm"}),
    jwks_key_types=("RSA",),
)
CONFIG = {
    "signing_alg": "ES256",
    "users": {"alice": {"claims": {"roles": ["admin"]}, "password": "pw"}},
    "issuers": {"shop": {"profile": "acme", "realm": "shop"}, "plain": {}},
}


def add_acme(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the made-up profile in the catalogue (and its bad-token kind)."""
    monkeypatch.setattr(declared, "PROFILES", {**declared.PROFILES, "acme": ACME})
    monkeypatch.setattr(mockidp.provider, "BAD_KINDS", {**mockidp.provider.BAD_KINDS,
                                                        "acme_other_realm": "..."})
    monkeypatch.setattr(catalog, "BAD_KIND_OWNERS", {"acme_other_realm": ACME})
    monkeypatch.setattr(mockidp.provider, "ENDPOINT_NAMES",
                        (*mockidp.provider.ENDPOINT_NAMES, "hello", "ping"))


@pytest.fixture
def acme(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockIdP]:
    add_acme(monkeypatch)
    idp = MockIdP(config=CONFIG)
    with idp:
        yield idp


def test_a_profiled_issuer_lives_at_its_mounts_beside_generic_issuers(acme: MockIdP) -> None:
    base = acme.url
    doc = requests.get(f"{base}/acme/shop/.well-known/openid-configuration", timeout=5).json()
    assert doc["issuer"] == f"{base}/acme/shop/"
    assert doc["token_endpoint"] == f"{base}/acme/shop/oauth/token"
    assert doc["end_session_endpoint"] == f"{base}/acme-logout"
    assert doc["acme_hello"] == f"{base}/acme/shop/hello"
    assert "registration_endpoint" not in doc and "device_authorization_endpoint" not in doc
    legacy = requests.get(f"{base}/legacy/acme/shop/.well-known/openid-configuration",
                          timeout=5).json()
    assert legacy["issuer"] == f"{base}/legacy/acme/shop/"
    # generic issuers are untouched, and a profiled issuer is no generic one
    assert requests.get(f"{base}/plain/.well-known/openid-configuration",
                        timeout=5).json()["issuer"] == f"{base}/plain"
    assert requests.get(f"{base}/shop/.well-known/openid-configuration",
                        timeout=5).status_code == 404
    assert requests.get(f"{base}/acme/.well-known/openid-configuration",
                        timeout=5).status_code == 404
    # its signing alg is the profile's, its JWKS only RSA keys
    keys = requests.get(f"{base}/acme/shop/keys", timeout=5).json()["keys"]
    assert keys and {k["kty"] for k in keys} == {"RSA"}
    assert acme.issuer("plain").settings.signing_alg == "ES256"


def test_tokens_are_shaped_by_the_profile_and_verify(acme: MockIdP) -> None:
    base = acme.url
    answer = requests.post(f"{base}/acme/shop/oauth/token", json={
        "grant_type": "urn:acme:password", "username": "alice", "password": "pw",
        "client_id": "app", "scope": "openid"}, timeout=5)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["acme"] is True
    jwks = jwt.PyJWKClient(f"{base}/acme/shop/keys")
    token = body["access_token"]
    claims = jwt.decode(token, jwks.get_signing_key_from_jwt(token).key, algorithms=["RS256"],
                        audience="app", issuer=f"{base}/acme/shop/")
    assert claims["acme_realm"] == "shop" and claims["roles_seen"] == ["admin"]
    # userinfo accepts its own token (the identifier ends in "/")
    me = requests.get(f"{base}/acme/shop/me", headers={"Authorization": f"Bearer {token}"},
                      timeout=5)
    assert me.status_code == 200 and me.json()["sub"] == "alice"
    minted = jwt.decode(acme.mint("bob", issuer="shop"), options={"verify_signature": False})
    assert minted["acme_realm"] == "shop" and minted["iss"].endswith("/acme/shop/")
    bad = jwt.decode(acme.mint_bad("acme_other_realm", issuer="shop"),
                     options={"verify_signature": False})
    assert bad["acme_realm"] == "another"
    assert "acme_other_realm" in acme.bad_token_kinds()


def test_errors_json_aliases_and_extras(acme: MockIdP) -> None:
    base = acme.url
    refused = requests.post(f"{base}/acme/shop/oauth/token", json={"grant_type": "nope"},
                            timeout=5)
    assert refused.status_code == 400
    assert refused.json()["code"] == "unsupported_grant_type"
    assert refused.json()["endpoint"] == "token"
    broken = requests.post(f"{base}/acme/shop/oauth/token", data=b"{not json",
                           headers={"Content-Type": "application/json"}, timeout=5)
    assert broken.status_code == 400 and broken.json()["code"] == "invalid_request"
    hello = requests.get(f"{base}/acme/shop/hello", timeout=5)
    assert hello.json() == {"realm": "shop", "issuer": f"{base}/acme/shop/",
                            "token": f"{base}/acme/shop/oauth/token"}
    assert requests.get(f"{base}/acme-ping", timeout=5).status_code == 204
    acme.assert_called(endpoint="hello", issuer="shop")
    logout = requests.get(f"{base}/acme-logout", params={"returnTo": "http://app/bye"},
                          allow_redirects=False, timeout=5)
    assert logout.status_code in (200, 302)
    assert acme.calls(endpoint="endsession")[-1].params["post_logout_redirect_uri"] == \
        "http://app/bye"


def test_config_errors_name_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    add_acme(monkeypatch)
    with pytest.raises(MockIdPError, match=r"issuers.x.profile: expected one of .*acme"):
        MockIdP(config={"issuers": {"x": {"profile": "nope"}}})
    with pytest.raises(MockIdPError, match=r"issuers.x.tenant_id: the acme profile takes no"):
        MockIdP(config={"issuers": {"x": {"profile": "acme", "tenant_id": "t"}}})
    with pytest.raises(MockIdPError, match=r"issuers.x.realm: expected anything but 'bad'"):
        MockIdP(config={"issuers": {"x": {"profile": "acme", "realm": "bad"}}})
    with pytest.raises(MockIdPError, match=r"issuers.y: mount '/acme/r' is already issuer 'x'"):
        MockIdP(config={"issuers": {"x": {"profile": "acme", "realm": "r"},
                                    "y": {"profile": "acme", "realm": "r"}}})
    with pytest.raises(MockIdPError, match=r"issuers.x.realm: expected a non-empty string"):
        load_settings({"issuers": {"x": {"profile": "acme", "realm": 3}}})


def test_profiles_from_the_command_line() -> None:
    settings = with_profiles(load_settings({"issuers": {"x": {"strict": True}}}),
                             ["acme:x:realm=r", "acme:y"], "--profile")
    assert settings.issuers["x"]["profile"] == "acme" and settings.issuers["x"]["realm"] == "r"
    assert settings.issuers["x"]["strict"] is True
    assert settings.issuers["y"]["profile"] == "acme"
    with pytest.raises(MockIdPError, match=r"--profile: 'acme': expected KIND:NAME"):
        with_profiles(load_settings(None), ["acme"], "--profile")
    with pytest.raises(MockIdPError, match=r"MOCKIDP_PROFILES: 'acme:y:colour=red'"):
        with_profiles(load_settings(None), ["acme:y:colour=red"], "MOCKIDP_PROFILES")


def test_rules_match_endpoint_names_on_profile_paths(acme: MockIdP) -> None:
    base = acme.url
    acme.add_rule(endpoint="token", issuer="shop", error="temporarily_unavailable", times=1)
    acme.add_rule(endpoint="hello", issuer="shop", fault={"status": 503, "body": "down"}, times=1)
    refused = requests.post(f"{base}/acme/shop/oauth/token", data={
        "grant_type": "client_credentials", "client_id": "app"}, timeout=5)
    assert refused.status_code == 400
    assert refused.json()["code"] == "temporarily_unavailable"  # in the profile's shape
    assert requests.get(f"{base}/acme/shop/hello", timeout=5).status_code == 503
    assert requests.get(f"{base}/acme/shop/hello", timeout=5).status_code == 200
    acme.check_rules()


def test_the_login_page_and_dashboard_say_whom_the_issuer_imitates(acme: MockIdP) -> None:
    base = acme.url
    acme.issuer("shop")  # interactive login is on by default
    page = requests.get(f"{base}/acme/shop/authorize", params={
        "client_id": "app", "response_type": "code", "redirect_uri": "http://app/cb",
        "scope": "openid"}, timeout=5)
    assert page.status_code == 200 and "imitating Acme" in page.text
    shop = next(i for i in acme.dashboard(base)["issuers"] if i["name"] == "shop")
    assert shop["profile"] == "Acme" and shop["discovery"].startswith(f"{base}/acme/shop/")
    plain = next(i for i in acme.dashboard(base)["issuers"] if i["name"] == "plain")
    assert plain["profile"] == "mockidp"

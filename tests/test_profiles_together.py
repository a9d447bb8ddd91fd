"""The five provider profiles on one ``mockidp serve --tls``, beside generic issuers: each
answers its own discovery and token endpoints over HTTPS (the printed certificate trusted),
its tokens verify against its own JWKS with its own issuer, and the generic issuers are
untouched (issue 12, "Done when")."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from .local_server import mockidp_serve

TENANT = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
POOL = "us-east-1_Example"
CONFIG = f"""
[clients.app]
secret = "app-secret"
claims = {{ roles = ["Orders.Sync"] }}

[users.alice]
password = "pw"
claims = {{ roles = ["admin"], groups = ["staff"], permissions = ["read:orders"] }}

[issuers.myrealm]
profile = "keycloak"

[issuers.contoso]
profile = "entra"
tenant_id = "{TENANT}"

[issuers.shop]
profile = "auth0"

[issuers.okta]
profile = "okta"
authorization_server = "default"

[issuers.pool]
profile = "cognito"
user_pool_id = "{POOL}"

[issuers.plain]
"""
TIMEOUT = 10.0


class Trusting(requests.Session):
    """A session trusting only mockidp's certificate: ``verify`` on every request, since a
    ``REQUESTS_CA_BUNDLE`` of the environment would otherwise win over the session's."""

    def __init__(self, cert: Path) -> None:
        super().__init__()
        self.ca_file = str(cert)

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("verify", self.ca_file)
        return super().request(*args, **kwargs)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    folder = tmp_path_factory.mktemp("together")
    config = folder / "mockidp.toml"
    config.write_text(CONFIG)
    keys = folder / "keys"
    with mockidp_serve("--tls", "--port", "0", "--config", str(config),
                       "--keys-dir", str(keys)) as server:
        issuer = server.issuer()
        assert issuer is not None, server.output
        base = issuer.removesuffix("/default")
        assert base.startswith("https://127.0.0.1:")
        assert server.line("Any other issuer") is not None, server.output
        yield base, keys / "_tls" / "cert.pem", server.output


# each profile: (issuer name, its discovery path, extra token parameters, its iss)
def expected(base: str) -> dict[str, tuple[str, dict[str, str], str]]:
    return {
        "keycloak": ("/realms/myrealm/.well-known/openid-configuration", {},
                     f"{base}/realms/myrealm"),
        "entra": (f"/{TENANT}/v2.0/.well-known/openid-configuration",
                  {"scope": "api://orders/.default"}, f"{base}/{TENANT}/v2.0"),
        "auth0": ("/.well-known/openid-configuration", {"audience": "https://api.shop"},
                  f"{base}/"),
        "okta": ("/oauth2/default/.well-known/openid-configuration", {"scope": "orders"},
                 f"{base}/oauth2/default"),
        "cognito": (f"/{POOL}/.well-known/openid-configuration", {},
                    f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"),
        "generic": ("/plain/.well-known/openid-configuration", {}, f"{base}/plain"),
    }


@pytest.mark.parametrize("kind", ["keycloak", "entra", "auth0", "okta", "cognito", "generic"])
def test_each_profile_answers_over_https_on_one_server(served: tuple[str, Path, str],
                                                       kind: str) -> None:
    base, cert, _ = served
    path, extra, iss = expected(base)[kind]
    with Trusting(cert) as http:
        document: dict[str, Any] = http.get(base + path, timeout=TIMEOUT).json()
        assert document["issuer"] == iss
        assert document["token_endpoint"].startswith(base + "/")
        answer = http.post(document["token_endpoint"], auth=("app", "app-secret"),
                           data={"grant_type": "client_credentials", **extra}, timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    jwks = jwt.PyJWKClient(document["jwks_uri"],
                           ssl_context=ssl.create_default_context(cafile=str(cert)))
    claims = jwt.decode(token, jwks.get_signing_key_from_jwt(token).key,
                        algorithms=["RS256"], issuer=iss, options={"verify_aud": False})
    assert claims["iss"] == iss


def test_the_banner_names_each_profiled_issuer(served: tuple[str, Path, str]) -> None:
    base, _, output = served
    for title, name, kind in [("Keycloak", "myrealm", "keycloak"),
                              ("Microsoft Entra ID", "contoso", "entra"),
                              ("Auth0", "shop", "auth0"), ("Okta", "okta", "okta"),
                              ("Amazon Cognito", "pool", "cognito")]:
        line = next((line for line in output.splitlines() if line.startswith(title + ":")),
                    None)
        assert line is not None, output
        assert f"issuer '{name}'" in line and line.endswith(expected(base)[kind][2]), line


def test_the_same_five_from_the_command_line_alone(tmp_path: Path) -> None:
    # a one-line docker-compose service: MOCKIDP_PROFILES, no config file
    profiles = (f"keycloak:myrealm entra:contoso:tenant_id={TENANT} auth0:shop "
                f"okta:okta:authorization_server=default cognito:pool:user_pool_id={POOL}")
    with mockidp_serve("--tls", "--port", "0", "--keys-dir", str(tmp_path),
                       env={"MOCKIDP_PROFILES": profiles}) as server:
        issuer = server.issuer()
        assert issuer is not None, server.output
        base = issuer.removesuffix("/default")
        cert = tmp_path / "_tls" / "cert.pem"
        for kind, (path, _, iss) in expected(base).items():
            if kind == "generic":
                continue
            answer = requests.get(base + path, verify=str(cert), timeout=TIMEOUT)
            assert answer.status_code == 200 and answer.json()["issuer"] == iss, kind


# where each provider puts the generic claims of a user (and of a client, for Entra)
MAPPED = {
    "keycloak": lambda c: "admin" in c["realm_access"]["roles"],
    "entra": lambda c: c["roles"] == ["admin"],
    "auth0": lambda c: c["permissions"] == ["read:orders"],
    "okta": lambda c: c["groups"] == ["staff"],
    "cognito": lambda c: c["cognito:groups"] == ["staff"],
}


@pytest.mark.parametrize("kind", sorted(MAPPED))
def test_a_user_s_generic_claims_become_each_provider_s(served: tuple[str, Path, str],
                                                        kind: str) -> None:
    base, cert, _ = served
    path, extra, iss = expected(base)[kind]
    if kind == "entra":
        extra = {"scope": "api://orders/Orders.Read"}
    with Trusting(cert) as http:
        document = http.get(base + path, timeout=TIMEOUT).json()
        answer = http.post(document["token_endpoint"], auth=("app", "app-secret"), data={
            "grant_type": "password", "username": "alice", "password": "pw", **extra},
            timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
        assert claims["iss"] == iss
        assert MAPPED[kind](claims), claims
        if kind == "entra":  # and a client's roles are the app roles of its app-only tokens
            app_only = http.post(document["token_endpoint"], auth=("app", "app-secret"), data={
                "grant_type": "client_credentials", "scope": "api://orders/.default"},
                timeout=TIMEOUT).json()["access_token"]
            assert jwt.decode(app_only, options={"verify_signature": False})["roles"] == [
                "Orders.Sync"]

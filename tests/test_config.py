"""Config files: TOML and JSON, validated with messages naming file, field and expectation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mockidp import (
    MockIdP,
    MockIdPError,
    load_settings,
)

from .conftest import SAMPLE_CONFIG


def test_sample_config_loads() -> None:
    settings = load_settings(SAMPLE_CONFIG)
    assert set(settings.users) == {"alice", "bob"}
    assert set(settings.clients) == {"web-app", "spa", "orders-service"}
    partner = settings.issuer("partner")
    assert partner.signing_alg == "ES256"
    assert set(partner.users) == {"alice", "bob", "carol"}
    assert settings.issuer("default").lifetimes.access_token == 300


def test_json_config_equivalent(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"users": {"zoe": {"claims": {"team": "blue"}}},
                                "clients": {"app": {"secret": "s"}}}))
    with MockIdP(path) as idp:
        token = idp.mint("zoe")
        import jwt
        assert jwt.decode(token, options={"verify_signature": False})["team"] == "blue"


@pytest.mark.parametrize("text, field, expected", [
    ('[clients.web]\nredirect_uris = ["not a url"]', "clients.web.redirect_uris[0]",
     "absolute http(s) URL"),
    ("[clients.web]\nsecret = 5", "clients.web.secret", "non-empty string"),
    ('[clients.web]\ngrant_types = ["magic"]', "clients.web.grant_types[0]", "one of"),
    ("[clients.web]\nredirect = 1", "clients.web.redirect", "unknown field"),
    ("[users.al]\nclaims = { exp = 5 }", "users.al.claims.exp", "set by the provider"),
    ("[users.al]\nclaims = 3", "users.al.claims", "table"),
    ("access_token_lifetime = -1", "access_token_lifetime", "positive whole number"),
    ('signing_alg = "HS256"', "signing_alg", "RS256"),
    ("interactive_login = 1", "interactive_login", "true or false"),
    ('[issuers."bad name"]', "issuers.bad name", "issuer name"),
    ("[issuers.x]\nsigning_alg = 7", "issuers.x.signing_alg", "one of"),
    ("nonsense = 1", "nonsense", "unknown field"),
])
def test_errors_name_file_field_and_expectation(tmp_path: Path, text: str, field: str,
                                                expected: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(MockIdPError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert field in message and expected in message, message


def test_syntax_errors_name_the_file(tmp_path: Path) -> None:
    toml = tmp_path / "a.toml"
    toml.write_text("this is = = not toml")
    with pytest.raises(MockIdPError, match=r"a\.toml: invalid TOML"):
        load_settings(toml)
    js = tmp_path / "b.json"
    js.write_text('{"users": ')
    with pytest.raises(MockIdPError, match=r"b\.json: line 1 column \d+: invalid JSON"):
        load_settings(js)
    with pytest.raises(MockIdPError, match=r"missing\.toml: cannot read config file"):
        load_settings(tmp_path / "missing.toml")


def test_python_api_arguments_are_validated_like_config() -> None:
    idp = MockIdP()
    with pytest.raises(MockIdPError, match=r"add_client: app\.redirect_uris\[0\]"):
        idp.add_client("app", "s", redirect_uris=["nope"])
    with pytest.raises(MockIdPError, match=r"add_user: claims\.aud"):
        idp.add_user("u", {"aud": "x"})
    with pytest.raises(MockIdPError, match="mint: alg"):
        idp.mint("u", alg="none")


def test_issuer_overrides_and_per_issuer_clients(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('access_token_lifetime = 100\n[issuers.t]\naccess_token_lifetime = 50\n'
                    '[issuers.t.clients.only-t]\nsecret = "s"\n')
    settings = load_settings(path)
    assert settings.issuer("t").lifetimes.access_token == 50
    assert settings.issuer("other").lifetimes.access_token == 100
    assert "only-t" in settings.issuer("t").clients
    assert "only-t" not in settings.issuer("default").clients

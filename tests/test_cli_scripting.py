"""The scripting options of the command line: ``serve --control-token / --no-control /
--clock-skew`` (and their ``MOCKIDP_*`` variables) as a real process, and ``check-config`` on
a config whose rules are broken."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from mockidp.cli import main

from .test_cli import HTTP_TIMEOUT, Served, serve

# each test starts from no ``MOCKIDP_*`` variables (the ``no_mockidp_env`` fixture)
pytestmark = pytest.mark.usefixtures("no_mockidp_env")


def control_url(server: Served, path: str) -> str:
    base = server.issuer.rsplit("/", 1)[0]
    return f"{base}/_mockidp{path}"


def get(url: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(url, headers=headers, timeout=HTTP_TIMEOUT)


def assert_guarded_by(server: Served, token: str) -> None:
    rules = control_url(server, "/rules")
    missing = get(rules)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert get(rules, "not-" + token).status_code == 401
    allowed = get(rules, token)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == {"rules": []}
    added = requests.post(rules, json={"endpoint": "token", "error": "slow_down"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT)
    assert added.status_code == 201, added.text
    scripted = requests.post(f"{server.issuer}/token", data={"grant_type": "client_credentials"},
                             auth=("svc", "x"), timeout=HTTP_TIMEOUT)
    assert scripted.status_code == 400
    assert scripted.json()["error"] == "slow_down"
    # Health stays open for readiness probes.
    assert get(control_url(server, "/health")).status_code == 200


def test_serve_control_token_guards_the_control_api() -> None:
    with serve("--port", "0", "--control-token", "T0ken") as server:
        assert_guarded_by(server, "T0ken")


def test_serve_control_token_from_the_environment() -> None:
    with serve("--port", "0", env={"MOCKIDP_CONTROL_TOKEN": "env-T0ken"}) as server:
        assert_guarded_by(server, "env-T0ken")


@pytest.mark.parametrize(("args", "env"), [
    (("--no-control",), None),
    ((), {"MOCKIDP_CONTROL": "false"}),
], ids=["option", "env"])
def test_serve_without_control_api(args: tuple[str, ...], env: dict[str, str] | None) -> None:
    with serve("--port", "0", *args, env=env) as server:
        assert get(control_url(server, "/health")).status_code == 404
        assert get(control_url(server, "/rules")).status_code == 404
        doc = get(f"{server.issuer}/.well-known/openid-configuration")
        assert doc.status_code == 200
        assert doc.json()["issuer"] == server.issuer


def test_serve_without_a_token_leaves_the_control_api_open() -> None:
    with serve("--port", "0") as server:
        health = get(control_url(server, "/health"))
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert get(control_url(server, "/rules")).status_code == 200


@pytest.mark.parametrize(("args", "env", "expected"), [
    ((), {"MOCKIDP_CLOCK_SKEW": "300"}, 300),
    (("--clock-skew", "-60"), None, -60),
], ids=["env", "option"])
def test_serve_clock_skew(args: tuple[str, ...], env: dict[str, str] | None,
                          expected: float) -> None:
    with serve("--port", "0", *args, env=env) as server:
        clock = get(control_url(server, "/clock"))
        assert clock.status_code == 200
        assert clock.json()["offset"] == pytest.approx(expected, abs=5)
        assert clock.json()["frozen"] is False


BROKEN_RULE_CONFIG = """
[[rules]]
endpoint = "token"
error = "temporarily_unavailable"
times = "twice"
"""

GOOD_RULE_CONFIG = """
clock = { skew = 30 }

[[rules]]
endpoint = "token"
error = "temporarily_unavailable"
"""


def test_check_config_names_the_broken_rule(tmp_path: Path) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text(BROKEN_RULE_CONFIG)
    result = CliRunner().invoke(main, ["check-config", str(bad)])
    assert result.exit_code != 0
    assert f"{bad}: rules[0].times" in result.output
    assert "twice" in result.output
    assert "OK" not in result.output


def test_check_config_counts_the_rules(tmp_path: Path) -> None:
    good = tmp_path / "rules.toml"
    good.write_text(GOOD_RULE_CONFIG)
    result = CliRunner().invoke(main, ["check-config", str(good)])
    assert result.exit_code == 0, result.output
    assert "1 rules" in result.output

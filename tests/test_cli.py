"""The ``mockidp`` command line: ``mint``, ``jwks`` and ``check-config`` through click's
``CliRunner``, ``serve`` as a real process (the venv's ``mockidp`` executable)."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from click.testing import CliRunner, Result

from mockidp.cli import main
from mockidp.core.settings import SIGNING_ALGS

from .conftest import ROOT, SAMPLE_CONFIG
from .local_server import clean_env, free_port, pump_lines

MOCKIDP = Path(sys.executable).with_name("mockidp")
START_TIMEOUT = 30.0
HTTP_TIMEOUT = 10.0
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}

BROKEN_CONFIG = """
[clients.web]
redirect_uris = ["not-a-url"]
"""


# each test starts from no ``MOCKIDP_*`` variables (the ``no_mockidp_env`` fixture)
pytestmark = pytest.mark.usefixtures("no_mockidp_env")


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def verify_with(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The token's claims, verified against a printed JWKS (signature only)."""
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
    return jwt.decode(token, key.key, algorithms=[key.algorithm_name],
                      options={"verify_aud": False})


def mint(*args: str, env: dict[str, str] | None = None) -> str:
    result = invoke("mint", *args, env=env)
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.count(".") == 2, token
    return token


# -- mint, jwks, check-config (CliRunner) ----------------------------------------------------

def test_mint_prints_a_jwt_with_the_claims_given() -> None:
    token = mint("--sub", "alice", "--claim", "role=admin", "--claim", "n=5",
                 "--claim", 'roles=["a","b"]')
    claims = claims_of(token)
    assert claims["sub"] == "alice"
    assert claims["role"] == "admin"
    assert claims["n"] == 5
    assert claims["roles"] == ["a", "b"]
    assert claims["iss"].endswith("/default")
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


def test_mint_audience_and_expires_in() -> None:
    one = claims_of(mint("--sub", "bob", "--audience", "orders-api", "--expires-in", "120"))
    assert one["aud"] == "orders-api"
    assert one["exp"] - one["iat"] == 120
    two = claims_of(mint("--audience", "a", "--audience", "b"))
    assert two["aud"] == ["a", "b"]


def test_mint_rejects_a_claim_without_a_value() -> None:
    result = CliRunner().invoke(main, ["mint", "--claim", "role"])
    assert result.exit_code != 0
    assert "expected NAME=VALUE" in result.output


ALL_ALGS = set(SIGNING_ALGS)


def test_jwks_prints_public_keys_only() -> None:
    result = invoke("jwks")
    assert result.exit_code == 0, result.output
    jwks = json.loads(result.stdout)
    assert {key["alg"] for key in jwks["keys"]} == ALL_ALGS
    for key in jwks["keys"]:
        assert key["use"] == "sig"
        assert key["kid"]
        assert not PRIVATE_JWK_MEMBERS & set(key), key


def test_keys_dir_makes_mint_and_jwks_agree(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    token = mint("--sub", "alice", "--keys-dir", str(keys))
    result = invoke("jwks", "--keys-dir", str(keys))
    assert result.exit_code == 0, result.output
    assert verify_with(token, json.loads(result.stdout))["sub"] == "alice"


def test_check_config_accepts_the_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke("check-config", "fixtures/config.toml")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "fixtures/config.toml: OK (2 users, 3 clients, 0 rules, issuers: default, partner)"
    )


def test_check_config_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text(BROKEN_CONFIG)
    result = invoke("check-config", str(bad))
    assert result.exit_code != 0
    assert f"{bad}: clients.web.redirect_uris[0]" in result.output
    assert "not-a-url" in result.output
    assert "OK" not in result.output


def test_check_config_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = invoke("check-config", str(missing))
    assert result.exit_code != 0
    assert str(missing) in result.output


def test_mockidp_config_env_var() -> None:
    claims = claims_of(mint("--sub", "alice", env={"MOCKIDP_CONFIG": str(SAMPLE_CONFIG)}))
    assert claims["email"] == "alice@example.com"
    assert claims["roles"] == ["admin", "user"]
    # Without the variable, alice is just a subject.
    assert "email" not in claims_of(mint("--sub", "alice"))


def test_mockidp_config_env_var_with_a_broken_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text(BROKEN_CONFIG)
    result = invoke("mint", env={"MOCKIDP_CONFIG": str(bad)})
    assert result.exit_code != 0
    assert f"{bad}: clients.web.redirect_uris[0]" in result.output


def test_mockidp_keys_dir_env_var(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    env = {"MOCKIDP_KEYS_DIR": str(keys)}
    token = mint("--sub", "alice", env=env)
    assert (keys / "default" / "rsa.pem").is_file()
    again = mint("--sub", "alice", env=env)
    assert jwt.get_unverified_header(again)["kid"] == jwt.get_unverified_header(token)["kid"]
    result = invoke("jwks", env=env)
    assert verify_with(token, json.loads(result.stdout))["sub"] == "alice"


# -- serve (a real process) ---------------------------------------------------------------------

@dataclass
class Served:
    """A running ``mockidp serve``: its process, issuer URL and the lines it printed."""

    process: subprocess.Popen[str]
    issuer: str
    lines: list[str] = field(default_factory=list)


@contextmanager
def serve(*args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Run ``mockidp serve ARGS``, wait for its ``Issuer:`` line, always kill it after."""
    process = subprocess.Popen(
        [str(MOCKIDP), "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, text=True, env=clean_env(env),
    )
    try:
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=pump_lines, args=(process.stdout, lines), daemon=True).start()
        seen: list[str] = []
        issuer = None
        while issuer is None:
            try:
                line = lines.get(timeout=START_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no 'Issuer:' line within {START_TIMEOUT}s; output: {seen}")
            if line is None:
                pytest.fail(f"mockidp serve exited ({process.wait(5)}) before serving: {seen}")
            seen.append(line)
            if line.startswith("Issuer:"):
                issuer = line.split(None, 1)[1].strip()
        # The discovery line follows the issuer line.
        try:
            line = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            line = None
        if line is not None:
            seen.append(line)
        yield Served(process, issuer, seen)
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_serve_prints_issuer_discovery_and_a_warning() -> None:
    with serve("--port", "0") as server:
        assert server.issuer.startswith("http://127.0.0.1:")
        assert server.issuer.endswith("/default")
        assert f"Discovery: {server.issuer}/.well-known/openid-configuration" in server.lines
        assert any("MOCK" in line and "for tests" in line for line in server.lines), server.lines
        doc = requests.get(f"{server.issuer}/.well-known/openid-configuration",
                           timeout=HTTP_TIMEOUT).json()
        assert doc["issuer"] == server.issuer


def _children(pid: int) -> list[str]:
    """The child process ids of ``pid`` (over all its threads)."""
    found: list[str] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += (task / "children").read_text().split()
        except FileNotFoundError:  # a request thread that ended meanwhile
            continue
    return found


@pytest.mark.parametrize("server_name", ["granian", "werkzeug"])
def test_serve_is_one_process_whose_scripted_state_every_request_sees(server_name: str) -> None:
    """Both servers run the provider in the `mockidp serve` process itself: no worker
    process, so a rule scripted over the control API applies to the very next token request,
    and Ctrl-C ends the server cleanly."""
    if server_name == "granian":
        pytest.importorskip("granian")
    with serve("--port", "0", "--server", server_name) as server:
        base = server.issuer.rsplit("/", 1)[0]
        rule = requests.post(f"{base}/_mockidp/rules", timeout=HTTP_TIMEOUT, json={
            "endpoint": "token", "claims": {"set": {"tier": "gold"}}, "times": 3})
        assert rule.status_code == 201, rule.text
        tiers = []
        for _ in range(4):
            answer = requests.post(f"{server.issuer}/token", timeout=HTTP_TIMEOUT,
                                   auth=("svc", "secret"),
                                   data={"grant_type": "client_credentials"})
            assert answer.status_code == 200, answer.text
            assert server_name in answer.headers["Server"].lower()
            claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
            tiers.append(claims.get("tier"))
        assert tiers == ["gold", "gold", "gold", None]  # one rule, counted in one place
        assert _children(server.process.pid) == []
        server.process.send_signal(2)  # SIGINT, as Ctrl-C
        assert server.process.wait(timeout=10) == 0


def test_serve_honours_port_and_host_env_vars() -> None:
    port = free_port()
    with serve(env={"MOCKIDP_PORT": str(port), "MOCKIDP_HOST": "localhost"}) as server:
        assert server.issuer == f"http://localhost:{port}/default"
        doc = requests.get(f"http://127.0.0.1:{port}/default/.well-known/openid-configuration",
                           timeout=HTTP_TIMEOUT).json()
        assert doc["issuer"] == f"http://127.0.0.1:{port}/default"


def test_no_interactive_login_approves_at_once() -> None:
    params = {"response_type": "code", "client_id": "x", "redirect_uri": "http://localhost/cb"}
    with serve("--port", "0") as server:
        page = requests.get(f"{server.issuer}/authorize", params=params, allow_redirects=False,
                            timeout=HTTP_TIMEOUT)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
    with serve("--port", "0", "--no-interactive-login") as server:
        response = requests.get(f"{server.issuer}/authorize", params=params,
                                allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location.startswith("http://localhost/cb?code=")


def test_serve_port_in_use_fails_clearly() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [str(MOCKIDP), "serve", "--port", str(port)], capture_output=True, text=True,
            stdin=subprocess.DEVNULL, env=clean_env(), timeout=START_TIMEOUT,
        )
    assert done.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr, done.stderr
    assert "Issuer:" not in done.stdout


def test_server_accepts_a_token_minted_with_its_keys_dir(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    token = mint("--sub", "alice", "--keys-dir", str(keys))
    with serve("--port", "0", "--keys-dir", str(keys)) as server:
        info = requests.get(f"{server.issuer}/userinfo", headers=bearer(token),
                            timeout=HTTP_TIMEOUT)
        assert info.status_code == 200, info.text
        assert info.json()["sub"] == "alice"
        intro = requests.post(f"{server.issuer}/introspect", data={"token": token},
                              timeout=HTTP_TIMEOUT)
        assert intro.status_code == 200, intro.text
        assert intro.json()["active"] is True
        assert intro.json()["sub"] == "alice"


def test_server_rejects_a_token_minted_with_other_keys(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    foreign = mint("--sub", "alice")  # no keys dir: throwaway keys
    with serve("--port", "0", "--keys-dir", str(keys)) as server:
        # Load the server's own keys first, so the rejection is about the key, not start-up.
        assert requests.get(f"{server.issuer}/jwks", timeout=HTTP_TIMEOUT).status_code == 200
        info = requests.get(f"{server.issuer}/userinfo", headers=bearer(foreign),
                            timeout=HTTP_TIMEOUT)
        assert info.status_code == 401
        assert "invalid_token" in info.headers["WWW-Authenticate"]
        intro = requests.post(f"{server.issuer}/introspect", data={"token": foreign},
                              timeout=HTTP_TIMEOUT)
        assert intro.json() == {"active": False}


def test_restarted_server_accepts_tokens_of_the_first(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    with serve("--port", "0", "--keys-dir", str(keys)) as first:
        response = requests.post(f"{first.issuer}/token",
                                 data={"grant_type": "client_credentials"},
                                 auth=("svc", "svc-secret"), timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        info = requests.get(f"{first.issuer}/userinfo", headers=bearer(token),
                            timeout=HTTP_TIMEOUT)
        assert info.status_code == 200, info.text
    with serve("--port", "0", "--keys-dir", str(keys)) as second:
        info = requests.get(f"{second.issuer}/userinfo", headers=bearer(token),
                            timeout=HTTP_TIMEOUT)
        assert info.status_code == 200, info.text
        assert info.json()["sub"] == "svc"
        intro = requests.post(f"{second.issuer}/introspect", data={"token": token},
                              timeout=HTTP_TIMEOUT)
        assert intro.json()["active"] is True

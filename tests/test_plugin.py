"""The pytest plugin as a user meets it: a fresh pytest run (subprocess) in a temp project.

Each test writes a small project with ``pytester`` (its own ini, no conftest) and runs pytest
in a subprocess, so the installed ``pytest11`` entry point provides the fixtures exactly as it
does for a user, isolated from this session's own plugin instance and configuration.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from _pytest.pytester import RunResult

from .local_server import free_port

TIMEOUT = 120.0

# A user's test module header: what a user would import in a test using the fixtures.
HEADER = """
import jwt
import requests
from mockidp import MockIdP


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})
"""

USER_CONFIG = """
[users.dana]
claims = { name = "Dana Configured", email = "dana@example.com", roles = ["ops"] }

[clients.cfg-client]
secret = "cfg-secret"
grant_types = ["client_credentials"]
"""

# Reads the configured user and client through what a user sees: a minted token and the
# token endpoint (the configured client's secret is checked).
USES_CONFIG = HEADER + """
def test_configured_user_in_minted_token(mockidp: MockIdP) -> None:
    claims = claims_of(mockidp.mint("dana"))
    assert claims["sub"] == "dana"
    assert claims["name"] == "Dana Configured"
    assert claims["email"] == "dana@example.com"
    assert claims["roles"] == ["ops"]


def test_configured_client_secret_is_checked(mockidp: MockIdP) -> None:
    token_url = mockidp.issuer_url() + "/token"
    wrong = requests.post(token_url, data={"grant_type": "client_credentials"},
                          auth=("cfg-client", "wrong"), timeout=10)
    assert wrong.status_code == 401
    right = requests.post(token_url, data={"grant_type": "client_credentials"},
                          auth=("cfg-client", "cfg-secret"), timeout=10)
    assert right.status_code == 200, right.text
"""


@pytest.fixture(autouse=True)
def _not_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner pytest is a user's own run, even when this session runs under xdist."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                 "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(name, raising=False)


def write_ini(pytester: pytest.Pytester, *lines: str) -> Path:
    return pytester.makefile(".ini", pytest="\n".join(["[pytest]", *lines]))


def run(pytester: pytest.Pytester, *args: str | Path) -> RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=TIMEOUT)


def printed(result: RunResult, label: str) -> list[str]:
    """Values the inner tests printed as ``LABEL=value`` lines (run with -s)."""
    pattern = re.compile(rf"{label}=(\S+)")
    return [m.group(1) for line in result.outlines for m in pattern.finditer(line)]


def test_fixtures_come_with_the_installed_package(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makepyfile(test_user=HEADER + """
def test_discovery_and_a_verified_token(mockidp: MockIdP) -> None:
    issuer = mockidp.issuer_url()
    doc = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
    assert doc["issuer"] == issuer
    token = mockidp.mint("alice", {"role": "admin"}, audience="my-api")
    jwks = requests.get(doc["jwks_uri"], timeout=10).json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
    claims = jwt.decode(token, key.key, algorithms=[key.algorithm_name], audience="my-api",
                        issuer=issuer)
    assert claims["sub"] == "alice"
    assert claims["role"] == "admin"
""")
    assert not (pytester.path / "conftest.py").exists()
    result = run(pytester)
    result.assert_outcomes(passed=1)

    listing = run(pytester, "--fixtures")
    listing.stdout.fnmatch_lines(["mockidp_server*"])
    listing.stdout.fnmatch_lines(["mockidp -- *"])


def test_one_server_per_session(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    test_one = HEADER + """
def test_first(mockidp_server: MockIdP) -> None:
    print("URL=" + mockidp_server.url)


def test_second(mockidp: MockIdP) -> None:
    print("URL=" + mockidp.url)
    assert requests.get(mockidp.issuer_url() + "/jwks", timeout=10).status_code == 200
"""
    pytester.makepyfile(test_one=test_one, test_two=test_one)
    result = run(pytester, "-s")
    result.assert_outcomes(passed=4)
    urls = printed(result, "URL")
    assert len(urls) == 4
    assert len(set(urls)) == 1, urls
    assert urls[0].startswith("http://127.0.0.1:")


def test_every_test_starts_from_the_config_baseline(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makepyfile(test_reset=HEADER + """
SEEN: dict[str, object] = {}


def kids(idp: MockIdP) -> set[str]:
    keys = requests.get(idp.issuer_url() + "/jwks", timeout=10).json()["keys"]
    return {key["kid"] for key in keys}


def client_credentials(idp: MockIdP, secret: str) -> requests.Response:
    return requests.post(idp.issuer_url() + "/token", data={"grant_type": "client_credentials"},
                         auth=("c1", secret), timeout=10)


def test_a_adds_a_user_and_a_client(mockidp: MockIdP) -> None:
    mockidp.add_user("temp", {"x": 1})
    mockidp.add_client("c1", "s1")
    assert claims_of(mockidp.mint("temp"))["x"] == 1
    response = client_credentials(mockidp, "wrong-secret")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    SEEN["kids"] = kids(mockidp)
    SEEN["token_kid"] = jwt.get_unverified_header(mockidp.mint("temp"))["kid"]


def test_b_sees_them_gone_but_the_same_keys(mockidp: MockIdP) -> None:
    assert "x" not in claims_of(mockidp.mint("temp"))
    response = client_credentials(mockidp, "wrong-secret")
    assert response.status_code == 200, response.text
    assert kids(mockidp) == SEEN["kids"]
    assert jwt.get_unverified_header(mockidp.mint("temp"))["kid"] == SEEN["token_kid"]
""")
    result = run(pytester, "-v")
    result.stdout.fnmatch_lines(["*test_a_adds_a_user_and_a_client PASSED*",
                                 "*test_b_sees_them_gone_but_the_same_keys PASSED*"])
    result.assert_outcomes(passed=2)


def test_config_from_ini_is_relative_to_rootdir(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, "mockidp_config = conf/idp.toml")
    pytester.makefile(".toml", **{"conf/idp": USER_CONFIG})
    pytester.makepyfile(**{"tests/test_config": USES_CONFIG})
    # Run from a subfolder: the ini's relative path must still resolve against the rootdir.
    monkeypatch.chdir(pytester.path / "tests")
    result = run(pytester, ".")
    result.assert_outcomes(passed=2)


def test_config_from_command_line_is_relative_to_invocation_dir(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester)
    pytester.makefile(".toml", **{"run/idp": USER_CONFIG})
    pytester.makepyfile(**{"tests/test_config": USES_CONFIG})
    monkeypatch.chdir(pytester.path / "run")
    result = run(pytester, "../tests", "--mockidp-config=idp.toml")
    result.assert_outcomes(passed=2)


def test_command_line_config_wins_over_ini(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "mockidp_config = missing.toml")
    pytester.makefile(".toml", idp=USER_CONFIG)
    pytester.makepyfile(test_config=USES_CONFIG)
    result = run(pytester, "--mockidp-config", "idp.toml")
    result.assert_outcomes(passed=2)


def test_port_option_fixes_the_port(pytester: pytest.Pytester) -> None:
    port = free_port()
    write_ini(pytester)
    pytester.makepyfile(test_port=HEADER + f"""
def test_port(mockidp: MockIdP) -> None:
    print("URL=" + mockidp.url)
    assert mockidp.url == "http://127.0.0.1:{port}"
    doc = requests.get("http://127.0.0.1:{port}/default/.well-known/openid-configuration",
                       timeout=10).json()
    assert doc["issuer"] == "http://127.0.0.1:{port}/default"
""")
    result = run(pytester, "-s", f"--mockidp-port={port}")
    result.assert_outcomes(passed=1)
    assert printed(result, "URL") == [f"http://127.0.0.1:{port}"]


def test_bad_config_fails_the_session_naming_file_and_field(pytester: pytest.Pytester) -> None:
    bad = pytester.makefile(".toml", broken="""
[clients.web]
redirect_uris = ["not-a-url"]
""")
    write_ini(pytester, "mockidp_config = broken.toml")
    pytester.makepyfile(test_uses=HEADER + """
def test_one(mockidp: MockIdP) -> None:
    pass


def test_two(mockidp: MockIdP) -> None:
    pass
""")
    result = run(pytester)
    assert result.ret != 0
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == 0
    assert outcomes.get("errors", 0) + outcomes.get("failed", 0) >= 1
    text = result.stdout.str() + result.stderr.str()
    assert "MockIdPError" in text
    assert f"{bad.name}: clients.web.redirect_uris[0]" in text
    assert "not-a-url" in text


def test_each_xdist_worker_gets_its_own_server(pytester: pytest.Pytester) -> None:
    out = pytester.mkdir("seen")
    write_ini(pytester)
    tests = "\n\n".join(
        f"""
def test_{i}(mockidp: MockIdP) -> None:
    issuer = mockidp.issuer_url()
    doc = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
    assert doc["issuer"] == issuer
    worker = os.environ["PYTEST_XDIST_WORKER"]
    with open(os.path.join({str(out)!r}, worker), "a") as handle:
        handle.write(mockidp.url + "\\n")
"""
        for i in range(6)
    )
    pytester.makepyfile(test_many=HEADER + "import os\n" + tests)
    result = run(pytester, "-n", "2", "--dist", "load")
    result.assert_outcomes(passed=6)
    seen = {path.name: set(path.read_text().split()) for path in out.iterdir()}
    assert sorted(seen) == ["gw0", "gw1"], seen
    assert all(len(urls) == 1 for urls in seen.values()), seen
    assert seen["gw0"] != seen["gw1"], seen


def test_port_in_use_is_a_clear_error(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makepyfile(test_busy=HEADER + """
def test_busy(mockidp: MockIdP) -> None:
    pass
""")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(pytester, f"--mockidp-port={port}")
    assert result.ret != 0
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*MockIdPError: port {port} on 127.0.0.1 is already in use*"])

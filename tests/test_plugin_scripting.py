"""Scripting through the pytest plugin, as a user meets it: the ``mockidp`` marker, the
teardown check for rules that never fired, the journal assertions, the bad-token
parametrization, and all of it under xdist.

Like tests/test_plugin.py, each test writes a small project with ``pytester`` and runs pytest
in a subprocess, so the installed ``pytest11`` entry point provides the fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.pytester import RunResult

from mockidp import MockIdP
from mockidp.tokens.badtokens import BAD_TOKEN_KINDS

TIMEOUT = 120.0

HEADER = """
import os
import time

import jwt
import pytest
import requests
from mockidp import MockIdP


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def token(idp: MockIdP, client_id: str, secret: str, **extra: str) -> requests.Response:
    return requests.post(idp.issuer_url() + "/token",
                         data={"grant_type": "client_credentials", **extra},
                         auth=(client_id, secret), timeout=10)
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


def output(result: RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


def test_marker_sets_up_users_clients_rules_and_clock_for_one_test(
    pytester: pytest.Pytester,
) -> None:
    write_ini(pytester)
    pytester.makepyfile(test_marker=HEADER + """
@pytest.mark.mockidp(
    users={"zed": {"claims": {"team": "red"}}},
    clients={"c9": {"secret": "s9"}},
    rules=[{"endpoint": "token",
            "error": {"error": "temporarily_unavailable", "status": 503}}],
    clock={"skew": 120},
)
def test_a_marked(mockidp: MockIdP) -> None:
    assert claims_of(mockidp.mint("zed"))["team"] == "red"
    outage = token(mockidp, "c9", "s9")
    assert outage.status_code == 503
    assert outage.json()["error"] == "temporarily_unavailable"
    wrong = token(mockidp, "c9", "wrong")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    ok = token(mockidp, "c9", "s9")
    assert ok.status_code == 200, ok.text
    assert 100 < mockidp.clock_state()["offset"] < 140
    assert 60 < claims_of(ok.json()["access_token"])["iat"] - time.time() < 180


def test_b_unmarked_sees_none_of_it(mockidp: MockIdP) -> None:
    assert "team" not in claims_of(mockidp.mint("zed"))
    assert "c9" not in mockidp.clients()
    assert mockidp.list_rules() == []
    assert token(mockidp, "c9", "wrong").status_code == 200
    assert abs(mockidp.clock_state()["offset"]) < 20


@pytest.mark.mockidp(issuer="tenant-x", users={"yan": {"claims": {"team": "blue"}}},
                     clients={"cx": {"secret": "sx"}})
def test_c_marker_for_another_issuer(mockidp: MockIdP) -> None:
    assert claims_of(mockidp.mint("yan", issuer="tenant-x"))["team"] == "blue"
    assert "team" not in claims_of(mockidp.mint("yan"))
    assert "cx" in mockidp.clients("tenant-x")
    assert "cx" not in mockidp.clients()


@pytest.mark.mockidp(users={"zed": {"claims": {"team": "green"}}})
class TestOnAClass:
    def test_d_class_marker(self, mockidp: MockIdP) -> None:
        assert claims_of(mockidp.mint("zed"))["team"] == "green"

    @pytest.mark.mockidp(users={"zed": {"claims": {"team": "gold"}}})
    def test_e_closest_marker_wins(self, mockidp: MockIdP) -> None:
        assert claims_of(mockidp.mint("zed"))["team"] == "gold"
""")
    result = run(pytester, "-v")
    result.stdout.fnmatch_lines([
        "*test_a_marked PASSED*",
        "*test_b_unmarked_sees_none_of_it PASSED*",
        "*test_c_marker_for_another_issuer PASSED*",
        "*test_d_class_marker PASSED*",
        "*test_e_closest_marker_wins PASSED*",
    ])
    result.assert_outcomes(passed=5)


def test_marker_with_a_bad_argument_is_a_clear_error(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makepyfile(test_bad_marker=HEADER + """
@pytest.mark.mockidp(user={"zed": {}})
def test_typo(mockidp: MockIdP) -> None:
    pass


@pytest.mark.mockidp(rules=[{"endpoint": "nowhere", "error": "x"}])
def test_bad_rule(mockidp: MockIdP) -> None:
    pass
""")
    result = run(pytester)
    result.assert_outcomes(errors=2)
    text = output(result)
    assert "@pytest.mark.mockidp: user: unknown argument" in text
    assert "rule.match.endpoint" in text
    assert "nowhere" in text


UNFIRED = HEADER + """
def test_rule_never_fires(mockidp: MockIdP) -> None:
    mockidp.add_rule(id="never-fires", endpoint="token", client_id="expected-client",
                     error="invalid_grant")
    assert token(mockidp, "other-client", "x").status_code == 200


def test_rule_that_may_not_fire(mockidp: MockIdP) -> None:
    mockidp.add_rule(id="optional-rule", endpoint="userinfo", error="invalid_token",
                     expect=False)


def test_body_already_failed(mockidp: MockIdP) -> None:
    mockidp.add_rule(id="quiet-rule", endpoint="jwks", error="temporarily_unavailable")
    assert 1 == 2, "the test body failed on its own"


@pytest.mark.mockidp(rules=[{"id": "marker-rule", "endpoint": "revoke", "error": "x"}])
def test_marker_rule_never_fires(mockidp: MockIdP) -> None:
    pass


def test_rule_that_fires(mockidp: MockIdP) -> None:
    mockidp.add_rule(id="fires", endpoint="token", claims={"set": {"x": 1}})
    assert claims_of(token(mockidp, "svc", "x").json()["access_token"])["x"] == 1
"""


def test_a_rule_that_never_fired_fails_the_test_at_teardown(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makepyfile(test_unfired=UNFIRED)
    result = run(pytester, "-v", "-rA")
    # Passed bodies with an error at teardown count as both.
    result.assert_outcomes(passed=4, failed=1, errors=2)
    text = output(result)
    assert "ERROR at teardown of test_rule_never_fires" in text
    assert "never-fires" in text
    assert "client_id: wanted 'expected-client', got 'other-client'" in text
    assert "ERROR at teardown of test_marker_rule_never_fires" in text
    assert "marker-rule" in text
    assert "no request reached endpoint 'revoke'" in text
    assert "expect=False" in text  # the message says how to allow a rule not to fire
    # expect=False, a rule that fired, and a body that already failed: no teardown error.
    assert "ERROR at teardown of test_rule_that_may_not_fire" not in text
    assert "ERROR at teardown of test_rule_that_fires" not in text
    assert "ERROR at teardown of test_body_already_failed" not in text
    assert "the test body failed on its own" in text


def test_journal_is_fresh_per_test_and_assertions_explain_themselves(
    pytester: pytest.Pytester,
) -> None:
    write_ini(pytester)
    pytester.makepyfile(test_journal=HEADER + """
def test_first(mockidp: MockIdP) -> None:
    assert mockidp.calls() == []
    assert token(mockidp, "svc", "x", scope="read").status_code == 200
    mockidp.assert_called(endpoint="token", grant_type="client_credentials")
    mockidp.assert_called(1, endpoint="token", client_id="svc")
    mockidp.assert_not_called(endpoint="userinfo")
    mockidp.assert_not_called(endpoint="token", grant_type="password")
    calls = mockidp.calls(endpoint="token", params={"scope": "read"})
    assert [c.client_id for c in calls] == ["svc"]
    assert calls[0].tokens["access_token"]["client_id"] == "svc"


def test_second_starts_empty(mockidp: MockIdP) -> None:
    assert mockidp.calls() == []
    assert token(mockidp, "svc", "x").status_code == 200
    assert len(mockidp.calls(endpoint="token")) == 1


def test_assert_called_message(mockidp: MockIdP) -> None:
    assert token(mockidp, "svc", "x").status_code == 200
    mockidp.assert_called(endpoint="token", grant_type="password")


def test_assert_not_called_message(mockidp: MockIdP) -> None:
    assert token(mockidp, "svc", "x").status_code == 200
    mockidp.assert_not_called(endpoint="token")


def test_assert_called_on_an_empty_journal(mockidp: MockIdP) -> None:
    mockidp.assert_called(endpoint="token")
""")
    result = run(pytester, "-v")
    result.assert_outcomes(passed=2, failed=3)
    text = output(result)
    assert ("expected a call matching endpoint='token', grant_type='password' at least once,"
            " found 0") in text
    assert "Recent calls:" in text
    assert "POST /default/token -> 200 client_id=svc grant_type=client_credentials" in text
    assert "expected no call matching endpoint='token', found 1" in text
    assert "The journal is empty." in text
    assert "ERROR at teardown" not in text


def test_bad_token_kind_runs_a_test_once_per_kind(pytester: pytest.Pytester) -> None:
    kinds = list(BAD_TOKEN_KINDS)  # the generic kinds (a profile's are for its own verifiers)
    assert len(kinds) > 5 and set(kinds) <= set(MockIdP().bad_token_kinds())
    seen = pytester.mkdir("kinds")
    write_ini(pytester)
    pytester.makepyfile(test_kinds=HEADER + f"""
def test_resource_server(mockidp: MockIdP, mockidp_bad_token_kind: str) -> None:
    bad = mockidp.mint_bad(mockidp_bad_token_kind, "alice")
    assert bad != mockidp.mint("alice")
    with open(os.path.join({str(seen)!r}, mockidp_bad_token_kind), "w") as out:
        out.write(bad)


def test_not_parametrized(mockidp: MockIdP) -> None:
    pass
""")
    result = run(pytester, "-v")
    result.assert_outcomes(passed=len(kinds) + 1)
    for kind in kinds:
        assert any(f"test_resource_server[{kind}] PASSED" in line for line in result.outlines), \
            kind
    assert sorted(path.name for path in seen.iterdir()) == sorted(kinds)
    assert any("test_not_parametrized PASSED" in line for line in result.outlines)


def test_rules_and_marker_under_xdist(pytester: pytest.Pytester) -> None:
    seen = pytester.mkdir("seen")
    write_ini(pytester)
    tests = "\n\n".join(
        f"""
@pytest.mark.mockidp(clients={{"c{i}": {{"secret": "s{i}"}}}},
                     rules=[{{"id": "r{i}", "endpoint": "token", "client_id": "c{i}",
                              "claims": {{"set": {{"n": {i}}}}}}}])
def test_{i}(mockidp: MockIdP) -> None:
    assert mockidp.calls() == []
    assert [r.id for r in mockidp.list_rules()] == ["r{i}"]
    assert token(mockidp, "c{i}", "wrong").status_code == 401
    first = token(mockidp, "c{i}", "s{i}")
    assert first.status_code == 200, first.text
    assert claims_of(first.json()["access_token"])["n"] == {i}
    mockidp.add_rule(endpoint="token", client_id="c{i}", error="slow_down")
    assert token(mockidp, "c{i}", "s{i}").json()["error"] == "slow_down"
    mockidp.assert_called(3, endpoint="token", client_id="c{i}")
    with open(os.path.join({str(seen)!r}, os.environ["PYTEST_XDIST_WORKER"]), "a") as out:
        out.write("test_{i}\\n")
"""
        for i in range(6)
    )
    unfired = """

def test_unfired_under_xdist(mockidp: MockIdP) -> None:
    mockidp.add_rule(id="xdist-never", endpoint="introspect", error="x")
"""
    pytester.makepyfile(test_many=HEADER + tests + unfired)
    result = run(pytester, "-n", "2", "--dist", "load")
    result.assert_outcomes(passed=7, errors=1)
    text = output(result)
    assert "xdist-never" in text
    assert "no request reached endpoint 'introspect'" in text
    ran = {path.name: path.read_text().split() for path in seen.iterdir()}
    assert sorted(ran) == ["gw0", "gw1"], ran
    assert sorted(name for names in ran.values() for name in names) == [
        f"test_{i}" for i in range(6)]

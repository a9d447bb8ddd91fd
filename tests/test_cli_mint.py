"""``mockidp mint``: through a running server (``--url``, over its control API), or locally with
shared keys (``--keys-dir``) or throwaway ones (said on stderr); and a ``--help`` that says what
each option does.  The servers run in this process (`MockIdP` as a context manager); the
command runs through click's ``CliRunner``."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner, Result

from mockidp.cli import main
from mockidp.core.settings import SIGNING_ALGS


@pytest.fixture(autouse=True)
def _no_mockidp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start from no ``MOCKIDP_*`` variables: each test sets the ones it means."""
    for name in list(os.environ):
        if name.startswith("MOCKIDP_"):
            monkeypatch.delenv(name)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(main, ["mint", *args])


# -- --help ----------------------------------------------------------------------------------

def test_help_lists_every_algorithm_and_binds_nothing() -> None:
    result = invoke("--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for alg in SIGNING_ALGS:
        assert alg in text, alg
    assert "bind" not in text.lower()
    assert "'iss'" in text  # --host and --port say they make the issuer URL


def test_alg_outside_the_table_is_refused_naming_the_choices() -> None:
    result = invoke("--alg", "HS256")
    assert result.exit_code == 2
    assert "HS256" in result.stderr
    assert "EdDSA" in result.stderr

"""README.md: its two commands match CI, and its Python examples run."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mockidp import MockIdP

from .conftest import ROOT

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)


def test_readme_opens_with_the_install_and_test_commands() -> None:
    shell = [code.strip() for lang, code in BLOCKS if lang == "sh"]
    serve, test = shell[0], shell[1]
    assert serve.endswith("mockidp serve") and "pip install" in serve
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines(), ".ci/run must run exactly README's test command"
    assert README.index(serve) < README.index("## ")


def test_python_api_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    examples = [code for lang, code in BLOCKS if lang == "python" and "with MockIdP" in code]
    assert examples
    monkeypatch.chdir(ROOT)
    for code in examples:
        exec(compile(code, "README.md", "exec"), {})


def test_pytest_examples_run(mockidp: MockIdP) -> None:
    examples = [code for lang, code in BLOCKS if lang == "python" and "def test_" in code]
    assert len(examples) >= 4  # the fixture, a failure, the clock, the journal, bad tokens
    ran = 0
    for code in examples:
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)
        for name, func in namespace.items():
            if not name.startswith("test_"):
                continue
            parameters = inspect.signature(func).parameters
            kinds = mockidp.bad_token_kinds() if "mockidp_bad_token_kind" in parameters else [None]
            for kind in kinds:
                mockidp.reset()
                func(mockidp, kind) if kind is not None else func(mockidp)
                mockidp.check_rules()
                ran += 1
    assert ran >= 5


def test_ruff_and_mypy_are_clean() -> None:
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command in (["ruff", "check", "."], ["mypy"]):
        result = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr

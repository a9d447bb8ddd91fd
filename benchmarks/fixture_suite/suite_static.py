"""The floor: the same tests as ``suite_mockidp.py`` against a static ``http.server`` (see
``conftest.py``) that returns a pre-signed token and its JWKS.

Copied by the harness as ``test_suite_static.py``; ``MOCKIDP_BENCH_TESTS`` tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

TESTS = int(os.environ.get("MOCKIDP_BENCH_TESTS", "200"))


@pytest.mark.parametrize("n", range(TESTS))
def test_token(static_idp: str, fetch_and_verify: Callable[[str], Any], n: int) -> None:
    fetch_and_verify(static_idp)

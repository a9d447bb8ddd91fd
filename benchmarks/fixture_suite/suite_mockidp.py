"""The suite against mockidp: each test gets the ``mockidp`` fixture (reset for it), fetches a
token from the token endpoint and verifies it with PyJWT against the JWKS.

Copied by the harness as ``test_suite_mockidp.py``; ``MOCKIDP_BENCH_TESTS`` tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

TESTS = int(os.environ.get("MOCKIDP_BENCH_TESTS", "200"))


@pytest.mark.parametrize("n", range(TESTS))
def test_token(mockidp: Any, fetch_and_verify: Callable[[str], Any], n: int) -> None:
    fetch_and_verify(mockidp.url + "/default")

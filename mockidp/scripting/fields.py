"""Validation of the rules' JSON shape that names the field path in every error.

The config file, the control API and the Python door give rules as JSON-like data; a mistake
raises `MockIdPError` naming where it is: ``rules[2].delay.seconds: expected a finite number,
got 'x'``.
"""

from __future__ import annotations

import math
from typing import Any

from mockidp.core.errors import MockIdPError


class FieldCheck:
    """Validation that names the field path in every error."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, expected: str, got: Any) -> MockIdPError:
        return MockIdPError(f"{self.where}{path}: expected {expected}, got {got!r}")

    def number(self, value: Any, path: str, minimum: float | None = 0.0) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value
        ):
            raise self.fail(path, "a finite number", value)
        if minimum is not None and value < minimum:
            raise self.fail(path, f"a number >= {minimum:g}", value)
        return float(value)

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(path, "a non-empty string", value)
        return value

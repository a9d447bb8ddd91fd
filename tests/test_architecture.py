"""The shape agreed in DESIGN.md: the core never imports Flask; imports are cheap."""

from __future__ import annotations

import subprocess
import sys


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True, timeout=60).stdout.strip()


def test_core_does_not_import_flask() -> None:
    out = run(
        "import sys\n"
        "from mockidp import MockIdP\n"
        "idp = MockIdP({'users': {'a': {'claims': {'x': 1}}}})\n"
        "token = idp.mint('a', audience='api')\n"
        "print(bool(token), sorted(m for m in ('flask', 'werkzeug', 'click', 'pytest') "
        "if m in sys.modules))"
    )
    assert out == "True []"


def test_importing_the_package_starts_nothing() -> None:
    out = run(
        "import threading, mockidp\n"
        "print(threading.active_count())"
    )
    assert out == "1"


def test_web_layer_makes_no_protocol_decisions() -> None:
    # The web layer may not branch on grant types, sign, or build claims: a structural check.
    import re
    from pathlib import Path

    import mockidp.web

    web = Path(mockidp.web.__file__).parent
    for path in web.glob("*.py"):
        source = path.read_text()
        for forbidden in (r"grant_type\s*(==|!=|in\b)", r"jwt\.encode", r"^import jwt",
                          r"access_token_claims", r"id_token_claims", r"\bsign\("):
            assert not re.search(forbidden, source, flags=re.M), (path.name, forbidden)

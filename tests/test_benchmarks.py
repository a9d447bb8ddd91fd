"""Smoke test of the benchmark harness: it runs and reports figures.

Never a threshold on speed: the figures depend on the machine, only their shape is checked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def test_quick_benchmark_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    # Its own process group, so a timeout kills the harness and the servers it spawned.
    proc = subprocess.Popen(
        [sys.executable, str(RUN), "--quick", "--json", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"benchmarks/run.py --quick took over 120 s\n{stdout}\n{stderr}")
    assert proc.returncode == 0, stdout + stderr
    data = json.loads(out.read_text())

    assert {"environment", "cold_start", "token_endpoint", "ceiling", "summary"} <= set(data)
    assert data["environment"]["quick"] is True

    cold = data["cold_start"]
    for figure in ("ready_ms", "issuer_line_ms", "rss_mib"):
        assert all(_positive(cold[figure][k]) for k in ("min", "median", "max")), figure

    endpoint = data["token_endpoint"]
    assert isinstance(endpoint["pinning"]["applied"], bool)
    for alg in ("RS256", "ES256"):
        levels = endpoint[alg]["levels"]
        assert "8" in levels
        for row in levels.values():
            for key in ("tokens_per_s", "p50_ms", "p99_ms", "requests", "connections"):
                assert _positive(row[key]), (alg, key, row)
            assert isinstance(row["errors"], int) and row["errors"] >= 0

    for kind in ("jwt_encode_per_s", "mint_per_s"):
        assert all(_positive(data["ceiling"][kind][alg]) for alg in ("RS256", "ES256")), kind
    assert _positive(data["summary"]["rs256_c8_pct_of_sign_ceiling"])
    assert "tokens/s" in stdout and "p99 ms" in stdout

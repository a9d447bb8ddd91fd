"""Smoke test of the benchmark harness: it runs and reports figures.

Never a threshold on speed: the figures depend on the machine, only their shape is checked
(the harness's own "targets" table says PASS or MISS; that is a figure too, not checked here).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mockidp_benchmarks_run", RUN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_server_choices_are_read_from_serve_help() -> None:
    run = _harness()
    help_text = ("  --server [werkzeug|granian]     HTTP server to run.  [env:\n"
                 "                                  MOCKIDP_SERVER]  [default: werkzeug]\n")
    assert run.server_choices(help_text) == ["werkzeug", "granian"]
    assert run.server_choices("  --server TEXT  HTTP server") == []
    assert run.server_choices("  --server-name TEXT  something else") is None
    assert run.server_choices("  --host TEXT  Address to bind.") is None


def quick_run(script: Path, out: Path) -> tuple[Any, str]:
    """``script --quick --json out``: the figures it wrote, and what it printed."""
    # Its own process group, so a timeout kills the harness and everything it spawned.
    proc = subprocess.Popen(
        [sys.executable, str(script), "--quick", "--json", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"benchmarks/{script.name} --quick took over 150 s\n{stdout}\n{stderr}")
    assert proc.returncode == 0, stdout + stderr
    return json.loads(out.read_text()), stdout


def test_quick_benchmark_run_reports_every_figure(tmp_path: Path) -> None:
    data, stdout = quick_run(RUN, tmp_path / "bench.json")

    assert {"environment", "cold_start", "http", "pinning", "memory", "fixture", "ceiling",
            "first_use", "slow_clients", "targets"} <= set(data)
    env = data["environment"]
    assert env["quick"] is True
    assert env["load_generator"] in ("wrk", "python")
    servers = env["servers"]
    assert servers and set(servers) == set(data["cold_start"]) == set(data["http"]) \
        == set(data["memory"])
    assert isinstance(data["pinning"]["applied"], bool)

    for name in servers:
        cold = data["cold_start"][name]
        for figure in ("ready_ms", "issuer_line_ms", "rss_mib"):
            assert all(_positive(cold[figure][k]) for k in ("min", "median", "max")), figure

        http = data["http"][name]
        for alg in ("RS256", "ES256"):
            levels = http["token"][alg]["levels"]
            assert "8" in levels
            for row in levels.values():
                for key in ("tokens_per_s", "p50_ms", "p99_ms", "requests", "connections"):
                    assert _positive(row[key]), (name, alg, key, row)
                assert isinstance(row["errors"], int) and row["errors"] >= 0
        groups = [http["authcode"], http["get"]["jwks"], http["get"]["discovery"]]
        for group in groups:
            assert group["levels"]
            for row in group["levels"].values():
                assert _positive(row["per_s"]) and _positive(row["p99_ms"]), (name, row)

        slow = data["slow_clients"][name]  # scenario 9: beside held connections and delays
        for case in ("baseline", "stalled_and_idle", "delayed"):
            for mode in ("jwks", "token"):
                assert _positive(slow[case][mode]["per_s"]), (name, case, mode)
        assert slow["closed"]["closed"] == slow["closed"]["of"], (name, slow["closed"])

        memory = data["memory"][name]
        assert _positive(memory["tokens"])
        assert len(memory["rss_mib"]) >= 4  # after start, and at each mark
        assert all(_positive(v) for v in memory["rss_mib"].values())
        assert _number(memory["growth_mib"])

    fixture = data["fixture"]
    for figure in ("fixture_ms", "discovery_ms", "ready_ms"):
        assert _positive(fixture["first_use"][figure]["median"]), figure
    assert _positive(fixture["reset"]["idle_us"])
    assert _positive(fixture["reset"]["after_request_us"]["median"])
    for target in ("mockidp", "static"):
        assert _positive(fixture["suite"][target]["steady_ms"]["median"]), target
        assert _positive(fixture["suite"][target]["wall_s"]["median"]), target
    assert _number(fixture["suite"]["marginal_ms_per_test"])

    for kind in ("jwt_encode_per_s", "mint_per_s", "mint_pct_of_sign"):
        assert all(_positive(data["ceiling"][kind][alg]) for alg in ("RS256", "ES256")), kind

    rows = data["targets"]
    assert {row["result"] for row in rows} <= {"PASS", "MISS"}
    names = " | ".join(row["name"] for row in rows)
    for part in ("token endpoint RS256", "jwks", "discovery", "serve ready", "RSS",
                 "fixture ready", "reset", "marginal cost", "mint() RS256", "mint() ES256"):
        assert part in names, part
    assert len([r for r in rows if "token endpoint" in r["name"]]) == len(servers)
    for text in ("tokens/s", "p99 ms", "round trips/s", "req/s", "targets"):
        assert text in stdout, text
    assert "PASS" in stdout or "MISS" in stdout


WORKERS = ROOT / "benchmarks" / "workers.py"


def test_quick_workers_benchmark_reports_every_figure(tmp_path: Path) -> None:
    """benchmarks/workers.py: every variant this checkout offers, each with its figures."""
    data, stdout = quick_run(WORKERS, tmp_path / "workers.json")
    variants = data["variants"]
    assert "workers 1, in memory" in variants
    if not data["environment"]["notes"]:  # --workers, --store and redis-server are all here
        assert set(variants) == {"workers 1, in memory", "workers 1, Redis", "workers 2, Redis",
                                 "workers 2, embedded Redis",
                                 "workers 1, in memory, on CPU 0 only"}
        assert [row["name"].split(" vs ")[0] for row in data["targets"]] == [
            "--workers 2 with Redis"] * 2
        assert {row["result"] for row in data["targets"]} <= {"PASS", "MISS"}
    for name, variant in variants.items():
        row = variant["median"]
        for key in ("per_s", "p50_ms", "p99_ms", "server_cpu_pct", "generator_cpu_pct",
                    "server_ms_per_token"):
            assert _positive(row[key]), (name, key, row)
        assert row["errors"] == 0, (name, row)
        # --workers 2: two workers (and the parent that started them)
        assert (row["server_processes"] >= 2) == name.startswith("workers 2"), (name, row)
        if "Redis" in name:
            for key in ("redis_cpu_pct", "redis_ms_per_token", "redis_commands_per_token",
                        "redis_round_trips_per_token"):
                assert _positive(row[key]), (name, key, row)
        else:
            assert row["redis_commands_per_token"] is None, (name, row)
    for text in ("tokens/s", "round trips/tok", "gen CPU%", "redis CPU%"):
        assert text in stdout, text

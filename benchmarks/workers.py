"""mockidp benchmark, run on its own: ``mockidp serve --workers N``, in memory and on Redis.

Client-credentials tokens (RS256, ``POST /default/token`` with Basic auth) at 8 connections,
side by side in one run, for each of

- ``--workers 1``, in memory: today's single process, the figure the others are compared with;
- ``--workers 1 --store redis://...``: one process keeping its state in a redis-server;
- ``--workers 2 --store redis://...``: two processes on one port sharing that redis-server;
- ``--workers 2`` with no ``--store``: the embedded redis-server that ``mockidp serve`` starts.

Nothing is pinned: the server's processes, redis-server and the load generator share the
machine's cores, as they do when a load test, the mock and its Redis run on one machine, so the
table shows each one's CPU use (``/proc/<pid>/stat`` over the measured window, in per cent of
one core) and the CPU time per token of the server and of redis-server.  The Redis cost of one
token is read from redis-server: commands (``INFO commandstats`` before and after, the INFO
calls themselves left out) and round trips (the ``read`` calls redis-server made,
``syscr`` of ``/proc/<pid>/io``: one per request a client sent, a pipeline or a transaction
sent at once being one).

Every measurement gets a fresh server (and a fresh redis-server), a discarded warm-up at the
same concurrency, then the measured window; the variants take turns, in rounds.  Figures only:
the targets line says PASS or MISS, the exit status does not depend on it.

Usage::

    .venv/bin/python benchmarks/workers.py [--quick] [--json out.json]
                                           [--load-generator auto|wrk|python]

Only 127.0.0.1 is contacted.  Every process it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as harness  # the harness's server process, Python load generator, tables

CONCURRENCY = 8
TARGET_RATIO = 1.5  # --workers 2 on Redis / --workers 1 in memory (issue 13)
REDIS_WAIT_S = 10.0
HAS_WORKERS = True  # whether `mockidp serve` has --workers here; set in main()


@dataclass(frozen=True)
class Variant:
    name: str
    workers: int
    store: str  # "memory", "redis" (a redis-server of the benchmark's), "embedded"
    one_core: bool = False  # the server pinned to CPU 0, as benchmarks/run.py measures it


VARIANTS = (
    Variant("workers 1, in memory", 1, "memory"),
    Variant("workers 1, Redis", 1, "redis"),
    Variant("workers 2, Redis", 2, "redis"),
    Variant("workers 2, embedded Redis", 2, "embedded"),
    Variant("workers 1, in memory, on CPU 0 only", 1, "memory", one_core=True),
)


@dataclass(frozen=True)
class Profile:
    rounds: int
    warmup_s: int
    duration_s: int  # whole seconds (wrk's -d)


FULL = Profile(rounds=3, warmup_s=2, duration_s=5)
QUICK = Profile(rounds=1, warmup_s=1, duration_s=1)


# -- redis-server: a process of the benchmark's, and the embedded one -----------------------------

def redis_server_executable() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/sbin/redis-server" if Path("/usr/sbin/redis-server").exists() else None)


@contextlib.contextmanager
def redis_server(executable: str) -> Iterator[tuple[int, int]]:
    """A redis-server on a free loopback port, no persistence: (pid, port)."""
    with tempfile.TemporaryDirectory(prefix="mockidp-bench-redis-") as folder, \
            socket.socket() as probe:
        probe.bind((harness.HOST, 0))
        port = probe.getsockname()[1]
        probe.close()
        proc = subprocess.Popen(
            [executable, "--port", str(port), "--bind", harness.HOST, "--save", "",
             "--appendonly", "no", "--dir", folder, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + REDIS_WAIT_S
            while True:
                with contextlib.suppress(OSError):
                    if redis_call(("127.0.0.1", port), "PING") == "PONG":
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}")
                time.sleep(0.02)
            yield proc.pid, port
        finally:
            harness.stop_process(proc, group=True)


def redis_call(address: tuple[str, int] | str, *args: str) -> str:
    """One command in RESP over a fresh connection (TCP or a Unix socket); the reply's text."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(address)
        request = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
        sock.sendall(request.encode())
        data = b""
        while b"\r\n" not in data:
            data += sock.recv(65536)
        head, _, rest = data.partition(b"\r\n")
        if head[:1] in (b"+", b"-", b":"):
            return head[1:].decode()
        length = int(head[1:])
        while len(rest) < length + 2:
            rest += sock.recv(65536)
        return rest[:length].decode()


def commandstats(address: tuple[str, int] | str) -> dict[str, int]:
    """Calls per command since redis-server started (``INFO commandstats``), INFO left out."""
    out = {}
    for line in redis_call(address, "INFO", "commandstats").splitlines():
        match = re.match(r"cmdstat_([^:]+):calls=(\d+)", line)
        if match and match[1] != "info":
            out[match[1]] = int(match[2])
    return out


def read_calls(pid: int) -> int:
    """``syscr`` of /proc/<pid>/io: the read calls the process made (0 when unreadable)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("syscr:"):
                return int(line.split()[1])
    return 0


def redis_address_of(pid: int, banner: Sequence[str]) -> tuple[str, int] | str | None:
    """Where the embedded redis-server listens: the banner's ``Store:`` line, or its process
    title (redis-server shows ``unixsocket:PATH`` or ``HOST:PORT`` there)."""
    for line in banner:
        match = re.match(r"Store:.*?\b(unix://(\S+)|redis://([^:/\s]+):(\d+))", line)
        if match:
            return match[2] if match[2] else (match[3], int(match[4]))
    with contextlib.suppress(OSError, IndexError, ValueError):
        title = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[0].split()[1]
        if title.startswith("unixsocket:"):
            return title.removeprefix("unixsocket:")
        host, _, port = title.rpartition(":")
        if port != "0":
            return "127.0.0.1" if host in ("*", "") else host, int(port)
    return None


def comm(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip()
    return ""


def pid_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (and its reaped children)."""
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return sum(int(v) for v in stat[stat.rindex(")") + 2:].split()[11:15]) / \
            harness.CLOCK_TICKS
    return 0.0


# -- one measurement --------------------------------------------------------------------------

@dataclass
class Snapshot:
    """CPU times and Redis counters at one moment."""

    server: float
    redis: float
    generator: float
    busy: float
    commands: dict[str, int]
    reads: int

    @staticmethod
    def take(server_pid: int, redis_pid: int | None,
             address: tuple[str, int] | str | None) -> Snapshot:
        members = harness.process_tree(server_pid)
        server = sum(pid_cpu(m) for m in members if m != redis_pid)
        return Snapshot(
            server=server, redis=pid_cpu(redis_pid) if redis_pid else 0.0,
            generator=time.process_time() + harness.children_cpu_seconds(),
            busy=harness.machine_busy_seconds(),
            commands=commandstats(address) if address else {},
            reads=read_calls(redis_pid) if redis_pid else 0)


def wrk_run(wrk: str, port: int, seconds: int) -> dict[str, Any]:
    """``wrk -t1 -c8`` with benchmarks/wrk.lua in token mode; its figures."""
    args = [wrk, "-t1", f"-c{CONCURRENCY}", f"-d{seconds}s", "--timeout", "10s", "--latency",
            "-s", str(harness.WRK_LUA), f"http://{harness.HOST}:{port}/", "--", "token",
            "/default", "0"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(seconds + 60, proc.kill)  # a hung wrk cannot hang the benchmark
    timer.start()
    try:
        output, _ = proc.communicate()
    finally:
        timer.cancel()
        harness.stop_process(proc)
    found = [line for line in output.splitlines() if line.startswith("WRKJSON ")]
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {output}")
    out = json.loads(found[-1].split(" ", 1)[1])
    elapsed = out["duration_us"] / 1e6
    errors = sum(out[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts",
                                  "bad_status", "bad_body"))
    return {"ok": out["good"], "seconds": elapsed, "per_s": out["good"] / elapsed,
            "p50_ms": out["p50_us"] / 1000, "p99_ms": out["p99_us"] / 1000, "errors": errors}


def drive(gen: str | None, server: harness.ServerProcess, seconds: int) -> dict[str, Any]:
    if gen:
        return wrk_run(gen, server.port, seconds)
    row = harness.python_drive(server, harness.Job("token"), CONCURRENCY, seconds)
    return {k: row[k] for k in ("ok", "seconds", "per_s", "p50_ms", "p99_ms", "errors")}


def serve_args(variant: Variant, redis_port: int | None) -> list[str]:
    args = ["--log-level", "warning"]
    if HAS_WORKERS:
        args += ["--workers", str(variant.workers)]
    if redis_port is not None:
        args += ["--store", f"redis://127.0.0.1:{redis_port}/0"]
    return args


def measure(variant: Variant, profile: Profile, gen: str | None, redis: str) -> dict[str, Any]:
    """A fresh server (and redis-server) for ``variant``: warm-up, then the measured window."""
    with contextlib.ExitStack() as stack:
        redis_pid = redis_port = None
        address: tuple[str, int] | str | None = None
        if variant.store == "redis":
            redis_pid, redis_port = stack.enter_context(redis_server(redis))
            address = ("127.0.0.1", redis_port)
        cpus = {harness.SERVER_CPU} if variant.one_core and harness.pinning_possible()[0] else None
        server = stack.enter_context(harness.ServerProcess(serve_args(variant, redis_port), cpus))
        drive(gen, server, profile.warmup_s)  # discarded: keys made, every worker warm
        members = harness.process_tree(server.pid)
        if variant.store == "embedded":
            redis_pid = next((m for m in members if comm(m) == "redis-server"), None)
            address = redis_address_of(redis_pid, server.output) if redis_pid else None
        before = Snapshot.take(server.pid, redis_pid, address)
        row = drive(gen, server, profile.duration_s)
        after = Snapshot.take(server.pid, redis_pid, address)
    elapsed, ok = row["seconds"], max(row["ok"], 1)
    server_s, redis_s = after.server - before.server, after.redis - before.redis
    generator_s = after.generator - before.generator
    other_s = max(0.0, after.busy - before.busy - server_s - redis_s - generator_s)
    commands = {name: calls - before.commands.get(name, 0)
                for name, calls in after.commands.items()
                if calls > before.commands.get(name, 0)}
    return {
        **{k: round(v, 3) for k, v in row.items()},
        "server_processes": len([m for m in members if m != redis_pid]),
        "server_cpu_pct": round(100 * server_s / elapsed, 1),
        "redis_cpu_pct": round(100 * redis_s / elapsed, 1) if redis_pid else None,
        "generator_cpu_pct": round(100 * generator_s / elapsed, 1),
        "other_cpu_pct": round(100 * other_s / elapsed, 1),
        "server_ms_per_token": round(1000 * server_s / ok, 3),
        "redis_ms_per_token": round(1000 * redis_s / ok, 3) if redis_pid else None,
        "redis_commands_per_token": round(sum(commands.values()) / ok, 2) if address else None,
        "redis_commands": {k: round(v / ok, 2) for k, v in sorted(commands.items())},
        "redis_round_trips_per_token": (round((after.reads - before.reads) / ok, 2)
                                        if redis_pid else None),
    }


# -- the run ----------------------------------------------------------------------------------

def available(help_text: str, redis: str | None) -> tuple[list[Variant], list[str]]:
    """The variants this checkout and machine can run, and why the others are left out."""
    notes = []
    if "--workers" not in help_text or "--store" not in help_text:
        return [v for v in VARIANTS if v.store == "memory"], [
            "`mockidp serve` has no --workers/--store here: in memory only"]
    chosen = list(VARIANTS)
    if redis is None:
        chosen = [v for v in chosen if v.store == "memory"]
        notes.append("no redis-server installed: the Redis variants are left out")
    return chosen, notes


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median tokens/s, and every round's tokens/s."""
    ordered = sorted(rounds, key=lambda r: r["per_s"])
    return {**ordered[(len(ordered) - 1) // 2], "rounds_per_s": [r["per_s"] for r in rounds]}


def print_results(results: dict[str, Any], gen: str) -> None:
    rows = []
    for name, r in results.items():
        m = r["median"]
        rows.append([name, m["server_processes"], m["per_s"], m["p50_ms"], m["p99_ms"],
                     m["errors"], m["server_cpu_pct"], m["redis_cpu_pct"] or "-",
                     m["generator_cpu_pct"], m["other_cpu_pct"], m["server_ms_per_token"],
                     m["redis_ms_per_token"] or "-", m["redis_commands_per_token"] or "-",
                     m["redis_round_trips_per_token"] or "-"])
    harness.print_table(
        f"10. client_credentials RS256 at {CONCURRENCY} connections, `mockidp serve --workers "
        f"N [--store redis://...]` (load generator: {gen}; nothing pinned; median round)",
        ["variant", "procs", "tokens/s", "p50 ms", "p99 ms", "errors", "srv CPU%",
         "redis CPU%", "gen CPU%", "other CPU%", "srv ms/tok", "redis ms/tok", "cmds/tok",
         "round trips/tok"], rows)
    for name, r in results.items():
        rounds = ", ".join(harness.fmt(v) for v in r["median"]["rounds_per_s"])
        commands = ", ".join(f"{k} {v:g}" for k, v in r["median"]["redis_commands"].items())
        print(f"   {name}: tokens/s by round {rounds}"
              + (f"; Redis commands per token: {commands}" if commands else ""))


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """``--workers 2`` on Redis against one in-memory worker, round by round (the median):
    unpinned as it runs (the target), and, for information, against one worker on one core."""
    shared = results.get(VARIANTS[2].name)
    rows = []
    for base_variant, label in ((VARIANTS[0], "one in-memory worker"),
                                (VARIANTS[4], "one in-memory worker on CPU 0 only")):
        base = results.get(base_variant.name)
        if not base or not shared:
            continue
        ratios = [s["per_s"] / b["per_s"] for s, b in zip(shared["rounds"], base["rounds"],
                                                          strict=True) if b["per_s"]]
        ratio = statistics.median(ratios) if ratios else 0.0
        rows.append({"name": f"--workers 2 with Redis vs {label}, tokens/s",
                     "figure": f"{ratio:.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)})",
                     "target": f">= {TARGET_RATIO}x",
                     "result": "PASS" if ratio >= TARGET_RATIO else "MISS",
                     "ratio": round(ratio, 3)})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one short round (smoke run)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    parser.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every `finally` stops what it started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    profile = QUICK if args.quick else FULL
    wrk = None if args.load_generator == "python" else shutil.which("wrk")
    if args.load_generator == "wrk" and wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    redis = redis_server_executable()
    global HAS_WORKERS
    help_text = harness.serve_help()
    HAS_WORKERS = "--workers" in help_text
    chosen, notes = available(help_text, redis)
    started = time.perf_counter()
    env = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "nproc": os.cpu_count(),
           "quick": args.quick, "load_generator": "wrk" if wrk else "python",
           "loadavg_start": harness.load_average(), "commit": harness.git_commit(),
           "notes": notes, "rounds": profile.rounds, "duration_s": profile.duration_s}
    print(f"mockidp benchmark: --workers and Redis, {env['date']}, nproc={env['nproc']}, "
          f"load average {env['loadavg_start']}, commit {env['commit']}"
          f"{' (--quick)' if args.quick else ''}")
    for note in notes:
        print(f"   {note}")
    sys.stdout.flush()
    rounds: dict[str, list[dict[str, Any]]] = {v.name: [] for v in chosen}
    for _ in range(profile.rounds):  # the variants take turns: a slow spell hits them alike
        for variant in chosen:
            rounds[variant.name].append(measure(variant, profile, wrk, redis or ""))
    results = {name: {"rounds": r, "median": summarise(r)} for name, r in rounds.items()}
    print_results(results, env["load_generator"])
    rows = targets(results)
    if rows:
        harness.print_targets(rows)
    env["wall_s"] = round(time.perf_counter() - started, 1)
    env["loadavg_end"] = harness.load_average()
    print(f"\ntotal wall time {env['wall_s']} s, load average at the end {env['loadavg_end']}")
    if args.json is not None:
        args.json.write_text(json.dumps({"environment": env, "variants": results,
                                         "targets": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

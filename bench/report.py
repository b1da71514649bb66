"""The report benchmark: `agentwrap report` over a million calls, and the SQL of the reading
commands.

A store of `--sessions` sessions × `--calls-per-session` calls (by default 10,000 × 100: a
million calls) is written in bulk (`agentwrap.sim.history.write_history_rows`, the rows the
real recorder writes, held to them by tests/sim/test_history.py) into a store of its own.
Then:

- commands: `agentwrap sessions`, `log`, `report` (by day), `report model` and
  `report session --json`, each run
  `--repeats` times as a subprocess, against the interpreter starting and doing nothing
  (`python -c pass`); wall-clock time and the child's CPU time;
- sql: in one process, what each reading command asks the store: `sessions` (the newest 20
  with their sums), `log` (the newest session's calls), `report` by day and by model
  (`trace.report.build_report`), and the panel's snapshot of the newest session
  (`trace.live.StoreFollower.snapshot`, then its `snapshot_sums`); wall-clock and CPU time.

Figures are medians in milliseconds. agentwrap's modules are compiled to bytecode first, as
an installed agentwrap's are.

    .venv/bin/python bench/report.py [--sessions N] [--calls-per-session N] [--repeats N] [--json]
    .venv/bin/python bench/report.py --home DIR     # an existing store (another version's)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
AGENTWRAP = str(BIN / "agentwrap")


def build_store(home: Path, sessions: int, calls_per_session: int) -> float:
    """Write the history into `home`'s store; returns the seconds it took."""
    from agentwrap.sim.history import HistoryShape, write_history_rows
    from agentwrap.trace.store import TraceStore

    t0 = time.perf_counter()
    store = TraceStore(home / "data" / "trace.db")
    try:
        write_history_rows(
            store, HistoryShape(sessions=sessions, calls_per_session=calls_per_session)
        )
    finally:
        store.close()
    return time.perf_counter() - t0


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU milliseconds of one run of `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall * 1000, cpu * 1000


def bench_commands(home: Path, repeats: int) -> dict[str, dict[str, float]]:
    env = dict(os.environ, AGENTWRAP_HOME=str(home), COLUMNS="160")
    env.pop("TMUX", None)
    commands = {
        "sessions": [AGENTWRAP, "sessions"],
        "log": [AGENTWRAP, "log"],
        "report": [AGENTWRAP, "report"],
        "report model": [AGENTWRAP, "report", "model"],
        "report session --json": [AGENTWRAP, "report", "session", "--json"],
        "python -c pass": [sys.executable, "-c", "pass"],
    }
    _run(commands["report"], env)  # the first run opens (and migrates) the store
    out: dict[str, dict[str, float]] = {}
    for name, argv in commands.items():
        runs = [_run(argv, env) for _ in range(repeats)]
        out[name] = {
            "ms": round(statistics.median(w for w, _ in runs), 1),
            "cpu_ms": round(statistics.median(c for _, c in runs), 1),
        }
    return out


def _panel_snapshot(follower: Any) -> Any:
    """What the panel reads to open a session: the snapshot, then its sums."""
    follower.snapshot()
    return follower.snapshot_sums((24, 12))


def bench_sql(home: Path, repeats: int) -> dict[str, dict[str, float]]:
    os.environ["AGENTWRAP_HOME"] = str(home)
    from agentwrap.trace.live import StoreFollower
    from agentwrap.trace.report import build_report
    from agentwrap.trace.store import TraceStore

    store = TraceStore(home / "data" / "trace.db")
    newest = store.sessions(1)[0]["id"]
    asks: dict[str, Callable[[], Any]] = {
        "sessions": lambda: store.sessions(20),
        "log": lambda: store.calls(newest),
        "report (by day)": lambda: build_report(store, "daily"),
        "report model": lambda: build_report(store, "model"),
        "panel snapshot": lambda: _panel_snapshot(StoreFollower(store, newest)),
    }
    out: dict[str, dict[str, float]] = {}
    for name, ask in asks.items():
        runs = []
        for _ in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            ask()
            runs.append(((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000))
        out[name] = {
            "ms": round(statistics.median(w for w, _ in runs), 1),
            "cpu_ms": round(statistics.median(c for _, c in runs), 1),
        }
    store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--calls-per-session", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument(
        "--home", type=Path, help="time this AGENTWRAP_HOME's store instead of writing one"
    )
    args = ap.parse_args()
    import compileall

    import agentwrap

    compileall.compile_dir(Path(agentwrap.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory(prefix="agentwrap-report-bench-") as tmp:
        home = args.home or Path(tmp)
        built = 0.0 if args.home else build_store(home, args.sessions, args.calls_per_session)
        commands = bench_commands(home, args.repeats)
        sql = bench_sql(home, args.repeats)
    calls = args.sessions * args.calls_per_session
    if args.home:
        import sqlite3

        with sqlite3.connect(home / "data" / "trace.db") as conn:
            calls = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
            args.sessions = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    results = {"calls": calls, "built_in_s": round(built, 1), "commands": commands, "sql": sql}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    written = f"written in {built:.1f} s" if not args.home else f"the store in {args.home}"
    print(
        f"{calls:,} calls in {args.sessions:,} sessions ({written}); "
        f"medians of {args.repeats} (wall ms / cpu ms):"
    )
    for name, r in commands.items():
        print(f"  {name:<24} {r['ms']:8.1f} / {r['cpu_ms']:8.1f}")
    print("what the reading commands ask the store, in one process:")
    for name, r in sql.items():
        print(f"  {name:<24} {r['ms']:8.1f} / {r['cpu_ms']:8.1f}")


if __name__ == "__main__":
    main()

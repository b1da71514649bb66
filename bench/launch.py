"""The launch benchmark: how long agentwrap keeps a person waiting, against a baseline in the same run.

Two measurements, each as pairs run back to back (A B A B ..., alternating which goes first),
so a noisy machine affects both sides of a pair alike:

- launch: from starting `agentwrap claude` (the agent a tiny script that writes the time it
  started, makes one call to its base URL and writes the time it ended) to the agent's start,
  and from the agent's exit to agentwrap's exit; the baseline starts the same script
  directly. Then the same for a script that exits at once without a call (as
  `agentwrap claude --version` does): the whole run, start to exit.
- commands: `agentwrap --version`, `--help`, `sessions`, `log`, `report` and the statusline
  hook, each against the interpreter starting and doing nothing (`python -c pass`), on a
  trace store of `--sessions` sessions written through the real recorder.

Every figure is a median over the pairs, in milliseconds, with the ratio to its baseline.
agentwrap's modules are compiled to bytecode first, as an installed agentwrap's are.

    .venv/bin/python bench/launch.py [--pairs N] [--sessions N] [--calls-per-session N]
        [--profile NAME] [--json]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent
AGENTWRAP = str(BIN / "agentwrap")

# The agent's stand-in: writes when it started, makes one call through the proxy's base URL
# (as a real agent does before it exits: it finds the proxy there, even though agentwrap
# started it before the proxy finished loading), and writes when it ended. Run directly
# there is no proxy: the call fails at once.
STAND_IN = """#!/bin/sh
date +%s%N >> "$BENCH_MARKS"
curl -sf -o /dev/null --max-time 10 "$ANTHROPIC_BASE_URL/_agentwrap/health"
echo "$?" >> "$BENCH_MARKS"
date +%s%N >> "$BENCH_MARKS"
"""
# The same stand-in exiting at once, without a call (`agentwrap claude --version`): agentwrap
# keeps the person waiting from its start to its exit.
QUICK_STAND_IN = """#!/bin/sh
date +%s%N >> "$BENCH_MARKS"
date +%s%N >> "$BENCH_MARKS"
"""


def paired[T](a: Callable[[], T], b: Callable[[], T], pairs: int) -> tuple[list[T], list[T]]:
    """Run a and b in turn, alternating which goes first; the first pair only warms up."""
    got_a: list[T] = []
    got_b: list[T] = []
    for i in range(pairs + 1):
        order = [(a, got_a), (b, got_b)]
        for run, into in order if i % 2 else order[::-1]:
            value = run()
            if i:
                into.append(value)
    return got_a, got_b


def _marks(path: Path) -> tuple[int, int, int | None]:
    """When the stand-in started and ended, and its call's exit status (curl's), if it made one."""
    values = [int(x) for x in path.read_text().split()]
    if len(values) == 3:
        return values[0], values[2], values[1]
    return values[0], values[1], None


def _launch_once(
    argv: list[str], env: dict[str, str], marks: Path, answered: bool = False
) -> tuple[float, float, float]:
    """Milliseconds from spawn to the agent's start, from the agent's end to our exit, and
    from spawn to our exit; `answered`: the stand-in's call must have been answered."""
    marks.write_text("")
    t0 = time.time_ns()
    subprocess.run(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    t1 = time.time_ns()
    started, ended, status = _marks(marks)
    if answered and status != 0:
        raise SystemExit(f"the stand-in's call through agentwrap failed (curl exit {status})")
    return (started - t0) / 1e6, (t1 - ended) / 1e6, (t1 - t0) / 1e6


def _stand_in(home: Path, name: str, script: str) -> Path:
    agent = home / name
    agent.write_text(script)
    agent.chmod(0o755)
    return agent


def bench_launch(pairs: int, home: Path, profile: str | None = None) -> dict[str, float]:
    marks = home / "marks"
    launch = [AGENTWRAP, "claude", "--quiet", *(("--profile", profile) if profile else ())]
    figures: dict[str, float] = {}
    for script, prefix in ((STAND_IN, ""), (QUICK_STAND_IN, "quick_")):
        agent = _stand_in(home, f"claude-{prefix}stand-in", script)
        env = dict(
            os.environ,
            AGENTWRAP_HOME=str(home / "launch-home"),
            BENCH_MARKS=str(marks),
            AGENTWRAP_CLAUDE_BIN=str(agent),
        )
        env.pop("TMUX", None)  # no panel: the launch itself is what is timed
        ours, direct = paired(
            functools.partial(_launch_once, launch, env, marks, not prefix),
            functools.partial(_launch_once, [str(agent)], env, marks),
            pairs,
        )
        if prefix:
            figures["quick_total_ms"] = statistics.median(t for _, _, t in ours)
            figures["quick_total_direct_ms"] = statistics.median(t for _, _, t in direct)
            continue
        figures.update(
            agent_start_ms=statistics.median(s for s, _, _ in ours),
            agent_start_direct_ms=statistics.median(s for s, _, _ in direct),
            exit_after_agent_ms=statistics.median(e for _, e, _ in ours),
            exit_after_agent_direct_ms=statistics.median(e for _, e, _ in direct),
        )
    return figures


def seed_store(home: Path, sessions: int, calls_per_session: int) -> None:
    """A store of `sessions` sessions written by the real recorder (see agentwrap.sim.history)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "agentwrap.sim.history",
            "--sessions",
            str(sessions),
            "--calls-per-session",
            str(calls_per_session),
        ],
        env=dict(os.environ, AGENTWRAP_HOME=str(home)),
        check=True,
    )


def _timed(argv: list[str], env: dict[str, str], stdin: bytes) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        argv,
        env=env,
        input=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return (time.perf_counter() - t0) * 1000


def bench_commands(pairs: int, home: Path) -> dict[str, dict[str, float]]:
    env = dict(os.environ, AGENTWRAP_HOME=str(home), COLUMNS="120")
    env.pop("TMUX", None)
    statusline_input = json.dumps({"session_id": "bench", "model": {"id": "x"}}).encode()
    commands: dict[str, tuple[list[str], bytes]] = {
        "--version": ([AGENTWRAP, "--version"], b""),
        "--help": ([AGENTWRAP, "--help"], b""),
        "sessions": ([AGENTWRAP, "sessions"], b""),
        "log": ([AGENTWRAP, "log"], b""),
        "report": ([AGENTWRAP, "report"], b""),
        "statusline": ([sys.executable, "-m", "agentwrap.statusline"], statusline_input),
    }
    floor = [sys.executable, "-c", "pass"]
    results: dict[str, dict[str, float]] = {}
    for name, (argv, stdin) in commands.items():
        ours, base = paired(
            functools.partial(_timed, argv, env, stdin),
            lambda: _timed(floor, env, b""),
            pairs,
        )
        ratios = [a / b for a, b in zip(ours, base, strict=True)]
        results[name] = {
            "ms": statistics.median(ours),
            "python_start_ms": statistics.median(base),
            "ratio": statistics.median(ratios),
        }
    return results


def ensure_bytecode() -> None:
    """Compile agentwrap's modules first, as an installed agentwrap has them compiled: with
    PYTHONDONTWRITEBYTECODE set (or a read-only checkout) every run would compile its
    sources again, and that, not agentwrap, would be what is timed."""
    import compileall

    import agentwrap

    compileall.compile_dir(Path(agentwrap.__file__).parent, quiet=1)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pairs", type=int, default=15, help="counted pairs per figure")
    ap.add_argument("--sessions", type=int, default=1000, help="sessions in the seeded store")
    ap.add_argument("--calls-per-session", type=int, default=100)
    ap.add_argument(
        "--profile", help="the launch's --profile (default: none, so the passthrough preset)"
    )
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    ensure_bytecode()

    with tempfile.TemporaryDirectory(prefix="agentwrap-launch-bench-") as tmp:
        home = Path(tmp)
        launch = bench_launch(args.pairs, home, args.profile)
        store = home / "store-home"
        seed_store(store, args.sessions, args.calls_per_session)
        commands = bench_commands(args.pairs, store)
    if args.json:
        print(json.dumps({"launch": launch, "commands": commands}, indent=2))
        return
    print(f"launch ({args.pairs} pairs, medians):")
    print(
        f"  agent started after  {launch['agent_start_ms']:7.1f} ms "
        f"(the agent alone: {launch['agent_start_direct_ms']:.1f} ms)"
    )
    print(
        f"  agentwrap exited     {launch['exit_after_agent_ms']:7.1f} ms after the agent "
        f"(the agent alone: {launch['exit_after_agent_direct_ms']:.1f} ms)"
    )
    print(
        f"  an agent that exits at once, no call: {launch['quick_total_ms']:.1f} ms in all "
        f"(the agent alone: {launch['quick_total_direct_ms']:.1f} ms)"
    )
    print(
        f"commands on {args.sessions} sessions x {args.calls_per_session} calls "
        f"({args.pairs} pairs, medians; python -c pass is the floor):"
    )
    for name, r in commands.items():
        print(
            f"  {name:<11} {r['ms']:7.1f} ms   python start {r['python_start_ms']:5.1f} ms"
            f"   ratio {r['ratio']:4.1f}"
        )


if __name__ == "__main__":
    main()

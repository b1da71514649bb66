"""The reading commands on a store of 1,000 sessions and 100,000 calls.

The store is written once per test run by the real recorder (agentwrap.sim.history, the same
history bench/launch.py times the commands on); each test runs the real `agentwrap` command
on it and checks what it printed against sums computed here from the calls themselves.
Nothing is timed: bench/launch.py measures how fast the commands answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentwrap import fmt
from agentwrap.sim.history import HistoryShape, write_history
from agentwrap.trace.store import TraceStore
from tests.conftest import subprocess_env

SHAPE = HistoryShape(sessions=1000, calls_per_session=100)
# Writing the store takes about 10 s of CPU: the fast lane leaves these out.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def large_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("large-store")
    store = TraceStore(home / "data" / "trace.db")
    try:
        assert write_history(store, SHAPE) == SHAPE.sessions * SHAPE.calls_per_session
    finally:
        store.close()
    return home


@pytest.fixture(scope="session")
def calls(large_home: Path) -> Iterator[list[dict[str, Any]]]:
    """Every call row, read straight from the file (no agentwrap query involved)."""
    import sqlite3

    conn = sqlite3.connect(large_home / "data" / "trace.db")
    conn.row_factory = sqlite3.Row
    try:
        yield [dict(r) for r in conn.execute("SELECT * FROM calls")]
    finally:
        conn.close()


def agentwrap(agentwrap_bin: str, home: Path, *args: str) -> str:
    done = subprocess.run(
        [agentwrap_bin, *args],
        env=subprocess_env(AGENTWRAP_HOME=str(home), COLUMNS="200", NO_COLOR="1"),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_sessions_lists_the_newest_first_with_their_counts_and_costs(
    agentwrap_bin: str, large_home: Path, calls: list[dict[str, Any]]
) -> None:
    rows = json.loads(agentwrap(agentwrap_bin, large_home, "sessions", "-n", "25", "--json"))
    # hist-00999 started last: the newest 25 are 999 down to 975.
    assert [r["id"] for r in rows] == [f"hist-{i:05d}" for i in range(999, 974, -1)]
    newest = {row["id"] for row in rows}
    by_session: dict[str, list[dict[str, Any]]] = {}
    for c in calls:
        if c["session_id"] in newest:
            by_session.setdefault(c["session_id"], []).append(c)
    for row in rows:
        mine = by_session[row["id"]]
        assert row["calls"] == len(mine) == SHAPE.calls_per_session
        assert row["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in mine))
        assert row["baseline_cost_usd"] == pytest.approx(sum(c["baseline_cost_usd"] for c in mine))
    table = agentwrap(agentwrap_bin, large_home, "sessions")
    ids = [line.split()[0] for line in table.splitlines() if line.strip().startswith("hist-")]
    assert ids == [f"hist-{i:05d}" for i in range(999, 979, -1)]  # the default 20


def test_log_shows_the_session_asked_for(
    agentwrap_bin: str, large_home: Path, calls: list[dict[str, Any]]
) -> None:
    lines = agentwrap(agentwrap_bin, large_home, "log", "--session", "hist-00420", "--json")
    got = [json.loads(line) for line in lines.splitlines()]
    want = sorted((c for c in calls if c["session_id"] == "hist-00420"), key=lambda c: c["seq"])
    assert [c["id"] for c in got] == [c["id"] for c in want]
    assert {c["session_id"] for c in got} == {"hist-00420"}
    # With no session named, the newest.
    newest = agentwrap(agentwrap_bin, large_home, "log", "-n", "3", "--json").splitlines()
    assert [json.loads(line)["id"] for line in newest] == [
        f"hist-00999/c{i:04d}" for i in (97, 98, 99)
    ]


@pytest.mark.parametrize("grouping", ["daily", "model", "step", "session"])
def test_report_totals_equal_the_sum_of_the_calls(
    agentwrap_bin: str, large_home: Path, calls: list[dict[str, Any]], grouping: str
) -> None:
    data = json.loads(agentwrap(agentwrap_bin, large_home, "report", grouping, "--json"))
    totals = data["totals"]
    assert totals["calls"] == len(calls) == SHAPE.sessions * SHAPE.calls_per_session
    assert totals["input_tokens"] == sum(c["input_tokens"] for c in calls)
    assert totals["output_tokens"] == sum(c["output_tokens"] for c in calls)
    assert totals["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in calls), abs=1e-5)
    baseline = sum(c["baseline_cost_usd"] for c in calls)
    assert totals["baseline_usd"] == pytest.approx(baseline, abs=1e-5)
    assert totals["saved_usd"] == pytest.approx(
        baseline - sum(c["cost_usd"] for c in calls), abs=1e-5
    )
    # The rows add up to the totals, and each row to its own calls.
    assert sum(r["calls"] for r in data["rows"]) == totals["calls"]
    key_of = {
        "model": lambda c: c["model"],
        "step": lambda c: c["step"],
        "session": lambda c: c["session_id"],
    }.get(grouping)
    if key_of is not None:
        groups: dict[str, list[dict[str, Any]]] = {}
        for c in calls:
            groups.setdefault(key_of(c), []).append(c)
        assert sorted(r["key"] for r in data["rows"]) == sorted(groups)
        for row in data["rows"]:
            mine = groups[row["key"]]
            assert row["calls"] == len(mine)
            assert row["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in mine), abs=1e-6)
    if grouping == "session":
        assert len(data["rows"]) == SHAPE.sessions


def test_statusline_shows_its_sessions_cost_and_saving(
    large_home: Path, calls: list[dict[str, Any]]
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentwrap.statusline"],
        env=subprocess_env(
            AGENTWRAP_HOME=str(large_home), AGENTWRAP_SESSION_ID="hist-00420", NO_COLOR="1"
        ),
        input="{}",
        capture_output=True,
        text=True,
        timeout=120,
    )
    mine = [c for c in calls if c["session_id"] == "hist-00420"]
    cost = sum(c["cost_usd"] for c in mine)
    saved = sum(c["baseline_cost_usd"] for c in mine) - cost
    line = done.stdout.strip()
    assert f" {fmt.usd(cost)} " in f" {line} ", line
    assert "saved" in line and fmt.usd(saved) in line, line

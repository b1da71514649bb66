"""`agentwrap report` run as a real command over a store written through the Recorder.

The command runs in this process (tests/support/cli.py): what it reads and prints is the point
here, not the process around it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agentwrap.trace.recorder import Recorder
from tests.support.cli import Ran, agentwrap
from tests.support.trace_seed import finish_call, first_byte, start_call, start_session
from tests.trace.test_report import (
    KEYS,
    TZ,
    all_calls,
    at,
    call,
    expected,
    groups,
    seed,
    sessions,
)


@pytest.fixture(autouse=True)
def local_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", TZ)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def run(*args: str, columns: int = 80) -> Ran:
    return agentwrap("report", *args, COLUMNS=str(columns), NO_COLOR="1", TZ=TZ, FORCE_COLOR=None)


def usd(value: float) -> str:
    # The report's money format, spelled out here: cents from a cent up, four places below.
    return f"${value:.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def row_line(out: str, key: str) -> str:
    lines = [line for line in out.splitlines() if line.split() and line.split()[0] == key]
    assert len(lines) == 1, (key, out)
    return lines[0]


def test_daily_report_at_80_columns() -> None:
    seed()
    out = run()
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), out.stdout
    want = groups(KEYS["daily"])
    for day, pairs in want.items():
        exp = expected(pairs)
        cells = row_line(out.stdout, day)
        assert cells.split()[1] == str(exp["calls"])
        if not exp["priced_calls"]:
            # Only unpriced (or failed) calls: never shown as $0.
            assert "unpriced" in cells and "$0.00" not in cells
        elif exp["unpriced_calls"]:
            assert f"{usd(exp['cost_usd'])} +{exp['unpriced_calls']} unpriced" in cells
        else:
            assert usd(exp["cost_usd"]) in cells and "unpriced" not in cells
        if exp["saved_usd"] is not None:
            assert f"{usd(exp['saved_usd'])} ({exp['saved_pct']:.0f}%)" in cells
    total = expected(all_calls())
    footer = row_line(out.stdout, "total")
    assert footer.split()[1] == str(total["calls"])
    assert f"{usd(total['cost_usd'])} +{total['unpriced_calls']} unpriced" in footer
    assert f"{usd(total['saved_usd'])} ({total['saved_pct']:.0f}%)" in footer
    assert f"savings computed on {total['compared_calls']} of {total['calls']} calls" in out.stdout
    assert "1 demo session left out" in out.stdout
    # Observe-mode sessions bring the would-cost column.
    assert "would cost" in out.stdout
    assert usd(total["would_cost_usd"]) in footer


@pytest.mark.parametrize("grouping", ["weekly", "monthly", "session", "model", "step"])
def test_every_grouping_fits_80_columns_with_unwrapped_keys(grouping: str) -> None:
    seed()
    out = run(grouping)
    assert out.returncode == 0, out.stderr
    assert all(len(line) <= 80 for line in out.stdout.splitlines()), out.stdout
    want = groups(KEYS[grouping])
    for key, pairs in want.items():
        shown = key.removesuffix("-20250805").removesuffix("-20250929")
        assert row_line(out.stdout, shown).split()[1] == str(expected(pairs)["calls"])


def test_a_very_long_model_name_is_cut_not_wrapped() -> None:
    seed()
    from agentwrap import paths
    from agentwrap.trace.store import TraceStore

    store = TraceStore(paths.trace_db())
    long_name = "vendor-experimental-extremely-long-model-name-for-reports-v2"
    start_session(store, "long-1", started_at=at("2025-11-20", 12))
    rec = Recorder(store, "long-1")
    c = call("long-1/x", at("2025-11-20", 12), "explore", long_name, (10, 5, 0, 0), 0.5, 1.0)
    start_call(rec, c, 1)
    first_byte(rec, c)
    finish_call(rec, c)
    rec.close()
    out = run("model")
    assert all(len(line) <= 80 for line in out.stdout.splitlines()), out.stdout
    # The row keeps to one line: the cut key and its numbers together.
    line = next(line for line in out.stdout.splitlines() if line.startswith("vendor-experimental"))
    assert "…" in line and "$0.50" in line and "(50%)" in line
    assert not any(line.startswith("reports") for line in out.stdout.splitlines())


def test_wide_terminals_get_every_column() -> None:
    seed()
    out = run("step", columns=170)
    header = next(line for line in out.stdout.splitlines() if "calls" in line)
    for name in ("input", "output", "cache write", "cache read", "cost", "baseline", "saved %"):
        assert name in header
    want = groups(KEYS["step"])
    exp = expected(want["explore"])
    cells = row_line(out.stdout, "explore")
    # explore: haiku (priced) in November, an unpriced kimi call, opus in observe mode.
    assert f"{usd(exp['cost_usd'])} +1 unpriced" in cells
    assert usd(exp["baseline_usd"]) in cells
    assert f"{exp['saved_pct']:.0f}%" in cells


def test_json_for_scripts() -> None:
    seed()
    out = run("model", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) >= {"rows", "totals", "grouping"}
    want = groups(KEYS["model"])
    assert sorted(r["key"] for r in data["rows"]) == sorted(want)
    for row in data["rows"]:
        exp = expected(want[row["key"]])
        assert row["calls"] == exp["calls"]
        assert row["input_tokens"] == exp["input_tokens"]
        assert row["cache_read_tokens"] == exp["cache_read_tokens"]
        if exp["priced_calls"]:
            assert row["cost_usd"] == pytest.approx(exp["cost_usd"], abs=1e-6)
        else:
            assert row["cost_usd"] is None
    assert data["totals"]["calls"] == expected(all_calls())["calls"]


def test_filters_and_demo_from_the_command_line() -> None:
    seed()
    since = json.loads(run("--since", "2025-11-25", "--json").stdout)
    assert [r["key"] for r in since["rows"]] == ["2025-11-25", "2025-11-26", "2025-12-02"]
    until = json.loads(run("--until", "2025-11-18", "--json").stdout)
    assert [r["key"] for r in until["rows"]] == ["2025-11-17", "2025-11-18"]
    codex = json.loads(run("session", "--agent", "codex", "--json").stdout)
    assert [r["key"] for r in codex["rows"]] == [sessions()[1].id]
    beta = json.loads(run("session", "--project", "/proj/beta", "--json").stdout)
    assert [r["key"] for r in beta["rows"]] == [sessions()[1].id]
    demo = json.loads(run("session", "--demo", "--json").stdout)
    assert sessions()[3].id in [r["key"] for r in demo["rows"]]
    assert demo["totals"]["calls"] == expected(all_calls(include_demo=True))["calls"]
    none = run("--agent", "nobody")
    assert none.returncode == 0 and "No calls match these filters (agent nobody); " in none.stdout
    # What to do next: see what is recorded.
    assert "agentwrap sessions lists what is recorded." in none.stdout


def test_empty_store_and_bad_input() -> None:
    out = run()
    assert out.returncode == 0
    assert (
        out.stdout.strip()
        == "No calls recorded yet. Start a session with: agentwrap claude (or try: agentwrap demo)"
    )
    # Only a demo session: the message says how to see it.
    demo = sessions()[3]
    seed([replace(demo)])
    out = run()
    assert "1 demo session left out; add --demo to include" in out.stdout
    bad = run("--since", "25/11/2025")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    assert run("yearly").returncode == 2


def test_project_is_the_repository_of_the_directory_given(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src" / "pkg").mkdir(parents=True)
    other = tmp_path / "repo-two"
    other.mkdir()
    layout = sessions()
    inside = replace(layout[0], cwd=str(repo), repo_root=str(repo))
    below = replace(layout[1], cwd=str(repo / "src"), repo_root=str(repo))
    outside = replace(layout[2], cwd=str(other), repo_root=None)
    seed([inside, below, outside])
    got = json.loads(run("session", "--project", str(repo / "src" / "pkg"), "--json").stdout)
    assert [r["key"] for r in got["rows"]] == [inside.id, below.id]
    assert got["totals"]["calls"] == len(inside.calls) + len(below.calls)
    got = json.loads(run("session", "--project", str(other), "--json").stdout)
    assert [r["key"] for r in got["rows"]] == [outside.id]


def test_wide_session_report_names_the_agent_and_observe_mode() -> None:
    seed()
    out = run("session", columns=170)
    for s in sessions():
        if s.is_demo:
            assert s.id not in out.stdout
            continue
        line = row_line(out.stdout, s.id)
        assert line.split()[1] == s.agent
        assert ("(observe)" in line) == (s.mode == "observe")
        assert str(len(s.calls)) in line.split()


def test_keys_stay_whole_when_the_wide_layout_would_cut_them() -> None:
    seed()
    # 130 columns: wide enough for every column, not with the agent and whole session ids.
    out = run("session", columns=130)
    assert all(len(line) <= 130 for line in out.stdout.splitlines())
    for s in sessions()[:3]:
        assert row_line(out.stdout, s.id).split()[1] == str(len(s.calls))
    assert "…" not in out.stdout

"""The end-of-session summary (agentwrap.summary), printed the way the launcher prints it."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from rich.console import Console

from agentwrap import paths
from agentwrap.summary import render_summary, summary_json
from agentwrap.trace.store import TraceStore
from tests.conftest import subprocess_env
from tests.support.trace_seed import SESSION_CALLS, SeedCall, seed_session, start_session


def printed(store: TraceStore, session_id: str, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(render_summary(store, session_id))
    return console.export_text()


def test_wide_summary_has_rows_per_model_and_step_totals_and_commands() -> None:
    store = seed_session()
    text = printed(store, "sess-0001", 140)
    lines = text.splitlines()

    assert lines[0].startswith("agentwrap · claude · 2m05s · 6 calls · cost $0.56 +1 unpriced")
    assert "saved 61% ($0.87)" in lines[0]
    for header in ("input", "output", "cache write", "cache read", "baseline", "saving"):
        assert header in text
    haiku = next(line for line in lines if line.strip().startswith("claude-haiku-4-5"))
    # 2 calls, 20.3k input, 820 output, 15.0k cache read, $0.03 cost, $0.39 baseline.
    assert haiku.split()[:7] == ["claude-haiku-4-5", "2", "20.3k", "820", "0", "15.0k", "$0.03"]
    # The unpriced model: "unpriced" with a footnote mark, and the reason in the footnote.
    kimi = next(line for line in lines if line.strip().startswith("kimi-k2-local"))
    assert "unpriced*" in kimi and "$0.00" not in kimi
    assert "* kimi-k2-local: no price for model 'kimi-k2-local'" in text
    implement = next(line for line in lines if line.strip().startswith("implement"))
    assert implement.split()[1] == "3"
    assert "+1 unpriced" in implement
    assert text.count("total ") >= 2
    assert "1 fallback · 1 failed" in text
    assert "savings computed on 4 of 6 calls" in text
    assert "agentwrap log --session sess-0001" in text
    assert "agentwrap top sess-0001" in text


def test_narrow_summary_is_compact_and_fits() -> None:
    store = seed_session()
    text = printed(store, "sess-0001", 72)
    assert "cache read" not in text and "tokens" in text
    assert all(len(line) <= 72 for line in text.splitlines())
    assert "kimi-k2-local" in text and "unpriced*" in text


def test_demo_and_empty_sessions() -> None:
    store = seed_session("demo-1", SESSION_CALLS[:1], is_demo=True)
    assert "demo, simulated providers" in printed(store, "demo-1", 120)
    start_session(store, "empty-1")
    text = printed(store, "empty-1", 120)
    assert "No model calls went through agentwrap" in text
    assert "agentwrap top empty-1" in text


def test_a_dated_model_reads_by_its_short_id_and_json_keeps_the_full_one() -> None:
    dated = "vendor-model-x-20250101"
    calls = [
        SeedCall("d1", "implement", dated, dated, 100, 10, unpriced_reason=f"no price for {dated}")
    ]
    store = seed_session("dated-1", calls)
    text = printed(store, "dated-1", 140)
    # The row and its footnote both name the model as every other view does.
    assert "vendor-model-x " in text and "unpriced*" in text
    assert f"* vendor-model-x: no price for {dated}" in text
    assert summary_json(store, "dated-1")["unpriced"] == {dated: f"no price for {dated}"}


def test_summary_json_matches_the_rendered_numbers() -> None:
    store = seed_session()
    data = summary_json(store, "sess-0001")
    json.dumps(data)  # plain data only
    assert data["session_id"] == "sess-0001" and data["exit_code"] == 0
    assert data["duration_s"] == pytest.approx(125)
    totals = data["totals"]
    assert totals["calls"] == 6 and totals["unpriced_calls"] == 1
    assert totals["cost_usd"] == pytest.approx(0.5644)
    assert totals["saved_pct"] == pytest.approx(60.56, abs=0.01)
    by_model = {row["model"]: row for row in data["by_model"]}
    assert by_model["kimi-k2-local"]["priced_calls"] == 0
    assert by_model["kimi-k2-local"]["saved_usd"] is None
    assert sum(row["calls"] for row in data["by_step"]) == 6
    assert data["unpriced"] == {"kimi-k2-local": "no price for model 'kimi-k2-local'"}
    assert data["details"][1] == "agentwrap top sess-0001"


def test_the_launchers_printer_uses_it(capsys: pytest.CaptureFixture[str]) -> None:
    from agentwrap.cli.summary import print_summary

    seed_session()
    print_summary(TraceStore(paths.trace_db()), "sess-0001")
    err = capsys.readouterr().err
    assert "by model" in err and "kimi-k2-local" in err


LONG_ID = "20261130-070645-81ee95"  # the shape of a real session id


def piped_summary(session_id: str, columns: int) -> str:
    """The summary as the launcher prints it with stderr a pipe (CI logs, `2>file`)."""
    code = (
        "from agentwrap import paths\n"
        "from agentwrap.cli.summary import print_summary\n"
        "from agentwrap.trace.store import TraceStore\n"
        f"print_summary(TraceStore(paths.trace_db()), {session_id!r})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=subprocess_env(COLUMNS=str(columns), NO_COLOR="1"),
        check=True,
    )
    return done.stderr


@pytest.mark.parametrize("columns", [80, 200])
def test_a_piped_summary_never_breaks_a_command_or_an_id(columns: int) -> None:
    seed_session(LONG_ID)
    lines = piped_summary(LONG_ID, columns).splitlines()
    # One line per line of facts, however wide: the headline, the outcomes, the commands.
    assert lines[0].startswith("agentwrap · claude · 2m05s · 6 calls · cost $0.56 +1 unpriced")
    assert lines[0].endswith("saved 61% ($0.87)")
    assert any(line.startswith("1 fallback · 1 failed") for line in lines)
    details = [line for line in lines if LONG_ID in line]
    assert details == [
        f"session {LONG_ID} · details: agentwrap log --session {LONG_ID} or agentwrap top {LONG_ID}"
    ]
    # The tables still take the width the pipe was given: one column per token kind at 200.
    assert any("cache read" in line for line in lines) == (columns == 200)


def test_on_a_narrow_terminal_facts_break_between_facts_only() -> None:
    seed_session(LONG_ID)
    text = printed(TraceStore(paths.trace_db()), LONG_ID, 60)
    lines = text.splitlines()
    assert all(len(line) <= 60 for line in lines)
    assert f"details: agentwrap log --session {LONG_ID}" in text
    assert f"or agentwrap top {LONG_ID}" in text
    assert "cost $0.56 +1 unpriced vs $1.90 baseline" in text


def test_a_run_that_made_no_calls_prints_no_summary(capsys: pytest.CaptureFixture[str]) -> None:
    from agentwrap.cli.summary import print_summary

    store = TraceStore(paths.trace_db())
    start_session(store, "version-1")  # `agentwrap claude --version`: the agent made no call
    print_summary(store, "version-1")
    assert capsys.readouterr().err == ""


def test_a_launch_whose_command_makes_no_call_ends_without_a_summary(agentwrap_bin: str) -> None:
    # As `agentwrap claude --version` does: the agent prints and exits, nothing went through.
    done = subprocess.run(
        [agentwrap_bin, "run", "--panel", "off", "--", sys.executable, "-c", "print('v1.2.3')"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout == "v1.2.3\n"
    assert "agentwrap ·" not in done.stderr and "No model calls" not in done.stderr


def test_a_route_held_back_names_its_models_by_their_short_ids() -> None:
    from agentwrap.route.dearer import HeldBack
    from agentwrap.summary import held_back_line

    route = HeldBack("routing.implement", "sonnet", "claude-sonnet-4-5-20250929",
                     "claude-haiku-4-5-20251001")  # fmt: skip
    line = held_back_line(route, 1)
    assert line.startswith("never dearer: 1 call stayed on claude-haiku-4-5, the model the agent")
    assert "sends it to sonnet (claude-sonnet-4-5), which costs more" in line
    assert "2025" not in line

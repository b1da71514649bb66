"""`agentwrap sessions` and `agentwrap log` read the trace a real session wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentwrap.fakes.anthropic import FakeAnthropic, Reply
from tests.support.cli import agentwrap


def _agentwrap(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "agentwrap")
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **env}
    )


def _session_with_calls(fake_url: str, models: list[str]) -> None:
    code = (
        "import anthropic\n"
        "c = anthropic.Anthropic(api_key='sk-test', max_retries=0)\n"
        f"for m in {models!r}:\n"
        "    c.messages.create(model=m, max_tokens=64, messages=[{'role':'user','content':'hi'}])\n"
    )
    done = _agentwrap(
        "run", "--quiet", "--", sys.executable, "-c", code, ANTHROPIC_BASE_URL=fake_url
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_sessions_newest_first_and_log_rows(tmp_path):
    # The sessions are real `agentwrap run`s; what reads them back runs in this process.
    with FakeAnthropic(default=Reply("ok", input_tokens=100, output_tokens=10)) as fake:
        _session_with_calls(fake.base_url, ["claude-sonnet-4-6"])
        time.sleep(1.1)  # session ids sort by second
        _session_with_calls(
            fake.base_url, ["claude-haiku-4-5", "claude-sonnet-4-6", "no-such-model"]
        )
    sessions = json.loads(agentwrap("sessions", "--json").stdout)
    assert [s["calls"] for s in sessions] == [3, 1]  # newest first
    assert sessions[0]["unpriced_calls"] == 1
    rows = [json.loads(line) for line in agentwrap("log", "--json").stdout.splitlines()]
    assert [r["model"] for r in rows] == ["claude-haiku-4-5", "claude-sonnet-4-6", "no-such-model"]
    assert rows[2]["cost_usd"] is None and "no-such-model" in rows[2]["unpriced_reason"]
    newest = [
        json.loads(line) for line in agentwrap("log", "-n", "1", "--json").stdout.splitlines()
    ]
    assert [r["model"] for r in newest] == ["no-such-model"]
    older = agentwrap("log", "--session", sessions[1]["id"][:17], "--json").stdout.splitlines()
    assert len(older) == 1
    table = agentwrap("log", COLUMNS="80").stdout
    assert (
        "unpriced" in table
        and "$0.00" in table
        and max(len(line) for line in table.splitlines()) <= 80
    )


def test_log_of_unknown_session_is_a_clear_error():
    done = agentwrap("log", "--session", "nope")
    assert done.returncode == 1 and "no session matches 'nope'" in done.stderr
    assert "Traceback" not in done.stderr


def test_sessions_when_nothing_recorded():
    done = agentwrap("sessions")
    assert done.returncode == 0 and "No sessions recorded yet" in done.stdout


def test_serve_on_a_busy_port_says_so_and_records_nothing():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _agentwrap("serve", "--port", str(port))
    assert (
        done.returncode == 1 and "could not start" in done.stderr and "Traceback" not in done.stderr
    )
    assert json.loads(agentwrap("sessions", "--json").stdout) == []


def test_log_reads_like_the_panel_and_json_keeps_full_ids() -> None:
    from tests.support.trace_seed import seed_session

    seed_session()
    lines = agentwrap("log", COLUMNS="160").stdout.splitlines()

    def row(seq: int) -> str:
        return next(line for line in lines if line.startswith(f"│ {seq} "))

    # Short model ids, a routed call as the panel shows it, latencies as the panel writes them.
    assert "claude-opus-4-1 " in row(1) and "20250805" not in "\n".join(lines)
    assert "opus-4-1 → sonnet-4-5" in row(4) and "14.2s" in row(1) and "$0.41" in row(1)
    # An unpriced call that ran is "unpriced"; a failed one has no cost, not an unpriced one.
    assert "unpriced" in row(5) and "unpriced" not in row(6) and "—" in row(6)
    rows = [json.loads(line) for line in agentwrap("log", "--json").stdout.splitlines()]
    assert rows[0]["model"] == "claude-opus-4-1-20250805"
    sessions = agentwrap("sessions", COLUMNS="120").stdout
    # The failed call is not counted as unpriced, as in the summary ("+1 unpriced").
    assert "2m05s" in sessions and "$0.56 +1?" in sessions
    assert json.loads(agentwrap("sessions", "--json").stdout)[0]["unpriced_calls"] == 1


def test_demo_sessions_are_left_out_and_said_so_by_every_command() -> None:
    from tests.support.trace_seed import SESSION_CALLS, seed_session

    seed_session("demo-1", SESSION_CALLS[:2], is_demo=True)
    note = "1 demo session left out; add --demo to include"
    sessions = agentwrap("sessions")
    assert "No sessions recorded yet" in sessions.stdout and note in sessions.stdout
    assert "demo-1" in agentwrap("sessions", "--demo").stdout
    log = agentwrap("log")
    assert log.returncode == 1 and "no sessions recorded yet" in log.stderr and note in log.stderr
    assert "demo-1 · claude · 2 calls" in agentwrap("log", "--demo", COLUMNS="120").stdout
    assert "demo-1" in agentwrap("log", "--session", "demo-1", COLUMNS="120").stdout
    top = _agentwrap("top")
    assert top.returncode == 1 and note in top.stderr
    # What it suggests works: the demo, or an agent through agentwrap.
    assert "agentwrap demo" in top.stderr and "agentwrap log" not in top.stderr
    report = agentwrap("report")
    assert note in report.stdout
    # A real session is listed with the note still there.
    seed_session("real-1", SESSION_CALLS[:1])
    sessions = agentwrap("sessions", COLUMNS="120").stdout
    assert "real-1" in sessions and "demo-1" not in sessions and note in sessions
    assert "real-1" in agentwrap("log", COLUMNS="120").stdout


def test_log_at_80_columns_names_both_models_of_a_routed_call_and_n_says_of_how_many() -> None:
    from tests.support.trace_seed import seed_session

    seed_session()
    table = agentwrap("log", "-n", "3", COLUMNS="80").stdout
    assert "session sess-0001 · claude · newest 3 of 6 calls" in table
    row = next(line for line in table.splitlines() if line.split()[:2] == ["4", "implement"])
    assert "opus-4-1 → sonnet-4-5" in row
    assert max(len(line) for line in table.splitlines()) <= 80


def test_log_carries_each_steps_outcome_signals_and_evidence() -> None:
    from agentwrap import paths
    from agentwrap.trace.recorder import Recorder
    from agentwrap.trace.store import TraceStore
    from tests.support.trace_seed import seed_session

    seed_session()
    store = TraceStore(paths.trace_db())
    rec = Recorder(store, "sess-0001")
    rec.call_event(
        "outcome",
        "call-01",
        outcome="failed",
        signals=["edit_retry"],
        outcome_evidence="Edit failed: String to replace not found in file.",
    )
    rec.call_event("outcome", "call-02", outcome="succeeded", signals=[])
    rec.close()
    store.close()
    rows = {r["id"]: r for r in map(json.loads, _agentwrap("log", "--json").stdout.splitlines())}
    assert rows["call-01"]["outcome"] == "failed"
    assert rows["call-01"]["signals"] == ["edit_retry"]
    assert rows["call-01"]["outcome_evidence"].startswith("Edit failed: String to replace")
    assert (rows["call-02"]["outcome"], rows["call-02"]["signals"]) == ("succeeded", [])
    assert rows["call-03"]["signals"] == [] and rows["call-03"]["outcome_evidence"] is None
    lines = _agentwrap("log", COLUMNS="200").stdout.splitlines()
    assert "failed!" in next(line for line in lines if line.startswith("│ 1 "))


def test_the_log_table_reads_every_column_it_shows() -> None:
    # The table reads only LOG_COLUMNS; each row must come out as it does from the whole row.
    from agentwrap import paths
    from agentwrap.cli.sessionlog import LOG_COLUMNS, _log_row
    from agentwrap.trace.store import TraceStore
    from tests.support.trace_seed import SESSION_CALLS, seed_session

    seed_session("cols", SESSION_CALLS)
    store = TraceStore(paths.trace_db())
    whole = store.calls("cols")
    shown = store.calls("cols", columns=LOG_COLUMNS)
    assert len(whole) == len(shown) == len(SESSION_CALLS)
    assert all(set(row) == set(LOG_COLUMNS) for row in shown)
    for medium in (True, False):
        assert [_log_row(c, medium) for c in shown] == [_log_row(c, medium) for c in whole]


def test_log_fits_every_width_and_cuts_a_model_only_where_there_is_no_room() -> None:
    from dataclasses import replace

    from tests.support.trace_seed import SESSION_CALLS, seed_session

    # A route across vendors keeps both names whole: the longest model cell of a session.
    cross = replace(
        SESSION_CALLS[1],
        id="call-cross",
        requested="claude-haiku-4-5-20251001",
        used="gemini-3-flash-preview",
    )
    seed_session(calls=[*SESSION_CALLS, cross])
    route = "claude-haiku-4-5 → gemini-3-flash-preview"
    for width in (80, 100, 120, 140, 160, 199, 200):
        lines = agentwrap("log", COLUMNS=str(width)).stdout.splitlines()
        # Nothing is cropped at the console's edge: a boxed row keeps its right border.
        assert max(len(line) for line in lines) <= width, width
        row = next(line for line in lines if "gemini" in line)
        assert not row.startswith("│") or row.endswith("│"), (width, row)
        # The route is cut only where the other columns leave it no more room.
        assert route in row or len(row) == width, (width, row)
    # Where the medium or wide table's numbers leave the model too little room, it is not
    # drawn cropped: the narrower table is, whole (the log of a 100-column terminal).
    lines = agentwrap("log", COLUMNS="100").stdout.splitlines()
    assert any(route in line for line in lines)


def test_log_says_one_call_not_one_calls() -> None:
    from tests.support.trace_seed import SESSION_CALLS, seed_session

    seed_session(calls=SESSION_CALLS[:1])
    title = agentwrap("log", COLUMNS="80").stdout.splitlines()[0]
    assert title.strip() == "session sess-0001 · claude · 1 call"
    title = agentwrap("log", "-n", "1", COLUMNS="80").stdout.splitlines()[0]
    assert title.strip() == "session sess-0001 · claude · newest 1 of 1 call"


def test_log_and_sessions_print_brackets_in_their_data_as_written() -> None:
    from dataclasses import replace

    from tests.support.trace_seed import SESSION_CALLS, seed_session

    # What a reason, an error and a directory say is data: none of it is Rich markup.
    reason = 'never dearer: to allow it, add a [[rules]] entry with use = "sonnet", escalate = true'
    held = replace(SESSION_CALLS[0], reason=reason)
    refused = replace(
        SESSION_CALLS[5], reason="", error="cannot reach anthropic: [Errno 111] refused [bold]"
    )
    store = seed_session(calls=[held, refused])
    store.update_session("sess-0001", cwd="/work/[draft] :thumbs_up: app")
    store.close()
    table = " ".join(agentwrap("log", COLUMNS="250").stdout.split())
    assert "add a [[rules]] entry with use" in table
    assert "[Errno 111] refused [bold]" in table
    sessions = agentwrap("sessions", COLUMNS="250").stdout
    assert "/work/[draft] :thumbs_up: app" in sessions

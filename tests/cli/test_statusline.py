"""`agentwrap statusline`, run as Claude Code runs it: a subprocess with JSON on stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentwrap.statusline import statusline_command
from agentwrap.trace.recorder import Recorder
from tests.support.trace_seed import SESSION_CALLS, SeedCall, finish_call, seed_session, start_call

# What Claude Code sends (fields as documented for statusLine commands).
CLAUDE_INPUT = {
    "hook_event_name": "Status",
    "session_id": "5f0c0e3a-claude-session",
    "transcript_path": "/tmp/transcript.jsonl",
    "cwd": "/home/user/project",
    "model": {"id": "claude-opus-4-1-20250805", "display_name": "Opus"},
    "workspace": {"current_dir": "/home/user/project", "project_dir": "/home/user/project"},
    "version": "2.1.197",
    "output_style": {"name": "default"},
    "cost": {"total_cost_usd": 1.23, "total_duration_ms": 45000},
}


def run_statusline(
    stdin: str, session_id: str | None = None, color: bool = False, argv: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("AGENTWRAP_SESSION_ID", None)
    if session_id:
        env["AGENTWRAP_SESSION_ID"] = session_id
    if color:
        env.pop("NO_COLOR", None)
    else:
        env["NO_COLOR"] = "1"
    cmd = argv or [sys.executable, "-m", "agentwrap.statusline"]
    return subprocess.run(cmd, input=stdin, env=env, capture_output=True, text=True, timeout=30)


def test_statusline_shows_last_step_model_cost_and_saving() -> None:
    seed_session()
    out = run_statusline(json.dumps(CLAUDE_INPUT), "sess-0001")
    assert out.returncode == 0 and out.stderr == ""
    line = out.stdout.strip()
    priced = [c for c in SESSION_CALLS if c.cost is not None]
    cost = sum(c.cost for c in priced)
    saved = sum(c.baseline - c.cost for c in priced if c.baseline is not None)
    # The last answered step is call-05: requested opus, handled by the unpriced kimi model.
    assert line == (
        f"agentwrap: claude-opus-4-1 → kimi-k2-local (implement) · ${cost:.2f} +1 unpriced · "
        f"saved 61% (${saved:.2f})"
    )
    assert "\n" not in out.stdout.rstrip("\n")


def test_statusline_is_coloured_unless_no_color() -> None:
    seed_session()
    out = run_statusline(json.dumps(CLAUDE_INPUT), "sess-0001", color=True)
    assert "\x1b[36mkimi-k2-local\x1b[0m" in out.stdout


def test_statusline_follows_new_calls_and_labels_demo_sessions() -> None:
    store = seed_session("demo-7", SESSION_CALLS[:2], is_demo=True, ended=False)
    first = run_statusline("{}", "demo-7").stdout
    # Only a plan and a background call: the plan is the last agent step.
    assert first.strip() == "agentwrap (demo): claude-opus-4-1 (plan) · $0.41 · saved 1% ($0.0056)"
    rec = Recorder(store, "demo-7")
    call = SeedCall(
        "demo-7/x", "explore", "acme-big", "acme-small", 100, 10, cost=0.5, baseline=1.0
    )
    start_call(rec, call, 3)
    rec.flush()
    # In flight: the model handling the step shows at once, the cost when it is known.
    assert run_statusline("{}", "demo-7").stdout.startswith(
        "agentwrap (demo): big → small (explore) · $0.41"
    )
    finish_call(rec, call)
    rec.close()
    third = run_statusline("{}", "demo-7").stdout
    assert third.strip() == "agentwrap (demo): big → small (explore) · $0.91 · saved 36% ($0.51)"


def test_statusline_finds_the_session_by_claude_session_id_without_env(tmp_path: Path) -> None:
    store = seed_session()
    store.conn.execute("UPDATE calls SET thread_id = ?", (CLAUDE_INPUT["session_id"],))
    out = run_statusline(json.dumps(CLAUDE_INPUT))
    assert "kimi-k2-local" in out.stdout


@pytest.mark.parametrize(
    ("stdin", "session", "expected"),
    [
        ("{}", None, "agentwrap: no session"),
        ("not json at all", None, "agentwrap: no session"),
        ("{}", "nope", "agentwrap: no calls yet"),
    ],
)
def test_statusline_is_quiet_without_data(stdin: str, session: str | None, expected: str) -> None:
    if session:
        seed_session()
    out = run_statusline(stdin, session)
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.strip() == expected


def test_statusline_without_a_store_at_all() -> None:
    out = run_statusline(json.dumps(CLAUDE_INPUT), "sess-0001")
    assert out.stdout.strip() == "agentwrap: no calls yet" and out.returncode == 0


def test_statusline_never_fails_on_a_broken_store(agentwrap_home: Path) -> None:
    db = agentwrap_home / "data" / "trace.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database")
    out = run_statusline("{}", "sess-0001")
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.startswith("agentwrap: statusline unavailable")


def test_statusline_command_is_what_the_launcher_runs() -> None:
    seed_session()
    import shlex

    out = run_statusline("{}", "sess-0001", argv=shlex.split(statusline_command()))
    assert "kimi-k2-local" in out.stdout


def test_statusline_through_the_agentwrap_cli(agentwrap_bin: str) -> None:
    seed_session()
    out = run_statusline("{}", "sess-0001", argv=[agentwrap_bin, "statusline"])
    assert out.returncode == 0, out.stderr
    assert "kimi-k2-local" in out.stdout


def test_statusline_cold_start_prints_the_line() -> None:
    # How long a cold start takes is for bench/launch.py to measure, not for a test.
    seed_session()
    out = run_statusline(json.dumps(CLAUDE_INPUT), "sess-0001")
    assert "kimi" in out.stdout


def test_statusline_says_an_extra_cost_as_the_summary_does() -> None:
    dearer = SeedCall("up-1", "plan", "acme-small", "acme-big", 100, 10, cost=0.5, baseline=0.25)
    seed_session("up", [dearer])
    line = run_statusline("{}", "up").stdout.strip()
    assert line == "agentwrap: small → big (plan) · $0.50 · cost +100% ($0.25)"

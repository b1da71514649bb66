"""`agentwrap report quality` over a store written through the Recorder:
every figure is worked out here by hand from the seeded calls and checked in `--json` and in
the table."""

from __future__ import annotations

import io
import json
import math
import os
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from agentwrap import paths
from agentwrap.cli.quality import render_quality
from agentwrap.trace.recorder import OUTCOME, Recorder
from agentwrap.trace.store import TraceStore
from tests.support.cli import Ran, agentwrap
from tests.support.trace_seed import T0, SeedCall, finish_call, first_byte, start_call

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5"
OPUS = "claude-opus-4-1-20250805"
KIMI = "kimi-k2-local"
GPT = "gpt-5-codex"


@dataclass
class Seeded:
    call: SeedCall
    outcome: str | None


def step(
    cid: str,
    kind: str,
    used: str,
    cost: float | None,
    outcome: str | None,
    *,
    ttfb: float,
    total: float,
    offset: float,
    **extra: Any,
) -> Seeded:
    requested = extra.pop("requested", OPUS)
    return Seeded(
        SeedCall(
            cid,
            kind,
            requested,
            used,
            10_000,
            500,
            cost=cost,
            baseline=extra.pop("baseline", None),
            offset=offset,
            ttfb_ms=ttfb,
            total_ms=total,
            **extra,
        ),
        outcome,
    )


def claude_calls() -> list[Seeded]:
    # implement on sonnet: 12 labelled steps, 3 failed (the fourth, eighth and twelfth).
    out = [
        step(
            f"s{i:02d}",
            "implement",
            SONNET,
            0.01 * i,
            "failed" if i % 4 == 0 else "succeeded",
            ttfb=100.0 * i,
            total=1000.0 * i,
            offset=10.0 * i,
        )
        for i in range(1, 13)
    ]
    # and one that errored: a call, not a step; no cost, no outcome.
    out.append(
        step(
            "s13",
            "implement",
            SONNET,
            None,
            None,
            ttfb=None,  # type: ignore[arg-type]
            total=300.0,
            offset=130.0,
            status="error",
            http_status=500,
            error="upstream 500",
        )
    )
    # explore on haiku: 3 succeeded, 1 interrupted by the user (a correction, not a label).
    for i, outcome in enumerate(["succeeded", "succeeded", "interrupted", "succeeded"]):
        out.append(
            step(
                f"h{i}",
                "explore",
                HAIKU,
                0.002,
                outcome,
                ttfb=200.0 + 100 * i,
                total=900.0 + 100 * i,
                offset=140.0 + i,
            )
        )
    # implement on an unpriced model: one success, one failure.
    for i, outcome in enumerate(["succeeded", "failed"]):
        out.append(
            step(
                f"k{i}",
                "implement",
                KIMI,
                None,
                outcome,
                ttfb=500.0,
                total=5000.0,
                offset=150.0 + i,
                unpriced_reason="no price for model 'kimi-k2-local'",
            )
        )
    # plan on opus: answered, never labelled (no tool results followed).
    out.append(step("o1", "plan", OPUS, 0.4, None, ttfb=900.0, total=9000.0, offset=1.0))
    return out


def codex_calls() -> list[Seeded]:
    return [
        step(
            f"x{i}",
            "implement",
            GPT,
            0.05,
            outcome,
            ttfb=300.0,
            total=3000.0,
            offset=86_400.0 + i,
            requested="gpt-5",
        )
        for i, outcome in enumerate(["failed", "succeeded"])
    ]


SESSIONS = [
    # (id, agent, start offset, end offset, calls, demo)
    ("q-claude", "claude", 0.0, 600.0, claude_calls, False),
    ("q-codex", "codex", 86_400.0, 86_400.0 + 90.0, codex_calls, False),
    ("q-demo", "claude", 0.0, 60.0, codex_calls, True),
]


def seed(sessions: list[Any] = SESSIONS) -> None:
    store = TraceStore(paths.trace_db())
    for sid, agent, start, end, calls, demo in sessions:
        store.insert_session(
            id=sid,
            agent=agent,
            argv=[agent],
            cwd="/home/user/project",
            started_at=T0 + start,
            mode="route",
            is_demo=int(demo),
        )
        rec = Recorder(store, sid)
        for seq, seeded in enumerate(calls(), start=1):
            c = seeded.call
            c.id = f"{sid}/{c.id}"
            start_call(rec, c, seq)
            if c.ttfb_ms is not None:
                first_byte(rec, c)
            finish_call(rec, c)
            if seeded.outcome is not None:
                rec.call_event(OUTCOME, c.id, outcome=seeded.outcome)
        rec.close()
        store.update_session(sid, ended_at=T0 + end, exit_code=0)
    store.close()


def run(*args: str, columns: int = 80) -> Ran:
    return agentwrap(
        "report", "quality", *args, COLUMNS=str(columns), NO_COLOR="1", FORCE_COLOR=None
    )


def row(data: dict[str, Any], agent: str, model: str, kind: str) -> dict[str, Any]:
    found = [r for r in data["rows"] if (r["agent"], r["model"], r["step"]) == (agent, model, kind)]
    assert len(found) == 1, (agent, model, kind, data["rows"])
    return found[0]


Z = 1.959963984540054


def usd(value: float) -> str:
    # The report's money format, spelled out here: cents from a cent up, four places below.
    return f"${value:.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def wilson_by_hand(failed: int, n: int) -> tuple[float, float]:
    p = failed / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


def test_wilson_interval_written_out() -> None:
    # 3 failures in 12: p = 0.25, z² = 3.841459, z²/n = 0.3201216;
    # centre = (0.25 + 0.1600608) / 1.3201216 = 0.3106235;
    # half = 1.959964 × √(0.25 × 0.75 / 12 + 3.841459 / 576) / 1.3201216
    #      = 1.959964 × √(0.015625 + 0.0066692) / 1.3201216 = 0.2216818.
    low, high = wilson_by_hand(3, 12)
    assert low == pytest.approx(0.3106235 - 0.2216818, abs=1e-6)
    assert high == pytest.approx(0.3106235 + 0.2216818, abs=1e-6)


def test_quality_json_matches_figures_made_by_hand() -> None:
    seed()
    out = run("--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["interval"] == "Wilson score interval, 95 %"
    assert data["demo_sessions_left_out"] == 1
    # This store records every signal (an older one is tested below).
    assert data["not_recorded"] == []

    sonnet = row(data, "claude", SONNET, "implement")
    assert (sonnet["calls"], sonnet["steps"], sonnet["labelled"]) == (13, 12, 12)
    assert (sonnet["succeeded"], sonnet["failed"]) == (9, 3)
    assert sonnet["failure_rate"] == pytest.approx(3 / 12)
    low, high = wilson_by_hand(3, 12)
    assert sonnet["failure_low"] == pytest.approx(low, abs=1e-6)
    assert sonnet["failure_high"] == pytest.approx(high, abs=1e-6)
    assert sonnet["too_few"] is False
    # Medians of 100..1200 ms and 1000..12000 ms (the errored call is not a step): the mean
    # of the sixth and seventh.
    assert sonnet["ttfb_ms_p50"] == pytest.approx((600 + 700) / 2)
    assert sonnet["total_ms_p50"] == pytest.approx((6000 + 7000) / 2)
    # Costs 0.01 × (1 + 2 + … + 12) = 0.78 over nine successes.
    assert sonnet["cost_usd"] == pytest.approx(0.78)
    assert sonnet["cost_per_success_usd"] == pytest.approx(0.78 / 9, abs=1e-6)
    assert sonnet["corrections"] == {
        "interrupts": 0,
        "rejected": 0,
        "corrective": 0,
        "total": 0,
    }

    haiku = row(data, "claude", HAIKU, "explore")
    assert (haiku["steps"], haiku["labelled"], haiku["failed"]) == (4, 3, 0)
    assert haiku["failure_rate"] == 0.0
    assert haiku["failure_low"] == pytest.approx(0.0, abs=1e-9)
    assert haiku["failure_high"] == pytest.approx(wilson_by_hand(0, 3)[1], abs=1e-6)
    assert haiku["too_few"] is True
    assert haiku["corrections"]["interrupts"] == 1
    assert haiku["ttfb_ms_p50"] == pytest.approx((300 + 400) / 2)
    # 4 × $0.002 over three successes.
    assert haiku["cost_per_success_usd"] == pytest.approx(0.008 / 3, abs=1e-6)

    kimi = row(data, "claude", KIMI, "implement")
    assert kimi["cost_usd"] is None and kimi["unpriced_calls"] == 2
    assert kimi["cost_per_success_usd"] is None
    assert kimi["failure_rate"] == pytest.approx(0.5)

    opus = row(data, "claude", OPUS, "plan")
    assert opus["labelled"] == 0 and opus["failure_rate"] is None
    assert opus["cost_per_success_usd"] is None

    gpt = row(data, "codex", GPT, "implement")
    assert (gpt["labelled"], gpt["failed"]) == (2, 1)

    totals = data["totals"]
    # Steps: 12 + 4 + 2 + 1 + 2; labelled: 12 + 3 + 2 + 2; failed: 3 + 0 + 1 + 1.
    assert (totals["steps"], totals["labelled"], totals["failed"]) == (21, 19, 5)
    assert totals["failure_rate"] == pytest.approx(5 / 19)

    by_id = {s["session_id"]: s for s in data["sessions"]}
    assert set(by_id) == {"q-claude", "q-codex"}
    claude = by_id["q-claude"]
    assert claude["elapsed_s"] == pytest.approx(600.0)
    assert (claude["steps"], claude["failed"]) == (19, 4)
    assert claude["corrections"]["interrupts"] == 1
    # No commits stored for it: none of each, which is not the same as not recorded.
    assert claude["commits"] == {"kept": 0, "reverted": 0, "rewritten": 0, "unknown": 0}
    # 0.78 + 4 × 0.002 + 0.4, the kimi calls unpriced.
    assert claude["cost_usd"] == pytest.approx(1.188)
    assert claude["unpriced_calls"] == 2
    assert by_id["q-codex"]["elapsed_s"] == pytest.approx(90.0)


def test_quality_filters() -> None:
    seed()
    codex = json.loads(run("--agent", "codex", "--json").stdout)
    assert [(r["agent"], r["model"]) for r in codex["rows"]] == [("codex", GPT)]
    first_day = json.loads(run("--until", "2025-11-25", "--json").stdout)
    assert {r["agent"] for r in first_day["rows"]} == {"claude"}
    demo = json.loads(run("--demo", "--json").stdout)
    assert row(demo, "claude", GPT, "implement")["labelled"] == 2
    none = run("--agent", "nobody")
    assert none.returncode == 0 and "No calls match these filters (agent nobody)" in none.stdout


def test_a_store_of_demo_sessions_only_says_they_were_left_out() -> None:
    seed([s for s in SESSIONS if s[-1]])
    out = run()
    assert out.returncode == 0, out.stderr
    # As `report` says it.
    assert out.stdout.splitlines() == [
        "No calls recorded yet. Start a session with: agentwrap claude (or try: agentwrap demo)",
        "1 demo session left out; add --demo to include",
    ]
    assert "agentwrap report · quality · demo sessions included" in run("--demo").stdout


def test_quality_table_at_80_columns() -> None:
    seed()
    out = run()
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), out.stdout
    low, high = wilson_by_hand(3, 12)
    # At 80 columns the model names are cut; the numbers never are.
    sonnet = next(line for line in lines if line.startswith("implement claude-so"))
    cells = sonnet.split()
    # steps, failed of labelled, rate (interval), fixes, first byte, total, $/success
    assert cells[2:4] == ["12", "3/12"]
    assert f"25% ({100 * low:.1f}–{100 * high:.1f})" in sonnet
    assert cells[-4:] == ["0", "650ms", "6.5s", usd(0.78 / 9)]
    haiku = next(line for line in lines if line.startswith("explore"))
    # Too few labelled steps: marked.
    assert "0% (0.0–" in haiku and haiku.rstrip().endswith(usd(0.008 / 3))
    assert "?" in haiku
    kimi = next(line for line in lines if line.startswith("implement kimi"))
    assert kimi.rstrip().endswith("unpriced") and "$0.00" not in kimi
    total = next(line for line in lines if line.startswith("total"))
    assert "5/19" in total
    session = next(line for line in lines if line.startswith("q-claude"))
    assert session.split()[1:6] == ["claude", "10m00s", "19", "4", "1"]
    assert "$1.19 +2 unpriced" in session and session.rstrip().endswith("0/0/0")
    assert "not recorded in this store" not in out.stdout
    assert "1 demo session left out" in out.stdout


def test_corrections_read_from_the_signals_column_when_the_store_has_it() -> None:
    from agentwrap.trace.quality import build_quality, quality_json

    seed()
    store = TraceStore(paths.trace_db())
    try:
        # The signals the proxy's ledger writes with a step's outcome.
        for call_id, signals in (
            ("q-claude/s04", ["rejected", "repeated_call"]),
            ("q-claude/s08", ["corrective"]),
            ("q-claude/s09", ["corrective", "rejected"]),
            ("q-claude/h2", ["interrupt"]),  # also labelled interrupted: counted once
        ):
            store.conn.execute(
                "UPDATE calls SET signals = ? WHERE id = ?", (json.dumps(signals), call_id)
            )
        data = quality_json(build_quality(store))
    finally:
        store.close()
    assert "rejected tool calls" not in data["not_recorded"]
    sonnet = row(data, "claude", SONNET, "implement")
    # s04 and s09 rejected a tool call; s08 and s09 were corrected; no interrupt.
    assert sonnet["corrections"] == {"interrupts": 0, "rejected": 2, "corrective": 2, "total": 4}
    haiku = row(data, "claude", HAIKU, "explore")
    assert haiku["corrections"] == {"interrupts": 1, "rejected": 0, "corrective": 0, "total": 1}
    claude = next(s for s in data["sessions"] if s["session_id"] == "q-claude")
    assert claude["corrections"]["total"] == 5


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "A",
        "GIT_AUTHOR_EMAIL": "a@example.com",
        "GIT_COMMITTER_NAME": "A",
        "GIT_COMMITTER_EMAIL": "a@example.com",
        "HOME": str(repo),
        "PATH": os.environ["PATH"],
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_session_commits_counted_by_what_git_says_became_of_them(tmp_path: Path) -> None:
    seed()
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shas = []
    for name in ("a", "b", "c"):
        (repo / name).write_text(name)
        git(repo, "add", name)
        git(repo, "commit", "-q", "-m", f"add {name}")
        shas.append(git(repo, "rev-parse", "HEAD"))
    # c is reset away (no longer reachable from HEAD: rewritten), then b is reverted.
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    git(repo, "revert", "--no-edit", shas[1])
    store = TraceStore(paths.trace_db())
    try:
        store.update_session("q-claude", repo_root=str(repo))
        store.add_session_commits(
            "q-claude",
            [
                {"sha": sha, "subject": "", "author": "A", "committed_at": T0, "matched_by": "x"}
                for sha in shas
            ],
        )
    finally:
        store.close()
    data = json.loads(run("--json").stdout)
    by_id = {s["session_id"]: s for s in data["sessions"]}
    # The command asked git (agentwrap.repo) before counting.
    assert by_id["q-claude"]["commits"] == {"kept": 1, "reverted": 1, "rewritten": 1, "unknown": 0}
    assert by_id["q-codex"]["commits"] == dict.fromkeys(
        ("kept", "reverted", "rewritten", "unknown"), 0
    )
    table = run().stdout
    session = next(line for line in table.splitlines() if line.startswith("q-claude"))
    assert session.rstrip().endswith("1/1/1")


def test_an_older_store_says_what_it_does_not_record(tmp_path: Path) -> None:
    from agentwrap.trace.quality import build_quality, quality_json
    from agentwrap.trace.store import MIGRATIONS

    seed()
    # A copy of the store as a version before struggle signals and session commits wrote it.
    older = sqlite3.connect(str(tmp_path / "older.db"))
    older.row_factory = sqlite3.Row
    for _, sql in MIGRATIONS:
        if "signals" in sql or "session_commits" in sql:
            break
        for statement in sql.split(";"):
            if statement.strip():
                older.execute(statement)
    older.execute("ATTACH DATABASE ? AS now", (str(paths.trace_db()),))
    for table in ("sessions", "calls"):
        columns = ", ".join(r[1] for r in older.execute(f"PRAGMA main.table_info({table})"))
        older.execute(f"INSERT INTO main.{table}({columns}) SELECT {columns} FROM now.{table}")
    older.commit()
    older.execute("DETACH DATABASE now")
    report = build_quality(older)
    older.close()
    data = quality_json(report)
    assert data["not_recorded"] == [
        "rejected tool calls",
        "corrective messages",
        "session commits",
    ]
    haiku = row(data, "claude", HAIKU, "explore")
    # Interrupts are read from the outcome label; the rest is unknown, never 0.
    assert haiku["corrections"] == {
        "interrupts": 1,
        "rejected": None,
        "corrective": None,
        "total": 1,
    }
    claude = next(s for s in data["sessions"] if s["session_id"] == "q-claude")
    assert claude["commits"] is None
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    for part in render_quality(report, 80):
        console.print(part)
    output = console.export_text()
    text = " ".join(output.split())
    assert "fixes: human corrections (user interrupts)" in text
    assert (
        "not recorded in this store: rejected tool calls, corrective messages, session commits"
        in text
    )
    session = next(line for line in output.splitlines() if line.startswith("q-cl"))
    assert session.rstrip().endswith("—")

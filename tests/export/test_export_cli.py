"""`agentwrap export` run as a real command over stores written through the Recorder: files
whose columns add up to `agentwrap report --json`, and a backfill to a local collector.

Files and reports are made in this process (tests/support/cli.py); a backfill runs as its own
process, as it starts the exporter's threads and ends with their exit status."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentwrap.export import spans
from tests.support.cli import Ran, agentwrap
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.trace_seed import SESSION_CALLS, seed_session
from tests.trace.test_report import TZ, seed


@pytest.fixture(autouse=True)
def local_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", TZ)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def run(agentwrap_bin: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "TZ": TZ, **env}
    for var in [k for k in full if k.startswith("OTEL_")]:
        if var not in env:
            del full[var]
    return subprocess.run(
        [agentwrap_bin, *args], env=full, capture_output=True, text=True, timeout=60
    )


def run_here(*args: str) -> Ran:
    """`agentwrap ARGS` in this process, with no OTEL_* setting of the test's environment."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("OTEL_")}
    return agentwrap(*args, TZ=TZ, **unset)


def report_totals(*filters: str) -> dict[str, Any]:
    out = run_here("report", "session", "--json", *filters)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["totals"]


def number(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def file_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's totals summed by hand from the file's columns, as a spreadsheet would."""
    costs = [number(r["cost_usd"]) for r in rows]
    baselines = [number(r["baseline_cost_usd"]) for r in rows]
    saved = [number(r["saved_usd"]) for r in rows]
    return {
        "calls": len(rows),
        "input_tokens": sum(int(r["input_tokens"]) for r in rows),
        "output_tokens": sum(int(r["output_tokens"]) for r in rows),
        "cache_write_tokens": sum(int(r["cache_write_tokens"]) for r in rows),
        "cache_read_tokens": sum(int(r["cache_read_tokens"]) for r in rows),
        "cost_usd": round(sum(c for c in costs if c is not None), 6),
        "priced_calls": sum(c is not None for c in costs),
        "baseline_usd": round(sum(b for b in baselines if b is not None), 6),
        "saved_usd": round(sum(s for s in saved if s is not None), 6),
        "fallbacks": sum(int(r["fallback_attempts"]) > 1 for r in rows),
    }


def expected(totals: dict[str, Any]) -> dict[str, Any]:
    keys = [
        "calls",
        "input_tokens",
        "output_tokens",
        "cache_write_tokens",
        "cache_read_tokens",
        "cost_usd",
        "priced_calls",
        "baseline_usd",
        "saved_usd",
        "fallbacks",
    ]
    return {k: totals[k] for k in keys}


def read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    "filters",
    [(), ("--since", "2025-11-26", "--agent", "claude"), ("--project", "/proj/alpha", "--demo")],
)
def test_file_totals_equal_the_reports(tmp_path, filters):
    seed().close()
    totals = report_totals(*filters)
    for fmt, reader in (("csv", read_csv), ("jsonl", read_jsonl)):
        path = tmp_path / f"calls.{fmt}"
        out = run_here("export", "--format", fmt, "--output", str(path), *filters)
        assert out.returncode == 0, out.stderr
        rows = reader(path)
        assert rows, "the filter selects some calls"
        assert file_totals(rows) == expected(totals), fmt
        assert f"{len(rows)} call" in out.stderr


def test_one_session_to_standard_output_with_its_agent_and_outcome_columns():
    seed_session().close()
    seed_session("sess-0002").close()
    out = run_here("export", "--format", "jsonl", "--session", "sess-0001")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["call_id"] for r in rows] == [c.id for c in SESSION_CALLS]
    assert {r["session_id"] for r in rows} == {"sess-0001"}
    assert rows[0]["agent"] == "claude" and rows[0]["project"] == "/home/user/project"
    assert rows[3]["fallback_attempts"] == 2 and rows[3]["attempts"][0]["outcome"] == "http 529"
    assert rows[4]["cost_usd"] is None and rows[4]["unpriced_reason"]
    csv_out = run_here("export", "--format", "csv", "--session", "sess-0001")
    header = csv_out.stdout.splitlines()[0].split(",")
    assert header[:4] == ["session_id", "agent", "project", "call_id"]
    assert len(csv_out.stdout.splitlines()) == 1 + len(SESSION_CALLS)


def test_a_backfill_sends_the_same_spans_the_live_export_would(agentwrap_bin):
    seed_session().close()
    seed_session("sess-0002").close()
    with OtlpReceiver() as collector:
        out = run(
            agentwrap_bin,
            "export",
            "--format",
            "otlp",
            "--session",
            "sess-0001",
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.base_url,
        )
        received = collector.spans()
    assert out.returncode == 0, out.stderr
    # The session, six calls, and the two attempts of the one that fell back.
    assert len(received) == 1 + len(SESSION_CALLS) + 2
    assert "9 spans from 1 session(s) sent to" in out.stderr
    ids = {s.span_id for s in received}
    assert f"{spans.session_span_id('sess-0001'):016x}" in ids
    assert all(f"{spans.call_span_id(c.id):016x}" in ids for c in SESSION_CALLS)
    assert {s.trace_id for s in received} == {f"{spans.trace_id('sess-0001'):032x}"}
    root = next(s for s in received if not s.parent_span_id)
    assert root.attributes["agentwrap.session.calls"] == len(SESSION_CALLS)


def test_a_backfill_with_no_collector_says_how_to_set_one(agentwrap_bin):
    seed_session().close()
    out = run(agentwrap_bin, "export", "--format", "otlp")
    assert out.returncode == 2
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in out.stderr and "--endpoint" in out.stderr


def test_a_backfill_to_a_collector_that_is_down_fails_loudly(agentwrap_bin):
    seed_session().close()
    out = run(
        agentwrap_bin,
        "export",
        "--format",
        "otlp",
        "--endpoint",
        "http://127.0.0.1:9",
        OTEL_EXPORTER_OTLP_TIMEOUT="1000",
    )
    assert out.returncode == 1
    assert "0 spans" in out.stderr and "9 not accepted" in out.stderr

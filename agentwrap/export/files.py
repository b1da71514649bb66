"""Past calls for `agentwrap export`: selected like `agentwrap report`, written as CSV or JSON Lines.

One row per call, flat, with its session's agent and project beside it, so a spreadsheet
or a notebook (`pandas.read_json(path, lines=True)`) reads it without joins. Money follows
the report's rules, so the columns add up to `agentwrap report --json`'s totals:
`cost_usd` is empty when the call is unpriced (never 0), `baseline_cost_usd` is the baseline
the report counts (a call on its baseline model cost exactly the baseline), and `saved_usd`
is set only where both are known.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from agentwrap.trace import tally as q
from agentwrap.trace.report import ReportFilter, select_calls
from agentwrap.trace.store import TraceStore, row_to_dict

COLUMNS = (
    "session_id",
    "agent",
    "project",
    "call_id",
    "seq",
    "started_at",
    "started_at_unix",
    "surface",
    "endpoint",
    "step",
    "evidence",
    "rule",
    "reason",
    "requested_model",
    "model",
    "provider",
    "status",
    "http_status",
    "error",
    "outcome",
    "stop_reason",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "cost_usd",
    "unpriced_reason",
    "baseline_model",
    "baseline_cost_usd",
    "saved_usd",
    "would_model",
    "would_cost_usd",
    "fallback_attempts",
    "attempts",
    "ttfb_ms",
    "total_ms",
    "thread_id",
    "subagent_id",
)


def select_export(
    store: TraceStore, filt: ReportFilter, session_id: str | None = None
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Full call rows (oldest first) and their sessions, chosen by the report's filters and,
    when given, one session."""
    chosen, sessions, _ = select_calls(store, filt)
    ids = [c["id"] for c in chosen if session_id is None or c["session_id"] == session_id]
    calls: list[dict[str, Any]] = []
    # Stay well under SQLite's bound-parameter limit.
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" for _ in chunk)
        rows = store.conn.execute(f"SELECT * FROM calls WHERE id IN ({marks})", chunk)
        calls.extend(row_to_dict(r) for r in rows)
    calls.sort(key=lambda c: (c["started_at"], c["seq"]))
    used = {c["session_id"] for c in calls}
    return calls, {k: v for k, v in sessions.items() if k in used}


def file_rows(
    calls: Iterable[dict[str, Any]], sessions: dict[str, dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """One flat record per call, columns in `COLUMNS` order."""
    for call in calls:
        session = sessions.get(call["session_id"]) or {}
        cost = call.get("cost_usd")
        baseline = q.effective_baseline(call)
        attempts = q.attempts_of(call)
        started = float(call["started_at"])
        yield {
            "session_id": call["session_id"],
            "agent": session.get("agent"),
            "project": session.get("repo_root") or session.get("cwd"),
            "call_id": call["id"],
            "seq": call.get("seq"),
            "started_at": dt.datetime.fromtimestamp(started).astimezone().isoformat(),
            "started_at_unix": started,
            "surface": call.get("surface"),
            "endpoint": call.get("endpoint"),
            "step": call.get("step"),
            "evidence": call.get("evidence"),
            "rule": call.get("rule"),
            "reason": call.get("reason"),
            "requested_model": call.get("requested_model"),
            "model": call.get("model"),
            "provider": call.get("provider"),
            "status": call.get("status"),
            "http_status": call.get("http_status"),
            "error": call.get("error"),
            "outcome": call.get("outcome"),
            "stop_reason": call.get("stop_reason"),
            "input_tokens": int(call.get("input_tokens") or 0),
            "output_tokens": int(call.get("output_tokens") or 0),
            "cache_write_tokens": int(call.get("cache_creation_tokens") or 0),
            "cache_read_tokens": int(call.get("cache_read_tokens") or 0),
            "cost_usd": cost,
            "unpriced_reason": call.get("unpriced_reason"),
            "baseline_model": call.get("baseline_model"),
            "baseline_cost_usd": baseline,
            "saved_usd": (baseline - float(cost))
            if cost is not None and baseline is not None
            else None,
            "would_model": call.get("would_model"),
            "would_cost_usd": call.get("would_cost_usd"),
            "fallback_attempts": len(attempts),
            "attempts": attempts,
            "ttfb_ms": call.get("ttfb_ms"),
            "total_ms": call.get("total_ms"),
            "thread_id": call.get("thread_id"),
            "subagent_id": call.get("agent_id"),
        }


def write_jsonl(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    """One JSON object per line; returns how many were written."""
    n = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n


def write_csv(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    """A header, then one line per call (unknown values empty, attempts as JSON)."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    n = 0
    for row in rows:
        cells = {k: ("" if v is None else v) for k, v in row.items()}
        cells["attempts"] = json.dumps(row["attempts"], ensure_ascii=False)
        writer.writerow(cells)
        n += 1
    return n

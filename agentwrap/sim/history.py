"""A synthetic history: many sessions of routed calls written through the real recorder.

The benchmark and the tests that check commands on a large store use it, so a store of a
thousand sessions looks like one agentwrap wrote: the same recorder, the same events, the
same columns. The numbers are deterministic for a seed; nothing here calls a provider. For
millions of calls `write_history_rows` inserts the same rows directly.

    python -m agentwrap.sim.history --sessions 1000 --calls-per-session 100   # into AGENTWRAP_HOME
    python -m agentwrap.sim.history --sessions 10000 --calls-per-session 100 --bulk
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from agentwrap import paths
from agentwrap.trace.recorder import FINISHED, FIRST_BYTE, ROUTED, Recorder
from agentwrap.trace.store import TraceStore, json_text

T0 = 1_764_064_800.0  # 2025-11-25 10:00:00 UTC
DAY = 86_400.0

# Step kind, requested model, model used, share of the calls (weights).
_MIX: list[tuple[str, str, str, int]] = [
    ("implement", "claude-opus-4-1-20250805", "claude-sonnet-4-5-20250929", 60),
    ("explore", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001", 20),
    ("background", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001", 10),
    ("plan", "claude-opus-4-1-20250805", "claude-opus-4-1-20250805", 7),
    ("compact", "claude-opus-4-1-20250805", "claude-sonnet-4-5-20250929", 3),
]
# USD per million input / output tokens, for the recorded cost.
_PRICES = {
    "claude-opus-4-1-20250805": (15.0, 75.0),
    "claude-sonnet-4-5-20250929": (3.0, 15.0),
    "claude-haiku-4-5-20251001": (1.0, 5.0),
}


@dataclass(frozen=True)
class HistoryShape:
    sessions: int = 1000
    calls_per_session: int = 100
    seed: int = 7
    days: float = 60.0  # sessions are spread over this many days before T0 + days


def _cost(model: str, tokens_in: int, tokens_out: int) -> float:
    p_in, p_out = _PRICES[model]
    return (tokens_in * p_in + tokens_out * p_out) / 1e6


@dataclass
class _Call:
    """One synthetic call: what the proxy reports when it starts, when the provider routes it,
    at its first byte and when it finishes."""

    started: dict[str, Any]
    routed: dict[str, Any]
    first_byte: dict[str, Any]
    finished: dict[str, Any]


@dataclass
class _Session:
    fields: dict[str, Any]
    calls: list[_Call]
    ended_at: float


def _sessions(shape: HistoryShape) -> Iterator[_Session]:
    """The history, one session at a time (deterministic for the shape's seed)."""
    rng = random.Random(shape.seed)
    kinds = list(_MIX)
    weights = [m[3] for m in _MIX]
    for s in range(shape.sessions):
        session_id = f"hist-{s:05d}"
        started = T0 + shape.days * DAY * s / max(1, shape.sessions)
        fields = {
            "id": session_id,
            "agent": "claude",
            "argv": ["claude"],
            "cwd": f"/home/user/project-{s % 7}",
            "started_at": started,
            "profile": "balanced",
            "mode": "route",
            "is_demo": 0,
            "pid": None,
        }
        calls: list[_Call] = []
        t = started
        for c in range(shape.calls_per_session):
            step, requested, used, _ = rng.choices(kinds, weights)[0]
            tokens_in = rng.randint(2_000, 90_000)
            tokens_out = rng.randint(20, 2_500)
            ttfb = rng.uniform(150, 1500)
            total = ttfb + rng.uniform(100, 9000)
            calls.append(
                _Call(
                    started={
                        "id": f"{session_id}/c{c:04d}",
                        "seq": c + 1,
                        "started_at": t,
                        "surface": "anthropic",
                        "endpoint": "/v1/messages",
                        "requested_model": requested,
                        "streamed": True,
                        "step": step,
                        "evidence": "synthetic history",
                        "rule": step,
                        "reason": f"routing.{step}",
                        "baseline_model": requested,
                    },
                    routed={"model": used, "provider": "anthropic"},
                    first_byte={"ttfb_ms": ttfb},
                    finished={
                        "status": "ok",
                        "http_status": 200,
                        "model": used,
                        "input_tokens": tokens_in,
                        "output_tokens": tokens_out,
                        "cost_usd": _cost(used, tokens_in, tokens_out),
                        "baseline_model": requested,
                        "baseline_cost_usd": _cost(requested, tokens_in, tokens_out),
                        "ttfb_ms": ttfb,
                        "total_ms": total,
                        "attempts": [
                            {"model": used, "provider": "anthropic", "outcome": "ok", "ms": total}
                        ],
                    },
                )
            )
            t += total / 1000 + rng.uniform(1, 20)
        yield _Session(fields, calls, t)


def write_history(store: TraceStore, shape: HistoryShape) -> int:
    """Write `shape.sessions` ended sessions into `store` through the recorder; returns the
    number of calls."""
    written = 0
    for session in _sessions(shape):
        session_id = session.fields["id"]
        store.insert_session(**session.fields)
        rec = Recorder(store, session_id)
        for c, call in enumerate(session.calls):
            call_id = call.started["id"]
            rec.call_started(call_id, **{k: v for k, v in call.started.items() if k != "id"})
            rec.call_event(ROUTED, call_id, **call.routed)
            rec.call_event(FIRST_BYTE, call_id, **call.first_byte)
            rec.call_event(FINISHED, call_id, **call.finished)
            written += 1
            if c % 5000 == 4999:
                # A long session: let the writer catch up, so close() never has a backlog
                # longer than its wait.
                rec.flush(timeout=600)
        rec.session_event("session_ended", exit_code=0)
        rec.close()
        store.update_session(session_id, ended_at=session.ended_at, exit_code=0)
    return written


def write_history_rows(store: TraceStore, shape: HistoryShape) -> int:
    """The same sessions and call rows as `write_history`, inserted directly and in bulk (a
    million calls in a minute, not half an hour); no live events, and each call's
    `updated_at` is its end. Returns the number of calls.

    tests/sim/test_history.py holds the rows to the recorder's.
    """
    written = 0
    session_columns: list[str] = []
    call_columns: list[str] = []
    with store.transaction() as conn:
        for session in _sessions(shape):
            fields = {**session.fields, "ended_at": session.ended_at, "exit_code": 0}
            fields["argv"] = json_text(fields["argv"])
            session_columns = session_columns or list(fields)
            conn.execute(_insert("sessions", session_columns), [fields[k] for k in session_columns])
            rows = []
            for call in session.calls:
                row = {
                    "session_id": fields["id"],
                    **call.started,
                    **call.routed,
                    **call.first_byte,
                    **call.finished,
                }
                row["streamed"] = int(row["streamed"])
                row["attempts"] = json_text(row["attempts"])
                row["updated_at"] = row["started_at"] + row["total_ms"] / 1000
                call_columns = call_columns or list(row)
                rows.append([row[k] for k in call_columns])
            if rows:
                conn.executemany(_insert("calls", call_columns), rows)
            written += len(rows)
    return written


def _insert(table: str, columns: list[str]) -> str:
    return f"INSERT INTO {table}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=HistoryShape.sessions)
    ap.add_argument("--calls-per-session", type=int, default=HistoryShape.calls_per_session)
    ap.add_argument("--seed", type=int, default=HistoryShape.seed)
    ap.add_argument(
        "--bulk",
        action="store_true",
        help="insert the rows directly (no live events): for millions of calls",
    )
    args = ap.parse_args()
    store = TraceStore(paths.trace_db())
    write = write_history_rows if args.bulk else write_history
    try:
        write(store, HistoryShape(args.sessions, args.calls_per_session, args.seed))
    finally:
        store.close()


if __name__ == "__main__":
    main()

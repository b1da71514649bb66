"""The synthetic history is written by the real recorder and reads back like any session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentwrap import paths
from agentwrap.sim.history import HistoryShape, write_history, write_history_rows
from agentwrap.trace.store import TraceStore


def test_history_writes_ended_sessions_with_every_call_finished():
    store = TraceStore(paths.trace_db())
    try:
        written = write_history(store, HistoryShape(sessions=4, calls_per_session=6, seed=3))
        assert written == 24
        sessions = store.sessions(limit=10)
        assert len(sessions) == 4
        assert all(s["ended_at"] is not None and s["exit_code"] == 0 for s in sessions)
        calls = store.calls(sessions[0]["id"])
        assert len(calls) == 6
        assert {c["status"] for c in calls} == {"ok"}
        # Routed calls cost less than their baseline; the frontier-only ones the same.
        for c in calls:
            assert c["cost_usd"] <= c["baseline_cost_usd"]
            assert (c["cost_usd"] < c["baseline_cost_usd"]) == (c["model"] != c["requested_model"])
    finally:
        store.close()


def test_history_is_deterministic_for_a_seed(tmp_path):
    def tokens(seed: int) -> list[int]:
        store = TraceStore(tmp_path / f"trace-{seed}-{len(list(tmp_path.iterdir()))}.db")
        try:
            write_history(store, HistoryShape(sessions=2, calls_per_session=5, seed=seed))
            return [c["input_tokens"] for s in store.sessions() for c in store.calls(s["id"])]
        finally:
            store.close()

    assert tokens(11) == tokens(11)
    assert tokens(11) != tokens(12)


def test_the_bulk_rows_are_the_recorders_rows(tmp_path):
    def rows(write: Callable[[TraceStore, HistoryShape], int], name: str) -> tuple[Any, Any]:
        store = TraceStore(tmp_path / f"{name}.db")
        try:
            assert write(store, HistoryShape(sessions=3, calls_per_session=7, seed=5)) == 21
            calls = [dict(r) for r in store.conn.execute("SELECT * FROM calls ORDER BY id")]
            sessions = [dict(r) for r in store.conn.execute("SELECT * FROM sessions ORDER BY id")]
        finally:
            store.close()
        for call in calls:
            call.pop("updated_at")  # the recorder stamps the time it wrote
        return calls, sessions

    recorded, bulk = rows(write_history, "recorded"), rows(write_history_rows, "bulk")
    assert len(recorded[0]) == 21
    assert bulk == recorded

"""The call record and the calls table: one list of columns, and reports of what changed."""

from __future__ import annotations

from agentwrap.trace.record import BLANK_ROW, CALL_COLUMNS, Attempt, CallRecord
from agentwrap.trace.store import TraceStore


def test_the_record_has_one_field_per_column_of_the_calls_table_in_order(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    columns = [r[1] for r in store.conn.execute("PRAGMA table_info(calls)")]
    assert tuple(columns) == CALL_COLUMNS


def test_a_record_written_whole_reads_back_as_the_same_row(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    store.insert_session(id="s", agent="test", started_at=1.0)
    rec = CallRecord(
        id="c",
        session_id="s",
        seq=1,
        started_at=1.0,
        surface="anthropic",
        endpoint="messages",
        updated_at=1.0,
    )
    rec.attempts = [Attempt("m", "p", "http 200", 12.34)]
    rec.streamed, rec.cost_usd = True, 0.5
    store.insert_call(**rec.row())
    row = store.call("c")
    assert row is not None
    assert row["attempts"] == [{"model": "m", "provider": "p", "outcome": "http 200", "ms": 12.3}]
    assert row["streamed"] == 1 and row["cost_usd"] == 0.5 and row["status"] == "streaming"
    assert row["features"] == {}


def test_a_blank_record_matches_the_schema_defaults(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    store.insert_session(id="s", agent="test", started_at=1.0)
    store.insert_call(
        id="c",
        session_id="s",
        seq=1,
        started_at=1.0,
        surface="a",
        endpoint="m",
        status=BLANK_ROW["status"],
    )
    stored = store.call("c")
    assert stored is not None
    for name, value in BLANK_ROW.items():
        if name not in ("status", "updated_at"):
            assert stored[name] == (int(value) if isinstance(value, bool) else value), name


def test_changes_are_the_columns_that_differ_from_the_last_snapshot():
    rec = CallRecord(
        id="c", session_id="s", seq=3, started_at=2.0, surface="anthropic", endpoint="messages"
    )
    assert rec.changes(BLANK_ROW) == {
        "id": "c",
        "session_id": "s",
        "seq": 3,
        "started_at": 2.0,
        "surface": "anthropic",
        "endpoint": "messages",
    }
    seen = rec.snapshot()
    rec.model, rec.provider = "m", None  # provider unchanged
    rec.attempts.append(Attempt("m", "p", "http 529", 1.0))  # in place: still a change
    assert rec.changes(seen) == {
        "model": "m",
        "attempts": [{"model": "m", "provider": "p", "outcome": "http 529", "ms": 1.0}],
    }
    assert rec.changes(rec.snapshot()) == {}

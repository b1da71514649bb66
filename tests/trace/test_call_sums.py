"""The table of sums (trace.sums) against the call rows it sums, on real SQLite.

Whatever the writers do, every call_sums row equals its calls summed afresh, bounds included,
by the per-row SQL that tests/trace/test_sums.py holds to `Tally.of_call`.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from agentwrap import paths
from agentwrap.trace import queries as q
from agentwrap.trace.store import MIGRATIONS, TraceStore, connect
from agentwrap.trace.tally import Tally
from tests.trace.test_sums import random_call

# The sums' rows rebuilt from the calls, with the per-row SQL the reports used before.
_KEYS = (
    "CAST(started_at / 900 AS INTEGER) - (CAST(started_at / 900 AS INTEGER) * 900 > started_at)",
    "session_id",
    q.MODEL_KEY_SQL,
    q.STEP_KEY_SQL,
)
_REBUILT = (
    f"SELECT {', '.join(_KEYS)}, {q.TALLY_SELECT} FROM calls WHERE status != 'streaming' "
    "GROUP BY 1, 2, 3, 4"
)
_TABLE = "SELECT bucket, session_id, model_key, step_key, * FROM call_sums"


def same_tally(got: Tally, want: Tally, where: str) -> None:
    for f in fields(Tally):
        a, b = getattr(got, f.name), getattr(want, f.name)
        if isinstance(b, float) or isinstance(a, float):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-9), f"{where}: {f.name}"
        else:
            assert a == b, f"{where}: {f.name}"


def assert_table_is_the_calls_summed(conn: sqlite3.Connection) -> None:
    """Every call_sums row is its calls summed afresh, bounds included; no row without calls."""
    table = {tuple(r[:4]): q.tally_of_row(r) for r in conn.execute(_TABLE)}
    rebuilt = {tuple(r[:4]): q.tally_of_row(r) for r in conn.execute(_REBUILT)}
    assert set(table) == set(rebuilt)
    for key, tally in rebuilt.items():
        same_tally(table[key], tally, str(key))


# -- the triggers on rows of every kind ------------------------------------------------------


@pytest.fixture
def store() -> Iterator[TraceStore]:
    opened = TraceStore(paths.trace_db())
    yield opened
    opened.close()


def _insert(store: TraceStore, rows: list[dict[str, Any]]) -> None:
    for sid in sorted({r["session_id"] for r in rows}):
        store.insert_session(id=sid, agent="claude", started_at=0.0)
    for row in rows:
        store.insert_call(**row)


def test_inserted_rows_of_every_kind_are_summed(store: TraceStore) -> None:
    rng = random.Random(5)
    rows = [random_call(rng, f"s{i % 4}", i) for i in range(500)]
    _insert(store, rows)
    assert_table_is_the_calls_summed(store.conn)
    # Calls in flight are not in the table.
    assert store.conn.execute("SELECT SUM(streaming) FROM call_sums").fetchone()[0] == 0
    assert store.conn.execute("SELECT SUM(calls) FROM call_sums").fetchone()[0] == sum(
        r["status"] != "streaming" for r in rows
    )


def test_updates_and_deletions_keep_the_sums_and_their_bounds(store: TraceStore) -> None:
    rng = random.Random(6)
    rows = [random_call(rng, f"s{i % 4}", i) for i in range(400)]
    _insert(store, rows)
    changes: list[dict[str, Any]] = [
        {"outcome": "succeeded"},
        {"outcome": "failed", "signals": ["correction"]},
        {"status": "ok"},
        {"status": "streaming"},
        {"status": "aborted", "error": "killed"},
        {"model": "m-other"},
        {"step": "plan"},
        {"total_ms": 60_000.0},
        {"started_at": 1_764_000_000.0 + 86_400 * 4},
        {"cost_usd": None, "unpriced_reason": "no price"},
        {"attempts": [{"model": "a"}, {"model": "b"}]},
        {"signals": ["only a signal: no column the sums read"]},
    ]
    for row in rows:
        if rng.random() < 0.7:
            store.update_call(row["id"], **rng.choice(changes))
    assert_table_is_the_calls_summed(store.conn)
    # The first and last call of every row leave it: the bounds move to the calls still there.
    for key in store.conn.execute(_TABLE).fetchall():
        for bound, pick in (("first_started", "MIN"), ("last_finished", "MAX")):
            value = key[bound]
            if value is None:
                continue
            column = "started_at" if bound == "first_started" else "started_at + total_ms / 1e3"
            store.conn.execute(
                f"DELETE FROM calls WHERE session_id = ? AND status != 'streaming' "
                f"AND {column} = (SELECT {pick}({column}) FROM calls WHERE session_id = ? "
                f"AND status != 'streaming' AND started_at >= ? AND started_at < ?)",
                (key[1], key[1], key[0] * 900, key[0] * 900 + 900),
            )
    assert_table_is_the_calls_summed(store.conn)
    store.conn.execute("DELETE FROM calls WHERE session_id = 's2'")
    assert_table_is_the_calls_summed(store.conn)
    assert not store.conn.execute("SELECT 1 FROM call_sums WHERE session_id = 's2'").fetchall()
    store.conn.execute("DELETE FROM calls")
    assert store.conn.execute("SELECT COUNT(*) FROM call_sums").fetchone()[0] == 0


# -- a store written before the table existed ------------------------------------------------


def test_a_store_from_before_gets_its_sums_once(tmp_path: Path) -> None:
    path = tmp_path / "trace.db"
    conn = connect(path)
    conn.close()
    # Back to the schema before call_sums: the newest migration undone, as an older version
    # left the file.
    raw = sqlite3.connect(path)
    raw.executescript(
        "DROP TRIGGER call_sums_insert; DROP TRIGGER call_sums_update_in; "
        "DROP TRIGGER call_sums_update_out; DROP TRIGGER call_sums_delete; "
        "DROP TABLE call_sums; DROP INDEX calls_in_flight; "
        f"DELETE FROM schema_migrations WHERE version = {len(MIGRATIONS)};"
    )
    raw.close()
    old = sqlite3.connect(path)
    old.row_factory = sqlite3.Row
    rng = random.Random(9)
    rows = [random_call(rng, f"s{i % 3}", i) for i in range(300)]
    old.executemany(
        "INSERT INTO sessions(id, agent, started_at, is_demo) VALUES (?, 'claude', 0, ?)",
        [("s0", 0), ("s1", 1), ("s2", 0)],
    )
    for row in rows:
        attempts = row["attempts"]
        attempts = attempts if isinstance(attempts, str) else json.dumps(attempts)
        row = {**row, "attempts": attempts, "updated_at": row["started_at"]}
        old.execute(
            f"INSERT INTO calls({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
            list(row.values()),
        )
    old.commit()
    assert not old.execute("SELECT 1 FROM sqlite_master WHERE name = 'call_sums'").fetchall()
    old.close()

    store = TraceStore(path)
    assert_table_is_the_calls_summed(store.conn)
    applied = store.conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0]
    store.close()
    # Opened again: nothing summed twice.
    again = TraceStore(path)
    assert again.conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == applied
    assert_table_is_the_calls_summed(again.conn)
    again.close()

"""The table of sums (trace.sums) against the call rows it sums, on real SQLite.

Two things must hold whatever the writers do: every call_sums row equals its calls summed
afresh (bounds included), and every report read from the sums equals the report summed from
every call row (`build_report(..., summed=False)`, the per-row SQL that tests/trace/test_sums.py
holds to `Tally.of_call`). The histories are random and written by the real recorder: calls in
flight, finished, failed, aborted, refused, with fallbacks, re-labelled after they finished,
sessions deleted, demo sessions; the reports are filtered by agent, project and dates, in
timezones a quarter hour apart from UTC, three quarters, with DST, and one that is not.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwrap import paths
from agentwrap.trace import queries as q
from agentwrap.trace.recorder import FAILED, FINISHED, OUTCOME, ROUTED, Recorder
from agentwrap.trace.report import (
    GROUPINGS,
    ReportFilter,
    _call_filter,
    build_report,
    report_json,
)
from agentwrap.trace.store import TraceStore
from agentwrap.trace.tally import Tally
from tests.support.old_store import store_before_sums
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

ZONES = [
    "UTC0",
    "XYZ+3",  # three hours behind UTC
    "NPT-5:45",  # Nepal: five hours three quarters ahead
    "CET-1CEST,M3.5.0,M10.5.0/3",  # Central Europe, with DST
    "LMT-0:20",  # twenty minutes ahead: midnights inside a quarter hour
]
# A Sunday evening in UTC at the end of a month, so days, weeks and months all split.
T0 = dt.datetime(2025, 3, 30, 20, 0, tzinfo=dt.UTC).timestamp()


@contextmanager
def zone(tz: str) -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


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
    # Each row's session attributes are its session's (none, and no demo, without one).
    for row in conn.execute(
        "SELECT c.agent, c.is_demo, c.cwd, c.repo_root, "
        "s.agent, COALESCE(s.is_demo != 0, 0), s.cwd, s.repo_root "
        "FROM call_sums c LEFT JOIN sessions s ON s.id = c.session_id"
    ):
        assert tuple(row[:4]) == tuple(row[4:])


def assert_reports_agree(conn: sqlite3.Connection, filt: ReportFilter) -> None:
    for grouping in GROUPINGS:
        summed = build_report(conn, grouping, filt)
        rows = build_report(conn, grouping, filt, summed=False)
        assert [r.key for r in summed.rows] == [r.key for r in rows.rows], grouping
        for a, b in zip(summed.rows, rows.rows, strict=True):
            same_tally(a.tally, b.tally, f"{grouping} {a.key}")
        same_tally(summed.total, rows.total, f"{grouping} total")
        assert summed.unpriced_reasons == rows.unpriced_reasons
        assert summed.demo_sessions_left_out == rows.demo_sessions_left_out
        assert report_json(summed).keys() == report_json(rows).keys()
        # The demo sessions left out, counted as the calls in the report's range name them.
        where, args = _call_filter(filt)
        demo = "session_id IN (SELECT id FROM sessions WHERE is_demo != 0)"
        counted = conn.execute(
            f"SELECT COUNT(DISTINCT session_id) FROM calls WHERE {' AND '.join([*where, demo])}",
            args,
        ).fetchone()[0]
        assert summed.demo_sessions_left_out == (0 if filt.include_demo else counted)


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
    # And a quarter hour of one session's calls on one model: rows of many calls.
    rows += [
        {**random_call(rng, "s4", i), "started_at": 1_764_000_000.0 + i, "model": "m-big"}
        for i in range(400, 480)
    ]
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
        # The label with another column: changed (the whole call out and in), or written
        # again as it was (the label alone moves).
        {"outcome": "interrupted", "status": "error"},
        {"outcome": "succeeded", "model": "m-other", "step": "explore"},
        {"outcome": "failed", "status": "ok", "model": "m-big"},
        {"outcome": None},
    ]
    for _ in range(3):
        for row in rows:
            if rng.random() < 0.7:
                store.update_call(row["id"], **rng.choice(changes))
    assert_table_is_the_calls_summed(store.conn)
    # A new label written with columns the sums read as they were: counted once.
    for label in ("succeeded", "failed", None, "interrupted"):
        for row in store.calls("s4"):
            store.update_call(row["id"], outcome=label, status=row["status"], model=row["model"])
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


# -- random histories through the recorder, reports compared ---------------------------------

STATUSES = ["ok", "ok", "ok", "streaming", "error", "proxy_error", "aborted", "refused"]
MODELS = ["m-big", "m-small", "m-local", ""]
PROJECTS = [("/proj/alpha", "/proj/alpha"), ("/proj/alpha/sub", "/proj/alpha"), ("/proj/b", None)]

calls_st = st.lists(
    st.fixed_dictionaries(
        {
            "at": st.floats(0, 86_400 * 40),
            "status": st.sampled_from(STATUSES),
            "used": st.sampled_from(MODELS),
            "step": st.sampled_from([None, "implement", "explore", "background"]),
            "cost": st.none() | st.floats(0, 2),
            "baseline": st.none() | st.floats(0, 3),
            "would": st.none() | st.floats(0, 1),
            "fallback": st.booleans(),
            "labels": st.lists(
                st.sampled_from(["succeeded", "failed", "interrupted", "unknown"]), max_size=2
            ),
            "total_ms": st.none() | st.floats(5, 600_000),
        }
    ),
    max_size=8,
)
sessions_st = st.lists(
    st.fixed_dictionaries(
        {
            "agent": st.sampled_from(["claude", "codex"]),
            "demo": st.booleans(),
            "project": st.sampled_from(PROJECTS),
            "deleted": st.integers(0, 5).map(lambda n: n == 0),
            "calls": calls_st,
        }
    ),
    min_size=1,
    max_size=4,
)
filters_st = st.fixed_dictionaries(
    {
        "since": st.none() | st.integers(-1, 42),
        "until": st.none() | st.integers(-1, 42),
        "agent": st.sampled_from([None, "claude", "codex"]),
        "project": st.sampled_from([None, "/proj/alpha", "/proj/b"]),
        "include_demo": st.booleans(),
    }
)


def write_history(store: TraceStore, history: list[dict[str, Any]]) -> None:
    """Each session through its own recorder, as the proxy reports calls; then the deletions."""
    for s, session in enumerate(history):
        sid = f"sess-{s}"
        cwd, root = session["project"]
        store.insert_session(
            id=sid,
            agent=session["agent"],
            cwd=cwd,
            repo_root=root,
            started_at=T0,
            is_demo=int(session["demo"]),
        )
        rec = Recorder(store, sid)
        for c, call in enumerate(session["calls"]):
            cid = f"{sid}/{c}"
            rec.call_started(
                cid,
                seq=c + 1,
                started_at=T0 + call["at"],
                surface="anthropic",
                endpoint="/v1/messages",
                requested_model="m-big",
                baseline_model="m-big",
                step=call["step"],
            )
            rec.call_event(ROUTED, cid, model=call["used"], provider="anthropic")
            if call["status"] == "streaming":
                continue
            attempts = [{"model": call["used"], "outcome": call["status"]}]
            if call["fallback"]:
                attempts.insert(0, {"model": "m-big", "outcome": "http 529"})
            rec.call_event(
                FINISHED if call["status"] == "ok" else FAILED,
                cid,
                status=call["status"],
                model=call["used"],
                input_tokens=int(call["at"]) % 50_000,
                output_tokens=int(call["at"]) % 900,
                cost_usd=call["cost"],
                baseline_cost_usd=call["baseline"],
                would_cost_usd=call["would"],
                unpriced_reason=None if call["cost"] is not None else "no price for it",
                total_ms=call["total_ms"],
                attempts=attempts,
            )
            for label in call["labels"]:
                rec.call_event(OUTCOME, cid, outcome=label, signals=[])
        rec.close()
    for s, session in enumerate(history):
        if session["deleted"]:
            store.conn.execute("DELETE FROM calls WHERE session_id = ?", (f"sess-{s}",))
            store.conn.execute("DELETE FROM sessions WHERE id = ?", (f"sess-{s}",))


def report_filter(spec: dict[str, Any]) -> ReportFilter:
    first = dt.date.fromtimestamp(T0)
    return ReportFilter(
        since=None if spec["since"] is None else first + dt.timedelta(days=spec["since"]),
        until=None if spec["until"] is None else first + dt.timedelta(days=spec["until"]),
        agent=spec["agent"],
        project=None if spec["project"] is None else Path(spec["project"]),
        include_demo=spec["include_demo"],
    )


@settings(max_examples=60, deadline=None)
@given(
    history=sessions_st,
    tz=st.sampled_from(ZONES),
    filters=st.lists(filters_st, min_size=1, max_size=3),
)
def test_reports_from_the_sums_equal_reports_from_every_call(
    history: list[dict[str, Any]], tz: str, filters: list[dict[str, Any]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp, zone(tz):
        store = TraceStore(Path(tmp) / "trace.db")
        try:
            write_history(store, history)
            assert_table_is_the_calls_summed(store.conn)
            assert_reports_agree(store.conn, ReportFilter())
            for spec in filters:
                assert_reports_agree(store.conn, report_filter(spec))
        finally:
            store.close()


def test_a_zone_off_the_quarter_hours_sums_every_call() -> None:
    # Midnight at +00:20 falls inside a bucket: the report reads the calls themselves.
    store = TraceStore(paths.trace_db())
    history = [
        {
            "agent": "claude",
            "demo": False,
            "project": PROJECTS[0],
            "deleted": False,
            "calls": [
                {
                    "at": at,
                    "status": "ok",
                    "used": "m-small",
                    "step": "implement",
                    "cost": 0.5,
                    "baseline": 1.0,
                    "would": None,
                    "fallback": False,
                    "labels": [],
                    "total_ms": 1000.0,
                }
                for at in (3 * 3600 + 35 * 60, 3 * 3600 + 42 * 60)
            ],
        }
    ]
    write_history(store, history)
    with zone("LMT-0:20"):
        # 23:35 and 23:42 UTC are one quarter hour's sums, but 23:55 and 00:02 local.
        days = build_report(store, "daily")
        assert [(r.key, r.tally.calls) for r in days.rows] == [
            ("2025-03-30", 1),
            ("2025-03-31", 1),
        ]
    store.close()


def test_sessions_written_changed_and_deleted_after_their_calls(store: TraceStore) -> None:
    rng = random.Random(8)
    rows = [random_call(rng, f"s{i % 5}", i) for i in range(300)]
    for row in rows:
        store.insert_call(**row)
    filters = [
        ReportFilter(),
        ReportFilter(include_demo=True),
        ReportFilter(agent="codex"),
        ReportFilter(project=Path("/proj/alpha")),
        ReportFilter(agent="claude", project=Path("/proj/b"), include_demo=True),
    ]

    def agree() -> None:
        assert_table_is_the_calls_summed(store.conn)
        for filt in filters:
            assert_reports_agree(store.conn, filt)

    agree()  # no session rows yet
    places = [("/proj/alpha/x", "/proj/alpha"), ("/proj/b", None), ("/elsewhere", None)]
    for i in range(5):
        cwd, root = places[i % 3]
        store.insert_session(
            id=f"s{i}",
            agent=["claude", "codex"][i % 2],
            started_at=0.0,
            cwd=cwd,
            repo_root=root,
            is_demo=int(i == 3),
        )
    agree()
    store.update_session("s0", agent="codex", cwd="/proj/b", repo_root=None)
    store.update_session("s3", is_demo=0)
    store.update_session("s1", is_demo=1)
    agree()
    store.conn.execute("DELETE FROM sessions WHERE id IN ('s1', 's2')")
    agree()


# -- a store written before the table existed ------------------------------------------------


def test_a_store_from_before_gets_its_sums_once_and_reports_alike(tmp_path: Path) -> None:
    path = tmp_path / "trace.db"
    # The schema before call_sums: its migrations undone, as an older version left the file.
    store_before_sums(path)
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
    assert_reports_agree(store.conn, ReportFilter())
    assert_reports_agree(store.conn, ReportFilter(include_demo=True))
    applied = store.conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0]
    store.close()
    # Opened again: nothing summed twice.
    again = TraceStore(path)
    assert again.conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == applied
    assert_table_is_the_calls_summed(again.conn)
    again.close()

"""SQLite's sums (queries.tallies_by) against Tally.of_call, on every kind of call row.

Reports and the statusline let SQLite add the calls up; the panel and the summary fold rows
through `Tally` in Python. Both must give the same answer for any row a store can hold, so
this writes rows that mix every state a call can be in and compares the two field by field.
"""

from __future__ import annotations

import random
from dataclasses import fields, replace
from typing import Any

import pytest

from agentwrap import paths
from agentwrap.trace import queries as q
from agentwrap.trace.live import StoreFollower
from agentwrap.trace.store import TraceStore
from agentwrap.trace.tally import Tally, cost_series, ledger_of, model_key, step_key

STATUSES = ["ok", "ok", "ok", "streaming", "error", "proxy_error", "aborted", "refused"]
MODELS = [None, "", "m-big", "m-small", "m-local"]
STEPS = [None, "", "implement", "explore", "background"]
ATTEMPTS: list[Any] = [
    [],
    [{"model": "m-big", "outcome": "ok"}],
    [{"model": "m-big", "outcome": "error"}, {"model": "m-small", "outcome": "ok"}],
    [1, 2, 3],
    {"not": "a list"},
    "[not json",
]


def _maybe[T](rng: random.Random, value: T) -> T | None:
    return value if rng.random() < 0.6 else None


def random_call(rng: random.Random, session_id: str, i: int) -> dict[str, Any]:
    attempts = rng.choice(ATTEMPTS)
    return {
        "id": f"{session_id}/{i}",
        "session_id": session_id,
        "seq": i,
        "started_at": 1_764_000_000.0 + rng.uniform(0, 86_400 * 3),
        "surface": "anthropic",
        "endpoint": "/v1/messages",
        "status": rng.choice(STATUSES),
        "requested_model": rng.choice(MODELS),
        "model": rng.choice(MODELS),
        "baseline_model": rng.choice(MODELS),
        "step": rng.choice(STEPS),
        "outcome": rng.choice([None, "succeeded", "failed", "interrupted", "unknown"]),
        "input_tokens": _maybe(rng, rng.randint(0, 90_000)),
        "output_tokens": _maybe(rng, rng.randint(0, 3_000)),
        "cache_creation_tokens": _maybe(rng, rng.randint(0, 9_000)),
        "cache_read_tokens": _maybe(rng, rng.randint(0, 50_000)),
        "cost_usd": _maybe(rng, rng.uniform(0, 2)),
        "baseline_cost_usd": _maybe(rng, rng.uniform(0, 3)),
        "would_cost_usd": _maybe(rng, rng.uniform(0, 1)),
        "unpriced_reason": rng.choice([None, "", "no price for model 'm-local'"]),
        "total_ms": _maybe(rng, rng.uniform(10, 9_000)),
        # A list or object is stored as JSON; a string as it is (here: not JSON at all).
        "attempts": attempts,
    }


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    rng = random.Random(11)
    return [random_call(rng, f"s{i % 3}", i) for i in range(600)]


def _store(rows: list[dict[str, Any]]) -> TraceStore:
    store = TraceStore(paths.trace_db())
    for sid in sorted({r["session_id"] for r in rows}):
        store.insert_session(id=sid, agent="claude", started_at=0.0)
    for row in rows:
        store.insert_call(**row)
    return store


def _as_read(store: TraceStore) -> list[dict[str, Any]]:
    # What Python's readers fold: the rows as the store gives them back.
    return store.calls()


def assert_same(sql: Tally, python: Tally) -> None:
    for f in fields(Tally):
        got, want = getattr(sql, f.name), getattr(python, f.name)
        if isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-9, abs=1e-9), f.name
        else:
            assert got == want, f.name


def test_the_rows_cover_every_state(rows: list[dict[str, Any]]) -> None:
    # The comparison below is only as good as the variety of rows it runs on.
    read = _as_read(_store(rows))
    t = ledger_of(read).total
    assert t.ok and t.streaming and t.failed and t.aborted and t.refused and t.fallbacks
    assert t.priced_calls and t.unpriced_calls and t.compared_calls and t.would_calls
    assert t.steps_succeeded and t.steps_failed and t.steps_interrupted
    # A call without a stored baseline that ran on its baseline model counts its cost as one.
    assert any(
        r["baseline_cost_usd"] is None
        and r["cost_usd"] is not None
        and r["model"]
        and r["model"] == (r["baseline_model"] or r["requested_model"])
        for r in read
    )
    # Attempts the store cannot read as a list count as no fallback.
    assert {"[not json", "{'not': 'a list'}"} <= {str(r["attempts"]) for r in read}


@pytest.mark.parametrize(
    ("key_sql", "key_of"),
    [
        (q.MODEL_KEY_SQL, "by_model"),
        (q.STEP_KEY_SQL, "by_step"),
    ],
)
def test_sql_sums_equal_the_ledger_per_group(
    rows: list[dict[str, Any]], key_sql: str, key_of: str
) -> None:
    store = _store(rows)
    ledger = ledger_of(_as_read(store))
    sql = q.tallies_by(store, key_sql)
    python: dict[str, Tally] = getattr(ledger, key_of)
    assert set(sql) == set(python)
    for key, tally in python.items():
        assert_same(sql[key], tally)


def test_session_total_equals_the_session_ledger(rows: list[dict[str, Any]]) -> None:
    store = _store(rows)
    read = _as_read(store)
    for sid in ("s0", "s1", "s2"):
        python = ledger_of([r for r in read if r["session_id"] == sid]).total
        assert python.calls
        assert_same(q.session_total(store, sid), python)
    assert q.session_total(store, "no-such-session") == Tally()


def test_the_sessions_ledger_from_the_table_of_sums_equals_the_ledger_of_the_rows(
    rows: list[dict[str, Any]],
) -> None:
    store = _store(rows)
    read = _as_read(store)
    for sessions in (["s1"], ["s0", "s2"], ["s0", "s1", "s2"], ["none"], []):
        python = ledger_of([r for r in read if r["session_id"] in sessions])
        got = q.sessions_ledger(store, sessions)
        assert len(got) == len(python)
        assert_same(got.total, python.total)
        for groups in ("by_model", "by_step"):
            want: dict[str, Tally] = getattr(python, groups)
            assert set(getattr(got, groups)) == set(want)
            for key, tally in want.items():
                assert_same(getattr(got, groups)[key], tally)
        assert got.unpriced_reasons == python.unpriced_reasons


def test_a_summed_ledger_follows_changed_calls_as_the_ledger_does(
    rows: list[dict[str, Any]],
) -> None:
    # The panel sums a session in SQL, keeps only each call's group keys, status and outcome,
    # and upserts calls as they change: streaming ones finish, finished ones get a label.
    store = _store(rows)
    read = _as_read(store)
    summed = q.sessions_ledger(store, sorted({r["session_id"] for r in read}))
    kept = {
        r["id"]: {k: r[k] for k in ("id", "step", "model", "requested_model", "status", "outcome")}
        for r in read
    }
    rng = random.Random(5)
    changed = []
    for r in read:
        if r["status"] == "streaming":
            # A streaming call's whole row is kept; it may end in any way.
            kept[r["id"]] = r
            new = {**r, **random_call(rng, r["session_id"], r["seq"]), "id": r["id"]}
        elif rng.random() < 0.3:
            new = {**r, "outcome": rng.choice([None, "succeeded", "failed", "interrupted"])}
        else:
            continue
        store.update_call(r["id"], **{k: v for k, v in new.items() if k != "id"})
        changed.append(new["id"])
    for call in store.calls():
        if call["id"] in changed:
            summed.upsert(call, previous=kept[call["id"]])
    python = ledger_of(store.calls())
    assert len(summed) == len(python)
    assert_same(summed.total, python.total)
    for key, tally in python.by_model.items():
        assert_same(summed.by_model[key], tally)
    assert set(summed.by_step) == set(python.by_step)
    for key, tally in python.by_step.items():
        assert_same(summed.by_step[key], tally)


def test_sql_cost_series_equals_the_python_one(rows: list[dict[str, Any]]) -> None:
    store = _store(rows)
    read = _as_read(store)
    total = ledger_of(read).total
    for start, end in ((total.first_started, total.last_finished), (None, None)):
        got = q.cost_series_of(store, (12, 7, 1), start, end)
        for series, buckets in zip(got, (12, 7, 1), strict=True):
            want = cost_series(read, buckets, start, end)
            assert sum(want) > 0
            assert series == pytest.approx(want, abs=1e-9)
    one = [r for r in read if r["session_id"] == "s2"]
    got = q.cost_series_of(store, (9,), None, None, "WHERE session_id = ?", ("s2",))
    assert got == [pytest.approx(cost_series(one, 9), abs=1e-9)]
    none = q.cost_series_of(store, (5, 0), None, None, "WHERE session_id = ?", ("none",))
    assert none == [[0.0] * 5, []]


def test_a_snapshot_keeps_each_calls_keys_and_sums_them_as_it_saw_them(
    rows: list[dict[str, Any]],
) -> None:
    # The panel opens a session from a snapshot: each call's keys, the calls in flight whole,
    # and sums made later in the snapshot's own read. The ledger then replaces what a call
    # that changed was summed with, as the snapshot kept it.
    store = _store(rows)
    follower = StoreFollower(TraceStore(paths.trace_db()), None)
    batch = follower.snapshot()
    read = _as_read(store)
    keys = batch.keys
    assert keys is not None and keys.ids == [r["id"] for r in read]
    assert keys.steps == [step_key(r) for r in read]
    assert keys.models == [model_key(r) for r in read]
    assert keys.statuses == [r["status"] for r in read]
    assert keys.outcomes == [r["outcome"] for r in read]
    assert batch.calls == [r for r in read if r["status"] == "streaming"]
    assert keys.matching("explore", "m-big") == [
        r["id"] for r in read if step_key(r) == "explore" and model_key(r) == "m-big"
    ]
    assert keys.matching(None, None) == keys.ids

    rng = random.Random(8)
    changed = set()
    for r in read:
        if r["status"] == "streaming":
            new = {**r, **random_call(rng, r["session_id"], r["seq"]), "id": r["id"]}
            new["started_at"] = r["started_at"]
        elif rng.random() < 0.3:
            new = {**r, "outcome": rng.choice([None, "succeeded", "failed", "interrupted"])}
        else:
            continue
        store.update_call(r["id"], **{k: v for k, v in new.items() if k != "id"})
        changed.add(r["id"])
    # Summed after the changes, in the snapshot's read: the calls as the snapshot saw them.
    sums = follower.snapshot_sums((9, 4))
    assert sums is not None and follower.snapshot_sums((9,)) is None
    assert_same(sums.ledger.total, ledger_of(read).total)
    total = ledger_of(read).total
    for series, buckets in zip(sums.series, (9, 4), strict=True):
        want = cost_series(read, buckets, total.first_started, total.last_finished)
        assert series == pytest.approx(want, abs=1e-9)

    # The changed rows, as a poll gives them (update_call writes no event to poll here).
    polled = [c for c in store.calls() if c["id"] in changed]
    whole = {c["id"]: c for c in batch.calls}
    ledger = sums.ledger
    for call in polled:
        at = keys.position(call["id"])
        assert at is not None
        ledger.upsert(call, previous=whole.get(call["id"]) or keys.as_summed(at))
    python = ledger_of(store.calls())
    assert len(ledger) == len(python)
    # A replaced call's time bounds stay (Ledger.upsert's documented leeway): the rest is exact.
    assert ledger.total.first_started == python.total.first_started
    for groups in ("total", "by_model", "by_step"):
        want = getattr(python, groups)
        got = getattr(ledger, groups)
        if groups == "total":
            want, got = {"": want}, {"": got}
        assert set(got) == set(want)
        for key, tally in want.items():
            assert_same(replace(got[key], first_started=None, last_finished=None),
                        replace(tally, first_started=None, last_finished=None))  # fmt: skip
    follower.close()

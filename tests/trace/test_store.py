"""The trace store: migrations recorded in the database, WAL, and the recorder's guarantees."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from agentwrap.route.learn import HORIZON, ArmKey, Tally
from agentwrap.trace.recorder import (
    FAILED,
    FALLBACK,
    FINISHED,
    FIRST_BYTE,
    OUTCOME,
    ROUTED,
    SESSION_ENDED,
    Recorder,
)
from agentwrap.trace.store import MIGRATIONS, TraceStore, connect, json_text, migrate


def test_a_new_store_is_at_the_newest_schema_in_wal_mode(tmp_path):
    conn = connect(tmp_path / "t.db")
    versions = [
        r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")
    ]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = {r[1] for r in conn.execute("PRAGMA table_info(calls)")}
    assert {"stop_reason", "attempts", "baseline_cost_usd", "step"} <= columns


def test_an_old_store_is_migrated_forward_once(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    for statement in MIGRATIONS[0][1].split(";"):
        if statement.strip():
            old.execute(statement)
    old.execute("INSERT INTO schema_migrations VALUES (1, 'initial schema', 0)")
    old.execute("INSERT INTO sessions(id, agent, started_at) VALUES ('s1', 'claude', 1)")
    old.close()
    store = TraceStore(path)
    assert store.session("s1")["agent"] == "claude"  # data kept
    assert migrate(store.conn) == len(MIGRATIONS)  # running again changes nothing
    rows = store.conn.execute("SELECT version FROM schema_migrations").fetchall()
    assert len(rows) == len(MIGRATIONS)


def test_recorder_writes_calls_and_events_and_loses_nothing_at_close(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    store.insert_session(id="s", agent="test", started_at=time.time())
    rec = Recorder(store, "s")
    seen = []
    rec.subscribe(seen.append)
    for i in range(200):
        rec.call_started(f"c{i}", seq=i, surface="anthropic", endpoint="messages")
        rec.call_event(
            "finished", f"c{i}", status="ok", input_tokens=i, stop_reason="end_turn", attempt=1
        )
    rec.close()
    reader = TraceStore(tmp_path / "t.db")
    calls = reader.calls("s")
    assert len(calls) == 200 and all(c["status"] == "ok" for c in calls)
    assert sum(c["input_tokens"] for c in calls) == sum(range(200))
    assert {c["stop_reason"] for c in calls} == {"end_turn"}
    assert len(reader.events_after(0, "s")) == 400
    assert len(seen) == 400  # in-process subscribers saw every event as it happened


def test_recorder_flush_makes_writes_visible_to_another_connection(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    store.insert_session(id="s", agent="test", started_at=time.time())
    rec = Recorder(store, "s")
    rec.call_started("c1", seq=1, surface="anthropic", endpoint="messages")
    rec.flush()
    other = TraceStore(tmp_path / "t.db")
    assert other.call("c1")["status"] == "streaming"
    rec.close()


def test_a_broken_subscriber_does_not_stop_recording(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    store.insert_session(id="s", agent="test", started_at=time.time())
    rec = Recorder(store, "s")

    def broken(_event):
        raise RuntimeError("panel crashed")

    rec.subscribe(broken)
    rec.call_started("c1", seq=1, surface="anthropic", endpoint="messages")
    rec.close()
    assert TraceStore(tmp_path / "t.db").call("c1") is not None


def test_a_proxied_call_publishes_its_events_in_order(tmp_path):
    import asyncio

    import anthropic

    from agentwrap.fakes.anthropic import FakeAnthropic
    from agentwrap.proxy.frontdoor import Proxy
    from agentwrap.route.profile import load_profile

    async def run() -> list[str]:
        store = TraceStore(tmp_path / "t.db")
        store.insert_session(id="s", agent="test", started_at=time.time())
        rec = Recorder(store, "s")
        kinds: list[str] = []
        rec.subscribe(lambda e: kinds.append(e.kind))
        async with FakeAnthropic(["hi"]) as fake:
            profile = load_profile(
                None, "passthrough", {"AGENTWRAP_ANTHROPIC_UPSTREAM": fake.base_url}
            )
            proxy = Proxy(profile, rec)
            url = await proxy.start()
            client = anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0)
            async with client.messages.stream(
                model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            ) as s:
                await s.get_final_message()
            await proxy.stop()
        rec.close()
        stored = [e["kind"] for e in TraceStore(tmp_path / "t.db").events_after(0, "s")]
        assert stored == kinds
        return kinds

    # Routed and first byte are one report: the first byte followed at once.
    assert asyncio.run(run()) == ["started", "first_byte", "finished"]


def test_old_live_events_are_pruned_and_calls_kept(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    store.insert_session(id="s", agent="test", started_at=time.time())
    store.insert_call(
        id="c",
        session_id="s",
        seq=1,
        started_at=1.0,
        surface="anthropic",
        endpoint="messages",
        status="ok",
    )
    store.insert_event("s", "finished", "c", {}, ts=time.time() - 30 * 86400)
    store.insert_event("s", "finished", "c", {}, ts=time.time())
    assert store.prune_events() == 1
    assert len(store.events_after(0, "s")) == 1 and store.call("c") is not None


def test_learned_evidence_is_kept_per_agent_step_and_model(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    columns = {r[1] for r in store.conn.execute("PRAGMA table_info(calls)")}
    assert "propensity" in columns
    haiku = ArmKey("claude", "implement", "claude-haiku-4-5")
    for outcome in ("succeeded", "failed", "interrupted", "unknown", "succeeded"):
        store.add_outcome(haiku, outcome)
    store.add_outcome(ArmKey("codex", "implement", "gpt-5"), "failed")
    evidence = store.evidence()
    assert evidence[haiku] == Tally(2, 1, 1, 1, labelled=3)
    assert evidence.tally("codex", "implement", "gpt-5") == Tally(0, 1, labelled=1)
    # An import adds to what is there, and old evidence fades past the horizon.
    assert store.merge_evidence([(haiku, Tally(HORIZON * 2, 0, labelled=HORIZON * 2))]) == 1
    merged = store.evidence()[haiku]
    assert merged.steps == HORIZON and merged.labelled == HORIZON * 2 + 3
    # Another connection (another session's proxy) sees the same numbers.
    other = TraceStore(tmp_path / "t.db")
    assert other.evidence()[haiku] == merged
    other.close()
    assert store.reset_evidence() == 2
    assert len(store.evidence()) == 0
    store.close()


def test_the_recorder_counts_labelled_steps_in_its_writer(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    rec = Recorder(store, "s1")
    key = ArmKey("claude", "explore", "claude-haiku-4-5")
    for _ in range(3):
        rec.learned(key, "succeeded")
    rec.learned(key, "failed")
    rec.close()
    assert TraceStore(tmp_path / "t.db").evidence()[key] == Tally(3, 1, labelled=4)


def _report_calls(rec: Recorder) -> None:
    """Calls as the proxy reports them: one falls back, finishes and is labelled twice, one
    fails at once, one is left in flight; a labelled step counted and the session ended."""
    rec.call_started("c1", seq=1, started_at=100.0, surface="anthropic", endpoint="messages")
    attempts = [{"model": "m-big", "provider": "anthropic", "outcome": "http 529", "ms": 3.0}]
    rec.call_event(FALLBACK, "c1", model="m-small", attempts=attempts, attempt=1)
    rec.call_event(ROUTED, "c1", model="m-small", provider="anthropic", model_alias=None)
    rec.call_event(FIRST_BYTE, "c1", ttfb_ms=12.5)
    attempts = [*attempts, {"model": "m-small", "provider": "anthropic", "outcome": "http 200"}]
    rec.call_event(
        FINISHED, "c1", status="ok", input_tokens=10, cost_usd=0.5, total_ms=40.0, attempts=attempts
    )
    rec.call_event(OUTCOME, "c1", outcome="failed", signals=["test_failed"])
    rec.call_event(OUTCOME, "c1", outcome="succeeded", signals=[], outcome_evidence="tests pass")
    rec.call_started("c2", seq=2, started_at=101.0, surface="openai_chat", endpoint="chat")
    rec.call_event(FAILED, "c2", status="error", http_status=529, error="overloaded", streamed=True)
    rec.call_started("c3", seq=3, started_at=102.0, surface="anthropic", endpoint="messages")
    rec.call_event(FIRST_BYTE, "c3", ttfb_ms=float("nan"))
    rec.learned(ArmKey("claude", "explore", "m-small"), "succeeded")
    rec.session_event(SESSION_ENDED, exit_code=0)


def _stored(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(calls)") if r[1] != "updated_at"]
    out = {
        "calls": conn.execute(f"SELECT {', '.join(columns)} FROM calls ORDER BY id").fetchall(),
        "events": conn.execute("SELECT id, call_id, kind, data FROM events ORDER BY id").fetchall(),
        "call_sums": conn.execute("SELECT * FROM call_sums ORDER BY 1, 2, 3, 4").fetchall(),
        "learned": conn.execute("SELECT agent, step, model, successes FROM learned").fetchall(),
    }
    conn.close()
    return out


def test_a_batch_of_reports_stores_what_they_store_one_at_a_time(tmp_path):
    """The writer folds a call's reports in a batch into one write of its row: the rows, the
    events (in their order), the table of sums and the evidence are what each report written
    on its own gives (as after close, when reports are written as they come)."""
    stores = {}
    for name in ("one at a time", "batched"):
        store = TraceStore(tmp_path / f"{name}.db")
        store.insert_session(id="s", agent="claude", started_at=99.0)
        rec = Recorder(store, "s")
        if name == "one at a time":
            rec.close()
        _report_calls(rec)
        rec.close()
        stores[name] = _stored(tmp_path / f"{name}.db")
        updated = store.conn.execute("SELECT id, started_at, updated_at FROM calls").fetchall()
        assert all(r["updated_at"] >= r["started_at"] for r in updated)
        store.close()
    batched, alone = stores["batched"], stores["one at a time"]
    assert [r[2] for r in alone["events"]] == [
        *("started", "fallback", "routed", "first_byte", "finished", "outcome", "outcome"),
        *("started", "failed", "started", "first_byte", "session_ended"),
    ]
    assert batched == alone
    assert len(alone["call_sums"]) == 2 and alone["learned"] == [
        ("claude", "explore", "m-small", 1.0)
    ]


# What the trace writer encodes: event data and JSON columns, with NaN, infinity, None, integers
# past 64 bits and objects only `default` can write mixed in.
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.builds(Path, st.text(alphabet="abc/", max_size=5)),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(_VALUES)
@example({"NaN": None, "Infinity": [None]})  # names like the non-finite floats, none of them
def test_json_text_reads_back_as_json_writes(value):
    expected = json.dumps(value, default=str)
    text = json_text(value, default=str)
    # Read back and written again by json: NaN and infinity kept, where a null would differ.
    assert json.dumps(json.loads(text)) == expected
    if _non_finite(value):
        assert text == expected


def _non_finite(value) -> bool:
    """Whether a NaN or an infinity is among the value's floats (a key named "NaN" is not)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_non_finite(v) for v in value)
    return False


def test_json_text_keeps_nan_and_infinity_beside_a_null():
    value = {"error": None, "ms": [math.nan, math.inf, -math.inf, 1.5]}
    assert json_text(value) == json.dumps(value)
    assert json.loads(json_text({"error": None, "ms": 1.5})) == {"error": None, "ms": 1.5}

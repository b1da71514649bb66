"""Read-side queries and the live feed, over data written through the real Recorder."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time

import pytest

from agentwrap import fmt, paths
from agentwrap.trace import queries as q
from agentwrap.trace import tally
from agentwrap.trace.live import LiveBatch, RecorderFeed, StoreFollower
from agentwrap.trace.recorder import Recorder
from agentwrap.trace.store import TraceStore
from tests.support.trace_seed import (
    SESSION_CALLS,
    T0,
    SeedCall,
    finish_call,
    first_byte,
    seed_session,
    start_call,
    start_session,
)


@pytest.mark.parametrize("reader", ["statusline", "summary"])
def test_totals_and_savings_leave_unpriced_calls_out_of_the_comparison(reader: str) -> None:
    store = seed_session()
    # The statusline sums the calls; the summary and the panel read the table of sums.
    if reader == "statusline":
        totals = q.session_total(store, "sess-0001")
    else:
        totals = q.sessions_ledger(store, ["sess-0001"]).total

    priced = [c for c in SESSION_CALLS if c.cost is not None]
    compared = [c for c in priced if c.baseline is not None]
    assert totals.calls == len(SESSION_CALLS) == 6
    assert totals.ok == 5 and totals.failed == 1 and totals.fallbacks == 1
    assert totals.priced_calls == len(priced) == 4
    # The kimi call has a reason and no price; the failed call has neither and is not "unpriced".
    assert totals.unpriced_calls == 1
    assert totals.cost_usd == pytest.approx(sum(c.cost for c in priced))
    assert totals.baseline_usd == pytest.approx(
        sum(c.baseline for c in SESSION_CALLS if c.baseline is not None)
    )
    saved = sum(c.baseline - c.cost for c in compared)
    assert totals.compared_calls == 4
    assert totals.saved_usd == pytest.approx(saved)
    assert totals.saved_pct == pytest.approx(100 * saved / sum(c.baseline for c in compared))
    assert round(totals.saved_pct) == 61  # checked by hand: 0.8666 / 1.431
    assert totals.uncompared_calls == 2
    assert totals.input_tokens == sum(c.input_tokens for c in SESSION_CALLS)
    assert totals.cache_read_tokens == 35_000 and totals.cache_write_tokens == 8_000


def test_splits_by_model_and_step() -> None:
    store = seed_session()
    # As the summary and the panel split a session: from the table of sums.
    ledger = q.sessions_ledger(store, ["sess-0001"])
    models = dict(ledger.models())
    assert set(models) == {
        "claude-opus-4-1-20250805",
        "claude-haiku-4-5",
        "claude-sonnet-4-5-20250929",
        "kimi-k2-local",
    }
    assert models["claude-haiku-4-5"].calls == 2
    assert models["claude-haiku-4-5"].cost_usd == pytest.approx(0.0259)
    assert models["claude-sonnet-4-5-20250929"].calls == 2
    assert models["claude-sonnet-4-5-20250929"].failed == 1
    assert models["kimi-k2-local"].unpriced_calls == 1
    assert models["kimi-k2-local"].priced_calls == 0
    assert models["kimi-k2-local"].saved_usd is None

    steps = dict(ledger.steps())
    assert steps["implement"].calls == 3
    assert steps["explore"].saved_usd == pytest.approx(0.3825 - 0.0255)
    # Most expensive first.
    assert [name for name, _ in ledger.steps()][0] == "plan"
    assert ledger.unpriced_reasons == {"kimi-k2-local": "no price for model 'kimi-k2-local'"}


def test_ledger_replaces_a_calls_contribution_as_it_progresses() -> None:
    ledger = tally.Ledger()
    row = {"id": "a", "status": "streaming", "requested_model": "big", "started_at": T0}
    ledger.upsert(row)
    assert ledger.total.streaming == 1 and set(ledger.by_model) == {"big"}
    row = {**row, "model": "small", "step": "explore"}
    ledger.upsert(row)
    # Routed: counted under the model used, the requested model's group is gone.
    assert set(ledger.by_model) == {"small"} and set(ledger.by_step) == {"explore"}
    row = {**row, "status": "ok", "cost_usd": 0.01, "baseline_cost_usd": 0.05, "output_tokens": 9}
    ledger.upsert(row)
    assert ledger.total.calls == 1 and ledger.total.streaming == 0 and ledger.total.ok == 1
    assert ledger.total.saved_usd == pytest.approx(0.04)
    assert ledger.total.output_tokens == 9
    assert len(ledger) == 1


def test_effective_baseline() -> None:
    # No baseline recorded, but the call ran on its baseline model: baseline = cost.
    same = {"cost_usd": 0.2, "model": "m", "requested_model": "m"}
    assert tally.effective_baseline(same) == 0.2
    # Ran elsewhere, no baseline recorded: unknown, not guessed.
    moved = {"cost_usd": 0.2, "model": "n", "requested_model": "m"}
    assert tally.effective_baseline(moved) is None
    assert tally.effective_baseline({**moved, "baseline_cost_usd": 0.9}) == 0.9
    assert (
        tally.effective_baseline({"cost_usd": None, "model": "m", "requested_model": "m"}) is None
    )


def test_cost_series_puts_every_priced_call_in_a_bucket() -> None:
    store = seed_session()
    calls = store.calls("sess-0001")
    series = tally.cost_series(calls, 10)
    assert len(series) == 10
    assert sum(series) == pytest.approx(q.session_total(store, "sess-0001").cost_usd)
    # The plan call (the most expensive) finishes first; the last priced call is later.
    assert series[0] > 0 and series.index(max(series)) <= 4
    assert tally.cost_series([], 5) == [0.0] * 5


def test_pick_session_prefers_a_running_session() -> None:
    store = TraceStore(paths.trace_db())
    start_session(store, "old-running", pid=os.getpid(), started_at=T0)
    start_session(store, "new-ended", started_at=T0 + 60)
    store.update_session("new-ended", ended_at=T0 + 90)
    start_session(store, "newest-dead", pid=2**22 + 12345, started_at=T0 + 120)
    assert q.pick_session(store, None)["id"] == "old-running"
    assert q.pick_session(store, "last")["id"] == "newest-dead"
    assert q.pick_session(store, "new-")["id"] == "new-ended"
    assert q.pick_session(store, "zzz") is None
    store.update_session("old-running", ended_at=T0 + 200)
    # Nothing running: the newest.
    assert q.pick_session(store, None)["id"] == "newest-dead"


def test_last_step_call_skips_background_and_failed_calls() -> None:
    store = seed_session()
    last = q.last_step_call(store, "sess-0001")
    # call-06 failed; call-05 (implement, kimi) is the last step that was answered.
    assert last is not None and last["id"] == "call-05"


# -- live feed ------------------------------------------------------------------------------


def test_store_follower_sees_changes_in_order_and_session_end() -> None:
    store = TraceStore(paths.trace_db())
    start_session(store, "live-1", pid=os.getpid())
    follower = StoreFollower(TraceStore(paths.trace_db()), "live-1")
    first = follower.snapshot()
    assert first.calls == [] and first.sessions[0]["running"] is True

    rec = Recorder(store, "live-1")
    call = SESSION_CALLS[3]
    start_call(rec, call, 1)
    rec.flush()
    batch = follower.poll()
    assert [c["id"] for c in batch.calls] == ["call-04"]
    assert batch.calls[0]["status"] == "streaming" and batch.calls[0]["ttfb_ms"] is None

    first_byte(rec, call)
    finish_call(rec, call)
    rec.flush()
    batch = follower.poll()
    # Two events, one call: the row arrives once, in its final state.
    assert len(batch.calls) == 1 and batch.calls[0]["status"] == "ok"
    assert batch.calls[0]["attempts"][1]["provider"] == "bedrock"
    assert not follower.poll()

    rec.session_event("session_ended", exit_code=3)
    rec.flush()
    batch = follower.poll()
    # The event lands before the launcher writes ended_at: the follower says ended anyway.
    assert batch.sessions and batch.sessions[0]["ended_at"] is not None
    assert batch.sessions[0]["running"] is False
    rec.close()


def test_store_follower_all_sessions_leaves_demo_out_unless_asked() -> None:
    seed_session("real-1", SESSION_CALLS[:2])
    seed_session("demo-1", SESSION_CALLS[:3], is_demo=True)
    store = TraceStore(paths.trace_db())

    def sessions_of(batch: LiveBatch) -> set[str]:
        assert batch.keys is not None
        rows = [store.call(call_id) or {} for call_id in batch.keys.ids]
        return {row.get("session_id") for row in rows}

    plain = StoreFollower(store, None).snapshot()
    assert plain.keys is not None and sessions_of(plain) == {"real-1"} and len(plain.keys) == 2
    both = StoreFollower(store, None, include_demo=True).snapshot()
    assert both.keys is not None and len(both.keys) == 5

    # Following all sessions starts from the newest few.
    seed_session("real-0", SESSION_CALLS[:1])
    store.update_session("real-0", started_at=T0 - 3600)
    newest = StoreFollower(store, None, max_sessions=1).snapshot()
    assert [s["id"] for s in newest.sessions] == ["real-1"]
    assert sessions_of(newest) == {"real-1"}

    follower = StoreFollower(store, None)
    follower.snapshot()
    seed_session("real-2", SESSION_CALLS[4:5])
    seed_session("demo-2", SESSION_CALLS[4:5], is_demo=True)
    batch = follower.poll()
    assert {c["session_id"] for c in batch.calls} == {"real-2"}
    assert {s["id"] for s in batch.sessions} == {"real-2"}


WRITER = textwrap.dedent(
    """
    import sys, time
    from agentwrap import paths
    from agentwrap.trace.recorder import Recorder
    from agentwrap.trace.store import TraceStore
    store = TraceStore(paths.trace_db())
    rec = Recorder(store, "xproc")
    for i in range(int(sys.argv[1])):
        time.sleep(0.2)
        rec.call_started(f"x{i}", seq=i, surface="anthropic", endpoint="/v1/messages",
                         requested_model="m", started_at=time.time())
    rec.close()
    """
)


def test_another_process_sees_every_new_call_while_it_is_written() -> None:
    # How soon is for a benchmark to measure; here, that every call arrives while polling.
    store = TraceStore(paths.trace_db())
    start_session(store, "xproc", pid=os.getpid())
    follower = StoreFollower(store, "xproc")
    follower.snapshot()
    n = 8
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(n)])
    delays: list[float] = []
    deadline = time.monotonic() + 30
    while len(delays) < n and time.monotonic() < deadline:
        time.sleep(0.15)  # the panel's poll interval
        now = time.time()
        delays += [now - c["started_at"] for c in follower.poll().calls]
    proc.wait(10)
    assert len(delays) == n
    delays.sort()
    print(f"cross-process delays ms: {[round(d * 1000) for d in delays]}")


def test_recorder_feed_merges_events_for_a_consumer_thread() -> None:
    store = TraceStore(paths.trace_db())
    start_session(store, "inproc")
    rec = Recorder(store, "inproc")
    feed = RecorderFeed(rec, {"id": "inproc", "agent": "claude"})
    c = SeedCall("r1", "explore", "big", "small", 10, 5, cost=0.001, baseline=0.01)
    start_call(rec, c, 1)
    batch = feed.poll()
    assert batch.calls[0]["status"] == "streaming" and batch.calls[0]["model"] == "small"
    first_byte(rec, c)
    finish_call(rec, c)
    batch = feed.poll()
    assert len(batch.calls) == 1 and batch.calls[0]["cost_usd"] == 0.001
    assert not feed.poll()
    rec.session_event("session_ended", exit_code=0)
    assert feed.poll().sessions[0]["running"] is False
    feed.close()
    start_call(rec, SeedCall("r2", None, "a", "a", 1, 1), 2)
    assert not feed.poll()  # unsubscribed
    rec.close()


def test_observe_mode_reports_what_routing_would_have_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    # Observe mode: calls run on the requested model; the trace keeps the routed alternative.
    calls = [
        SeedCall("o1", "implement", "big", "big", 100, 10, cost=0.40, baseline=0.40),
        SeedCall("o2", "explore", "big", "big", 100, 10, cost=0.20, baseline=0.20),
        SeedCall("o3", "explore", "big", "big", 100, 10, cost=None, unpriced_reason="x"),
    ]
    store = seed_session("obs-1", calls)
    for call_id, would in (("obs-1/o1", 0.10), ("obs-1/o2", 0.02), ("obs-1/o3", 0.01)):
        store.update_call(call_id, would_model="small", would_cost_usd=would)
    totals = q.session_total(store, "obs-1")
    assert totals.saved_usd == pytest.approx(0.0)  # it ran on the baseline
    assert totals.would_calls == 2  # the unpriced call cannot be compared
    assert totals.would_cost_usd == pytest.approx(0.12)
    assert totals.would_save_pct == pytest.approx(80.0)
    assert fmt.would(totals) == "routing would cost $0.12 instead of $0.60 (-80%)"
    # The summary and the statusline say it too.
    from rich.console import Console

    from agentwrap.statusline import statusline_text
    from agentwrap.summary import render_summary

    console = Console(width=160, record=True, file=io.StringIO(), color_system=None)
    console.print(render_summary(store, "obs-1"))
    assert "observe mode: routing would cost $0.12 instead of $0.60 (-80%) on 2 calls" in (
        console.export_text()
    )
    monkeypatch.setenv("AGENTWRAP_SESSION_ID", "obs-1")
    line = statusline_text(paths.trace_db())
    assert line.endswith("routing would save 80%"), line

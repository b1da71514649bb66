"""The live panel driven with Textual's Pilot, fed through the real Recorder and store."""

from __future__ import annotations

import io
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence

import pytest
from rich.console import Console
from rich.segment import Segment
from textual.pilot import Pilot
from textual.widgets import Sparkline

from agentwrap import fmt, paths
from agentwrap.sim.history import HistoryShape, write_history_rows
from agentwrap.trace.live import RecorderFeed, SnapshotSums, StoreFollower
from agentwrap.trace.recorder import OUTCOME, Recorder
from agentwrap.trace.store import TraceStore
from agentwrap.trace.tally import Tally, cost_series, ledger_of, model_key, step_key
from agentwrap.tui.app import SUM_AFTER_FIRST_FRAME, TopApp
from agentwrap.tui.cells import Layout
from agentwrap.tui.table import CallTable
from agentwrap.tui.widgets import CallDetail, TotalsHeader, detail_renderable, spark_text
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


def cell(table: CallTable, row: str, column: str) -> str:
    value = table.get_cell(row, column)
    return getattr(value, "plain", value)


def header(app: TopApp) -> str:
    return app.query_one(TotalsHeader).plain


def follow(session_id: str | None, **kwargs) -> TopApp:
    store = TraceStore(paths.trace_db())
    return TopApp(StoreFollower(store, session_id), clock=lambda: T0 + 60, **kwargs)


async def test_events_in_rows_totals_and_savings_out() -> None:
    store = TraceStore(paths.trace_db())
    start_session(store, "sess-0001", pid=os.getpid())
    rec = Recorder(store, "sess-0001")
    app = follow("sess-0001")  # the real 150 ms poll timer
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(CallTable)
        assert table.row_count == 0 and "no calls yet" in header(app)
        for seq, c in enumerate(SESSION_CALLS, start=1):
            start_call(rec, c, seq)
            first_byte(rec, c)
            finish_call(rec, c)
        rec.flush()
        deadline = time.monotonic() + 5
        while table.row_count < 6 and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert table.row_count == 6
        assert list(table.rows) == [c.id for c in SESSION_CALLS]
        assert cell(table, "call-04", "model") == "opus-4-1 → sonnet-4-5"
        assert cell(table, "call-04", "cost") == "$0.13"
        assert cell(table, "call-04", "baseline") == "$0.63"
        assert cell(table, "call-04", "status") == "↻✓ ok"  # fell back once
        assert cell(table, "call-04", "tokens") == "30.0k/2.0k"
        assert cell(table, "call-04", "cache") == "0/20.0k"
        assert cell(table, "call-04", "reason") == "main loop → balanced model"
        assert cell(table, "call-05", "cost") == "unpriced"
        assert cell(table, "call-06", "status") == "✗ err 500"
        assert cell(table, "call-01", "time") == "10:00:00"
        text = header(app)
        assert "cost $0.56 +1 unpriced" in text
        assert "baseline $1.90" in text
        assert "saved 61% ($0.87) on 4/6" in text
        assert "6 calls" in text and "1 fallback" in text and "1 failed" in text
        assert "claude-sonnet-4-5 $0.13×2" in text and "kimi-k2-local unpriced×1" in text
        assert "● running 1m00s" in text
        # Autoscroll follows the newest call.
        assert table.cursor_row == 5
    rec.close()


async def test_a_row_goes_from_waiting_to_streaming_to_done() -> None:
    store = TraceStore(paths.trace_db())
    start_session(store, "sess-0001", pid=os.getpid())
    rec = Recorder(store, "sess-0001")
    app = follow("sess-0001", poll_interval=None)
    call = SESSION_CALLS[2]
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(CallTable)
        start_call(rec, call, 1)
        rec.flush()
        app.tick()
        await pilot.pause()
        assert cell(table, call.id, "status") == "… waiting"
        assert cell(table, call.id, "cost") == "…"
        assert "(1 live)" in header(app)
        first_byte(rec, call)
        rec.flush()
        app.tick()
        await pilot.pause()
        assert cell(table, call.id, "status") == "▶ streaming"
        assert cell(table, call.id, "ttfb") == "310ms"
        finish_call(rec, call)
        rec.flush()
        app.tick()
        await pilot.pause()
        assert table.row_count == 1
        assert cell(table, call.id, "status") == "✓ ok"
        assert cell(table, call.id, "cost") == "$0.03"
        assert cell(table, call.id, "total") == "3.9s"
        assert "live" not in header(app) and "saved 93%" in header(app)
    rec.close()


async def test_selecting_a_row_opens_its_details() -> None:
    seed_session()
    app = follow("sess-0001", poll_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(CallTable)
        detail = app.query_one(CallDetail)
        assert not detail.display
        table.move_cursor(row=table.get_row_index("call-04"))
        await pilot.press("enter")
        assert detail.display and app.detail_open
        text = detail.plain
        assert "claude-opus-4-1-20250805 → claude-sonnet-4-5-20250929" in text
        assert "evidence main loop tools" in text
        assert "step     implement  rule implement" in text
        assert "1. anthropic/claude-sonnet-4-5-20250929 → http 529 (120ms)" in text
        assert "2. bedrock/claude-sonnet-4-5-20250929 → ok (2.4s)" in text
        assert "read 20,000" in text and "cost     $0.13  baseline $0.63" in text
        # Moving the cursor shows the next call; a failed call shows its error text.
        await pilot.press("down", "down")
        assert "upstream 500: internal error" in detail.plain
        await pilot.press("up")
        assert "no price for model 'kimi-k2-local'" in detail.plain
        await pilot.press("escape")
        assert not detail.display
        await pilot.press("d")
        assert detail.display and "kimi-k2-local" in detail.plain
        await pilot.press("enter")  # selecting again keeps it open
        assert detail.display
        await pilot.press("d")
        assert not detail.display


async def test_filters_by_step_and_model() -> None:
    seed_session()
    app = follow("sess-0001", poll_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(CallTable)
        assert table.row_count == 6
        await pilot.press("s")  # steps in order: background, explore, implement, plan
        assert app.step_filter == "background" and table.row_count == 1
        await pilot.press("s", "s")
        assert app.step_filter == "implement"
        assert list(table.rows) == ["call-04", "call-05", "call-06"]
        assert "step=implement" in header(app)
        await pilot.press("m")  # first model: claude-haiku-4-5, never on implement
        assert app.model_filter == "claude-haiku-4-5" and table.row_count == 0
        await pilot.press("m", "m")
        assert app.model_filter == "claude-sonnet-4-5-20250929"
        assert list(table.rows) == ["call-04", "call-06"]
        await pilot.press("c")
        assert table.row_count == 6 and "step=" not in header(app)
        # Totals stay the session's whatever the filter.
        await pilot.press("s")
        assert "6 calls" in header(app)


async def test_new_calls_respect_the_filter_and_pause_stops_autoscroll() -> None:
    store = seed_session(ended=False, pid=os.getpid())
    rec = Recorder(store, "sess-0001")
    app = follow("sess-0001", poll_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(CallTable)
        assert table.cursor_row == 5
        await pilot.press("p")
        assert app.paused and "autoscroll paused" in header(app)
        table.move_cursor(row=1)
        extra = [
            SeedCall("n1", "explore", "claude-opus-4-1", "claude-haiku-4-5", 5, 5, cost=0.001),
            SeedCall("n2", "background", "claude-opus-4-1", "claude-haiku-4-5", 5, 5, cost=0.001),
        ]
        for seq, c in enumerate(extra, start=7):
            start_call(rec, c, seq)
            finish_call(rec, c)
        rec.flush()
        app.tick()
        await pilot.pause()
        assert table.row_count == 8 and table.cursor_row == 1  # paused: cursor stays
        assert "8 calls" in header(app)
        await pilot.press("p")
        assert table.cursor_row == 7
        await pilot.press("s", "s")  # explore
        c = SeedCall("n3", "plan", "claude-opus-4-1", "claude-opus-4-1", 5, 5, cost=0.01)
        start_call(rec, c, 9)
        finish_call(rec, c)
        rec.flush()
        app.tick()
        await pilot.pause()
        assert list(table.rows) == ["call-03", "n1"]
        assert "9 calls" in header(app)
        # A hidden call that changes shows its latest state once the filter is cleared.
        rec.call_event("finished", "n2", status="error", http_status=529)
        rec.flush()
        app.tick()
        await pilot.pause()
        await pilot.press("c")
        assert table.row_count == 9 and cell(table, "n2", "status") == "✗ err 529"
        assert cell(table, "n3", "status") == "✓ ok"
    rec.close()


async def test_session_end_and_demo_label() -> None:
    store = TraceStore(paths.trace_db())
    start_session(store, "demo-1", pid=os.getpid(), is_demo=True)
    rec = Recorder(store, "demo-1")
    app = follow("demo-1", poll_interval=None)
    async with app.run_test(size=(100, 30)) as pilot:
        assert "simulated providers" in header(app)
        assert "● running 1m00s" in header(app)
        rec.session_event("session_ended", exit_code=0)
        rec.close()
        store.update_session("demo-1", ended_at=T0 + 90, exit_code=0)
        app.tick()
        await pilot.pause()
        assert "■ ended" in header(app) and "running" not in header(app)


async def test_narrow_terminal_drops_columns_and_wide_brings_them_back() -> None:
    seed_session()
    app = follow("sess-0001", poll_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(CallTable)
        keys = list(table.columns)
        assert keys == ["time", "step", "model", "tokens", "cost", "status"]
        assert cell(table, "call-04", "model") == "claude-sonnet-4-5"
        assert not app.query_one("#chart").display
        # The chart moves into the header as one line of bars; the plan call is the tallest.
        money_line = header(app).splitlines()[1]
        total = app.ledger.total
        rows = TraceStore(paths.trace_db()).calls("sess-0001")
        series = cost_series(rows, 12, total.first_started, total.last_finished)
        assert spark_text(series) and money_line.endswith(spark_text(series))
        assert "█" in money_line
        # Every visible column fits: no horizontal scrolling at 80 columns.
        assert table.virtual_size.width <= 80
        await pilot.resize_terminal(160, 48)
        await pilot.pause()
        keys = list(table.columns)
        assert {"reason", "baseline", "ttfb", "total", "cache"} <= set(keys)
        assert table.row_count == 6 and app.query_one("#chart").display
        assert cell(table, "call-04", "model") == "opus-4-1 → sonnet-4-5"


async def test_all_sessions_shows_the_session_column_and_leaves_demo_out() -> None:
    seed_session("real-1", SESSION_CALLS[:2])
    seed_session("demo-1", SESSION_CALLS[:3], is_demo=True)
    app = follow(None, all_sessions=True, poll_interval=None)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(CallTable)
        assert "session" in list(table.columns)
        assert table.row_count == 2
        assert cell(table, "real-1/call-01", "session") == "real-1"
        assert "all sessions (1, 0 running)" in header(app)
        seed_session("real-2", SESSION_CALLS[2:3])
        app.tick()
        await pilot.pause()
        assert table.row_count == 3 and "all sessions (2, 0 running)" in header(app)


async def test_in_process_feed_from_the_recorder() -> None:
    store = TraceStore(paths.trace_db())
    start_session(store, "inproc", pid=os.getpid())
    rec = Recorder(store, "inproc")
    feed = RecorderFeed(rec, store.session("inproc"))
    app = TopApp(feed, clock=lambda: T0 + 5, poll_interval=0.05)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(CallTable)
        c = SESSION_CALLS[1]
        start_call(rec, c, 1)
        await pilot.pause(0.2)
        assert cell(table, c.id, "status") == "… waiting"
        finish_call(rec, c)
        await pilot.pause(0.2)
        assert cell(table, c.id, "status") == "✓ ok" and cell(table, c.id, "cost") == "$0.0004"
    rec.close()


async def test_thousands_of_calls_update_in_place() -> None:
    # How long a tick takes is for a benchmark to measure; here, that its work follows what
    # changed and not how many rows there are.
    store = TraceStore(paths.trace_db())
    start_session(store, "big", pid=os.getpid())
    rec = Recorder(store, "big")
    n = 3000
    calls = [
        SeedCall(f"b{i}", ("implement", "explore", "background")[i % 3], "claude-opus-4-1",
                 ("claude-sonnet-4-5", "claude-haiku-4-5")[i % 2], 1000 + i, 100,
                 cost=0.001 * (i % 7), baseline=0.01, offset=i * 0.5)
        for i in range(n)
    ]  # fmt: skip
    for seq, c in enumerate(calls, start=1):
        start_call(rec, c, seq)
    rec.flush()
    app = follow("big", poll_interval=None)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(CallTable)
        assert table.row_count == n
        work = table_work(table)
        # 500 calls finish at once: one batch, rows updated in place.
        for c in calls[:500]:
            finish_call(rec, c)
        rec.flush()
        app.tick()
        await pilot.pause()
        assert table.row_count == n
        assert (
            cell(table, "b0", "status") == "✓ ok" and cell(table, "b600", "status") == "… waiting"
        )
        assert app.ledger.total.ok == 500 and app.ledger.total.streaming == n - 500
        assert work.pop("append", 0) == work.pop("set_rows", 0) == 0
        assert work.pop("refresh_row", 0) == 500
        # One call changing costs the same with 3000 rows as with a few: no per-row work.
        finish_call(rec, calls[2999])
        rec.flush()
        app.tick()
        assert cell(table, "b2999", "status") == "✓ ok"
        assert work.pop("append", 0) == work.pop("set_rows", 0) == 0
        assert work.pop("refresh_row", 0) == 1
        # A quiet tick (nothing changed) touches no row.
        app.tick()
        assert work == {}
    rec.close()


def table_work(table: CallTable) -> Counter[str]:
    """Count the table's row operations from now on (pop what was checked)."""
    work: Counter[str] = Counter()
    for name in ("append", "refresh_row", "set_rows"):
        method = getattr(table, name)

        def counted(*args, _method=method, _name=name, **kwargs):
            work[_name] += 1
            return _method(*args, **kwargs)

        setattr(table, name, counted)
    return work


async def test_an_unreadable_store_is_reported_not_fatal() -> None:
    seed_session()
    store = TraceStore(paths.trace_db())
    app = TopApp(StoreFollower(store, "sess-0001"), clock=lambda: T0, poll_interval=None)
    async with app.run_test(size=(120, 30)) as pilot:
        store.conn.close()
        app.tick()
        await pilot.pause()
        assert "store unreadable" in header(app)
        assert app.query_one(CallTable).row_count == 6  # the rows stay
        # The store comes back: the warning goes away and following resumes.
        store.conn = TraceStore(paths.trace_db()).conn
        app.tick()
        await pilot.pause()
        assert "store unreadable" not in header(app)


async def test_a_split_pane_of_46_columns_keeps_model_cost_and_status() -> None:
    # The in-session panel is a tmux split of ~38% of the terminal.
    seed_session(ended=False, pid=os.getpid())
    app = follow("sess-0001", poll_interval=None)
    async with app.run_test(size=(46, 24)):
        table = app.query_one(CallTable)
        assert list(table.columns) == ["step", "model", "cost", "status"]
        assert table.virtual_size.width <= 46
        assert cell(table, "call-04", "model") == "sonnet-4-5"
        assert cell(table, "call-04", "step") == "impl"
        assert cell(table, "call-04", "status") == "↻✓ ok"
        assert cell(table, "call-05", "cost") == "unpriced"
        assert cell(table, "call-06", "status") == "✗ 500"
        # The header leads with what matters when only its start is visible.
        first, money = header(app).splitlines()[:2]
        assert first.startswith("● running 1m00s")
        assert money.startswith("cost $0.56 +1 unpriced  saved 61%")


async def test_an_outcome_learned_later_appears_in_the_details() -> None:
    seed_session()
    app = follow("sess-0001", poll_interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(CallTable)
        detail = app.query_one(CallDetail)
        table.move_cursor(row=table.get_row_index("call-04"))
        await pilot.press("enter")
        assert "outcome" not in detail.plain
        # The agent's next request showed that this step's tool call failed.
        store = TraceStore(paths.trace_db())
        rec = Recorder(store, "sess-0001")
        rec.call_event("outcome", "call-04", outcome="failed")
        rec.close()
        for _ in range(40):
            await pilot.pause(0.05)
            if "failed" in detail.plain:
                break
        assert "outcome" in detail.plain and "failed" in detail.plain


async def test_a_steps_outcome_and_signals_reach_its_row_and_details_as_learned() -> None:
    seed_session()
    app = follow("sess-0001", poll_interval=0.05)
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.query_one(CallTable)
        detail = app.query_one(CallDetail)
        assert cell(table, "call-01", "status") == "✓ ok"
        table.move_cursor(row=table.get_row_index("call-01"))
        await pilot.press("enter")
        store = TraceStore(paths.trace_db())
        rec = Recorder(store, "sess-0001")
        rec.call_event(
            "outcome",
            "call-01",
            outcome="failed",
            signals=["repeated_call", "same_error"],
            outcome_evidence="Bash failed: Exit code 1",
        )
        rec.call_event("outcome", "call-02", outcome="succeeded", signals=[])
        rec.close()
        for _ in range(40):
            await pilot.pause(0.05)
            if "same error" in detail.plain:
                break
        assert cell(table, "call-01", "status") == "✗ failed!"
        assert cell(table, "call-02", "status") == "✓ passed"
        assert "failed  repeated call, same error  Bash failed: Exit code 1" in detail.plain


async def test_the_outcome_reaches_a_panel_inside_the_session() -> None:
    store = TraceStore(paths.trace_db())
    start_session(store, "sess-0001", pid=os.getpid())
    rec = Recorder(store, "sess-0001")
    feed = RecorderFeed(rec)
    app = TopApp(feed, clock=lambda: T0 + 60)
    async with app.run_test(size=(160, 40)) as pilot:
        rec.call_started("c-1", seq=1, surface="gemini", endpoint="generate", step="implement")
        rec.call_event("finished", "c-1", status="ok", stop_reason="tool_use")
        rec.call_event("outcome", "c-1", outcome="interrupted", signals=["interrupt"])
        table = app.query_one(CallTable)
        for _ in range(40):
            await pilot.pause(0.05)
            if table.row_count and cell(table, "c-1", "status") != "✓ ok":
                break
        assert cell(table, "c-1", "status") == "■ stopped!"
    rec.close()


def many_calls(n: int, prefix: str = "t") -> list[SeedCall]:
    """n finished calls over three step kinds and two models."""
    return [
        SeedCall(f"{prefix}{i}", ("implement", "explore", "background")[i % 3], "claude-opus-4-1",
                 ("claude-sonnet-4-5", "claude-haiku-4-5")[i % 2], 1000 + i, 100,
                 cost=0.001 * (i % 7), baseline=0.01, offset=i * 0.1)
        for i in range(n)
    ]  # fmt: skip


def rows_rendered(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the rows whose cells are rendered from now on, by call id."""
    rendered: Counter[str] = Counter()
    render = Layout.render

    def counted(self: Layout, call: dict) -> tuple:
        rendered[call["id"]] += 1
        return render(self, call)

    monkeypatch.setattr(Layout, "render", counted)
    return rendered


async def test_ten_thousand_calls_filter_select_scroll_and_follow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    n = 10_000
    store = TraceStore(paths.trace_db())
    start_session(store, "ten", pid=os.getpid())
    rec = Recorder(store, "ten")
    calls = many_calls(n)
    for seq, c in enumerate(calls, start=1):
        start_call(rec, c, seq)
        finish_call(rec, c)
    rec.flush()
    rendered = rows_rendered(monkeypatch)
    app = follow("ten", poll_interval=None)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(CallTable)
        await pilot.pause()
        # Open: every call is a row, the cursor on the newest; only rows on screen rendered.
        screen_rows = table.scrollable_content_region.height - 1
        assert table.row_count == n and table.cursor_row == n - 1
        assert table.selected == f"t{n - 1}"
        assert set(rendered) <= {f"t{i}" for i in range(n - screen_rows, n)}
        assert 0 < len(rendered) <= screen_rows
        rendered.clear()

        # A step filter: one pass over the ids; again only the rows on screen are drawn.
        await pilot.press("s")  # background
        rendered.clear()
        await pilot.press("s")  # explore
        assert app.step_filter == "explore" and table.row_count == n // 3
        assert all(int(k[1:]) % 3 == 1 for k in table.rows)
        assert table.selected == table.rows[-1]
        assert 0 < len(rendered) <= screen_rows and all(rendered[k] == 1 for k in rendered)
        # And a model filter on top: explore calls on haiku only.
        await pilot.press("m")
        assert app.model_filter == "claude-haiku-4-5"
        assert table.row_count == len([i for i in range(n) if i % 3 == 1 and i % 2 == 1])

        # Scrolling: home, a page down, end; the cursor stays on screen all the way.
        await pilot.press("home")
        assert table.cursor_row == 0 and table.scroll_y == 0
        await pilot.press("pagedown")
        assert table.cursor_row == screen_rows
        assert table.scroll_y <= table.cursor_row < table.scroll_y + screen_rows
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_row == table.row_count - 1
        assert table.scroll_y == table.max_scroll_y

        # Selection: enter opens the details of the call under the cursor, which follow it.
        await pilot.press("home", "down", "enter")
        second = table.rows[1]
        assert app.detail_open and f" {second} " in app.query_one(CallDetail).plain
        await pilot.press("down")
        assert f" {table.rows[2]} " in app.query_one(CallDetail).plain
        await pilot.press("escape")

        # Live rows arriving while filtered: only the one that matches is added, at the end,
        # and the cursor (following, not paused) moves onto it.
        await pilot.press("c", "s", "s")  # explore, all models
        before = table.row_count
        extra = [
            SeedCall("live-explore", "explore", "claude-opus-4-1", "claude-haiku-4-5", 5, 5),
            SeedCall("live-plan", "plan", "claude-opus-4-1", "claude-opus-4-1", 5, 5),
        ]
        for seq, c in enumerate(extra, start=n + 1):
            start_call(rec, c, seq)
            finish_call(rec, c)
        rec.flush()
        rendered.clear()
        app.tick()
        await pilot.pause()
        assert table.row_count == before + 1 and table.rows[-1] == "live-explore"
        assert table.selected == "live-explore" and "live-plan" not in table.rows
        assert set(rendered) <= set(table.rows[-screen_rows:])
        assert f"{n + 2} calls" in header(app)
        await pilot.press("c")
        assert table.row_count == n + 2 and table.rows[-1] == "live-plan"
    rec.close()


async def test_a_wide_terminal_gives_the_spare_width_to_the_model_and_the_reason() -> None:
    reason = "routing.background: background → flash on gemini"
    call = SeedCall("wide-1", "background", "claude-haiku-4-5", "gemini-3-flash-preview", 5, 5,
                    cost=0.001, reason=reason)  # fmt: skip
    seed_session("wide", [call])
    app = follow("wide", poll_interval=None)
    async with app.run_test(size=(200, 30)) as pilot:
        await pilot.pause()
        table = app.query_one(CallTable)
        # Every column shown, and the table as wide as the terminal (but its scrollbar).
        assert table.virtual_size.width == 200 - 2
        line = table.render_line(1).text
        assert reason in line and "claude-haiku-4-5 → gemini-3-flash-preview " in line
        await pilot.resize_terminal(160, 30)
        await pilot.pause()
        line = table.render_line(1).text
        assert table.virtual_size.width <= 160
        # Narrower: both are cut, and say so.
        assert reason not in line and "routing.background: back" in line and "…" in line


async def test_the_header_of_a_one_call_session_says_one_call() -> None:
    seed_session("one", SESSION_CALLS[:1])
    app = follow("one", poll_interval=None)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        assert "1 call  " in header(app) and "1 calls" not in header(app)


async def test_a_tiny_cost_reads_whole_at_every_width() -> None:
    # A title call on a small model: two significant digits, as log and the summary write it.
    call = SeedCall("tiny-1", "background", "claude-haiku-4-5", "claude-haiku-4-5", 120, 11,
                    cost=0.000046, baseline=0.000046)  # fmt: skip
    seed_session("tiny", [call])
    app = follow("tiny", poll_interval=None)
    async with app.run_test(size=(200, 30)) as pilot:
        table = app.query_one(CallTable)
        for width in (200, 120, 80, 46):
            await pilot.resize_terminal(width, 24)
            await pilot.pause()
            assert cell(table, "tiny/tiny-1", "cost") == "$0.000046"
            line = table.render_line(1).text
            assert "$0.000046 " in line and "$0.0000…" not in line, (width, line)
            if "baseline" in table.columns:
                assert line.count("$0.000046") == 2, (width, line)


def read_run_by_run(renderable: object, width: int) -> list[str]:
    """The lines as a reader that takes each styled run and trims its start would get them."""
    console = Console(width=width, file=io.StringIO(), color_system="truecolor")
    lines = Segment.split_lines(console.render(renderable))  # type: ignore[arg-type]
    out = []
    for line in lines:
        runs = [seg for seg in Segment.simplify(line) if seg.text]
        out.append("".join(seg.text if i == 0 else seg.text.lstrip() for i, seg in enumerate(runs)))
    return out


async def test_header_and_details_keep_their_words_apart_run_by_run() -> None:
    seed_session()
    app = follow("sess-0001", poll_interval=None)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(CallTable)
        table.move_cursor(row=table.get_row_index("call-04"))
        await pilot.press("enter")
        header_lines = [
            line
            for text in app.query_one(TotalsHeader).lines
            for line in read_run_by_run(text, 150)
        ]
        detail_lines = read_run_by_run(detail_renderable(app.call_row("call-04")), 150)
        seen = app.query_one(TotalsHeader).plain
    header_text = "\n".join(header_lines)
    # What a person sees, and what such a reader keeps: the same words, in the same order.
    assert header_text.split() == seen.split()
    assert "cost $0.56 +1 unpriced" in header_text
    assert "6 calls  166k tok (in 118k" in header_text
    assert "claude-opus-4-1 $0.41×1" in header_text
    detail = "\n".join(detail_lines)
    assert "implement  rule implement" in detail
    assert "✓ ok  http 200" in detail and "$0.13  baseline $0.63" in detail


async def test_scrolling_far_keeps_only_a_few_screens_of_rendered_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import agentwrap.tui.app as app_module
    import agentwrap.tui.table as table_module

    monkeypatch.setattr(table_module, "LINES_KEPT", 60)
    monkeypatch.setattr(app_module, "LINES_KEPT", 60)
    seed_session("far", many_calls(600, prefix="f"))
    rendered = rows_rendered(monkeypatch)
    app = follow("far", poll_interval=None)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(CallTable)
        await pilot.press("home")
        for _ in range(12):
            await pilot.press("pagedown")
        await pilot.pause()
        # Every screen on the way was drawn, and what is kept of them stays bounded.
        assert len(rendered) > 60
        assert len(table._lines) <= 60 and len(app._cells) <= 60
        assert table.selected == table.rows[table.cursor_row]
        assert cell(table, table.selected, "step") in ("implement", "explore", "background")


async def test_a_big_session_opens_with_the_stores_sums_and_reads_a_row_when_shown() -> None:
    # The panel sums a session in SQL and keeps only each call's keys; here its header, its
    # rows and its details are held to the rows themselves, before and after calls change.
    n = 10_000
    store = TraceStore(paths.trace_db())
    write_history_rows(store, HistoryShape(sessions=1, calls_per_session=n))
    session_id = "hist-00000"
    rec = Recorder(store, session_id)
    last = store.calls(session_id)[-1]
    unpriced = SeedCall(
        "big-unpriced",
        "explore",
        "m-local",
        "m-local",
        700,
        30,
        unpriced_reason="no price for model 'm-local'",
        offset=last["started_at"] - T0 + 60,
    )
    waiting = SeedCall(
        "big-live",
        "implement",
        "claude-opus-4-1",
        "claude-sonnet-4-5",
        900,
        90,
        cost=0.02,
        baseline=0.05,
        offset=last["started_at"] - T0 + 70,
    )
    start_call(rec, unpriced, n + 1)
    finish_call(rec, unpriced)
    start_call(rec, waiting, n + 2)
    rec.flush()

    def the_rows_sums() -> Tally:
        return ledger_of(store.calls(session_id)).total

    app = follow(session_id, poll_interval=None)
    async with app.run_test(size=(160, 48)) as pilot:
        await sums_made(app, pilot)
        table = app.query_one(CallTable)
        assert table.row_count == n + 2 and table.selected == "big-live"
        assert_same_sums(app.ledger.total, the_rows_sums())
        total = the_rows_sums()
        assert total.calls == n + 2 and total.streaming == 1 and total.unpriced_calls == 1
        seen = header(app)
        assert f"{n + 2} calls (1 live)" in seen
        assert f"cost {fmt.cost(total)[0]} +1 unpriced" in seen
        assert fmt.tokens(total.tokens) in seen
        models = {name for name, _ in ledger_of(store.calls(session_id)).models()}
        assert set(app.ledger.by_model) == models
        # Only the calls' keys are held, and the call in flight whole; a row's cells are read
        # when it is drawn.
        assert len(app.keys) == n + 2 and list(app.rows) == ["big-live"]
        assert cell(table, "big-live", "status") == "… waiting"

        # A row far from the end, selected: its cells and details are its own.
        await pilot.press("home", "pagedown", "down", "enter")
        chosen = table.selected
        assert chosen is not None and chosen.startswith("hist-00000/c")
        row = store.call(chosen)
        assert row is not None
        assert cell(table, chosen, "step") == row["step"]
        detail = app.query_one(CallDetail).plain
        assert f" {chosen} " in detail and str(row["reason"]) in detail
        assert f"in {fmt.count(row['input_tokens'])} · out {fmt.count(row['output_tokens'])}" in (
            detail
        )

        # Calls change: the live one finishes, an old one (held by its keys) gets its label,
        # a new one arrives; the sums follow, as the rows say. Paused, the cursor stays.
        await pilot.press("p")
        finish_call(rec, waiting)
        rec.call_event(OUTCOME, chosen, outcome="failed", signals=["same_error"])
        late = SeedCall(
            "big-late",
            "plan",
            "claude-opus-4-1",
            "claude-opus-4-1",
            50,
            5,
            cost=0.001,
            baseline=0.001,
            offset=last["started_at"] - T0 + 90,
        )
        start_call(rec, late, n + 3)
        finish_call(rec, late)
        rec.flush()
        app.tick()
        await pilot.pause()
        total = the_rows_sums()
        assert total.steps_failed == 1 and total.streaming == 0
        assert_same_sums(app.ledger.total, total)
        assert table.row_count == n + 3 and f"{n + 3} calls" in header(app)
        assert table.selected == chosen and "failed  same error" in app.query_one(CallDetail).plain
        assert cell(table, "big-live", "status") == "✓ ok"
    rec.close()


async def sums_made(app: TopApp, pilot: Pilot[None]) -> None:
    """Wait until a big session's sums, made in a thread after its first frame, are in."""
    for _ in range(1000):
        await pilot.pause()
        if not app.summing:
            return
        await app.workers.wait_for_complete()
    assert not app.summing


def assert_same_sums(got: Tally, want: Tally) -> None:
    for name, value in vars(want).items():
        if isinstance(value, float):
            assert getattr(got, name) == pytest.approx(value, rel=1e-9), name
        else:
            assert getattr(got, name) == value, name


class HeldSums(StoreFollower):
    """The real follower, whose snapshot's sums wait until the test lets them through: what
    arrives while a big session is still being summed is then the test's to choose."""

    def __init__(self, store: TraceStore, session_id: str) -> None:
        super().__init__(store, session_id)
        self.let_through = threading.Event()

    def snapshot_sums(self, widths: Sequence[int]) -> SnapshotSums | None:
        assert self.let_through.wait(30)
        return super().snapshot_sums(widths)


async def test_a_big_session_shows_its_rows_first_and_its_sums_when_they_are_ready() -> None:
    # A session too big to sum before the first frame: its rows, filters and selection work
    # at once, the header says it is summing (no number it could get wrong), and calls that
    # arrive or change meanwhile are in the sums when they come, as the rows say.
    n = max(SUM_AFTER_FIRST_FRAME, 6_000)
    store = TraceStore(paths.trace_db())
    write_history_rows(store, HistoryShape(sessions=1, calls_per_session=n))
    session_id = "hist-00000"
    rec = Recorder(store, session_id)
    last = store.calls(session_id)[-1]

    def late(call_id: str, step: str, seconds: float) -> SeedCall:
        return SeedCall(call_id, step, "claude-opus-4-1", "claude-sonnet-4-5", 800, 80,
                        cost=0.01, baseline=0.03, offset=last["started_at"] - T0 + seconds)  # fmt: skip

    waiting = late("held-live", "implement", 10)
    start_call(rec, waiting, n + 1)
    rec.flush()
    feed = HeldSums(TraceStore(paths.trace_db()), session_id)
    app = TopApp(feed, clock=lambda: T0 + 60, poll_interval=None)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        table = app.query_one(CallTable)
        rows = store.calls(session_id)
        assert app.summing and table.row_count == n + 1 and table.selected == "held-live"
        assert table.rows == [c["id"] for c in rows]
        seen = header(app)
        assert f"summing {n + 1:,} calls…" in seen and f"{n + 1} calls" in seen
        assert "$" not in seen and "tok" not in seen
        # No chart yet either: an empty one would read as nothing spent.
        assert not app.query_one(Sparkline).visible

        # A step filter while summing: the rows are the store's, kind by kind.
        await pilot.press("s")
        kinds = sorted({step_key(c) for c in rows})
        assert app.step_filter == kinds[0]
        assert table.rows == [c["id"] for c in rows if step_key(c) == kinds[0]]
        # Selection: the details are the selected row's.
        await pilot.press("home", "down", "enter")
        chosen = table.rows[1]
        assert table.selected == chosen and f" {chosen} " in app.query_one(CallDetail).plain

        # Live calls while summing and filtered: the call in flight finishes, an old call
        # (held by its keys) gets its label, one new call matches the filter, one does not.
        # Paused, the cursor stays on the selected call.
        await pilot.press("p")
        finish_call(rec, waiting)
        rec.call_event(OUTCOME, chosen, outcome="failed", signals=["same_error"])
        other = next(kind for kind in ("plan", "implement", "explore") if kind != kinds[0])
        arrived = [late("held-match", kinds[0], 20), late("held-other", other, 30)]
        for seq, c in enumerate(arrived, start=n + 2):
            start_call(rec, c, seq)
            finish_call(rec, c)
        rec.flush()
        app.tick()
        await pilot.pause()
        assert table.rows[-1] == "held-match" and "held-other" not in table.rows
        assert app.summing and f"summing {n + 3:,} calls…" in header(app)
        assert table.selected == chosen
        assert "failed  same error" in app.query_one(CallDetail).plain

        # The sums arrive: those of every row as it is now.
        feed.let_through.set()
        await sums_made(app, pilot)
        everything = ledger_of(store.calls(session_id))
        assert_same_sums(app.ledger.total, everything.total)
        assert app.ledger.total.steps_failed == everything.total.steps_failed >= 1
        for name, tally in everything.by_model.items():
            assert_same_sums(app.ledger.by_model[name], tally)
        for name, tally in everything.by_step.items():
            assert_same_sums(app.ledger.by_step[name], tally)
        seen = header(app)
        assert f"{n + 3} calls" in seen and f"cost {fmt.cost(everything.total)[0]}" in seen
        assert "summing" not in seen
        # The chart came with the sums: the snapshot's calls. The next tick draws it again
        # (off the thread that draws) with the calls that arrived meanwhile.
        spark = app.query_one(Sparkline)
        assert spark.visible
        assert spark.data == pytest.approx(chart_of(rows, len(spark.data)), abs=1e-9)
        app.tick()
        await app.workers.wait_for_complete()
        await pilot.pause()
        now = store.calls(session_id)
        assert spark.data == pytest.approx(chart_of(now, len(spark.data)), abs=1e-9)
        assert spark.data != pytest.approx(chart_of(rows, len(spark.data)), abs=1e-9)
        await pilot.press("c")
        assert table.rows == [c["id"] for c in store.calls(session_id)]
    rec.close()


def chart_of(rows: list[dict], buckets: int) -> list[float]:
    """The cost chart over these rows, from their first start to their last finish."""
    total = ledger_of(rows).total
    return cost_series(rows, buckets, total.first_started, total.last_finished)


@pytest.mark.slow
async def test_a_hundred_thousand_call_session_opens_with_every_rows_sums_and_filters() -> None:
    # The heavier twin of the tests above, at the size the issue names: every number, row and
    # filter is the one the calls themselves give.
    n = 100_000
    store = TraceStore(paths.trace_db())
    write_history_rows(store, HistoryShape(sessions=1, calls_per_session=n))
    rows = store.calls("hist-00000")
    everything = ledger_of(rows)
    app = follow("hist-00000", poll_interval=None)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(CallTable)
        await pilot.pause()
        assert table.row_count == n and table.selected == rows[-1]["id"]
        assert table.rows == [c["id"] for c in rows]
        await sums_made(app, pilot)
        assert len(app.rows) == 0
        assert_same_sums(app.ledger.total, everything.total)
        for groups in ("by_model", "by_step"):
            want: dict[str, Tally] = getattr(everything, groups)
            assert set(getattr(app.ledger, groups)) == set(want)
            for key, tally in want.items():
                assert_same_sums(getattr(app.ledger, groups)[key], tally)
        assert f"{n} calls" in header(app)
        assert f"cost {fmt.cost(everything.total)[0]}" in header(app)

        # Each step kind in turn, then each model on top of the last kind.
        for kind in sorted(everything.by_step):
            await pilot.press("s")
            assert app.step_filter == kind
            assert table.rows == [c["id"] for c in rows if step_key(c) == kind]
        for model in sorted(everything.by_model):
            await pilot.press("m")
            assert app.model_filter == model
            assert table.rows == [
                c["id"] for c in rows if step_key(c) == kind and model_key(c) == model
            ]
        await pilot.press("c")
        assert table.rows == [c["id"] for c in rows]

        # Selection far from the end: the details are that row's, read from the store.
        await pilot.press("home", "pagedown", "pagedown", "enter")
        chosen = table.selected
        assert chosen == rows[table.cursor_row]["id"] and table.cursor_row > 0
        assert f" {chosen} " in app.query_one(CallDetail).plain
        assert str(rows[table.cursor_row]["reason"]) in app.query_one(CallDetail).plain


async def test_a_big_finished_sessions_chart_fills_its_place() -> None:
    # Summed after the first frame, a big session's chart is as wide as the place the layout
    # gives it, also when no call arrives afterwards to have it drawn again.
    n = SUM_AFTER_FIRST_FRAME
    store = TraceStore(paths.trace_db())
    write_history_rows(store, HistoryShape(sessions=1, calls_per_session=n))
    rows = store.calls("hist-00000")
    app = TopApp(StoreFollower(store, "hist-00000"), poll_interval=None)
    async with app.run_test(size=(160, 48)) as pilot:
        await sums_made(app, pilot)
        for _ in range(3):
            app.tick()
            await app.workers.wait_for_complete()
            await pilot.pause()
        spark = app.query_one(Sparkline)
        assert spark.visible and spark.size.width > 24
        assert len(spark.data) == spark.size.width
        assert spark.data == pytest.approx(chart_of(rows, spark.size.width), abs=1e-9)

"""`agentwrap top`: the live panel — every call of a session as it happens.

The app polls a `Feed` (see agentwrap.trace.live) on its own event loop every ~150 ms and
applies each batch in one pass: new calls append a row, changed calls redraw their row if it
is on screen, and the header redraws from a `Ledger` that keeps running sums. The table
(tui/table.py) renders only the rows on screen and asks for a call's cells when its row comes
into view, so a filter change is one pass over the call ids. A session opens from the
feed's snapshot: each call's keys (trace.live.CallKeys), which is all the first frame needs;
a call's whole row is read when its row is drawn or its details shown. The sums SQLite makes
over a big session, and its cost chart, arrive a moment after the first frame (made in a
thread, in the snapshot's own read); until then the header says it is summing and the calls
that change are counted when the sums arrive, so every number it shows is right. A big
session's chart is drawn again in a thread too, at most once a second while calls arrive.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Callable, MutableMapping
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import Footer, Label, Sparkline
from textual.worker import Worker, WorkerState

from agentwrap import fmt
from agentwrap.trace.live import POLL_INTERVAL, CallKeys, Feed, LiveBatch, SnapshotSums
from agentwrap.trace.queries import session_running
from agentwrap.trace.tally import Ledger, model_key, step_key
from agentwrap.tui.cells import Layout, layout_for
from agentwrap.tui.table import LINES_KEPT, CallTable, Cells
from agentwrap.tui.widgets import CallDetail, TotalsHeader, session_state, spark_text

# Below this width the header is compact and the chart is hidden.
COMPACT_WIDTH = 120
# Width of the one-line chart in the compact header.
COMPACT_SPARK = 12
# The chart is recomputed at most this often (seconds): the feed sums every call for it.
CHART_EVERY = 1.0
# A session of at least this many calls is summed after its first frame, in a thread; a
# smaller one before it (its sums cost a few milliseconds).
SUM_AFTER_FIRST_FRAME = 5_000


def size_from_terminal(environ: MutableMapping[str, str], *, on_terminal: bool) -> None:
    """Let the terminal say how big the panel is: on one, drop COLUMNS and LINES.

    Textual, like shutil.get_terminal_size, prefers those variables to the terminal's own size,
    on every resize too; inherited from a parent (a shell that exports them, a tmux pane started
    at its window's size) they pin the panel to a size its pane does not have. Without a
    terminal (a pipe, a test) they still say what size to assume.
    """
    if on_terminal:
        environ.pop("COLUMNS", None)
        environ.pop("LINES", None)


class TopApp(App[None]):
    """The live panel over one session, or all sessions."""

    CSS_PATH = Path(__file__).with_name("top.tcss")
    TITLE = "agentwrap top"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("s", "cycle_step", "Step"),
        Binding("m", "cycle_model", "Model"),
        Binding("c", "clear_filters", "Clear"),
        Binding("p,space", "toggle_pause", "Pause"),
        Binding("d", "toggle_detail", "Details"),
        Binding("escape", "close_detail", "Close", show=False),
    ]

    def __init__(
        self,
        feed: Feed,
        *,
        all_sessions: bool = False,
        clock: Callable[[], float] = time.time,
        poll_interval: float | None = POLL_INTERVAL,
    ) -> None:
        super().__init__()
        self.feed = feed
        self.all_sessions = all_sessions
        self.clock = clock
        self.poll_interval = poll_interval
        self.ledger = Ledger()
        self.sessions: dict[str, dict[str, Any]] = {}
        # Every call in start order, by its keys; and the whole rows held: the calls in flight
        # when the session opened and every call applied since. Any other call's row is read
        # from the feed when it is drawn or its details shown.
        self.keys = CallKeys()
        self.rows: dict[str, dict[str, Any]] = {}
        # Of the snapshot the feed sums: how many calls it held (the first ones in `keys`),
        # and its calls in flight as it summed them.
        self._snapshot_calls = 0
        self._summed_rows: dict[str, dict[str, Any]] = {}
        # Calls applied while the snapshot's sums are being made, counted when they arrive;
        # None when the ledger is up to date.
        self._unsummed: list[dict[str, Any]] | None = None
        self._snapshot_again = False
        self.step_filter: str | None = None
        self.model_filter: str | None = None
        self.paused = False
        self.detail_open = False
        self.feed_error: str | None = None
        self._layout: Layout | None = None
        # Cells per call under the current layout, rendered when the row is first drawn.
        self._cells: dict[str, Cells] = {}
        self._chart_dirty = False
        self._chart_at = 0.0
        self._chart_width = 0  # the buckets of the chart drawn last
        self._spark: list[float] = []

    # -- building -------------------------------------------------------------
    def run_on_terminal(self) -> None:
        """Run full screen at the size of the terminal it is on (see size_from_terminal)."""
        size_from_terminal(os.environ, on_terminal=sys.stdout.isatty())
        self.run()

    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield TotalsHeader(id="totals")
            with Vertical(id="chart"):
                yield Label("cost over time", id="chart-label")
                yield Sparkline([], id="sparkline")
        yield CallTable(self.cells_of, id="calls")
        yield CallDetail(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self._set_layout(self.size.width)
        snapshot = self.feed.snapshot()
        self.apply(snapshot)
        if snapshot.keys is None:
            # Whole rows, counted here: so is their chart (a store's comes with its sums).
            self._redraw_chart(force=True)
        if self.poll_interval:
            self.set_interval(self.poll_interval, self.tick)
            self.set_interval(1.0, self._tick_header)
        self.query_one(CallTable).focus()

    def on_unmount(self) -> None:
        self.feed.close()

    # -- feeding --------------------------------------------------------------
    def tick(self) -> None:
        """Poll the feed once and apply what changed."""
        if not self.is_running:
            return  # a timer firing while the app shuts down: its widgets may be gone
        try:
            batch = self.feed.snapshot() if self._snapshot_again else self.feed.poll()
            self._snapshot_again = False
        except sqlite3.Error as exc:
            # A busy or briefly unreadable store: say so, keep the rows, try again next tick.
            if not self.feed_error:
                self.feed_error = str(exc)
                self._redraw_header()
            return
        if self.feed_error:
            self.feed_error = None
            self._redraw_header()
        if batch:
            self.apply(batch)
        self._redraw_chart()

    def _tick_header(self) -> None:
        # The running time moves on; not while the app shuts down.
        if self.is_running:
            self._redraw_header()

    def apply(self, batch: LiveBatch) -> None:
        """Apply one batch: new rows appended, changed rows redrawn, header redrawn."""
        for session in batch.sessions:
            self.sessions[session["id"]] = session
        table = self.query_one(CallTable)
        if batch.keys is not None:
            self._take_snapshot(batch.keys, batch.calls)
        added = self._take(batch.calls) if batch.keys is None else []
        if added:
            table.append(added)
        if batch.calls:
            self._chart_dirty = True
        if added and not self.paused and table.row_count:
            table.move_cursor(row=table.row_count - 1)
        if self.detail_open:
            self._show_detail()
        self._redraw_header()

    def _take(self, calls: list[dict[str, Any]]) -> list[str]:
        """Count these calls and mark their rows to draw again; returns the new calls the
        filters let through."""
        table = self.query_one(CallTable)
        added: list[str] = []
        for call in calls:
            call_id = call["id"]
            at = self.keys.position(call_id)
            self.rows[call_id] = call
            if at is None:
                self.keys.add(call)
                if self._matches(call):
                    added.append(call_id)
            else:
                self.keys.regroup(at, call)
                # Rendered again only when its row is next drawn.
                self._cells.pop(call_id, None)
                table.refresh_row(call_id)
            self._count(call, at)
        return added

    def _count(self, call: dict[str, Any], at: int | None) -> None:
        """Count a call in the ledger (replacing what it counted for before), or hold it for
        the sums being made."""
        if self._unsummed is not None:
            self._unsummed.append(call)
            return
        previous = None
        if at is not None and at < self._snapshot_calls:
            # Counted in the snapshot's sums: the ledger replaces the row as it was summed
            # (and ignores it once it has counted the call itself).
            previous = self._summed_rows.get(call["id"]) or self.keys.as_summed(at)
        self.ledger.upsert(call, previous=previous)

    def _take_snapshot(self, keys: CallKeys, calls: list[dict[str, Any]]) -> None:
        """Take a store's snapshot (a whole session at once): every call by its keys, the
        calls in flight whole; the sums follow (now, or after the first frame when many)."""
        self.keys = keys
        self.rows = {call["id"]: call for call in calls}
        self._summed_rows = dict(self.rows)
        self._snapshot_calls = len(keys)
        self.ledger = Ledger()
        self._unsummed = []
        self._cells.clear()
        table = self.query_one(CallTable)
        table.set_rows(
            keys.matching(self.step_filter, self.model_filter),
            keep=table.selected,
            follow=not self.paused,
        )
        if len(keys) < SUM_AFTER_FIRST_FRAME:
            self._take_sums(self.feed.snapshot_sums(self._chart_widths()))
        else:
            # An empty chart reads as nothing spent: none until the sums bring one.
            self.query_one(Sparkline).visible = False
            self.call_after_refresh(self._sum_after_first_frame)

    def _sum_after_first_frame(self) -> None:
        self.run_worker(
            partial(self.feed.snapshot_sums, self._chart_widths()),
            name="snapshot sums",
            group="sums",
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "chart":
            if event.state == WorkerState.SUCCESS and event.worker.result is not None:
                self._show_chart(event.worker.result)
            elif event.state == WorkerState.ERROR:
                self._chart_dirty = True  # a busy store: the next tick tries again
            return
        if event.worker.group != "sums":
            return
        if event.state == WorkerState.SUCCESS:
            self._take_sums(event.worker.result)
        elif event.state == WorkerState.ERROR:
            # A busy or unreadable store: say so, and read the session again next tick.
            self.feed_error = str(event.worker.error)
            self._snapshot_again = True
            self._redraw_header()

    def _take_sums(self, sums: SnapshotSums | None) -> None:
        """The snapshot's sums arrived: count the calls applied since, draw the header and
        the chart."""
        if sums is None:
            # The snapshot's read was ended before it was summed: read the session again.
            self._snapshot_again = True
            return
        self.ledger = sums.ledger
        waiting = self._unsummed or []
        self._unsummed = None
        for call in waiting:
            self._count(call, self.keys.position(call["id"]))
        self._show_chart(sums.series)
        self._redraw_header()

    @property
    def summing(self) -> bool:
        """The snapshot's sums are still being made (the header says so)."""
        return self._unsummed is not None

    def cells_of(self, call_id: str) -> Cells:
        """A call's cells under the current columns (rendered once, until the call changes)."""
        cells = self._cells.get(call_id)
        if cells is None:
            assert self._layout is not None
            if len(self._cells) >= LINES_KEPT:
                self._cells.clear()  # as the table's lines: a few screens' worth, not every call
            cells = self._cells[call_id] = self._layout.render(self.call_row(call_id) or {})
        return cells

    def call_row(self, call_id: str) -> dict[str, Any] | None:
        """A call's whole row: as last applied, or read from the feed when only its keys are
        held."""
        row = self.rows.get(call_id)
        return row if row is not None else self.feed.call(call_id)

    # -- table ----------------------------------------------------------------
    def _matches(self, call: dict[str, Any]) -> bool:
        if self.step_filter is not None and step_key(call) != self.step_filter:
            return False
        return self.model_filter is None or model_key(call) == self.model_filter

    def _refill_table(self) -> None:
        """Show the calls the filters let through: one pass over the ids, nothing rendered."""
        table = self.query_one(CallTable)
        shown = self.keys.matching(self.step_filter, self.model_filter)
        table.set_rows(shown, keep=table.selected, follow=not self.paused)
        if self.detail_open:
            self._show_detail()

    def _set_layout(self, width: int) -> None:
        layout = layout_for(width, self.all_sessions)
        compact = width < COMPACT_WIDTH
        self.query_one("#chart").display = not compact
        if self._layout is None or layout != self._layout:
            first = self._layout is None
            self._layout = layout
            self._cells.clear()
            self.query_one(CallTable).set_layout(layout)
            if first:
                self._refill_table()
        self._redraw_header()

    def on_resize(self, event: Resize) -> None:
        self._set_layout(event.size.width)

    def selected_call_id(self) -> str | None:
        """The id of the call under the cursor, if any."""
        return self.query_one(CallTable).selected

    # -- header and chart -----------------------------------------------------
    def _title(self) -> Text:
        # A split pane is obviously the panel; a full terminal says whose it is.
        title = Text("agentwrap ", style="bold") if self.size.width >= 80 else Text()
        if self.all_sessions:
            running = sum(1 for s in self.sessions.values() if session_running(s))
            title.append(f"· all sessions ({len(self.sessions)}, {running} running)")
            if any(s.get("is_demo") for s in self.sessions.values()):
                title.append("  ")
                title.append(" includes simulated providers ", style="black on magenta")
            if self.feed_error:
                title.append(f"  store unreadable: {self.feed_error}", style="bold red")
            return title
        session = next(iter(self.sessions.values()), None)
        if session is None:
            title.append("· no session", style="dim")
            return title
        if session.get("is_demo"):
            # First, so it survives truncation at 80 columns.
            title.append(" simulated providers ", style="black on magenta")
            title.append(" ")
        # Most telling first: a split pane may show only the start of the line.
        if self.feed_error:
            title.append(f"store unreadable: {self.feed_error}  ", style="bold red")
        title.append_text(session_state(session, self.clock()))
        if session.get("mode") and session["mode"] != "route":
            title.append(f" · {session['mode']} mode", style="yellow")
        if session.get("agent"):
            title.append(f" · {session['agent']}", style="cyan")
        if session.get("profile"):
            title.append(f" [{session['profile']}]", style="dim")
        title.append(f" · {session['id']}", style="dim")
        return title

    def _filter_labels(self) -> list[str]:
        out = []
        if self.step_filter is not None:
            out.append(f"step={self.step_filter}")
        if self.model_filter is not None:
            out.append(f"model={fmt.model(self.model_filter)}")
        return out

    def _redraw_header(self) -> None:
        compact = self.size.width < COMPACT_WIDTH
        self.query_one(TotalsHeader).show(
            title=self._title(),
            ledger=self.ledger,
            summing=len(self.keys) if self.summing else None,
            filters=self._filter_labels(),
            paused=self.paused,
            compact=compact,
            spark=spark_text(self._spark) if compact else "",
        )

    def _chart_widths(self) -> tuple[int, int]:
        # The chart's buckets, and the compact header's.
        return max(self.query_one(Sparkline).size.width, 24), COMPACT_SPARK

    def _redraw_chart(self, force: bool = False) -> None:
        now = time.monotonic()
        # A chart drawn for another width (made before the layout gave it its place, or before
        # a resize) is drawn again as if calls had arrived.
        stale = self._chart_dirty or self._chart_width != self._chart_widths()[0]
        if self.summing or (not force and (not stale or now - self._chart_at < CHART_EVERY)):
            return
        self._chart_dirty = False
        self._chart_at = now
        total = self.ledger.total
        chart = partial(
            self.feed.cost_series, self._chart_widths(), total.first_started, total.last_finished
        )
        if len(self.keys) < SUM_AFTER_FIRST_FRAME:
            self._show_chart(chart())
            return
        # A pass over every call (some 80 ms at 100,000): not on the thread that draws.
        self.run_worker(
            chart,
            name="cost chart",
            group="chart",
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    def _show_chart(self, series: list[list[float]]) -> None:
        spark = self.query_one(Sparkline)
        spark.data, self._spark = series
        self._chart_width = len(spark.data)
        spark.visible = True
        if self.size.width < COMPACT_WIDTH:
            self._redraw_header()
        total = self.ledger.total
        self.query_one("#chart-label", Label).update(
            f"cost over time · {fmt.usd(total.cost_usd) if total.priced_calls else fmt.MISSING}"
        )

    # -- detail ---------------------------------------------------------------
    def _show_detail(self) -> None:
        call_id = self.selected_call_id()
        self.query_one(CallDetail).show(self.call_row(call_id) if call_id else None)

    @on(CallTable.RowSelected)
    def _row_selected(self, event: CallTable.RowSelected) -> None:
        # Enter or a click opens the pane; escape or `d` closes it.
        if not self.detail_open:
            self.action_toggle_detail()

    @on(CallTable.RowHighlighted)
    def _row_highlighted(self, event: CallTable.RowHighlighted) -> None:
        if self.detail_open:
            self._show_detail()

    def action_toggle_detail(self) -> None:
        """Open the detail pane for the selected call, or close it."""
        self.detail_open = not self.detail_open
        detail = self.query_one(CallDetail)
        detail.set_class(self.detail_open, "open")
        if self.detail_open:
            self._show_detail()

    def action_close_detail(self) -> None:
        """Close the detail pane."""
        if self.detail_open:
            self.action_toggle_detail()

    # -- filters and scrolling ------------------------------------------------
    def _cycle(self, current: str | None, options: list[str]) -> str | None:
        choices: list[str | None] = [None, *sorted(options)]
        index = choices.index(current) if current in choices else 0
        return choices[(index + 1) % len(choices)]

    def action_cycle_step(self) -> None:
        """Show only one step kind; each press moves to the next kind, then back to all."""
        self.step_filter = self._cycle(self.step_filter, list(set(self.keys.steps)))
        self._refill_table()
        self._redraw_header()

    def action_cycle_model(self) -> None:
        """Show only one model; each press moves to the next model, then back to all."""
        self.model_filter = self._cycle(self.model_filter, list(set(self.keys.models)))
        self._refill_table()
        self._redraw_header()

    def action_clear_filters(self) -> None:
        """Show every call again."""
        self.step_filter = self.model_filter = None
        self._refill_table()
        self._redraw_header()

    def action_toggle_pause(self) -> None:
        """Stop (or resume) following the newest call."""
        self.paused = not self.paused
        table = self.query_one(CallTable)
        if not self.paused and table.row_count:
            table.move_cursor(row=table.row_count - 1)
        self._redraw_header()

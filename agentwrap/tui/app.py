"""`agentwrap top`: the live panel — every call of a session as it happens.

The app polls a `Feed` (see agentwrap.trace.live) on its own event loop every ~150 ms and
applies each batch in one pass: new calls append a row, changed calls update only the cells
whose text changed, and the header redraws from a `Ledger` that keeps running sums. Nothing
is rebuilt per event, so thousands of calls stay cheap; the table is rebuilt only when a
filter or the terminal width (the visible columns) changes.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import DataTable, Footer, Label, Sparkline

from agentwrap import fmt
from agentwrap.trace.live import POLL_INTERVAL, Feed, LiveBatch
from agentwrap.trace.queries import session_running
from agentwrap.trace.tally import Ledger, cost_series, model_key, step_key
from agentwrap.tui.cells import Layout, layout_for
from agentwrap.tui.widgets import CallDetail, TotalsHeader, session_state, spark_text

# Below this width the header is compact and the chart is hidden.
COMPACT_WIDTH = 120
# Width of the one-line chart in the compact header.
COMPACT_SPARK = 12
# The chart is recomputed at most this often (seconds); it is O(calls).
CHART_EVERY = 1.0


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
        self.calls: dict[str, dict[str, Any]] = {}
        self.step_filter: str | None = None
        self.model_filter: str | None = None
        self.paused = False
        self.detail_open = False
        self.feed_error: str | None = None
        self._layout: Layout | None = None
        # Rendered cells per call under the current layout, and the calls the table shows.
        self._cells: dict[str, tuple[Any, ...]] = {}
        self._shown: set[str] = set()
        self._chart_dirty = False
        self._chart_at = 0.0
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
        table: DataTable[Any] = DataTable(
            id="calls", cursor_type="row", zebra_stripes=True, cell_padding=1
        )
        yield table
        yield CallDetail(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self._set_layout(self.size.width)
        self.apply(self.feed.snapshot())
        self._redraw_chart(force=True)
        if self.poll_interval:
            self.set_interval(self.poll_interval, self.tick)
            self.set_interval(1.0, self._redraw_header)
        self.query_one(DataTable).focus()

    def on_unmount(self) -> None:
        self.feed.close()

    # -- feeding --------------------------------------------------------------
    def tick(self) -> None:
        """Poll the feed once and apply what changed."""
        try:
            batch = self.feed.poll()
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

    def apply(self, batch: LiveBatch) -> None:
        """Apply one batch: new rows appended, changed rows updated in place, header redrawn."""
        for session in batch.sessions:
            self.sessions[session["id"]] = session
        table = self.query_one(DataTable)
        added = False
        for call in batch.calls:
            call_id = call["id"]
            self.calls[call_id] = call
            self.ledger.upsert(call)
            if call_id in self._shown:
                self._update_row(table, call)
            elif self._matches(call):
                self._add_row(table, call)
                added = True
            else:
                self._cells.pop(call_id, None)  # filtered out: render again when shown
        if batch.calls:
            self._chart_dirty = True
        if added and not self.paused and table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)
        if self.detail_open:
            self._show_detail()
        self._redraw_header()

    # -- table ----------------------------------------------------------------
    def _matches(self, call: dict[str, Any]) -> bool:
        if self.step_filter is not None and step_key(call) != self.step_filter:
            return False
        return self.model_filter is None or model_key(call) == self.model_filter

    def _add_row(self, table: DataTable[Any], call: dict[str, Any]) -> None:
        assert self._layout is not None
        cells = self._layout.render(call)
        table.add_row(*cells, key=call["id"])
        self._cells[call["id"]] = cells
        self._shown.add(call["id"])

    def _update_row(self, table: DataTable[Any], call: dict[str, Any]) -> None:
        assert self._layout is not None
        cells = self._layout.render(call)
        old = self._cells[call["id"]]
        for key, new_cell, old_cell in zip(self._layout.keys, cells, old, strict=True):
            if new_cell != old_cell:
                table.update_cell(call["id"], key, new_cell)
        self._cells[call["id"]] = cells

    def _rebuild_table(self) -> None:
        """Refill the table from scratch: only when filters or the visible columns change."""
        assert self._layout is not None
        table = self.query_one(DataTable)
        selected = self.selected_call_id()
        table.clear(columns=True)
        self._shown.clear()
        widths = self._layout.widths()
        for column in self._layout.columns:
            table.add_column(
                column.label_in(self._layout.mode), width=widths[column.key], key=column.key
            )
        rows = []
        keys = []
        for call in self.calls.values():
            if self._matches(call):
                # Rendered cells survive a filter change; only a new layout renders again.
                cells = self._cells.get(call["id"])
                if cells is None:
                    cells = self._cells[call["id"]] = self._layout.render(call)
                rows.append(cells)
                keys.append(call["id"])
        for key, cells in zip(keys, rows, strict=True):
            table.add_row(*cells, key=key)
        self._shown.update(keys)
        if selected in self._shown:
            table.move_cursor(row=table.get_row_index(selected), animate=False)
        elif table.row_count and not self.paused:
            table.move_cursor(row=table.row_count - 1, animate=False)
        if self.detail_open:
            self._show_detail()

    def _set_layout(self, width: int) -> None:
        layout = layout_for(width, self.all_sessions)
        compact = width < COMPACT_WIDTH
        self.query_one("#chart").display = not compact
        if self._layout is None or layout != self._layout:
            self._layout = layout
            self._cells.clear()
            self._rebuild_table()
        self._redraw_header()

    def on_resize(self, event: Resize) -> None:
        self._set_layout(event.size.width)

    def selected_call_id(self) -> str | None:
        """The id of the call under the cursor, if any."""
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # the cursor can point past a just-cleared table
            return None
        return key.value

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
            filters=self._filter_labels(),
            paused=self.paused,
            compact=compact,
            spark=spark_text(self._spark) if compact else "",
        )

    def _redraw_chart(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (not self._chart_dirty or now - self._chart_at < CHART_EVERY):
            return
        self._chart_dirty = False
        self._chart_at = now
        spark = self.query_one(Sparkline)
        total = self.ledger.total
        spark.data = cost_series(
            self.calls.values(), max(spark.size.width, 24), total.first_started, total.last_finished
        )
        self._spark = cost_series(
            self.calls.values(), COMPACT_SPARK, total.first_started, total.last_finished
        )
        if self.size.width < COMPACT_WIDTH:
            self._redraw_header()
        self.query_one("#chart-label", Label).update(
            f"cost over time · {fmt.usd(total.cost_usd) if total.priced_calls else fmt.MISSING}"
        )

    # -- detail ---------------------------------------------------------------
    def _show_detail(self) -> None:
        call_id = self.selected_call_id()
        self.query_one(CallDetail).show(self.calls.get(call_id) if call_id else None)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        # Enter or a click opens the pane; escape or `d` closes it.
        if not self.detail_open:
            self.action_toggle_detail()

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
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
        self.step_filter = self._cycle(self.step_filter, list(self.ledger.by_step))
        self._rebuild_table()
        self._redraw_header()

    def action_cycle_model(self) -> None:
        """Show only one model; each press moves to the next model, then back to all."""
        self.model_filter = self._cycle(self.model_filter, list(self.ledger.by_model))
        self._rebuild_table()
        self._redraw_header()

    def action_clear_filters(self) -> None:
        """Show every call again."""
        self.step_filter = self.model_filter = None
        self._rebuild_table()
        self._redraw_header()

    def action_toggle_pause(self) -> None:
        """Stop (or resume) following the newest call."""
        self.paused = not self.paused
        table = self.query_one(DataTable)
        if not self.paused and table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)
        self._redraw_header()

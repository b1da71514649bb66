"""The panel benchmark: how long `agentwrap top` keeps a person waiting on a large session.

Headless (Textual's test driver, the real compositor), at 160×48, with call rows written by
the real recorder (agentwrap.sim.history) into a store of its own (the session to open: the
same rows written in bulk, `write_history_rows`, held to the recorder's by a test):

- filter: pressing `s` (one step kind) and `c` (every call again) on a session of `--rows`
  calls, each timed from the key to the frame after it; the baseline is the same change in
  Textual's DataTable (clear, then add the rows that pass), which the panel used before,
  in the same run on the same cells;
- scroll: page down and page up through the same session, per key;
- open: from starting the panel on a session of `--open-calls` calls to its first frame (the
  rows on screen; a big session's header says it is summing), and to everything shown (the
  sums and the chart in, the app idle), against reading every column of that session's rows
  from the store (`TraceStore.calls`, what the panel read before it read only the calls' keys
  and the sums); then a filter change and clearing it on that session, as above.

Figures are medians (and p90 where the spread matters) in milliseconds of wall-clock time,
and the process's CPU time for the same span (`cpu`). The wall time of a key includes
Pilot's wait for the app to go idle (at least 20 ms of sleeping) and, on a shared machine,
the time other processes held the CPU; the CPU time is what the panel itself spent, and the
ratios compare CPU times.

    .venv/bin/python bench/panel.py [--rows N] [--open-calls N] [--repeats N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import DataTable

SIZE = (160, 48)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


class Span:
    """Wall-clock and CPU time of one span of work, in seconds."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def done(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def _med(spans: list[tuple[float, float]], which: int = 0) -> float:
    return _ms(statistics.median(s[which] for s in spans))


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def write_session(home: Path, calls: int, bulk: bool = False) -> str:
    """One ended session of `calls` calls, written by the real recorder (or its rows in bulk);
    returns its id."""
    os.environ["AGENTWRAP_HOME"] = str(home)
    from agentwrap import paths
    from agentwrap.sim.history import HistoryShape, write_history, write_history_rows
    from agentwrap.trace.store import TraceStore

    store = TraceStore(paths.trace_db())
    write = write_history_rows if bulk else write_history
    try:
        write(store, HistoryShape(sessions=1, calls_per_session=calls))
    finally:
        store.close()
    return "hist-00000"


def panel(session_id: str) -> Any:
    from agentwrap import paths
    from agentwrap.trace.live import StoreFollower
    from agentwrap.trace.store import TraceStore
    from agentwrap.tui.app import TopApp

    store = TraceStore(paths.trace_db())
    return TopApp(StoreFollower(store, session_id), poll_interval=None)


async def bench_filter_and_scroll(session_id: str, repeats: int) -> dict[str, Any]:
    """Filter changes and page keys in the panel."""
    from agentwrap.tui.table import CallTable

    app = panel(session_id)
    filter_ms: list[tuple[float, float]] = []
    clear_ms: list[tuple[float, float]] = []
    page_ms: list[tuple[float, float]] = []
    async with app.run_test(size=SIZE) as pilot:
        await shown_whole(app, pilot)
        table = app.query_one(CallTable)
        rows = table.row_count
        for _ in range(repeats):
            span = Span()
            await pilot.press("s")
            await pilot.pause()
            filter_ms.append(span.done())
            span = Span()
            await pilot.press("c")
            await pilot.pause()
            clear_ms.append(span.done())
        await pilot.press("home")
        for key in ["pagedown"] * repeats * 2 + ["pageup"] * repeats * 2:
            span = Span()
            await pilot.press(key)
            await pilot.pause()
            page_ms.append(span.done())
        cells = [app.cells_of(call_id) for call_id in table.rows]
        shown = app.keys.matching("explore", None)
        labels = [c.label_in(app._layout.mode) for c in app._layout.columns]
        widths = app._layout.widths()
        keys = app._layout.keys
    baseline = await bench_datatable(keys, labels, widths, cells, app.keys.ids, shown, repeats)
    return {
        "rows": rows,
        "filter_ms": _med(filter_ms),
        "filter_cpu_ms": _med(filter_ms, 1),
        "filter_p90_ms": _ms(_p90([w for w, _ in filter_ms])),
        "clear_ms": _med(clear_ms),
        "clear_cpu_ms": _med(clear_ms, 1),
        "page_ms": _med(page_ms),
        "page_cpu_ms": _med(page_ms, 1),
        "page_p90_ms": _ms(_p90([w for w, _ in page_ms])),
        "datatable_filter_ms": _med(baseline["filter"]),
        "datatable_filter_cpu_ms": _med(baseline["filter"], 1),
        "datatable_clear_ms": _med(baseline["clear"]),
        "datatable_clear_cpu_ms": _med(baseline["clear"], 1),
    }


class _TableApp(App[None]):
    def __init__(self, columns: list[tuple[str, str, int]]) -> None:
        super().__init__()
        self.columns = columns

    def compose(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(cursor_type="row", zebra_stripes=True, cell_padding=1)
        for key, label, width in self.columns:
            table.add_column(label, width=width, key=key)
        yield table


async def bench_datatable(
    keys: tuple[str, ...],
    labels: list[str],
    widths: dict[str, int],
    cells: list[Any],
    ids: list[str],
    shown: list[str],
    repeats: int,
) -> dict[str, list[tuple[float, float]]]:
    """The baseline: the same filter change in Textual's DataTable, with cells already made."""
    by_id = dict(zip(ids, cells, strict=True))
    app = _TableApp([(k, label, widths[k]) for k, label in zip(keys, labels, strict=True)])
    out: dict[str, list[tuple[float, float]]] = {"filter": [], "clear": []}
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(DataTable)

        async def fill(which: list[str]) -> tuple[float, float]:
            span = Span()
            table.clear()
            for call_id in which:
                table.add_row(*by_id[call_id], key=call_id)
            table.move_cursor(row=table.row_count - 1, animate=False)
            await pilot.pause()
            return span.done()

        await fill(ids)
        for _ in range(repeats):
            out["filter"].append(await fill(shown))
            out["clear"].append(await fill(ids))
    return out


async def shown_whole(app: Any, pilot: Any) -> None:
    """Wait until the panel shows everything: its sums made (in a thread for a big session)
    and applied, and the app idle."""
    await pilot.pause()
    while app.summing:
        await app.workers.wait_for_complete()
        await pilot.pause()


def on_first_frame(app: Any, note: Any) -> None:
    """Call `note()` when the app hands its first frame to the terminal (every frame passes
    through Textual's App._display, private, the one place to see it)."""
    display = app._display

    def displayed(screen: Any, renderable: Any) -> None:
        if renderable is not None and not seen:
            seen.append(True)
            note()
        display(screen, renderable)

    seen: list[bool] = []
    app._display = displayed


async def bench_open(session_id: str, repeats: int) -> dict[str, Any]:
    """From starting the panel to its first frame and to everything shown, against reading
    the rows alone."""
    from agentwrap import paths
    from agentwrap.trace.store import TraceStore
    from agentwrap.tui.table import CallTable

    framed: list[tuple[float, float]] = []
    opened: list[tuple[float, float]] = []
    read: list[tuple[float, float]] = []
    filtered: list[tuple[float, float]] = []
    cleared: list[tuple[float, float]] = []
    rows = 0
    for _ in range(repeats):
        span = Span()
        store = TraceStore(paths.trace_db())
        store.calls(session_id)
        store.close()
        read.append(span.done())
        span = Span()
        app = panel(session_id)
        on_first_frame(app, lambda span=span: framed.append(span.done()))
        async with app.run_test(size=SIZE) as pilot:
            await shown_whole(app, pilot)
            opened.append(span.done())
            rows = app.query_one(CallTable).row_count
            for key, spans in (("s", filtered), ("c", cleared)):
                span = Span()
                await pilot.press(key)
                await pilot.pause()
                spans.append(span.done())
    return {
        "calls": rows,
        "filter_ms": _med(filtered),
        "filter_cpu_ms": _med(filtered, 1),
        "clear_ms": _med(cleared),
        "clear_cpu_ms": _med(cleared, 1),
        "first_frame_ms": _med(framed),
        "first_frame_cpu_ms": _med(framed, 1),
        "open_ms": _med(opened),
        "open_cpu_ms": _med(opened, 1),
        "store_read_ms": _med(read),
        "store_read_cpu_ms": _med(read, 1),
        "ratio_to_read": round(_med(opened, 1) / _med(read, 1), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--open-calls", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="agentwrap-bench-panel-") as tmp:
        session = write_session(Path(tmp) / "rows", args.rows)
        results["filter_and_scroll"] = asyncio.run(bench_filter_and_scroll(session, args.repeats))
        t0 = time.perf_counter()
        session = write_session(Path(tmp) / "open", args.open_calls, bulk=True)
        results["open"] = {"written_in_s": round(time.perf_counter() - t0, 1)}
        results["open"].update(asyncio.run(bench_open(session, max(3, args.repeats // 3))))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    fs, op = results["filter_and_scroll"], results["open"]
    print(f"panel at {SIZE[0]}x{SIZE[1]}, {fs['rows']:,} rows (wall ms / cpu ms):")
    for label, key in (("filter change", "filter"), ("clear filter", "clear")):
        ours, theirs = fs[f"{key}_cpu_ms"], fs[f"datatable_{key}_cpu_ms"]
        print(
            f"  {label:<14} {fs[f'{key}_ms']:8.1f} / {ours:7.1f}   "
            f"DataTable {fs[f'datatable_{key}_ms']:8.1f} / {theirs:7.1f}   "
            f"cpu ratio {ours / theirs:.3f}"
        )
    print(
        f"  page key       {fs['page_ms']:8.1f} / {fs['page_cpu_ms']:7.1f}   p90 {fs['page_p90_ms']}"
    )
    print(f"opening a session of {op['calls']:,} calls (written in {op['written_in_s']} s):")
    print(f"  first frame    {op['first_frame_ms']:8.1f} / {op['first_frame_cpu_ms']:7.1f}")
    print(
        f"  all shown      {op['open_ms']:8.1f} / {op['open_cpu_ms']:7.1f}   "
        f"every column read {op['store_read_ms']:.1f} / {op['store_read_cpu_ms']:.1f}   "
        f"cpu ratio {op['ratio_to_read']}"
    )
    for label, key in (("filter change", "filter"), ("clear filter", "clear")):
        print(f"  {label:<14} {op[f'{key}_ms']:8.1f} / {op[f'{key}_cpu_ms']:7.1f}")


if __name__ == "__main__":
    main()

"""`agentwrap report`'s work: cost tables across sessions, by day, week, month, session, model
or step, with no command-line library (its typer command is in cli/report.py, its plain reading
in cli/plain.py).

Same money rules as the summary: unpriced calls are shown as "unpriced" (or "+N unpriced"
next to the priced sum), never as $0; savings only over calls with both a cost and a
baseline, with a note when some are left out. Below `COMPACT_WIDTH` columns (or when the
wide table would have to cut its keys) the table drops the per-token-kind and baseline
columns; numbers are never squeezed, only the key column is cut, so 80 columns fit.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentwrap import fmt
from agentwrap.cli.plain import BadValue, echo

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from agentwrap.trace.report import Report, ReportFilter
    from agentwrap.trace.tally import Tally

# Rich, the store and the report's arithmetic load inside the command, so building the CLI
# (every command's `--help`, `--version`) does not load them.

# Below this width: calls, tokens, cost, saving (and would-cost) only.
COMPACT_WIDTH = 110


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadValue(f"expected a date as YYYY-MM-DD, got {value!r}", option) from None


def _project(value: str | None) -> Path | None:
    if not value:
        return None
    from agentwrap.session import repo_root

    path = Path(value).expanduser().resolve()
    # A directory inside a repository stands for the whole repository: its sessions record
    # the repository root they ran in.
    return repo_root(path) or path


def report_filter(
    since: str | None, until: str | None, agent: str | None, project: str | None, demo: bool
) -> ReportFilter:
    """The filter the --since/--until/--agent/--project/--demo options of a command say (a bad
    date: `BadValue`)."""
    from agentwrap.trace.report import ReportFilter

    return ReportFilter(
        since=_date(since, "--since"),
        until=_date(until, "--until"),
        agent=agent,
        project=_project(project),
        include_demo=demo,
    )


QUALITY = "quality"  # the grouping that asks for step quality instead of cost


def report(
    grouping: str = "daily",
    since: str | None = None,
    until: str | None = None,
    agent: str | None = None,
    project: str | None = None,
    as_json: bool = False,
    demo: bool = False,
    compare: str | None = None,
) -> None:
    """`agentwrap report` with its arguments' values: print the report (a bad grouping or date:
    `BadValue`, raised before anything is printed or read)."""
    from agentwrap.cli.store import open_store
    from agentwrap.trace.report import GROUPINGS, build_report, report_json

    if grouping not in (*GROUPINGS, QUALITY):
        raise BadValue(f"{grouping!r} is not one of {', '.join((*GROUPINGS, QUALITY))}", "GROUPING")
    filt = report_filter(since, until, agent, project, demo)
    if compare is not None:
        _compare(compare, filt, as_json)
        return
    if grouping == QUALITY:
        _quality(filt, as_json)
        return
    store = open_store()
    try:
        built = build_report(store, grouping, filt)
    finally:
        store.close()
    _show(built, as_json, report_json, render_report)


def _compare(profile_ref: str, filt: ReportFilter, as_json: bool) -> None:
    from agentwrap.cli.compare import render_compare
    from agentwrap.cli.profile import load_or_exit
    from agentwrap.cli.store import open_store
    from agentwrap.trace.compare import build_compare, compare_json

    profile = load_or_exit(profile_ref)
    store = open_store()
    try:
        report = build_compare(store, profile, filt, store.evidence())
    finally:
        store.close()
    _show(report, as_json, compare_json, render_compare)


def _quality(filt: ReportFilter, as_json: bool) -> None:
    from agentwrap.cli.quality import render_quality
    from agentwrap.cli.store import open_store
    from agentwrap.repo import check_commits
    from agentwrap.trace.quality import build_quality, quality_json

    store = open_store()
    try:
        # What became of the sessions' commits is asked of git now, three commands a repository.
        report = build_quality(store, filt, lambda ids: check_commits(store, ids))
    finally:
        store.close()
    _show(report, as_json, quality_json, render_quality)


def _show[R](
    report: R, as_json: bool, to_json: Callable[[R], Any], render: Callable[[R, int], list[Any]]
) -> None:
    """Print a built report (cost, quality or compare): as JSON, or drawn for the console's
    width."""
    if as_json:
        echo(json.dumps(to_json(report), indent=2))
        return
    from rich.table import Table

    from agentwrap.cli.console import out_console
    from agentwrap.cli.tables import drawn

    console = out_console()
    for part in render(report, console.width):
        if isinstance(part, str):
            echo(part)  # a message: one line per fact, never broken inside a command
        else:
            console.print(drawn(part) if isinstance(part, Table) else part)


def render_report(report: Report, width: int) -> list[Any]:
    """The report as Rich renderables for a console this wide: a headline, the table, notes
    (or the message that no call is left, as text)."""
    compact = width < COMPACT_WIDTH
    total = report.total
    if not total.calls:
        return [no_calls(report.filter, report.demo_sessions_left_out)]
    notes: dict[str, int] = {}
    table = _table(report, compact, notes, width)
    if not compact and _cut(table):
        # The wide layout would shorten keys (long session ids or model names): every key
        # whole in the compact layout reads better than every column with cut keys.
        notes.clear()
        table = _table(report, True, notes, width)
    parts: list[Any] = [headline(report.grouping, report.filter), table]
    lines = _notes(report, notes)
    if lines:
        parts.append(lines)
    return parts


def no_calls(filt: ReportFilter, demo_left_out: int) -> str:
    """What a report with no calls says: none match the filter, or none were recorded; and
    the demo sessions it left out, if any."""
    if filt.since or filt.until or filt.agent or filt.project:
        msg = (
            f"No calls match these filters ({_filters(filt)}); "
            "agentwrap sessions lists what is recorded."
        )
    else:
        msg = (
            "No calls recorded yet. Start a session with: agentwrap claude (or try: agentwrap demo)"
        )
    if demo_left_out:
        msg += f"\n{demo_note(demo_left_out)}"
    return msg


def _filter_parts(filt: ReportFilter, project: str) -> list[str]:
    """The dates, agent and project a report was asked for, each as its own words."""
    parts = []
    if filt.since or filt.until:
        since = filt.since.isoformat() if filt.since else "…"
        until = filt.until.isoformat() if filt.until else "…"
        parts.append(f"{since} → {until}")
    if filt.agent:
        parts.append(f"agent {filt.agent}")
    if filt.project:
        parts.append(project)
    return parts


def _filters(filt: ReportFilter) -> str:
    """The filters a report was asked with, as its headline names them."""
    return ", ".join(_filter_parts(filt, f"project {filt.project}"))


def demo_note(left_out: int) -> str:
    """'2 demo sessions left out; add --demo to include', as every report says it."""
    return f"{left_out} demo session{'s' if left_out != 1 else ''} left out; add --demo to include"


def headline(kind: str, filt: ReportFilter) -> Text:
    """A report's first line: which report, and the filter it was asked with."""
    from rich.text import Text

    text = Text("agentwrap report", style="bold")
    text.append(f" · {kind}")
    project = str(filt.project.name or filt.project) if filt.project else ""
    for part in _filter_parts(filt, project):
        text.append(f" · {part}")
    if filt.include_demo:
        text.append(" · demo sessions included", style="magenta")
    return text


def _table(report: Report, compact: bool, notes: dict[str, int], width: int) -> Table:
    from rich import box
    from rich.table import Table

    from agentwrap.summary import saved_text, token_cells
    from agentwrap.trace.report import KEY_LABELS

    total = report.total
    would = total.would_calls > 0
    table = Table(
        show_footer=True,
        box=None if compact else box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    # The key column never wraps; a too-long key is cut with an ellipsis instead.
    table.add_column(KEY_LABELS[report.grouping], footer="total", no_wrap=True, overflow="ellipsis")
    by_session = report.grouping == "session" and not compact
    if by_session:
        table.add_column("agent", footer="", no_wrap=True)
    table.add_column("calls", justify="right", footer=str(total.calls), no_wrap=True)
    if compact:
        table.add_column("tokens", justify="right", footer=fmt.tokens(total.tokens), no_wrap=True)
    else:
        for name, attr in (
            ("input", "input_tokens"),
            ("output", "output_tokens"),
            ("cache write", "cache_write_tokens"),
            ("cache read", "cache_read_tokens"),
        ):
            table.add_column(
                name, justify="right", footer=fmt.tokens(getattr(total, attr)), no_wrap=True
            )
    model_rows = report.grouping == "model"
    table.add_column("cost", justify="right", footer=_cost(total, None, report, notes))
    if not compact:
        table.add_column("baseline", justify="right", footer=fmt.baseline(total), no_wrap=True)
        table.add_column("saved", justify="right", footer=_saved_usd(total), no_wrap=True)
        table.add_column("saved %", justify="right", footer=_saved_pct(total), no_wrap=True)
    else:
        table.add_column("saving", justify="right", footer=saved_text(total), no_wrap=True)
    if would:
        # Compact: a two-line header, so the column is only as wide as its numbers.
        header = "would\ncost" if compact else "would cost"
        table.add_column(header, justify="right", footer=_would(total), no_wrap=True)
    for row in report.rows:
        t = row.tally
        key = fmt.model(row.key) if model_rows else row.key
        cells: list[Any] = [key]
        if by_session:
            session = row.session or {}
            agent = str(session.get("agent") or "?")
            if session.get("mode") == "observe":
                agent += " (observe)"
            cells.append(agent)
        cells.append(str(t.calls))
        cells += token_cells(t, compact)
        cells.append(_cost(t, row.key if model_rows else None, report, notes))
        if not compact:
            cells += [fmt.baseline(t), _saved_usd(t), _saved_pct(t)]
        else:
            cells.append(saved_text(t))
        if would:
            cells.append(_would(t))
        table.add_row(*cells)
    # Numbers are never squeezed: when the table is too wide, only the key column gives way
    # (cut with an ellipsis), so each row stays on one line.
    others = 0
    for column in table.columns[1:]:
        column.min_width = max(
            cell_width(cell) for cell in (column.header, column.footer, *column.cells)
        )
        others += column.min_width
    # Between columns: two spaces of padding, plus a divider and the two outer edges when boxed.
    gaps = len(table.columns) - 1
    overhead = 2 * gaps if compact else 3 * gaps + 2
    table.columns[0].max_width = max(8, width - others - overhead)
    return table


def _cut(table: Table) -> bool:
    """True when the key column is narrower than its longest cell."""
    key = table.columns[0]
    longest = max(cell_width(cell) for cell in (key.header, key.footer, *key.cells))
    return key.max_width is not None and longest > key.max_width


def cell_width(cell: Any) -> int:
    """The columns a table cell takes: its widest line."""
    from rich.cells import cell_len
    from rich.text import Text

    text = cell.plain if isinstance(cell, Text) else str(cell)
    return max(cell_len(line) for line in text.split("\n"))


def _cost(tally: Tally, model: str | None, report: Report, notes: dict[str, int]) -> Text:
    from agentwrap.summary import cost_text

    mark = ""
    if tally.unpriced_calls and model is not None and model in report.unpriced_reasons:
        mark = fmt.mark(notes.setdefault(model, len(notes) + 1))
    return cost_text(tally, mark)


def _saved_usd(tally: Tally) -> Text:
    from rich.text import Text

    from agentwrap.summary import money_style

    saved = tally.saved_usd
    if saved is None:
        return Text(fmt.MISSING, style="dim")
    return Text(fmt.usd(saved), style=money_style(saved))


def _saved_pct(tally: Tally) -> Text:
    from rich.text import Text

    from agentwrap.summary import money_style

    saved, pct = tally.saved_usd, tally.saved_pct
    if saved is None or pct is None:
        return Text(fmt.MISSING, style="dim")
    return Text(f"{pct:.0f}%", style=money_style(saved))


def _would(tally: Tally) -> Text:
    from rich.text import Text

    if not tally.would_calls:
        return Text(fmt.MISSING, style="dim")
    return Text(fmt.usd(tally.would_cost_usd), style="cyan")


def _notes(report: Report, notes: dict[str, int]) -> Text | None:
    from rich.text import Text

    total = report.total
    lines: list[str] = []
    if total.uncompared_calls:
        finished = total.compared_calls + total.uncompared_calls
        lines.append(
            f"savings computed on {total.compared_calls} of {finished} calls; "
            f"{total.uncompared_calls} lack a known cost or baseline"
        )
    if total.unpriced_calls and not notes:
        lines.append(
            f"{total.unpriced_calls} unpriced call{'s' if total.unpriced_calls != 1 else ''}: "
            "cost shown for priced calls only (see: agentwrap report model)"
        )
    would = fmt.would(total)
    if would:
        lines.append(f"observe mode: {would} on {total.would_calls} calls")
    for model, number in sorted(notes.items(), key=lambda kv: kv[1]):
        lines.append(f"{fmt.mark(number)} {fmt.model(model)}: {report.unpriced_reasons[model]}")
    if report.demo_sessions_left_out:
        lines.append(demo_note(report.demo_sessions_left_out))
    if not lines:
        return None
    return Text("\n".join(lines), style="dim")

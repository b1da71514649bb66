"""The tables of `agentwrap report quality` (the figures are agentwrap.trace.quality's)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from agentwrap import fmt
from agentwrap.cli.reporting import cell_width, demo_note, headline, no_calls
from agentwrap.summary import cost_text
from agentwrap.trace.quality import (
    CORRECTION_SIGNALS,
    INTERVAL_METHOD,
    KEPT,
    MIN_LABELLED,
    REVERTED,
    REWRITTEN,
    SIGNAL_NAMES,
    UNKNOWN,
    QualityReport,
    QualityRow,
    SessionQuality,
)

TOO_FEW = "?"  # the mark of a failure rate measured on too few steps
SESSIONS_SHOWN = 20  # the newest sessions listed in the table (--json has every one)


def failure_text(row: QualityRow) -> Text:
    """ "6.7% (3.4–12.6)", dim with a mark when too few steps were labelled; — with none."""
    interval = row.interval
    if row.failure_rate is None or interval is None:
        return Text(fmt.MISSING, style="dim")
    low, high = interval
    body = f"{fmt.rate(row.failure_rate)} ({100 * low:.1f}–{100 * high:.1f})"
    if row.too_few:
        return Text(f"{body} {TOO_FEW}", style="dim")
    return Text(body)


def failed_text(row: QualityRow) -> str:
    """ "2/30": failed of the labelled steps."""
    return f"{row.failed}/{row.labelled}"


def corrections_text(row: QualityRow | SessionQuality) -> str:
    return str(row.corrections.total)


def per_success_text(row: QualityRow) -> Text:
    value = row.cost_per_success
    if value is not None:
        return Text(fmt.usd(value))
    if row.succeeded and row.money.unpriced_calls:
        return Text(fmt.UNPRICED, style="yellow")
    return Text(fmt.MISSING, style="dim")


def _steps_table(report: QualityReport, width: int) -> Table:
    agents = len({r.agent for r in report.rows}) > 1
    total = report.total
    # One space between columns; numbers never squeezed, only the model column gives way.
    table = Table(show_footer=True, box=None, padding=(0, 1, 0, 0), pad_edge=False)
    table.add_column("step", footer="total", no_wrap=True)
    table.add_column("model", footer="", no_wrap=True, overflow="ellipsis")
    table.add_column("steps", justify="right", footer=str(total.steps), no_wrap=True)
    table.add_column("failed", justify="right", footer=failed_text(total), no_wrap=True)
    table.add_column("failure\n(95% CI)", justify="right", footer=failure_text(total))
    table.add_column("fixes", justify="right", footer=corrections_text(total), no_wrap=True)
    table.add_column("first\nbyte", justify="right", footer=fmt.ms(total.ttfb_p50))
    table.add_column("total", justify="right", footer=fmt.ms(total.total_p50), no_wrap=True)
    table.add_column("$/\nsuccess", justify="right", footer=per_success_text(total))
    rows = sorted(report.rows, key=lambda r: r.agent) if agents else report.rows
    heading = None
    for row in rows:
        if agents and row.agent != heading:
            # Several agents: each one's rows under its name (a column would not fit 80).
            heading = row.agent
            table.add_row(Text(f"{heading}:", style="bold"))
        table.add_row(
            row.step,
            fmt.model(row.model),
            str(row.steps),
            failed_text(row),
            failure_text(row),
            corrections_text(row),
            fmt.ms(row.ttfb_p50),
            fmt.ms(row.total_p50),
            per_success_text(row),
        )
    others = 0
    for index, column in enumerate(table.columns):
        if index == 1:
            continue
        # The agent headings may run on into the model column.
        cells = [c for c in column.cells if index or not str(c).endswith(":")]
        column.min_width = max(cell_width(cell) for cell in (column.header, column.footer, *cells))
        others += column.min_width
    table.columns[1].max_width = max(8, width - others - len(table.columns))
    return table


def _commits_text(session: SessionQuality) -> Text:
    """ "3/1/0": kept, reverted, rewritten ("+2?" when git cannot tell what became of two)."""
    made = session.commits
    if made is None:
        return Text(fmt.MISSING, style="dim")
    text = Text(f"{made[KEPT]}/{made[REVERTED]}/{made[REWRITTEN]}")
    if made[UNKNOWN]:
        text.append(f" +{made[UNKNOWN]}?", style="dim")
    return text


def _sessions_table(sessions: list[SessionQuality]) -> Table:
    table = Table(box=None, padding=(0, 1), pad_edge=False)
    table.add_column("session", no_wrap=True, overflow="ellipsis")
    table.add_column("agent", no_wrap=True)
    table.add_column("elapsed", justify="right", no_wrap=True)
    table.add_column("steps", justify="right", no_wrap=True)
    table.add_column("failed", justify="right", no_wrap=True)
    table.add_column("fixes", justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("commits", justify="right", no_wrap=True)
    for s in sessions:
        agent = s.agent + (" (observe)" if s.mode == "observe" else "")
        table.add_row(
            s.session_id,
            agent,
            fmt.duration(s.elapsed_s),
            str(s.steps),
            str(s.failed),
            corrections_text(s),
            cost_text(s.money),
            _commits_text(s),
        )
    return table


def _signals(report: QualityReport) -> list[str]:
    """The correction signals this store records."""
    kinds = ("interrupts", *CORRECTION_SIGNALS)
    return [SIGNAL_NAMES[k] for k in kinds if SIGNAL_NAMES[k] not in report.not_recorded]


def _notes(report: QualityReport) -> Text:
    lines = [
        f"failed: of the steps the agent's next request labelled (succeeded or failed); "
        f"failure: that rate, with its {INTERVAL_METHOD}",
        f"{TOO_FEW} fewer than {MIN_LABELLED} labelled steps: too few to say anything",
        "fixes: human corrections (" + ", ".join(_signals(report)) + ")",
        "first byte, total: medians per answered step; $/success: every call's cost over the "
        "successful steps",
        "commits: the session's commits kept/reverted/rewritten (+N? git cannot tell)",
    ]
    if report.not_recorded:
        lines.append("not recorded in this store: " + ", ".join(report.not_recorded) + " (—)")
    if len(report.sessions) > SESSIONS_SHOWN:
        lines.append(
            f"newest {SESSIONS_SHOWN} of {len(report.sessions)} sessions shown; --json has all"
        )
    if report.demo_sessions_left_out:
        lines.append(demo_note(report.demo_sessions_left_out))
    return Text("\n".join(lines), style="dim")


def render_quality(report: QualityReport, width: int) -> list[Any]:
    """`report quality` as Rich renderables: headline, steps table, sessions table, notes."""
    if not report.total.calls:
        return [no_calls(report.filter, report.demo_sessions_left_out)]
    sessions = report.sessions[-SESSIONS_SHOWN:]
    return [
        headline("quality", report.filter),
        _steps_table(report, width),
        Text(""),
        Text("sessions", style="bold"),
        _sessions_table(sessions),
        Text(""),
        _notes(report),
    ]

"""The tables of `agentwrap report --compare PROFILE` (the figures are agentwrap.trace.compare's)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from agentwrap import fmt
from agentwrap.cli.reporting import cell_width, demo_note, headline, no_calls
from agentwrap.summary import cost_text, money_style
from agentwrap.trace.compare import ASSUMPTION, CompareReport, CompareRow, CompareSums


def _under(sums: CompareSums) -> Text:
    if not sums.under_priced:
        return Text(fmt.UNPRICED if sums.under_unpriced else fmt.MISSING, style="yellow")
    text = Text(fmt.usd(sums.under_usd))
    if sums.under_unpriced:
        text.append(f" {fmt.unpriced_note(sums.under_unpriced)}", style="yellow")
    return text


def _change(sums: CompareSums) -> Text:
    change, pct = sums.change_usd, sums.change_pct
    if change is None:
        return Text(fmt.MISSING, style="dim")
    body = fmt.usd(change) if change < 0 or change == 0 else f"+{fmt.usd(change)}"
    if pct is not None:
        body += f" ({pct:+.0f}%)"
    # Cheaper under the profile reads as a saving (green), dearer as a cost (red).
    return Text(body, style=money_style(-change))


def _rate(rate: float | None) -> str:
    return fmt.MISSING if rate is None else fmt.rate(rate)


def _table(rows: list[CompareRow], total: CompareRow, label: str, width: int) -> Table:
    table = Table(show_footer=True, box=None, padding=(0, 1, 0, 0), pad_edge=False)
    table.add_column(label, footer="total", no_wrap=True, overflow="ellipsis")
    table.add_column("calls", justify="right", footer=str(total.sums.as_run.calls))
    pairs = label != "step"
    if not pairs:
        table.add_column("moved", justify="right", footer=str(total.sums.moved))
    table.add_column("as run", justify="right", footer=cost_text(total.sums.as_run))
    table.add_column("under\nprofile", justify="right", footer=_under(total.sums))
    table.add_column("change", justify="right", footer=_change(total.sums))
    table.add_column("baseline", justify="right", footer=fmt.baseline(total.sums.as_run))
    for row in rows:
        s = row.sums
        if row.model_as_run is not None:
            ran, under = fmt.route(row.model_as_run, row.model_under)
            key = f"{ran} → {under}" if row.model_as_run != row.model_under else f"{ran} (kept)"
        else:
            key = row.key
        table.add_row(
            key,
            str(s.as_run.calls),
            *([] if pairs else [str(s.moved)]),
            cost_text(s.as_run),
            _under(s),
            _change(s),
            fmt.baseline(s.as_run),
        )
    others = 0
    for column in table.columns[1:]:
        column.min_width = max(
            cell_width(cell) for cell in (column.header, column.footer, *column.cells)
        )
        others += column.min_width
    table.columns[0].max_width = max(8, width - others - len(table.columns))
    return table


def _quality_lines(report: CompareReport) -> list[str]:
    q = report.total.quality
    if not q.labelled:
        return ["failures: no labelled steps in this history, nothing to estimate them from"]
    lines = [f"failures as run: {_rate(q.as_run_rate)} of {q.labelled} labelled steps"]
    if q.estimate is None:
        lines.append(
            f"failures under {report.profile}: not estimated: it sends every labelled step to "
            "a model the history did not run it on"
        )
    else:
        how = (
            f"inverse propensity weighted: {q.randomised} of them were drawn with a "
            "probability below 1 (learned routing that could explore)"
            if q.randomised
            else "every one was a fixed choice (no exploring), so the steps the profile "
            "routes elsewhere are not represented: it may be biased"
        )
        lines.append(
            f"failures under {report.profile} (estimated): {_rate(q.estimate)}, from the "
            f"{q.matched} labelled steps that ran on the model it picks; {how}"
        )
    if q.unsupported:
        lines.append(
            f"{q.unsupported} labelled steps go to a model the history did not run them on: "
            "no outcome evidence for those"
        )
    return lines


def _explore_left_out(exploring: dict[str, float]) -> str:
    """What the replay leaves out of the profile's exploration, or nothing when it explores
    nowhere."""
    if not exploring:
        return ""
    rates = ", ".join(
        f"{where} explores {fmt.rate(rate)} of its steps" for where, rate in exploring.items()
    )
    return (
        f": each step gets its settled choice, and the cost under the profile leaves its "
        f"exploration out ({rates}; an explored step costs what its candidate costs)"
    )


def render_compare(report: CompareReport, width: int) -> list[Any]:
    """`report --compare` as Rich renderables: headline, the estimate's assumption, the
    tables by step kind and by model, the failure estimate and the notes."""
    if not report.total.sums.as_run.calls:
        return [no_calls(report.filter, report.demo_sessions_left_out)]
    head = headline(f"compare with profile {report.profile}", report.filter)
    head.append(" · ")
    head.append("an estimate", style="bold yellow")
    notes = [
        f"estimate: {ASSUMPTION}",
        "under profile: every recorded call re-decided by the profile from the features "
        "stored with it (sticky main loop and budgets replayed per session)",
        "change: under the profile minus as run, over the calls priced both ways; moved: calls "
        "it sends to another model",
    ]
    if report.learned:
        notes.append(
            "learned routing decides on the evidence the store holds now, without exploring"
            + _explore_left_out(report.exploring)
        )
    if report.incomplete:
        n = report.incomplete
        notes.append(
            f"{n} call{'s were' if n != 1 else ' was'} recorded before features were stored: "
            "re-decided from step kind, requested model and recorded prompt tokens only"
        )
    if report.observed:
        n = report.observed
        notes.append(f"{n} call{'s come' if n != 1 else ' comes'} from sessions run with --observe")
    if report.demo_sessions_left_out:
        notes.append(demo_note(report.demo_sessions_left_out))
    return [
        head,
        _table(report.by_step, report.total, "step", width),
        Text(""),
        _table(report.by_model, report.total, "models", width),
        Text(""),
        Text("\n".join(_quality_lines(report))),
        Text("\n".join(notes), style="dim"),
    ]

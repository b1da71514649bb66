"""The panel's widgets: the totals header, the cost chart and the call detail pane."""

from __future__ import annotations

import io
import json
import time
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Span, Text
from textual.widgets import Static

from agentwrap import fmt
from agentwrap.trace.tally import OK, Ledger, Tally, attempts_of, effective_baseline
from agentwrap.tui.cells import status_text


def session_state(session: dict[str, Any] | None, now: float) -> Text:
    """'● running 4m02s' or '■ ended 19:45:02 · exit 0 · 12m30s'."""
    if not session:
        return Text("no session", style="dim")
    started = session.get("started_at")
    ended = session.get("ended_at")
    if ended is not None or not session.get("running", True):
        text = Text("■ ended", style="bold")
        if ended is not None:
            text.append(" " + time.strftime("%H:%M:%S", time.localtime(ended)))
            if session.get("end_reason"):
                text.append(f" · {session['end_reason']}")
            elif session.get("exit_code") is not None:
                text.append(f" · exit {session['exit_code']}")
            if started is not None:
                text.append(f" · {fmt.duration(ended - started)}")
        else:
            text.append(" (launcher gone)", style="dim")
        return text
    text = Text("● running", style="bold green")
    if started is not None:
        text.append(f" {fmt.duration(now - started)}")
    return text


def gaps_trail(text: Text) -> Text:
    """The same text with every gap between words at the end of the run before it, never at the
    start of the next: '$0.56 ' then '+1 unpriced', not '$0.56' then ' +1 unpriced'.

    On screen nothing changes; a reader that takes the text one styled run at a time and
    trims each run's start (a screen reader, a copy of some terminals, a scraper) keeps the
    words apart. Runs with a background (the badges) keep their padding.
    """
    plain = text.plain
    badges = {i for s in text.spans if _has_background(s.style) for i in range(s.start, s.end)}
    spans: list[Span] = []
    for span in sorted(text.spans, key=lambda s: s.start):
        start, end, style = span
        if not _has_background(style):
            while start < end and plain[start].isspace():
                start += 1
            while end < len(plain) and plain[end] == " " and end not in badges:
                end += 1
        if start < end:
            spans.append(Span(start, end, style))
    out = text.copy()
    out.spans = spans
    return out


def _has_background(style: str | Style) -> bool:
    parsed = Style.parse(style) if isinstance(style, str) else style
    return parsed.bgcolor is not None or bool(parsed.reverse)


class TotalsHeader(Static):
    """Session state, totals with the saving, and the per-model split."""

    plain = ""
    lines: tuple[Text, ...] = ()

    DEFAULT_CSS = """
    TotalsHeader { height: auto; padding: 0 1; }
    """

    def show(
        self,
        *,
        title: Text,
        ledger: Ledger,
        filters: list[str],
        paused: bool,
        compact: bool,
        spark: str = "",
        summing: int | None = None,
    ) -> None:
        """Redraw from the ledger (cheap: it holds running sums); `summing`: the number of
        calls whose sums are still being made, which the lines of sums then stand for."""
        total = ledger.total
        first = _title_line(title, filters, paused)
        if summing is not None:
            money = Text.assemble(("cost ", "dim"), (f"summing {summing:,} calls…", "dim"))
            counts = Text(f"{summing} calls", style="bold")
            models = Text()
        else:
            money = _money_line(total, spark)
            counts = _counts_line(total, compact)
            models = _models_line(ledger)
        lines: list[Text] = [first, money]
        if compact:
            # Three lines at 80 columns: counts and the model split share the last one.
            counts.append("  ")
            counts.append_text(models)
            lines.append(counts)
        else:
            lines.extend([counts, models])
        lines = [gaps_trail(line) for line in lines]
        for line in lines:
            line.no_wrap = True
            line.overflow = "ellipsis"
        # The plain text, for tests and screen readers of the DOM.
        self.plain = "\n".join(line.plain for line in lines)
        self.lines = tuple(lines)
        self.update(Group(*lines))


_BARS = "▁▂▃▄▅▆▇█"


def spark_text(series: list[float]) -> str:
    """A one-line sparkline of the series (for the compact header, where the chart is hidden)."""
    top = max(series, default=0.0)
    if top <= 0:
        return ""
    return "".join(
        _BARS[min(int(v / top * (len(_BARS) - 1) + 0.5), len(_BARS) - 1)] for v in series
    )


class CallDetail(Static):
    """Everything known about the selected call."""

    DEFAULT_CSS = """
    CallDetail { height: auto; max-height: 50%; padding: 0 1; }
    """

    plain = ""

    def show(self, call: dict[str, Any] | None) -> None:
        """Render one call's decision, attempts, outcome and error."""
        renderable = detail_renderable(call)
        console = Console(width=max(self.app.size.width - 2, 40), record=True, file=io.StringIO())
        console.print(renderable)
        self.plain = console.export_text()
        self.update(renderable)


def _evidence(value: Any) -> str:
    if value in (None, "", "{}", "[]"):
        return "—"
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def outcome_text(call: dict[str, Any]) -> Text:
    """A step's outcome, its struggle signals and what it was read from, for the details."""
    outcome = call.get("outcome") or "unknown"
    text = Text(outcome, style=_OUTCOME_STYLES.get(outcome, ""))
    signals = call.get("signals") or []
    if signals:
        text.append("  " + ", ".join(s.replace("_", " ") for s in signals), style="bold yellow")
    if call.get("outcome_evidence"):
        text.append(f"  {call['outcome_evidence']}", style="dim")
    return text


_OUTCOME_STYLES = {"succeeded": "green", "failed": "red", "interrupted": "yellow"}


def _attempt(index: int, attempt: Any) -> str:
    if not isinstance(attempt, dict):
        return f"{index}. {attempt}"
    where = "/".join(str(attempt[k]) for k in ("provider", "model") if attempt.get(k))
    outcome = attempt.get("status") or attempt.get("outcome") or ""
    if attempt.get("http_status"):
        outcome = f"{outcome} {attempt['http_status']}".strip()
    extras = [
        fmt.ms(v) if k == "ms" else f"{k}={v}"
        for k, v in attempt.items()
        if k not in {"provider", "model", "status", "outcome", "http_status", "error"}
        and v is not None
    ]
    text = f"{index}. {where or '?'}"
    if outcome:
        text += f" → {outcome}"
    if attempt.get("error"):
        text += f": {attempt['error']}"
    if extras:
        text += f" ({', '.join(extras)})"
    return text


def _title_line(title: Text, filters: list[str], paused: bool) -> Text:
    """The session's title, the filters in force and whether autoscroll is paused."""
    first = Text()
    first.append_text(title)
    for f in filters:
        first.append("  ")
        first.append(f" {f} ", style="reverse")
    if paused:
        first.append("  ")
        first.append(" autoscroll paused ", style="black on yellow")
    return first


def _money_line(total: Tally, spark: str) -> Text:
    """Cost, saving, baseline, what the other profile would cost, and the cost sparkline."""
    money = Text()
    money.append("cost ", style="dim")
    amount, note = fmt.cost(total)
    money.append(amount, style="bold")
    if note:
        money.append(f" {note}", style="yellow")
    money.append("  ")
    saved = total.saved_usd
    saving_style = "bold green" if saved is not None and saved > 0 else "bold"
    money.append(fmt.saving(total), style=saving_style)
    if total.compared_calls and total.uncompared_calls:
        # Savings cover only calls whose cost and baseline are both known.
        money.append(f" on {total.compared_calls}/{total.calls - total.streaming}", style="dim")
    money.append("  baseline ", style="dim")
    money.append(fmt.baseline(total))
    would = fmt.would(total)
    if would:
        money.append(f"  {would}", style="cyan")
    if spark:
        money.append("  ")
        money.append(spark, style="cyan")
    return money


def _counts_line(total: Tally, compact: bool) -> Text:
    """Calls and tokens (split by kind when there is room), fallbacks, failures, aborts."""
    counts = Text()
    counts.append(f"{total.calls} call{'s' if total.calls != 1 else ''}", style="bold")
    if total.streaming:
        counts.append(f" ({total.streaming} live)", style="yellow")
    counts.append(f"  {fmt.tokens(total.tokens)} tok")
    if not compact:
        split = fmt.token_split(
            total.input_tokens,
            total.output_tokens,
            total.cache_write_tokens,
            total.cache_read_tokens,
        )
        counts.append(f" ({split})", style="dim")
    if total.fallbacks:
        plural = "s" if total.fallbacks != 1 else ""
        counts.append(f"  {total.fallbacks} fallback{plural}", style="yellow")
    if total.failed:
        counts.append(f"  {total.failed} failed", style="bold red")
    if total.aborted:
        counts.append(f"  {total.aborted} aborted", style="magenta")
    return counts


def _models_line(ledger: Ledger) -> Text:
    """Each model's cost and calls, the most expensive first."""
    models = Text(overflow="ellipsis", no_wrap=True)
    for i, (name, tally) in enumerate(ledger.models()):
        if i:
            models.append(" │ ", style="dim")
        models.append(fmt.model(name), style="cyan")
        models.append(f" {fmt.cost(tally)[0]}×{tally.calls}")
    if not ledger.by_model:
        models.append("no calls yet", style="dim")
    return models


def detail_renderable(call: dict[str, Any] | None) -> RenderableType:
    """A key/value view of one call row."""
    if call is None:
        return Text("No call selected.", style="dim")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold dim", no_wrap=True)
    grid.add_column(overflow="fold")

    def row(label: str, value: Any, style: str = "") -> None:
        text = value if isinstance(value, Text) else Text(str(value), style=style)
        grid.add_row(label, gaps_trail(text))

    row("model", _model_text(call))
    if call.get("would_model"):
        # Observe mode: what routing would have chosen, and what that would have cost.
        would = Text(str(call["would_model"]), style="cyan")
        if call.get("would_cost_usd") is not None:
            would.append(f"  {fmt.usd(call['would_cost_usd'])}")
        row("would use", would)
    step = Text(call.get("step") or "—", style="bold")
    if call.get("rule"):
        step.append("  rule ", style="dim")
        step.append(str(call["rule"]))
    row("step", step)
    row("reason", call.get("reason") or "—")
    row("evidence", _evidence(call.get("evidence")))
    status = status_text(call)
    if call.get("http_status"):
        status.append(f"  http {call['http_status']}", style="dim")
    timing = f"  ttfb {fmt.ms(call.get('ttfb_ms'))} · total {fmt.ms(call.get('total_ms'))}"
    status.append(timing, style="dim")
    row("status", status)
    if call.get("error"):
        row("error", call["error"], style="red")
    if call.get("outcome") or call.get("signals"):
        row("outcome", outcome_text(call))
    row("cost", _cost_text(call))
    tokens = (
        f"in {fmt.count(call.get('input_tokens') or 0)} · "
        f"out {fmt.count(call.get('output_tokens') or 0)} · "
        f"cache write {fmt.count(call.get('cache_creation_tokens') or 0)} · "
        f"read {fmt.count(call.get('cache_read_tokens') or 0)}"
    )
    row("tokens", tokens)
    attempts = attempts_of(call)
    # One successful attempt says nothing the status does not.
    if len(attempts) > 1 or (attempts and call.get("status") != OK):
        row("attempts", Text("\n".join(_attempt(i, a) for i, a in enumerate(attempts, 1))))
    row("ids", _ids_text(call), style="dim")
    return grid


def _model_text(call: dict[str, Any]) -> Text:
    """The model asked for, the one that answered when routing changed it, and the provider."""
    requested, used = call.get("requested_model"), call.get("model")
    model = Text(str(requested or "?"))
    if used and used != requested:
        model.append(" → ")
        model.append(str(used), style="bold cyan")
    if call.get("provider"):
        model.append(f"  via {call['provider']}", style="dim")
    return model


def _cost_text(call: dict[str, Any]) -> Text:
    """The call's cost (or why it has none) beside its baseline's."""
    cost = Text(fmt.usd(call.get("cost_usd")))
    if call.get("cost_usd") is None and call.get("unpriced_reason"):
        cost.append(f" ({call['unpriced_reason']})", style="yellow")
    baseline = effective_baseline(call)
    cost.append("  baseline ", style="dim")
    cost.append(fmt.usd(baseline) if baseline is not None else "—")
    if call.get("baseline_model"):
        cost.append(f" ({call['baseline_model']})", style="dim")
    return cost


def _ids_text(call: dict[str, Any]) -> str:
    """The call's, its session's, its endpoint's, its thread's and its subagent's ids."""
    ids = [f"call {call.get('seq', '?')} {call.get('id', '')}", f"session {call.get('session_id')}"]
    if call.get("surface"):
        ids.append(f"{call['surface']} {call.get('endpoint') or ''}".strip())
    if call.get("thread_id"):
        ids.append(f"thread {call['thread_id']}")
    if call.get("agent_id"):
        ids.append(f"agent {call['agent_id']}")
    return " · ".join(ids)

"""The end-of-session summary: what each model and each step kind cost against the baseline,
and the routes of the profile that the never-dearer rule did not take (said once per route).

`render_summary` returns a Rich renderable the launcher prints to stderr after the agent
exits; `summary_json` returns the same numbers for scripts. Unpriced models are shown as
"unpriced" with the reason in a footnote, never as $0.00. Narrow consoles get a compact
table (calls, tokens, cost, saving) instead of one column per token kind.

A line of facts ("2m05s · 6 calls · cost $0.56") breaks only between facts, never inside one
(a command, an id); printed with soft wrap (to a file or a pipe) each line is one line.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

from agentwrap import fmt
from agentwrap.export.stats import ExportStats, read_stats, stats_line
from agentwrap.route.dearer import PREFIX, ROUTE_END, HeldBack, held_back, remedy
from agentwrap.trace.queries import note_counts, sessions_ledger
from agentwrap.trace.store import TraceStore
from agentwrap.trace.tally import Ledger, Tally

# Below this console width the tables drop the per-token-kind columns.
COMPACT_WIDTH = 100


def summary_json(store: TraceStore, session_id: str) -> dict[str, Any]:
    """The session's summary as plain data: totals, per-model and per-step rows, unpriced reasons."""
    from agentwrap.errorlog import logged

    session = store.session(session_id)
    ledger = session_sums(store, session_id)
    return {
        "session_id": session_id,
        "agent": session.get("agent") if session else None,
        "is_demo": bool(session.get("is_demo")) if session else False,
        "started_at": session.get("started_at") if session else None,
        "ended_at": session.get("ended_at") if session else None,
        "exit_code": session.get("exit_code") if session else None,
        "end_reason": session.get("end_reason") if session else None,
        "duration_s": _duration(session),
        "totals": ledger.total.as_dict(),
        "by_model": [{"model": name, **t.as_dict()} for name, t in ledger.models()],
        "by_step": [{"step": name, **t.as_dict()} for name, t in ledger.steps()],
        "unpriced": dict(ledger.unpriced_reasons),
        "held_back": [
            {**asdict(route), "calls": count, "remedy": remedy(route.where, route.alias)}
            for route, count in routes_held_back(store, session_id)
        ],
        "details": detail_commands(session_id),
        "export": asdict(export) if (export := read_stats(store, session_id)) else None,
        "errors_logged": dict(zip(("count", "path"), found, strict=True))
        if (found := logged(store, session_id))
        else None,
    }


def detail_commands(session_id: str) -> list[str]:
    """The commands that show a session's calls one by one."""
    return [f"agentwrap log --session {session_id}", f"agentwrap top {session_id}"]


def render_summary(store: TraceStore, session_id: str) -> SessionSummary:
    """The session's summary as a Rich renderable (adapts to the console width when printed)."""
    # The error log's module (with logging's handlers) loads here: report's cost cells,
    # drawn by this module's cost_text, need none of it.
    from agentwrap.errorlog import logged

    return SessionSummary(
        session_id=session_id,
        session=store.session(session_id),
        ledger=session_sums(store, session_id),
        export=read_stats(store, session_id),
        logged=logged(store, session_id),
        held_back=routes_held_back(store, session_id),
    )


def session_sums(store: TraceStore, session_id: str) -> Ledger:
    """The session's ledger from the table of sums and its calls still in flight (no finished
    call row is read: trace.sums)."""
    return sessions_ledger(store, [session_id])


def routes_held_back(store: TraceStore, session_id: str) -> list[tuple[HeldBack, int]]:
    """The routes of the profile the never-dearer rule did not take in the session's calls,
    each with how many calls it kept on the requested model: most first, then in the order
    the session first met them."""
    counts: dict[HeldBack, tuple[int, float, int]] = {}
    # SQLite counts the distinct notes; only those are parsed here.
    for note, count, started, seq in note_counts(
        store, PREFIX, ROUTE_END, "WHERE session_id = ?", (session_id,)
    ):
        found = held_back(note)
        if found is None:
            continue
        # One route may be written in several notes (the same model on two providers).
        before = counts.get(found)
        if before is not None:
            count += before[0]
            started, seq = min((started, seq), before[1:])
        counts[found] = (count, started, seq)
    ordered = sorted(counts.items(), key=lambda item: (-item[1][0], item[1][1], item[1][2]))
    return [(route, count) for route, (count, _, _) in ordered]


def held_back_line(route: HeldBack, count: int) -> str:
    """One line for a route the session never took: what asked for it and what allows it."""
    calls = f"{count} call{'s' if count != 1 else ''}"
    return (
        f"never dearer: {calls} stayed on {fmt.model(route.requested)}, the model the agent "
        f"asked for: {route.where} sends {'them' if count != 1 else 'it'} to {route.alias} "
        f"({fmt.model(route.model)}), which costs more; {remedy(route.where, route.alias)}"
    )


def _duration(session: dict[str, Any] | None) -> float | None:
    if not session or session.get("started_at") is None:
        return None
    end = session.get("ended_at") or time.time()
    return max(0.0, float(end) - float(session["started_at"]))


def failure_rate(tally: Tally) -> Text:
    """Failed steps among the labelled ones: "25% of 8", "11.1% of 18" (red when any failed),
    or "—"."""
    labelled = tally.steps_succeeded + tally.steps_failed
    if not labelled:
        return Text(fmt.MISSING, style="dim")
    rate = f"{fmt.rate(tally.steps_failed / labelled)} of {labelled}"
    return Text(rate, style="red" if tally.steps_failed else "")


class SessionSummary:
    """A Rich renderable; the layout is chosen from the width it is printed at."""

    def __init__(
        self,
        session_id: str,
        session: dict[str, Any] | None,
        ledger: Ledger,
        export: ExportStats | None = None,
        logged: tuple[int, str] | None = None,
        held_back: list[tuple[HeldBack, int]] | None = None,
    ) -> None:
        self.session_id = session_id
        self.session = session
        self.ledger = ledger
        self.export = export
        self.logged = logged
        self.held_back = held_back or []

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        compact = options.max_width < COMPACT_WIDTH
        # Soft wrap (a pipe, a file): one line per line of facts, however long.
        width = None if options.no_wrap else options.max_width
        yield Group(*self._parts(compact, width))

    def _parts(self, compact: bool, width: int | None) -> list[Any]:
        ledger = self.ledger
        total = ledger.total
        parts: list[Any] = [fact_lines(self._headline(), width)]
        if not total.calls:
            parts.append(
                Text("No model calls went through agentwrap in this session.", style="dim")
            )
            parts.extend(self._details(width))
            return parts
        notes: dict[str, int] = {}
        parts.append(self._table("model", ledger.models(), compact, notes, model_rows=True))
        parts.append(self._table("step", ledger.steps(), compact, notes, model_rows=False))
        parts.append(fact_lines(self._outcomes(), width))
        # Said once per session: a route of the profile that costs more was not taken.
        parts.extend(Text(held_back_line(*item), style="yellow") for item in self.held_back)
        footnotes = self._footnotes(notes)
        if footnotes is not None:
            parts.append(footnotes)
        parts.extend(self._details(width))
        return parts

    def _headline(self) -> list[Text]:
        total = self.ledger.total
        facts = [Text("agentwrap", style="bold")]
        session = self.session or {}
        if session.get("agent"):
            facts.append(Text(str(session["agent"])))
        if session.get("is_demo"):
            facts.append(Text("demo, simulated providers", style="magenta"))
        duration = _duration(self.session)
        if duration is not None:
            facts.append(Text(fmt.duration(duration)))
        facts.append(Text(f"{total.calls} call{'s' if total.calls != 1 else ''}"))
        amount, note = fmt.cost(total)
        if total.priced_calls or total.unpriced_calls:
            cost = Text("cost ")
            cost.append(amount, style="bold" if total.priced_calls else "yellow")
            if note:
                cost.append(" ")
                cost.append(note, style="yellow")
            if total.baseline_calls:
                cost.append(f" vs {fmt.baseline(total)} baseline")
            facts.append(cost)
        saved = total.saved_usd
        if saved is not None:
            facts.append(Text(fmt.saving(total), style="bold green" if saved > 0 else "bold"))
        return facts

    def _table(
        self,
        label: str,
        rows: list[tuple[str, Tally]],
        compact: bool,
        notes: dict[str, int],
        model_rows: bool,
    ) -> Table:
        table = Table(
            title=f"by {label}",
            title_justify="left",
            title_style="bold",
            show_footer=True,
            box=None if compact else _box(),
            padding=(0, 1),
            pad_edge=False,
        )
        total = self.ledger.total
        table.add_column(label, footer="total", no_wrap=True)
        table.add_column("calls", justify="right", footer=str(total.calls))
        if compact:
            table.add_column("tokens", justify="right", footer=fmt.tokens(total.tokens))
        else:
            table.add_column("input", justify="right", footer=fmt.tokens(total.input_tokens))
            table.add_column("output", justify="right", footer=fmt.tokens(total.output_tokens))
            table.add_column(
                "cache write", justify="right", footer=fmt.tokens(total.cache_write_tokens)
            )
            table.add_column(
                "cache read", justify="right", footer=fmt.tokens(total.cache_read_tokens)
            )
        table.add_column("cost", justify="right", footer=self._cost(total, None, notes))
        if not compact:
            table.add_column("baseline", justify="right", footer=self._baseline(total))
        table.add_column("saving", justify="right", footer=self._saving(total))
        # Once the agent's requests labelled some steps: how many of each row's failed.
        labelled = bool(total.steps_succeeded + total.steps_failed)
        if labelled:
            table.add_column("failed steps", justify="right", footer=failure_rate(total))
        for name, tally in rows:
            cells: list[Any] = [fmt.model(name) if model_rows else name, str(tally.calls)]
            cells += token_cells(tally, compact)
            cells.append(self._cost(tally, name if model_rows else None, notes))
            if not compact:
                cells.append(self._baseline(tally))
            cells.append(self._saving(tally))
            if labelled:
                cells.append(failure_rate(tally))
            table.add_row(*cells)
        return table

    def _cost(self, tally: Tally, model: str | None, notes: dict[str, int]) -> Text:
        mark = ""
        if tally.unpriced_calls and model is not None and model in self.ledger.unpriced_reasons:
            mark = fmt.mark(notes.setdefault(model, len(notes) + 1))
        return cost_text(tally, mark)

    @staticmethod
    def _baseline(tally: Tally) -> str:
        return fmt.baseline(tally)

    @staticmethod
    def _saving(tally: Tally) -> Text:
        return saved_text(tally)

    def _outcomes(self) -> list[Text]:
        total = self.ledger.total
        facts: list[Text] = []

        def item(count: int, word: str, style: str) -> None:
            facts.append(Text(f"{count} {word}", style=style if count else "dim"))

        item(total.fallbacks, "fallback" + ("s" if total.fallbacks != 1 else ""), "yellow")
        item(total.failed, "failed", "bold red")
        if total.aborted:
            item(total.aborted, "aborted", "magenta")
        if total.refused:
            item(total.refused, "refused", "red")
        if total.streaming:
            item(total.streaming, "unfinished", "yellow")
        labelled = total.steps_succeeded + total.steps_failed + total.steps_interrupted
        if labelled:
            steps = Text("tool steps: ")
            steps.append(f"{total.steps_succeeded} succeeded", style="green")
            steps.append(", ")
            steps.append(
                f"{total.steps_failed} failed", style="red" if total.steps_failed else "dim"
            )
            if total.steps_interrupted:
                steps.append(", ")
                steps.append(f"{total.steps_interrupted} interrupted", style="yellow")
            facts.append(steps)
        would = fmt.would(total)
        if would:
            facts.append(Text(f"observe mode: {would} on {total.would_calls} calls", style="cyan"))
        if total.compared_calls and total.uncompared_calls:
            facts.append(
                Text(
                    f"savings computed on {total.compared_calls} of "
                    f"{total.compared_calls + total.uncompared_calls} calls",
                    style="dim",
                )
            )
        return facts

    def _footnotes(self, notes: dict[str, int]) -> Text | None:
        if not notes:
            return None
        text = Text(style="dim")
        for model, number in sorted(notes.items(), key=lambda kv: kv[1]):
            if text:
                text.append("\n")
            reason = self.ledger.unpriced_reasons[model]
            text.append(f"{fmt.mark(number)} {fmt.model(model)}: {reason}")
        return text

    def _details(self, width: int | None) -> list[Text]:
        lines: list[Text] = []
        if self.logged is not None:
            from agentwrap.errorlog import logged_line

            lines.append(Text(logged_line(*self.logged), style="yellow"))
        if self.export is not None:
            style = "yellow" if self.export.dropped else "dim"
            lines.append(Text(stats_line(self.export), style=style))
        log, top = detail_commands(self.session_id)
        facts = [Text(f"session {self.session_id}", style="dim"), Text("details: ", style="dim")]
        facts[-1].append(log, style="bold")
        facts.append(Text("or ", style="dim"))
        facts[-1].append(top, style="bold")
        lines.append(fact_lines(facts, width, separators=(" · ", " ")))
        return lines


def fact_lines(
    facts: list[Text], width: int | None, separators: tuple[str, ...] = (" · ",)
) -> Text:
    """Facts joined on one line, broken only between facts when wider than `width` (None:
    never). `separators` go between consecutive facts (the last one repeats)."""
    # An overlong fact folds on a terminal rather than being cut off.
    out = Text(no_wrap=width is None, overflow="ignore" if width is None else "fold")
    column = 0
    for i, fact in enumerate(facts):
        if i:
            sep = separators[min(i - 1, len(separators) - 1)]
            if width is not None and column + len(sep) + fact.cell_len > width:
                out.append("\n")
                column = 0
            else:
                out.append(sep, style="dim")
                column += len(sep)
        out.append_text(fact)
        column += fact.cell_len
    return out


def cost_text(sums: fmt.Sums, mark: str = "") -> Text:
    """A cost cell: the priced sum, with the unpriced calls (and their footnote mark) named in
    yellow; never $0 for calls without a price."""
    amount, note = fmt.cost(sums)
    if note:
        # Part priced, part not: the priced sum, flagged as a lower bound.
        text = Text(amount)
        text.append(f" {note}{mark}", style="yellow")
        return text
    if amount == fmt.UNPRICED:
        return Text(f"{amount}{mark}", style="yellow")
    return Text(amount)


def token_cells(tally: Tally, compact: bool) -> list[str]:
    """A row's token cells, as the summary's and the report's tables give them: the total when
    compact, else input, output, cache write and cache read."""
    if compact:
        return [fmt.tokens(tally.tokens)]
    return [
        fmt.tokens(tally.input_tokens),
        fmt.tokens(tally.output_tokens),
        fmt.tokens(tally.cache_write_tokens),
        fmt.tokens(tally.cache_read_tokens),
    ]


def saved_text(sums: fmt.Sums) -> Text:
    """A saving cell, '$1.20 (42%)': green when routing saved money, red when it cost more."""
    saved = sums.saved_usd
    if saved is None:
        return Text(fmt.MISSING, style="dim")
    return Text(fmt.saved(sums), style=money_style(saved))


def money_style(saved: float) -> str:
    """Green for a saving, red for an extra cost, plain for neither."""
    return "green" if saved > 0 else "red" if saved < 0 else ""


def _box() -> Any:
    from rich import box

    return box.SIMPLE_HEAD

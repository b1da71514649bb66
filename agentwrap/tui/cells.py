"""How a call row becomes table cells: the columns, their widths and priorities.

Columns are dropped lowest-priority first until the rest fit the terminal, so the panel stays
readable at 80×24 and shows everything at 160 columns. Cells are plain strings or Rich Text;
the table compares them with the previous render and updates only cells that changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from agentwrap.trace import queries as q

Render = Callable[[dict[str, Any], bool], "str | Text"]

# DataTable pads each cell by one column on each side.
CELL_PADDING = 2
# The vertical scrollbar.
SCROLLBAR = 2


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    priority: int  # 1 = always shown; higher numbers are dropped first
    render: Render
    all_sessions_only: bool = False


def _time(call: dict[str, Any], wide: bool) -> str:
    started = call.get("started_at")
    return time.strftime("%H:%M:%S", time.localtime(started)) if started else "—"


def _session(call: dict[str, Any], wide: bool) -> str:
    # Session ids are "<date>-<time>-<random>": the random tail tells sessions apart.
    session_id = str(call.get("session_id") or "")
    return session_id if len(session_id) <= 8 else session_id[-6:]


def _step(call: dict[str, Any], wide: bool) -> Text:
    step = call.get("step")
    return Text(step, style=_STEP_STYLES.get(step, "")) if step else Text("—", style="dim")


_STEP_STYLES = {
    "plan": "bold magenta",
    "implement": "bold",
    "explore": "cyan",
    "subagent": "blue",
    "background": "dim",
    "compact": "yellow",
    "search": "green",
}


def _model(call: dict[str, Any], wide: bool) -> Text:
    requested = call.get("requested_model")
    used = call.get("model")
    if not used:
        return Text(q.short_model(requested), style="dim")
    rerouted = bool(requested) and requested != used
    if wide and rerouted:
        before, after = q.route_names(q.short_model(requested), q.short_model(used))
        text = Text(before, style="dim")
        text.append(" → ")
        text.append(after, style="bold cyan")
        return text
    return Text(q.short_model(used), style="bold cyan" if rerouted else "")


def _reason(call: dict[str, Any], wide: bool) -> Text:
    reason = call.get("reason") or call.get("rule")
    return Text(str(reason), style="italic") if reason else Text("—", style="dim")


def _in_out(call: dict[str, Any], wide: bool) -> str:
    tokens_in, tokens_out = call.get("input_tokens"), call.get("output_tokens")
    if tokens_in is None and tokens_out is None:
        return "—"
    return f"{q.fmt_tokens(tokens_in or 0)}/{q.fmt_tokens(tokens_out or 0)}"


def _cache(call: dict[str, Any], wide: bool) -> str:
    write, read = call.get("cache_creation_tokens"), call.get("cache_read_tokens")
    if write is None and read is None:
        return "—"
    return f"{q.fmt_tokens(write or 0)}/{q.fmt_tokens(read or 0)}"


def _cost(call: dict[str, Any], wide: bool) -> Text:
    cost = call.get("cost_usd")
    if cost is not None:
        return Text(q.fmt_usd(cost))
    if call.get("status") == q.STREAMING:
        return Text("…", style="dim")
    if q.is_unpriced(call):
        return Text("unpriced", style="yellow")
    return Text("—", style="dim")


def _baseline(call: dict[str, Any], wide: bool) -> Text:
    baseline = q.effective_baseline(call)
    if baseline is None:
        return Text("—", style="dim")
    cost = call.get("cost_usd")
    style = "green" if cost is not None and cost < baseline else "dim"
    return Text(q.fmt_usd(baseline), style=style)


def _ms(key: str) -> Render:
    def render(call: dict[str, Any], wide: bool) -> str:
        return q.fmt_ms(call.get(key))

    return render


def status_text(call: dict[str, Any]) -> Text:
    """The status cell: a live 'waiting'/'streaming' state, then the outcome."""
    status = call.get("status") or "?"
    fallback = "↻" if len(q.attempts_of(call)) > 1 else ""
    if status == q.STREAMING:
        if call.get("ttfb_ms") is None:
            return Text(f"{fallback}… waiting", style="yellow")
        return Text(f"{fallback}▶ streaming", style="bold yellow")
    if status == q.OK:
        return Text(f"{fallback}✓ ok", style="green")
    if status in q.ERROR_STATUSES:
        code = call.get("http_status")
        label = "proxy err" if status == "proxy_error" else f"err {code}" if code else "error"
        return Text(f"{fallback}✗ {label}", style="bold red")
    if status == q.ABORTED:
        return Text(f"{fallback}■ aborted", style="magenta")
    if status == q.REFUSED:
        return Text(f"{fallback}⊘ refused", style="red")
    return Text(f"{fallback}{status}")


def _status(call: dict[str, Any], wide: bool) -> Text:
    return status_text(call)


COLUMNS: tuple[Column, ...] = (
    Column("time", "time", 8, 1, _time),
    Column("session", "session", 8, 3, _session, all_sessions_only=True),
    Column("step", "step", 10, 1, _step),
    Column("model", "requested → used", 30, 1, _model),
    Column("reason", "reason", 25, 7, _reason),
    Column("tokens", "in/out", 11, 3, _in_out),
    Column("cache", "cache w/r", 11, 6, _cache),
    Column("cost", "cost", 8, 1, _cost),
    Column("baseline", "baseline", 8, 4, _baseline),
    Column("ttfb", "ttfb", 6, 5, _ms("ttfb_ms")),
    Column("total", "total", 6, 5, _ms("total_ms")),
    Column("status", "status", 11, 1, _status),
)

NARROW_MODEL_WIDTH = 18


@dataclass(frozen=True)
class Layout:
    """The columns that fit a width, and whether the model column shows requested → used."""

    columns: tuple[Column, ...]
    wide: bool

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.columns)

    def widths(self) -> dict[str, int]:
        return {
            c.key: (c.width if self.wide or c.key != "model" else NARROW_MODEL_WIDTH)
            for c in self.columns
        }

    def render(self, call: dict[str, Any]) -> tuple[str | Text, ...]:
        return tuple(c.render(call, self.wide) for c in self.columns)


def layout_for(width: int, all_sessions: bool) -> Layout:
    """Choose the columns for a terminal width: highest priorities first, table order kept."""
    candidates = [c for c in COLUMNS if all_sessions or not c.all_sessions_only]
    budget = width - SCROLLBAR
    full_model = next(c.width for c in COLUMNS if c.key == "model")
    for wide in (True, False):
        model_width = full_model if wide else NARROW_MODEL_WIDTH
        chosen: set[str] = set()
        used = 0
        for column in sorted(candidates, key=lambda c: c.priority):
            cost = (model_width if column.key == "model" else column.width) + CELL_PADDING
            if used + cost > budget:
                if column.priority == 1:
                    break
                continue
            chosen.add(column.key)
            used += cost
        # The wide model column is worth it only if it leaves room for the token columns.
        if not wide or "tokens" in chosen:
            return Layout(tuple(c for c in candidates if c.key in chosen), wide)
    raise AssertionError("unreachable")

"""How a call row becomes table cells: the columns, their widths and priorities.

Columns are dropped lowest-priority first until the rest fit the terminal, so the panel stays
readable at 80×24 and shows everything at 160 columns. Cells are plain strings or Rich Text;
the table compares them with the previous render and updates only cells that changed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from agentwrap import fmt
from agentwrap.trace.tally import (
    ABORTED,
    ERROR_STATUSES,
    OK,
    REFUSED,
    STREAMING,
    attempts_of,
    effective_baseline,
    is_unpriced,
)

# Layout modes, widest first: "wide" shows requested → used; "narrow" the used model only;
# "tight" (a split pane of 40-60 columns) also drops the clock and shortens step and status.
WIDE, NARROW, TIGHT = "wide", "narrow", "tight"
MODES = (WIDE, NARROW, TIGHT)

Render = Callable[[dict[str, Any], str], "str | Text"]

# The table pads each cell by one column on each side.
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
    narrow_width: int | None = None
    tight_width: int | None = None
    tight_priority: int | None = None
    narrow_label: str | None = None

    def label_in(self, mode: str) -> str:
        return self.narrow_label if mode != WIDE and self.narrow_label else self.label

    def width_in(self, mode: str) -> int:
        if mode == TIGHT and self.tight_width is not None:
            return self.tight_width
        if mode in (NARROW, TIGHT) and self.narrow_width is not None:
            return self.narrow_width
        return self.width

    def priority_in(self, mode: str) -> int:
        return self.tight_priority if mode == TIGHT and self.tight_priority else self.priority


def _time(call: dict[str, Any], mode: str) -> str:
    started = call.get("started_at")
    return time.strftime("%H:%M:%S", time.localtime(started)) if started else "—"


def _session(call: dict[str, Any], mode: str) -> str:
    # Session ids are "<date>-<time>-<random>": the random tail tells sessions apart.
    session_id = str(call.get("session_id") or "")
    return session_id if len(session_id) <= 8 else session_id[-6:]


def _step(call: dict[str, Any], mode: str) -> Text:
    step = call.get("step")
    if not step:
        return Text("—", style="dim")
    label = _STEP_SHORT.get(step, step) if mode == TIGHT else step
    return Text(label, style=_STEP_STYLES.get(step, ""))


_STEP_SHORT = {"implement": "impl", "background": "bg", "subagent": "sub"}


_STEP_STYLES = {
    "plan": "bold magenta",
    "implement": "bold",
    "explore": "cyan",
    "subagent": "blue",
    "background": "dim",
    "compact": "yellow",
    "search": "green",
}


def _model(call: dict[str, Any], mode: str) -> Text:
    requested = call.get("requested_model")
    used = call.get("model")
    if not used:
        return Text(fmt.model(requested), style="dim")
    rerouted = bool(requested) and requested != used
    if mode == WIDE and rerouted:
        before, after = fmt.route(requested, used)
        text = Text(before, style="dim")
        text.append(" → ")
        text.append(after, style="bold cyan")
        return text
    name = fmt.model(used)
    if mode == TIGHT:
        name = _TIGHT_PREFIX.sub("", name)
    return Text(name, style="bold cyan" if rerouted else "")


# In a split pane "claude-" says nothing the rest of the name does not.
_TIGHT_PREFIX = re.compile(r"^claude-")


def _reason(call: dict[str, Any], mode: str) -> Text:
    reason = call.get("reason") or call.get("rule")
    return Text(str(reason), style="italic") if reason else Text("—", style="dim")


def _in_out(call: dict[str, Any], mode: str) -> str:
    tokens_in, tokens_out = call.get("input_tokens"), call.get("output_tokens")
    if tokens_in is None and tokens_out is None:
        return "—"
    return f"{fmt.tokens(tokens_in or 0)}/{fmt.tokens(tokens_out or 0)}"


def _cache(call: dict[str, Any], mode: str) -> str:
    write, read = call.get("cache_creation_tokens"), call.get("cache_read_tokens")
    if write is None and read is None:
        return "—"
    return f"{fmt.tokens(write or 0)}/{fmt.tokens(read or 0)}"


def _cost(call: dict[str, Any], mode: str) -> Text:
    cost = call.get("cost_usd")
    if cost is not None:
        return Text(fmt.usd(cost))
    if call.get("status") == STREAMING:
        return Text("…", style="dim")
    if is_unpriced(call):
        return Text(fmt.UNPRICED, style="yellow")
    return Text("—", style="dim")


def _baseline(call: dict[str, Any], mode: str) -> Text:
    baseline = effective_baseline(call)
    if baseline is None:
        return Text("—", style="dim")
    cost = call.get("cost_usd")
    style = "green" if cost is not None and cost < baseline else "dim"
    return Text(fmt.usd(baseline), style=style)


def _ms(key: str) -> Render:
    def render(call: dict[str, Any], mode: str) -> str:
        return fmt.ms(call.get(key))

    return render


def status_text(call: dict[str, Any], short: bool = False) -> Text:
    """The status cell: a live 'waiting'/'streaming' state, then how the call ended, then the
    step's outcome once the agent's next request reveals it ("✓ passed", "✗ failed",
    "■ stopped"; "!" when it came with struggle signals).

    `short` fits six columns (a split pane): "… wait", "▶ live", "✓ ok", "✗ 529", "✗ fail".
    """
    status = call.get("status") or "?"
    fallback = "↻" if len(attempts_of(call)) > 1 else ""
    if status == STREAMING:
        if call.get("ttfb_ms") is None:
            return Text(f"{fallback}… {'wait' if short else 'waiting'}", style="yellow")
        return Text(f"{fallback}▶ {'live' if short else 'streaming'}", style="bold yellow")
    if status == OK:
        learned = _STEP_OUTCOMES.get(call.get("outcome") or "")
        if learned is None:
            return Text(f"{fallback}✓ ok", style="green")
        wide, tight, style = learned
        flag = "!" if call.get("signals") else ""
        return Text(f"{fallback}{tight if short else wide}{flag}", style=style)
    if status in ERROR_STATUSES:
        code = call.get("http_status")
        if short:
            label = "prx" if status == "proxy_error" else str(code or "err")
        else:
            label = "proxy err" if status == "proxy_error" else f"err {code}" if code else "error"
        return Text(f"{fallback}✗ {label}", style="bold red")
    if status == ABORTED:
        return Text(f"{fallback}■ {'abrt' if short else 'aborted'}", style="magenta")
    if status == REFUSED:
        return Text(f"{fallback}⊘ {'rfsd' if short else 'refused'}", style="red")
    return Text(f"{fallback}{status}")


# A step outcome in the status cell: (wide, short, style). Unknown keeps "✓ ok".
_STEP_OUTCOMES = {
    "succeeded": ("✓ passed", "✓ pass", "green"),
    "failed": ("✗ failed", "✗ fail", "red"),
    "interrupted": ("■ stopped", "■ stop", "yellow"),
}


def _status(call: dict[str, Any], mode: str) -> Text:
    return status_text(call, short=mode == TIGHT)


COLUMNS: tuple[Column, ...] = (
    Column("time", "time", 8, 1, _time, tight_priority=2),
    Column("session", "session", 8, 3, _session, all_sessions_only=True),
    Column("step", "step", 10, 1, _step, tight_width=7),
    Column(
        "model",
        "requested → used",
        29,
        1,
        _model,
        narrow_width=17,
        tight_width=13,
        narrow_label="model",
    ),
    Column("reason", "reason", 25, 7, _reason),
    Column("tokens", "in/out", 10, 3, _in_out),
    Column("cache", "cache w/r", 11, 6, _cache),
    # Money as fmt writes it everywhere, to two significant digits: $0.000046 is 9 wide.
    Column("cost", "cost", 9, 1, _cost),
    Column("baseline", "baseline", 9, 4, _baseline),
    Column("ttfb", "ttfb", 6, 5, _ms("ttfb_ms")),
    Column("total", "total", 6, 5, _ms("total_ms")),
    Column("status", "status", 11, 1, _status, tight_width=7),
)


# The columns that take the width no other column needs, in turn, each up to a limit:
# "claude-haiku-4-5 → gemini-3-flash-preview" whole, then the reason as long as it is.
STRETCH: tuple[tuple[str, int], ...] = (("model", 13), ("reason", 10_000))


@dataclass(frozen=True)
class Layout:
    """The columns that fit a width, the mode they render in (see MODES), and the spare width
    the stretching columns share (see STRETCH)."""

    columns: tuple[Column, ...]
    mode: str
    spare: int = 0

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.columns)

    def widths(self) -> dict[str, int]:
        widths = {c.key: c.width_in(self.mode) for c in self.columns}
        spare = self.spare
        for key, most in STRETCH:
            if key in widths:
                extra = min(spare, most)
                widths[key] += extra
                spare -= extra
        return widths

    def render(self, call: dict[str, Any]) -> tuple[str | Text, ...]:
        return tuple(c.render(call, self.mode) for c in self.columns)


def _fit(candidates: list[Column], mode: str, budget: int) -> tuple[set[str], bool]:
    """Columns by priority while they fit; also whether every must-have column fit."""
    chosen: set[str] = set()
    used = 0
    complete = True
    for column in sorted(candidates, key=lambda c: c.priority_in(mode)):
        cost = column.width_in(mode) + CELL_PADDING
        if not complete and column.priority_in(mode) > 1:
            break  # no extras in the room a must-have column needed
        if used + cost > budget:
            if column.priority_in(mode) == 1:
                complete = False
            continue
        chosen.add(column.key)
        used += cost
    return chosen, complete


def layout_for(width: int, all_sessions: bool) -> Layout:
    """Choose the columns for a terminal width: highest priorities first, table order kept."""
    candidates = [c for c in COLUMNS if all_sessions or not c.all_sessions_only]
    budget = width - SCROLLBAR
    for mode in MODES:
        chosen, complete = _fit(candidates, mode, budget)
        # The wide model column is worth it only if it leaves room for the token column.
        if mode == WIDE and "tokens" not in chosen:
            continue
        if complete or mode == TIGHT:
            columns = tuple(c for c in candidates if c.key in chosen)
            used = sum(c.width_in(mode) + CELL_PADDING for c in columns)
            # The spare width only in the wide mode: a narrower one is a split pane or small.
            spare = max(budget - used, 0) if mode == WIDE and "reason" in chosen else 0
            return Layout(columns, mode, spare)
    raise AssertionError("unreachable")

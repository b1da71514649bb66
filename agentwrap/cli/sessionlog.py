"""`agentwrap sessions` and `agentwrap log`'s work: reading the trace, with no command-line
library (their typer commands are in cli/logs.py, their plain reading in cli/plain.py).

The store and Rich load inside the commands, so building the CLI does not load them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from agentwrap import fmt
from agentwrap.cli.plain import echo
from agentwrap.cli.store import open_store

if TYPE_CHECKING:
    from agentwrap.trace.store import TraceStore


def _call_cost(call: dict[str, Any]) -> str:
    # As in the panel: no cost yet while streaming; "unpriced" only for a call that ran.
    from agentwrap.trace.tally import STREAMING, is_unpriced

    if call.get("cost_usd") is not None:
        return fmt.usd(call["cost_usd"])
    if call.get("status") == STREAMING:
        return "…"
    return fmt.UNPRICED if is_unpriced(call) else fmt.MISSING


def demo_note(store: TraceStore) -> str | None:
    """'2 demo sessions left out; add --demo to include', or None when there is none."""
    n = store.demo_session_count()
    if not n:
        return None
    return f"{n} demo session{'s' if n != 1 else ''} left out; add --demo to include"


NO_SESSIONS = "No sessions recorded yet. Start one with: agentwrap claude (or try: agentwrap demo)"


def _exit_cell(session: dict[str, Any]) -> str:
    # A session whose launcher died (reconciled when the store was opened) has no exit code.
    if session.get("end_reason"):
        return str(session["end_reason"])
    return "" if session.get("exit_code") is None else str(session["exit_code"])


def sessions(limit: int = 20, as_json: bool = False, demo: bool = False) -> None:
    """`agentwrap sessions` with its options' values: print the newest sessions."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from agentwrap.cli.console import out_console
    from agentwrap.cli.tables import drawn

    store = open_store()
    rows = store.sessions(limit, include_demo=demo)
    if as_json:
        echo(json.dumps(rows, indent=2, default=str))
        return
    hidden = None if demo else demo_note(store)
    if not rows:
        echo(NO_SESSIONS)
        if hidden:
            echo(hidden)
        return
    console = out_console()
    wide = console.width >= 110
    table = Table(title="agentwrap sessions", box=box.SIMPLE_HEAD, pad_edge=False)
    for col, just in (
        ("session", "left"),
        ("agent", "left"),
        *((("started", "left"),) if wide else ()),  # narrow: the id already tells the time
        ("took", "right"),
        ("calls", "right"),
        ("cost", "right"),
        ("exit", "right"),
        *((("cwd", "left"),) if wide else ()),
    ):
        table.add_column(col, justify=just, no_wrap=col != "cwd", overflow="ellipsis")
    for r in rows:
        dur = fmt.duration(r["ended_at"] - r["started_at"]) if r.get("ended_at") else "running"
        calls = r.get("calls") or 0
        if not calls:
            cost = fmt.MISSING
        else:
            cost = fmt.usd(r.get("cost_usd"))
            if r.get("cost_usd") is not None and r.get("unpriced_calls"):
                cost += f" +{r['unpriced_calls']}?"
        cells = [
            r["id"],
            r["agent"],
            dur,
            str(calls),
            cost,
            _exit_cell(r),
        ]
        if wide:
            cells.insert(2, time.strftime("%m-%d %H:%M", time.localtime(r["started_at"])))
            cells.append(r.get("cwd") or "")
        table.add_row(*map(Text, cells))  # data, not markup: a cwd may hold brackets
    console.print(drawn(table))
    if any(r.get("unpriced_calls") and r.get("cost_usd") is not None for r in rows):
        console.print("[dim]+N? : N calls of that session are unpriced (see agentwrap log)[/dim]")
    if hidden:
        console.print(hidden, style="dim", highlight=False)


def _outcome_cell(call: dict[str, Any]) -> str:
    """The step's outcome, with a "!" when struggle signals came with it."""
    outcome = call.get("outcome") or ""
    return f"{outcome or 'unknown'}!" if call.get("signals") else outcome


# The columns _log_row reads.
LOG_COLUMNS = (
    "seq",
    "started_at",
    "step",
    "requested_model",
    "model",
    "status",
    "http_status",
    "outcome",
    "signals",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "cost_usd",
    "unpriced_reason",
    "ttfb_ms",
    "total_ms",
    "reason",
    "error",
)


def _log_row(c: dict[str, Any], medium: bool) -> dict[str, str]:
    """One call's cells in `agentwrap log`, by column name."""
    requested, used = c.get("requested_model"), c.get("model")
    model = fmt.model(used) if used else fmt.MISSING
    if requested and requested != used:
        before, after = fmt.route(requested, used) if used else (fmt.model(requested), model)
        model = f"{before} → {after}"
    status = c["status"] if c["status"] != "error" else f"error {c.get('http_status') or ''}"
    # Narrow terminals count tokens as the summary does (30.0k), so a row fits.
    tokens = fmt.count if medium else fmt.tokens
    return {
        "#": str(c["seq"]),
        "time": time.strftime("%H:%M:%S", time.localtime(c["started_at"])),
        "step": c.get("step") or fmt.MISSING,
        "model": model,
        "status": status.strip(),
        "outcome": _outcome_cell(c),
        "in": tokens(c.get("input_tokens")),
        "out": tokens(c.get("output_tokens")),
        "cache w/r": f"{fmt.count(c.get('cache_creation_tokens'))}/"
        f"{fmt.count(c.get('cache_read_tokens'))}",
        "cost": _call_cost(c),
        "ttfb": fmt.ms(c.get("ttfb_ms")),
        "total": fmt.ms(c.get("total_ms")),
        "reason": c.get("reason") or c.get("error") or "",
    }


def log(
    session: str = "last", limit: int | None = None, as_json: bool = False, demo: bool = False
) -> None:
    """`agentwrap log` with its options' values: print a session's calls (no such session:
    say so on stderr and exit 1)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from agentwrap.cli.console import out_console
    from agentwrap.cli.tables import drawn

    store = open_store()
    sess = store.resolve_session(session, include_demo=demo)
    if sess is None:
        if session in ("", "last"):
            echo(f"agentwrap: {NO_SESSIONS[0].lower()}{NO_SESSIONS[1:]}", err=True)
            if not demo and (hidden := demo_note(store)):
                echo(hidden, err=True)
        else:
            echo(f"agentwrap: no session matches '{session}' (see: agentwrap sessions)", err=True)
        raise SystemExit(1)
    # The table reads only the columns it shows; --json has everything.
    shown_columns = None if as_json else LOG_COLUMNS
    calls = store.calls(sess["id"], limit=limit, newest_first=bool(limit), columns=shown_columns)
    if limit:
        calls.reverse()
    if as_json:
        for c in calls:
            echo(json.dumps(c, default=str))
        return
    console = out_console()
    shown = _calls(len(calls))
    if limit:
        # -n shows the newest calls: say of how many.
        shown = f"newest {len(calls)} of {_calls(store.call_count(sess['id']))}"
    layout = _log_layout(console.width, calls)
    wide, medium, rows, columns = layout.wide, layout.medium, layout.rows, layout.columns
    table = Table(
        title=f"session {sess['id']} · {sess['agent']} · {shown}",
        expand=wide and console.is_terminal,  # a pipe gets the cells' own width
        box=box.HEAVY_HEAD if medium else None,  # narrow: the borders' room goes to the model
    )
    for name, justify, is_shown in columns:
        if not is_shown:
            continue
        # Only the model and the reason give way when the row is too wide; numbers never do.
        widest = max((len(r[name]) for r in rows), default=0)
        table.add_column(
            name,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=name != "reason",
            overflow="ellipsis",
            ratio=1 if name == "reason" else None,
            max_width=layout.model_width if name == "model" else None,
            min_width=REASON_LEAST
            if name == "reason"
            else None
            if name == "model"
            else max(widest, 1),
        )
    for values in rows:
        # Data, not markup: a reason may name [[rules]], an error [Errno 111].
        table.add_row(*(Text(values[name]) for name, _, is_shown in columns if is_shown))
    console.print(drawn(table))
    if not wide:
        console.print(
            "[dim]wider terminals show ttfb and the routing reason; --json has everything[/dim]"
        )


def _calls(n: int) -> str:
    return f"{n} call{'s' if n != 1 else ''}"


# The least width of the reason (it wraps) and of the model (cut with an ellipsis).
REASON_LEAST = 20
MODEL_LEAST = 12


@dataclass(frozen=True)
class _LogLayout:
    """The columns `agentwrap log` shows on a console, its rows' cells, the model's limit."""

    wide: bool  # the outcome, ttfb and the reason too
    medium: bool  # the time, cache and total too, exact token counts, a box
    rows: list[dict[str, str]]
    model_width: int | None

    @property
    def columns(self) -> list[tuple[str, str, bool]]:
        """(name, justify, shown) of every column, in order."""
        wide, medium = self.wide, self.medium
        return [
            ("#", "right", True),
            ("time", "left", medium),
            ("step", "left", True),
            ("model", "left", True),
            ("status", "left", True),
            ("outcome", "left", wide),
            ("in", "right", True),
            ("out", "right", True),
            ("cache w/r", "right", medium),
            ("cost", "right", True),
            ("ttfb", "right", wide),
            ("total", "right", medium),
            ("reason", "left", wide),
        ]


def _log_layout(width: int, calls: list[dict[str, Any]]) -> _LogLayout:
    """The widest layout whose row fits the console with the model at least MODEL_LEAST wide
    (from 140 columns wide, from 100 medium; the narrow one always)."""
    for wide, medium in ((True, True), (False, True), (False, False)):
        if (wide and width < 140) or (medium and width < 100):
            continue
        rows = [_log_row(c, medium) for c in calls]
        layout = _LogLayout(wide, medium, rows, None)
        shown = [name for name, _, is_shown in layout.columns if is_shown]
        room = _room_for_model(width, shown, rows, boxed=medium)
        if room >= MODEL_LEAST or not medium:
            return replace(layout, model_width=None if width >= 200 else max(MODEL_LEAST, room))
    raise AssertionError("unreachable: the narrow layout is always taken")


def _room_for_model(width: int, shown: list[str], rows: list[dict[str, str]], boxed: bool) -> int:
    """The columns a console this wide leaves the model once every other column has its
    widest cell or header (the reason its least), each cell's padding and the borders."""
    from rich.cells import cell_len

    used = 2  # the model's own padding
    for name in shown:
        if name == "reason":
            used += REASON_LEAST + 2
        elif name != "model":
            used += 2 + max(cell_len(name), *(cell_len(r[name]) for r in rows))
    return width - used - (len(shown) + 1 if boxed else 0)

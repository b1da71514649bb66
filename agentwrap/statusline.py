"""The status line: one short line for Claude Code's status line setting.

Claude Code runs its `statusLine` command after each message with a JSON object on stdin
(session_id, transcript_path, cwd, model, workspace, version, cost, ...) and shows the first
line the command prints. Ours shows the model that handled the last step, the session's cost
and the saving against the baseline, read from the trace store.

The agentwrap session comes from AGENTWRAP_SESSION_ID (the launcher sets it for the agent
and its children); without it, a call whose thread id is Claude Code's session id is looked up.

It runs after every message, so it must be fast and quiet: `python -m agentwrap.statusline`
imports only sqlite3, the query module and the formatter (no typer, Rich or Textual), opens the
store read-only (no migration, no lock), and prints a sane line on any failure, exiting 0.
`agentwrap statusline` (cli/statusline.py) prints the same line.
"""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import sys
from pathlib import Path
from typing import Any

SESSION_ENV = "AGENTWRAP_SESSION_ID"

_RESET = "\x1b[0m"
_COLORS = {"model": "\x1b[36m", "saved": "\x1b[32m", "warn": "\x1b[33m", "dim": "\x1b[2m"}


def statusline_command() -> str:
    """The shell command the launcher puts in Claude Code's statusLine setting."""
    return f"{shlex.quote(sys.executable)} -m agentwrap.statusline"


def _open_readonly(path: Path) -> sqlite3.Connection | None:
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.5)
    conn.row_factory = sqlite3.Row
    return conn


def _find_session(conn: sqlite3.Connection, claude: dict[str, Any]) -> str | None:
    session_id = os.environ.get(SESSION_ENV)
    if session_id:
        return session_id
    thread = claude.get("session_id")
    if not isinstance(thread, str) or not thread:
        return None
    row = conn.execute(
        "SELECT session_id FROM calls WHERE thread_id = ? ORDER BY started_at DESC LIMIT 1",
        (thread,),
    ).fetchone()
    return row[0] if row else None


def _paint(text: str, kind: str, color: bool) -> str:
    return f"{_COLORS[kind]}{text}{_RESET}" if color else text


def statusline_text(
    db_path: Path, claude: dict[str, Any] | None = None, color: bool = False
) -> str:
    """The line for the current session: last step's model, cost, saving against the baseline."""
    from agentwrap import fmt
    from agentwrap.trace import queries as q

    claude = claude or {}
    if not os.environ.get(SESSION_ENV) and not claude.get("session_id"):
        return "agentwrap: no session"
    conn = _open_readonly(db_path)
    if conn is None:
        return "agentwrap: no calls yet"
    try:
        session_id = _find_session(conn, claude)
        if not session_id:
            return "agentwrap: no session"
        session = conn.execute(
            "SELECT is_demo FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        total = q.session_total(conn, session_id)
        last = q.last_step_call(conn, session_id)
    finally:
        conn.close()
    label = "agentwrap (demo)" if session and session["is_demo"] else "agentwrap"
    if last is None:
        return f"{label}: no calls yet"
    requested, used = last.get("requested_model"), last.get("model")
    if used and requested and used != requested:
        before, after = fmt.route(requested, used)
        model = f"{before} → {_paint(after, 'model', color)}"
    else:
        model = _paint(fmt.model(used or requested), "model", color)
    step = f" ({last['step']})" if last.get("step") else ""
    parts = [f"{label}: {model}{step}"]
    amount, note = fmt.cost(total)
    if note:
        amount += _paint(f" {note}", "warn", color)
    elif amount == fmt.UNPRICED:
        amount = _paint(amount, "warn", color)
    elif amount == fmt.MISSING:
        amount = f"${amount}"  # a money slot even before the first priced call
    parts.append(amount)
    saved, pct = total.saved_usd, total.saved_pct
    if saved is not None and pct is not None:
        # As the summary and the panel say it: 'saved 42% ($1.20)', 'cost +5% ($0.10)'.
        parts.append(_paint(fmt.saving(total), "saved" if saved >= 0 else "warn", color))
    would = total.would_save_pct
    if would is not None:
        parts.append(f"routing would save {would:.0f}%")
    return " · ".join(parts)


def _read_stdin() -> dict[str, Any]:
    # Run by hand from a terminal there is no JSON to wait for.
    if sys.stdin is None or sys.stdin.isatty():
        return {}
    try:
        data = json.loads(sys.stdin.read() or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def main() -> int:
    """Print the status line; never fails loudly (Claude Code would show the error)."""
    try:
        from agentwrap import paths

        claude = _read_stdin()
        color = not os.environ.get("NO_COLOR")
        print(statusline_text(paths.trace_db(), claude, color=color))
    except Exception as exc:  # a status line must never break the agent's UI
        print(f"agentwrap: statusline unavailable ({type(exc).__name__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

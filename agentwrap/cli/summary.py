"""Printing the end-of-session summary on stderr (stdout stays the agent's)."""

from __future__ import annotations

from rich.console import Console

from agentwrap.errorlog import logged
from agentwrap.summary import render_summary
from agentwrap.trace.store import TraceStore


def print_summary(store: TraceStore, session_id: str) -> None:
    """Print the summary of a session that made calls (or logged errors); a run that made none,
    such as `agentwrap claude --version`, prints nothing. Off a terminal each line of facts
    stays one line, so a command or an id is never split across two."""
    if not store.call_count(session_id) and logged(store, session_id) is None:
        return
    console = Console(stderr=True)
    console.print(render_summary(store, session_id), soft_wrap=not console.is_terminal)

"""Printing the end-of-session summary on stderr (stdout stays the agent's)."""

from __future__ import annotations

from rich.console import Console

from agentwrap.trace.store import TraceStore


def print_summary(store: TraceStore, session_id: str) -> None:
    console = Console(stderr=True)
    try:
        from agentwrap.summary import render_summary
    except ImportError:
        calls = store.calls(session_id)
        console.print(
            f"agentwrap: session {session_id}: {len(calls)} calls · details: agentwrap log --session {session_id}"
        )
        return
    console.print(render_summary(store, session_id))

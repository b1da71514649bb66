"""Printing the end-of-session summary on stderr (stdout stays the agent's)."""

from __future__ import annotations

from rich.console import Console

from agentwrap.summary import render_summary
from agentwrap.trace.store import TraceStore


def print_summary(store: TraceStore, session_id: str) -> None:
    Console(stderr=True).print(render_summary(store, session_id))

"""The trace store as a command opens it: a long one-time build after an upgrade (the table of
sums of a big store from an earlier version) is said on stderr before it starts, so a command
that seems to hang says why, and its stdout (JSON a script may read) stays as it was.

The store loads inside `open_store`, so building the CLI does not load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentwrap import paths
from agentwrap.cli.plain import echo

if TYPE_CHECKING:
    from agentwrap.trace.store import TraceStore


def open_store() -> TraceStore:
    """The user's trace store, migrated, saying so on stderr first when that takes long."""
    from agentwrap.trace.store import TraceStore

    return TraceStore(paths.trace_db(), notice=say)


def say(message: str) -> None:
    """A line on stderr as agentwrap's commands write one, flushed before what follows."""
    echo(f"agentwrap: {message}", err=True)

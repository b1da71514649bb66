"""What a session's live export sent and dropped: written once at the end, read by the summary.

Kept as one `export` row in the store's events table (no schema change): the summary that
prints right after the session, in this process or in the one that started tmux, reads it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentwrap.trace.store import TraceStore

EXPORT_EVENT = "export"


@dataclass
class ExportStats:
    """One session's live export: spans sent and dropped, where to, and the last failure."""

    sent: int
    dropped: int
    endpoint: str
    error: str | None = None


def record_stats(store_path: Path, session_id: str, stats: ExportStats) -> None:
    """Write the session's export stats (own connection: the recorder may still be writing)."""
    store = TraceStore(store_path)
    try:
        store.insert_event(session_id, EXPORT_EVENT, None, asdict(stats), time.time())
    finally:
        store.close()


def read_stats(store: TraceStore, session_id: str) -> ExportStats | None:
    """The session's export stats, or None when it did not export."""
    row = store.conn.execute(
        "SELECT data FROM events WHERE session_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
        (session_id, EXPORT_EVENT),
    ).fetchone()
    if row is None:
        return None
    try:
        data: dict[str, Any] = json.loads(row[0] or "{}")
        return ExportStats(
            sent=int(data.get("sent") or 0),
            dropped=int(data.get("dropped") or 0),
            endpoint=str(data.get("endpoint") or ""),
            error=data.get("error"),
        )
    except (TypeError, ValueError):
        return None


def stats_line(stats: ExportStats) -> str:
    """One line for the summary: `OTLP export: 12 spans sent to URL · 3 dropped (why)`."""
    plural = "" if stats.sent == 1 else "s"
    text = f"OTLP export: {stats.sent} span{plural} sent to {stats.endpoint}"
    if stats.dropped:
        text += f" · {stats.dropped} dropped"
        if stats.error:
            text += f" ({stats.error})"
    return text

"""Step outcomes add up in the ledger and show in the summary."""

from __future__ import annotations

import time

from rich.console import Console

from agentwrap import paths
from agentwrap.summary import render_summary
from agentwrap.trace.queries import session_totals
from agentwrap.trace.recorder import Recorder
from agentwrap.trace.store import TraceStore


def test_outcomes_are_counted_and_summarised():
    store = TraceStore(paths.trace_db())
    store.insert_session(id="s", agent="claude", started_at=time.time(), ended_at=time.time() + 5)
    rec = Recorder(store, "s")
    for i, outcome in enumerate(["succeeded", "succeeded", "failed", "interrupted", None]):
        rec.call_started(
            f"c{i}", seq=i, surface="anthropic", endpoint="messages", model="claude-sonnet-4-6"
        )
        rec.call_event("finished", f"c{i}", status="ok", cost_usd=0.01, baseline_cost_usd=0.02)
        if outcome:
            rec.call_event("outcome", f"c{i}", outcome=outcome)
    rec.close()
    total = session_totals(store, "s")
    assert (total.steps_succeeded, total.steps_failed, total.steps_interrupted) == (2, 1, 1)
    console = Console(width=120, record=True)
    console.print(render_summary(store, "s"))
    assert "tool steps: 2 succeeded, 1 failed, 1 interrupted" in console.export_text()

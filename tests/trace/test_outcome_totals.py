"""Step outcomes add up in the ledger and show in the summary."""

from __future__ import annotations

import time

from rich.console import Console

from agentwrap import paths
from agentwrap.summary import render_summary
from agentwrap.trace.queries import session_total, sessions_ledger
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
    # The statusline's sum over the calls, and the summary's table of sums.
    for total in (session_total(store, "s"), sessions_ledger(store, ["s"]).total):
        assert (total.steps_succeeded, total.steps_failed, total.steps_interrupted) == (2, 1, 1)
    console = Console(width=120, record=True)
    console.print(render_summary(store, "s"))
    assert "tool steps: 2 succeeded, 1 failed, 1 interrupted" in console.export_text()


def test_the_summary_gives_failure_rates_per_model_and_step():
    store = TraceStore(paths.trace_db())
    store.insert_session(id="s", agent="codex", started_at=time.time(), ended_at=time.time() + 5)
    rec = Recorder(store, "s")
    steps = [
        ("gpt-5.5", "implement", "failed"),
        ("gpt-5.5", "implement", "succeeded"),
        ("gpt-5.5", "implement", "succeeded"),
        ("gpt-5.5", "implement", "interrupted"),  # says nothing about the model
        ("gpt-5.4-mini", "explore", "succeeded"),
        ("gpt-5.4-mini", "background", None),
    ]
    for i, (model, step, outcome) in enumerate(steps):
        rec.call_started(
            f"c{i}", seq=i, surface="openai-responses", endpoint="responses", model=model, step=step
        )
        rec.call_event("finished", f"c{i}", status="ok", cost_usd=0.01, baseline_cost_usd=0.02)
        if outcome:
            rec.call_event("outcome", f"c{i}", outcome=outcome)
    rec.close()
    console = Console(width=200, record=True)
    console.print(render_summary(store, "s"))
    text = console.export_text()
    lines = text.splitlines()

    def row(name: str) -> str:
        return next(line for line in lines if line.split() and line.split()[0] == name)

    assert row("gpt-5.5").rstrip().endswith("33.3% of 3")
    assert row("gpt-5.4-mini").rstrip().endswith("0% of 1")
    assert row("implement").rstrip().endswith("33.3% of 3")
    assert row("explore").rstrip().endswith("0% of 1")
    assert row("background").rstrip().endswith("—")
    assert "failed steps" in text
    assert row("total").rstrip().endswith("25% of 4")
    # report quality writes the same rates as the summary: one formatter.
    from tests.support.cli import agentwrap

    quality = agentwrap("report", "quality", COLUMNS="120").stdout.splitlines()
    implement = next(line for line in quality if line.startswith("implement "))
    assert "1/3 33.3% (" in implement
    total = next(line for line in quality if line.startswith("total "))
    assert " 25% (" in total


def test_no_failure_column_before_any_step_is_labelled():
    store = TraceStore(paths.trace_db())
    store.insert_session(id="s", agent="codex", started_at=time.time(), ended_at=time.time() + 5)
    rec = Recorder(store, "s")
    rec.call_started("c", seq=1, surface="openai-responses", endpoint="responses", model="m")
    rec.call_event("finished", "c", status="ok", cost_usd=0.01)
    rec.close()
    console = Console(width=200, record=True)
    console.print(render_summary(store, "s"))
    assert "failed steps" not in console.export_text()

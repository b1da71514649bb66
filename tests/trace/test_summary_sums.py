"""The end-of-session summary made from SQLite's sums against the one folded from every row.

The summary reads a session's sums per model and step and its never-dearer notes counted per
note, not its call rows. This holds it to the summary built the way it was before (every row
through `ledger_of`, every reason through `held_back`) on sessions with fallbacks, unpriced
calls, calls in flight, labelled steps and routes held back, printed at several widths.
"""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from rich.console import Console

from agentwrap import paths
from agentwrap.errorlog import logged
from agentwrap.export.stats import read_stats
from agentwrap.route.dearer import PREFIX, ROUTE_END, HeldBack, held_back, note
from agentwrap.summary import SessionSummary, render_summary, routes_held_back, summary_json
from agentwrap.trace.queries import note_counts
from agentwrap.trace.store import TraceStore
from agentwrap.trace.tally import ledger_of
from tests.trace.test_sums import assert_same, random_call

# Routes a profile could ask for and the never-dearer rule keep from: where, alias, model.
ROUTES = [
    ("routing.implement", "sonnet", "claude-sonnet-4-6"),
    ("rule 'long-prompts'", "opus", "claude-opus-4-1"),
    ("budget.downgrade", "gpt", "gpt-5"),
]


def held_back_note(rng: random.Random, requested: str, where: str, alias: str, model: str) -> str:
    # The same route on either provider, at a price of its own per call.
    provider = rng.choice(["anthropic", "bedrock"])
    cost = f"~${rng.uniform(0.01, 0.2):.4f} vs ~${rng.uniform(0.001, 0.01):.4f}"
    return note(requested, where, f"{alias} ({model} on {provider})", cost)


def reason(rng: random.Random, requested: str) -> str | None:
    pick = rng.random()
    if pick < 0.2:
        return None
    if pick < 0.5:
        return "routing.default: background"
    route = rng.choice(ROUTES)
    found = held_back_note(rng, requested, *route)
    # A note stands alone or follows what the router said first.
    return found if rng.random() < 0.5 else f"routing.explore: step explore; {found}"


def store_with(sessions: dict[str, list[dict[str, Any]]]) -> TraceStore:
    store = TraceStore(paths.trace_db())
    for sid, rows in sessions.items():
        store.insert_session(
            id=sid,
            agent="claude",
            started_at=1_764_000_000.0,
            ended_at=1_764_000_000.0 + 3 * 86_400,
            exit_code=0,
        )
        for row in rows:
            store.insert_call(**row)
    return store


def random_session(rng: random.Random, sid: str, calls: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(calls):
        row = random_call(rng, sid, i)
        row["reason"] = reason(rng, row["requested_model"] or "claude-haiku-4-5")
        rows.append(row)
    return rows


def per_row_held_back(rows: list[dict[str, Any]]) -> list[tuple[HeldBack, int]]:
    # As the summary counted them from every row: in call order, most first.
    counts: dict[HeldBack, int] = {}
    for row in rows:
        found = held_back(row.get("reason"))
        if found is not None:
            counts[found] = counts.get(found, 0) + 1
    return sorted(counts.items(), key=lambda item: -item[1])


def per_row_summary(store: TraceStore, sid: str) -> SessionSummary:
    rows = store.calls(sid)
    return SessionSummary(
        session_id=sid,
        session=store.session(sid),
        ledger=ledger_of(rows),
        export=read_stats(store, sid),
        logged=logged(store, sid),
        held_back=per_row_held_back(rows),
    )


def printed(summary: SessionSummary, width: int, soft_wrap: bool) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(summary, soft_wrap=soft_wrap)
    return console.export_text()


@pytest.fixture(scope="module")
def sessions() -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(23)
    made = {f"s{i}": random_session(rng, f"s{i}", 400) for i in range(2)}
    # Two routes held back on as many calls: the one the session met first comes first.
    tie = []
    for i, (where, alias, model) in enumerate([ROUTES[2], ROUTES[0]] * 3):
        row = random_call(rng, "tie", i)
        row["started_at"] = 1_764_000_000.0 + i
        row["reason"] = held_back_note(rng, "claude-haiku-4-5", where, alias, model)
        tie.append(row)
    made["tie"] = tie
    return made


def test_the_sessions_cover_what_the_summary_shows(
    sessions: dict[str, list[dict[str, Any]]],
) -> None:
    store = store_with(sessions)
    total = ledger_of(store.calls("s0")).total
    assert total.fallbacks and total.unpriced_calls and total.priced_calls and total.streaming
    assert total.steps_succeeded and total.steps_failed and total.steps_interrupted
    held = per_row_held_back(store.calls("s0"))
    assert len(held) > len(ROUTES) and len({count for _, count in held}) > 1
    # The reasons differ call by call (a price); a route held back on either provider is one
    # route written in two notes.
    reasons = {
        row["reason"] for row in sessions["s0"] if row["reason"] and "never" in row["reason"]
    }
    notes = note_counts(store, PREFIX, ROUTE_END, "WHERE session_id = ?", ("s0",))
    assert len(reasons) > len(notes) > len(held)


@pytest.mark.parametrize("sid", ["s0", "s1", "tie"])
def test_the_summary_from_sums_prints_as_the_one_from_every_row(
    sessions: dict[str, list[dict[str, Any]]], sid: str
) -> None:
    store = store_with(sessions)
    assert routes_held_back(store, sid) == per_row_held_back(store.calls(sid))
    for width in (72, 140, 200):
        for soft_wrap in (False, True):
            want = printed(per_row_summary(store, sid), width, soft_wrap)
            assert printed(render_summary(store, sid), width, soft_wrap) == want


def test_the_tied_routes_keep_the_order_the_session_met_them(
    sessions: dict[str, list[dict[str, Any]]],
) -> None:
    store = store_with(sessions)
    held = routes_held_back(store, "tie")
    assert [(route.where, count) for route, count in held] == [
        ("budget.downgrade", 3),
        ("routing.implement", 3),
    ]


def test_the_json_summary_from_sums_equals_the_one_from_every_row(
    sessions: dict[str, list[dict[str, Any]]],
) -> None:
    store = store_with(sessions)
    data = summary_json(store, "s1")
    rows = store.calls("s1")
    ledger = ledger_of(rows)
    assert data["totals"]["calls"] == len(rows) == ledger.total.calls
    for key, want in (("by_model", ledger.models()), ("by_step", ledger.steps())):
        assert [row[key.removeprefix("by_")] for row in data[key]] == [name for name, _ in want]
        for row, (_, tally) in zip(data[key], want, strict=True):
            for name, value in tally.as_dict().items():
                assert row[name] == pytest.approx(value, abs=2e-6), (key, name)
    assert data["unpriced"] == ledger.unpriced_reasons
    assert [(h["where"], h["calls"]) for h in data["held_back"]] == [
        (route.where, count) for route, count in per_row_held_back(rows)
    ]
    assert_same(render_summary(store, "s1").ledger.total, ledger.total)

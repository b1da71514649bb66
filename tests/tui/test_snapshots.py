"""Snapshots of the panel at 80×24 and 160×48 (pytest-textual-snapshot).

The data is fixed (ids, timestamps, tokens, costs), local time is UTC (conftest) and the
clock the header reads is frozen, so a snapshot changes only when the panel does.
Update after an intended change with `pytest tests/tui --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import os

from textual.pilot import Pilot

from agentwrap import paths
from agentwrap.trace.live import StoreFollower
from agentwrap.trace.store import TraceStore
from agentwrap.tui.app import TopApp
from agentwrap.tui.table import CallTable
from tests.support.trace_seed import T0, seed_session


def panel(session_id: str) -> TopApp:
    store = TraceStore(paths.trace_db())
    return TopApp(StoreFollower(store, session_id), clock=lambda: T0 + 95, poll_interval=None)


def test_ended_session_at_80x24(snap_compare) -> None:
    seed_session()
    assert snap_compare(panel("sess-0001"), terminal_size=(80, 24))


def test_detail_pane_at_80x24(snap_compare) -> None:
    seed_session()

    async def select_fallback_call(pilot: Pilot) -> None:
        table = pilot.app.query_one(CallTable)
        table.move_cursor(row=table.get_row_index("call-04"))
        await pilot.press("enter")

    assert snap_compare(panel("sess-0001"), terminal_size=(80, 24), run_before=select_fallback_call)


def test_running_demo_session_with_details_at_160x48(snap_compare) -> None:
    # A running demo session: the launcher (this process) is alive, the clock is frozen.
    seed_session(ended=False, is_demo=True, pid=os.getpid())

    async def select_fallback_call(pilot: Pilot) -> None:
        table = pilot.app.query_one(CallTable)
        table.move_cursor(row=table.get_row_index("call-04"))
        await pilot.press("enter")

    assert snap_compare(
        panel("sess-0001"), terminal_size=(160, 48), run_before=select_fallback_call
    )


def test_step_filter_at_160x48(snap_compare) -> None:
    seed_session()
    assert snap_compare(panel("sess-0001"), terminal_size=(160, 48), press=["s", "s", "s"])


def test_split_pane_at_46x24(snap_compare) -> None:
    # What the in-session panel looks like in a tmux split beside the agent.
    seed_session(ended=False, pid=os.getpid())
    assert snap_compare(panel("sess-0001"), terminal_size=(46, 24))

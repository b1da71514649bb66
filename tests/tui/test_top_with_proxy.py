"""The whole read side against the real proxy: `agentwrap serve` between the anthropic SDK and
a local upstream writes the trace; the panel, the statusline and the summary read it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time

import anthropic
import pytest
from rich.console import Console

from agentwrap import fmt, paths
from agentwrap.fakes.anthropic import FakeAnthropic, Reply
from agentwrap.pricing import PriceBook
from agentwrap.summary import render_summary
from agentwrap.trace import queries as q
from agentwrap.trace.live import StoreFollower
from agentwrap.trace.store import TraceStore
from agentwrap.tui.app import TopApp
from agentwrap.tui.table import CallTable
from agentwrap.tui.widgets import CallDetail, TotalsHeader
from agentwrap.wire.common import Usage
from tests.proxy.conftest import running_serve

MODEL = "claude-sonnet-4-6"


def cell_text(table: CallTable, row: str, column: str) -> str:
    value = table.get_cell(row, column)
    return getattr(value, "plain", value)


async def test_panel_statusline_and_summary_follow_the_real_proxy(agentwrap_bin: str) -> None:
    release = threading.Event()
    replies = [
        Reply("Hello there, streaming slowly.", input_tokens=1000, output_tokens=20,
              cache_read_input_tokens=500, hold_after=3, release=release),
        Reply.error(400, "prompt is malformed"),
    ]  # fmt: skip
    with FakeAnthropic(replies) as fake, running_serve(agentwrap_bin, fake.base_url) as url:
        store = TraceStore(paths.trace_db())
        session = q.pick_session(store, None)
        assert session is not None and q.session_running(session)
        app = TopApp(StoreFollower(store, session["id"]))  # the real 150 ms poll
        sdk = anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0)
        done: list[str] = []

        def stream_call() -> None:
            with sdk.messages.stream(
                model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                done.append(stream.get_final_text())

        async with app.run_test(size=(160, 40)) as pilot:
            table = app.query_one(CallTable)

            async def until(predicate, timeout: float = 10.0) -> None:
                deadline = time.monotonic() + timeout
                while not predicate():
                    assert time.monotonic() < deadline, list(table.rows)
                    await pilot.pause(0.05)

            worker = threading.Thread(target=stream_call)
            worker.start()
            await until(lambda: table.row_count == 1)
            call_id = table.rows[0]
            # The upstream holds the stream open after its first events: the row is live.
            await until(lambda: cell_text(table, call_id, "status") == "▶ streaming")
            assert "(1 live)" in app.query_one(TotalsHeader).plain
            release.set()
            await until(lambda: cell_text(table, call_id, "status") == "✓ ok")
            worker.join(10)
            assert done == ["Hello there, streaming slowly."]
            expected = PriceBook().cost(MODEL, Usage(1000, 20, 0, 500)).usd
            assert expected is not None
            assert cell_text(table, call_id, "cost") == fmt.usd(expected)
            assert cell_text(table, call_id, "tokens") == "1.0k/20"

            with pytest.raises(anthropic.BadRequestError):
                sdk.messages.create(
                    model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "again"}]
                )
            await until(lambda: table.row_count == 2)
            failed_id = table.rows[1]
            await until(lambda: cell_text(table, failed_id, "status").startswith("✗"))
            table.move_cursor(row=1)
            await pilot.press("enter")
            assert "prompt is malformed" in app.query_one(CallDetail).plain
            header = app.query_one(TotalsHeader).plain
            assert "2 calls" in header and "1 failed" in header

        # Claude Code's statusline, as a subprocess, reads the same session.
        env = {**os.environ, "AGENTWRAP_SESSION_ID": session["id"], "NO_COLOR": "1"}
        out = subprocess.run(
            [sys.executable, "-m", "agentwrap.statusline"],
            input=json.dumps({"session_id": "cc-1", "model": {"display_name": "Sonnet"}}),
            env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        # Passthrough: the requested model ran, so it cost exactly its baseline.
        assert out.stdout.strip() == (
            f"agentwrap: {MODEL} (implement) · {fmt.usd(expected)} · saved 0% ($0.00)"
        )

    console = Console(width=140, record=True, file=io.StringIO(), color_system=None)
    console.print(render_summary(TraceStore(paths.trace_db()), session["id"]))
    text = console.export_text()
    assert "2 calls" in text and "1 failed" in text and MODEL in text
    assert f"agentwrap top {session['id']}" in text

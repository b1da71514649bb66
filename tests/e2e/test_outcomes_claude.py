"""Step outcomes from the agent's own traffic: the next request carries the tool results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agentwrap import paths
from agentwrap.fakes.anthropic import FakeAnthropic, Reply, ToolUse
from agentwrap.trace.store import TraceStore
from tests.support.claude_env import is_title_request, make_claude_env


def test_tool_steps_are_labelled_failed_then_succeeded(tmp_path):
    script = iter(
        [
            Reply(
                [
                    ToolUse(
                        "Bash", {"command": "ls /no/such/dir", "description": "fails"}, id="toolu_a"
                    )
                ]
            ),
            Reply([ToolUse("Bash", {"command": "ls", "description": "works"}, id="toolu_b")]),
            Reply("All done."),
        ]
    )

    def answer(body, headers):
        if is_title_request(body):
            return Reply('{"title": "t"}')
        return next(script)

    with FakeAnthropic(answer) as fake:
        ce = make_claude_env(tmp_path, base_url=fake.base_url)
        ce.env["AGENTWRAP_CLAUDE_BIN"] = str(ce.binary)
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "agentwrap"),
                "claude",
                "-p",
                "look around",
                "--allowedTools",
                "Bash",
            ],
            cwd=ce.cwd,
            env=ce.env,
            capture_output=True,
            text=True,
            timeout=240,
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 0, done.stderr
    assert "All done." in done.stdout
    store = TraceStore(paths.trace_db())
    calls = [
        c for c in store.calls(store.resolve_session("last")["id"]) if c["step"] == "implement"
    ]
    assert [c["stop_reason"] for c in calls] == ["tool_use", "tool_use", "end_turn"]
    assert [c["outcome"] for c in calls] == ["failed", "succeeded", None]

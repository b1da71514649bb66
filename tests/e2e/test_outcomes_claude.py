"""Step outcomes from the agent's own traffic: the next request carries the tool results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agentwrap import paths
from agentwrap.fakes.anthropic import FakeAnthropic, Reply, ToolUse
from agentwrap.trace.store import TraceStore
from tests.support.claude_env import is_title_request, make_claude_env


def run_claude(tmp_path: Path, replies: list[Reply], prompt: str, tools: str) -> list[dict]:
    """`agentwrap claude -p PROMPT` answered by `replies`; the main loop's recorded calls."""
    script = iter(replies)

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
                prompt,
                "--allowedTools",
                tools,
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
    try:
        calls = store.calls(store.resolve_session("last")["id"])
    finally:
        store.close()
    return [c for c in calls if c["step"] == "implement"]


def test_tool_steps_are_labelled_failed_then_succeeded(tmp_path):
    calls = run_claude(
        tmp_path,
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
        ],
        "look around",
        "Bash",
    )
    assert [c["stop_reason"] for c in calls] == ["tool_use", "tool_use", "end_turn"]
    assert [c["outcome"] for c in calls] == ["failed", "succeeded", None]
    assert calls[0]["outcome_evidence"].startswith("Bash failed: Exit code 2")
    assert calls[1]["outcome_evidence"] == "1 tool result(s), none failed"


def test_an_edit_of_text_not_in_the_file_and_a_failing_command(tmp_path):
    app = str(tmp_path / "repo" / "app.py")
    calls = run_claude(
        tmp_path,
        [
            Reply([ToolUse("Read", {"file_path": app}, id="toolu_r")]),
            Reply(
                [
                    ToolUse(
                        "Edit",
                        {"file_path": app, "old_string": "not in the file", "new_string": "x"},
                        id="toolu_e1",
                    )
                ]
            ),
            Reply(
                [
                    ToolUse(
                        "Edit",
                        {"file_path": app, "old_string": "also not there", "new_string": "y"},
                        id="toolu_e2",
                    )
                ]
            ),
            Reply([ToolUse("Bash", {"command": "exit 3", "description": "fails"}, id="toolu_x")]),
            Reply([ToolUse("Bash", {"command": "true", "description": "works"}, id="toolu_t")]),
            Reply("All done."),
        ],
        "fix app.py",
        "Read Edit Bash",
    )
    assert [c["outcome"] for c in calls] == [
        "succeeded",
        "failed",
        "failed",
        "failed",
        "succeeded",
        None,
    ]
    assert calls[1]["outcome_evidence"].startswith("Edit failed: String to replace not found")
    assert calls[1]["signals"] == []
    # The second edit of the file whose edit failed, failing the same way.
    assert calls[2]["signals"] == ["edit_retry", "same_error"]
    assert f"an edit of {app} again after it failed" in calls[2]["outcome_evidence"]
    assert calls[3]["outcome_evidence"].startswith("Bash failed: Exit code 3")
    assert all(c["signals"] == [] for c in calls[3:])

"""`agentwrap claude -p` with a profile: explore subagents on one upstream, the main loop on another."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agentwrap import paths
from agentwrap.fakes.anthropic import FakeAnthropic, Reply, ToolUse
from agentwrap.trace.store import TraceStore
from tests.support.claude_env import is_title_request, make_claude_env

AGENT_HEADER = "x-claude-code-agent-id"

PROFILE = """
[providers.main]
api = "anthropic"
base_url = "{main}"

[providers.fast]
api = "anthropic"
base_url = "{fast}"

[models.coder]
provider = "main"
model = "claude-sonnet-4-6"

[models.scout]
provider = "fast"
model = "claude-haiku-4-5"

[routing]
implement = "coder"
explore = "scout"
background = "scout"
default = "coder"
"""


def main_loop(body, headers):
    if is_title_request(body):
        return Reply('{"title": "t"}')
    last = body["messages"][-1]
    content = last.get("content")
    # The Agent tool's result (2.1.332: "launched", the agent runs in the background), and the
    # later turn that brings its <task-notification>, both end the main loop.
    if isinstance(content, list) and any(
        b.get("type") == "tool_result" or "<task-notification>" in str(b.get("text", ""))
        for b in content
    ):
        return Reply("The explorer found app.py; done.", input_tokens=3000, output_tokens=12)
    return Reply(
        [
            ToolUse(
                "Agent",
                {
                    "description": "find files",
                    "prompt": "List the Python files.",
                    "subagent_type": "Explore",
                },
            )
        ],
        input_tokens=2500,
        output_tokens=30,
    )


def explorer(body, headers):
    return Reply("Found: app.py", input_tokens=900, output_tokens=8)


def test_explore_and_main_loop_go_to_their_own_upstreams(tmp_path):
    with FakeAnthropic(main_loop) as main, FakeAnthropic(explorer) as fast:
        ce = make_claude_env(tmp_path)
        ce.env["AGENTWRAP_CLAUDE_BIN"] = str(ce.binary)
        (ce.cwd / ".agentwrap.toml").write_text(
            PROFILE.format(main=main.base_url, fast=fast.base_url)
        )
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "agentwrap"),
                "claude",
                "-p",
                "explore then answer",
                "--allowedTools",
                "Agent,Glob,Grep,Read",
            ],
            cwd=ce.cwd,
            env=ce.env,
            capture_output=True,
            text=True,
            timeout=240,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        assert "The explorer found app.py; done." in done.stdout
        main_msgs, fast_msgs = main.message_requests, fast.message_requests
    # Every call the main upstream got is the main loop; every call the fast one got is the
    # Explore subagent — and each carried the model its route names.
    assert main_msgs and fast_msgs
    assert all(AGENT_HEADER not in r.headers for r in main_msgs)
    assert all(r.headers.get(AGENT_HEADER) for r in fast_msgs)
    assert {r.body["model"] for r in main_msgs} == {"claude-sonnet-4-6"}
    assert {r.body["model"] for r in fast_msgs} == {"claude-haiku-4-5"}
    store = TraceStore(paths.trace_db())
    calls = store.calls(store.resolve_session("last")["id"])
    steps = {(c["step"], c["provider"], c["model"]) for c in calls}
    assert ("explore", "fast", "claude-haiku-4-5") in steps
    assert ("implement", "main", "claude-sonnet-4-6") in steps
    explore = next(c for c in calls if c["step"] == "explore")
    assert "x-claude-code-agent-id" in explore["evidence"] and explore["rule"] == "routing.explore"
    assert explore["cost_usd"] > 0 and explore["baseline_model"] == explore["requested_model"]
    # The main loop asked for the CLI's default frontier model; routed to Sonnet it cost less.
    implement = next(c for c in calls if c["step"] == "implement")
    assert implement["requested_model"] != "claude-sonnet-4-6"
    assert implement["baseline_cost_usd"] > implement["cost_usd"] > 0

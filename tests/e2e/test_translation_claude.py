"""The real Claude Code, routed to an OpenAI Chat Completions upstream, runs a tool and finishes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agentwrap import paths
from agentwrap.fakes.provider import Call, FakeProvider, Reply
from agentwrap.trace.store import TraceStore
from tests.support.claude_env import make_claude_env

PROFILE = """
[providers.chat]
api = "openai-chat"
base_url = "{url}"

[models.cheap]
provider = "chat"
model = "cheap-coder-1"
capabilities = ["tools"]

[routing]
default = "cheap"
implement = "cheap"
background = "cheap"
"""


def test_claude_code_runs_a_tool_through_an_openai_chat_model(tmp_path):
    script = [
        Reply(
            tool_calls=[
                Call("Bash", {"command": "ls", "description": "List files"}, id="call_ls_1")
            ],
            usage={"input": 2000, "output": 20},
        ),
        Reply(
            text="I listed the files: README.md and app.py.", usage={"input": 2100, "output": 15}
        ),
    ]
    with FakeProvider("openai-chat", script) as chat:
        ce = make_claude_env(tmp_path)
        ce.env["AGENTWRAP_CLAUDE_BIN"] = str(ce.binary)
        (ce.cwd / ".agentwrap.toml").write_text(PROFILE.format(url=chat.base_url))
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "agentwrap"),
                "claude",
                "-p",
                "list the files",
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
        requests = [r for r in chat.requests if r.method == "POST"]
    assert done.returncode == 0, done.stderr
    assert "I listed the files: README.md and app.py." in done.stdout
    assert len(requests) == 2
    first, second = requests[0].body, requests[1].body
    assert first["model"] == "cheap-coder-1" and first["stream"] is True
    assert any(t["function"]["name"] == "Bash" for t in first["tools"])
    # The second request carries Claude Code's tool result for the call it ran, under the same id.
    tool_msgs = [m for m in second["messages"] if m["role"] == "tool"]
    assert tool_msgs and tool_msgs[-1]["tool_call_id"] == "call_ls_1"
    result = json.dumps(tool_msgs[-1]["content"])
    assert "app.py" in result and "README.md" in result  # the real `ls` output of the repo
    store = TraceStore(paths.trace_db())
    calls = store.calls(store.resolve_session("last")["id"])
    routed = [c for c in calls if c["provider_api"] == "openai-chat"]
    assert len(routed) == 2 and all(c["status"] == "ok" for c in routed)
    assert [c["input_tokens"] for c in routed] == [2000, 2100]

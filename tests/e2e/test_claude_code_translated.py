"""The real Claude Code CLI, talking to other providers' APIs through agentwrap.wire.

Claude Code -> translating relay -> fake OpenAI Chat / Responses / Gemini provider that
scripts a Bash tool call and then a final answer. Claude Code must run the tool, send its
real output back, print the final answer and exit 0.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentwrap.fakes.provider import Call, FakeProvider, Reply
from tests.support.claude_env import make_claude_env
from tests.wire.bridge import Bridge

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("upstream", ["openai-chat", "openai-responses", "gemini"])
async def test_claude_code_runs_a_tool_through_translation(upstream: str, tmp_path: Path) -> None:
    script = [
        Reply(
            reasoning="I will list the files.",
            tool_calls=[Call("Bash", {"command": "ls", "description": "List files"})],
            usage={"input": 900, "output": 30, "cache_read": 100},
        ),
        Reply(
            text="FINAL: the repository holds README.md and app.py.",
            usage={"input": 950, "output": 12},
        ),
    ]
    async with FakeProvider(upstream, script) as fake, Bridge("anthropic", fake) as bridge:
        env = make_claude_env(tmp_path, bridge.root)
        proc = await asyncio.create_subprocess_exec(
            *env.command(
                "-p",
                "List the files here.",
                "--allowedTools",
                "Bash",
                "--model",
                "claude-test-model",
            ),
            cwd=env.cwd,
            env=env.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 150)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "FINAL: the repository holds README.md and app.py." in out.decode()
    posts = [r for r in fake.requests if r.method == "POST"]
    assert len(posts) == 2
    second = posts[1].body
    text = str(second)
    assert "README.md" in text and "app.py" in text  # the real `ls` output went back
    if upstream == "openai-chat":
        tool = next(m for m in second["messages"] if m["role"] == "tool")
        call = next(m for m in second["messages"] if m.get("tool_calls"))
        assert tool["tool_call_id"] == call["tool_calls"][0]["id"]
        assert "README.md" in tool["content"]
    elif upstream == "openai-responses":
        out_item = next(i for i in second["input"] if i["type"] == "function_call_output")
        assert "README.md" in str(out_item["output"])
    else:
        parts = [p for c in second["contents"] for p in c["parts"] if "functionResponse" in p]
        assert parts[0]["functionResponse"]["name"] == "Bash"


@pytest.mark.parametrize("upstream", ["openai-chat", "gemini"])
async def test_claude_code_parallel_tools_through_translation(
    upstream: str, tmp_path: Path
) -> None:
    env_probe = tmp_path / "repo"
    script = [
        Reply(
            text="Looking at two things at once.",
            tool_calls=[
                Call("Bash", {"command": "git log --oneline", "description": "Log"}),
                Call("Read", {"file_path": str(env_probe / "app.py")}),
            ],
        ),
        Reply(text="FINAL: one commit; app.py greets the world."),
    ]
    async with FakeProvider(upstream, script) as fake, Bridge("anthropic", fake) as bridge:
        env = make_claude_env(tmp_path, bridge.root)
        assert env.cwd == env_probe
        proc = await asyncio.create_subprocess_exec(
            *env.command("-p", "Summarise this repo.", "--allowedTools", "Bash,Read"),
            cwd=env.cwd,
            env=env.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 150)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "FINAL: one commit; app.py greets the world." in out.decode()
    second = [r for r in fake.requests if r.method == "POST"][1].body
    text = str(second)
    assert "initial commit" in text  # git log ran
    assert "def greet" in text  # the file was read

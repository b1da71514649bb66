"""`agentwrap opencode` with the real opencode against local fake upstreams.

opencode is pinned in tests/e2e/agents/package.json (`opencode-ai`, a native binary from a
platform package). The user's gateway is a `baseURL` in their global opencode.json, in a
throwaway HOME; their key is ANTHROPIC_API_KEY.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agentwrap.agents.opencode import AGENT
from agentwrap.fakes.provider import Call, FakeProvider, Reply
from tests.support.agent_cli import agentwrap_exe, calls_of, posts, require_pinned, sessions
from tests.support.claude_env import _seed_repo

KEY = "sk-ant-api03-opencode-test-" + "0" * 40
MODEL = "anthropic/claude-sonnet-4-5"
PROMPT = "use the task tool to list the files"

PASSTHROUGH = """
[routing]
default = "requested"
"""

TO_CHAT = """
[providers.local]
api = "openai-chat"
base_url = "{url}"
key_env = "TEST_CHAT_KEY"

[models.local]
provider = "local"
model = "gpt-5.4"
capabilities = ["tools"]

[routing]
default = "requested"
subagent = "local"
"""


@pytest.fixture(scope="module")
def opencode_bin() -> Path:
    return require_pinned("opencode", AGENT.tested, "opencode")


def opencode_home(root: Path, gateway: str) -> tuple[Path, dict[str, str], Path]:
    """HOME whose opencode.json sends Anthropic calls to `gateway`, a repository, the env."""
    home, repo = root / "home", root / "repo"
    home.mkdir()
    repo.mkdir()
    _seed_repo(repo)
    config = home / ".config" / "opencode" / "opencode.json"
    config.parent.mkdir(parents=True)
    # With its "$schema" in place: opencode adds one itself to a config that lacks it.
    doc = {"$schema": "https://opencode.ai/config.json"}
    doc["provider"] = {"anthropic": {"options": {"baseURL": gateway + "/v1"}}}
    config.write_text(json.dumps(doc, indent=2))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "ANTHROPIC_API_KEY": KEY,
        "AGENTWRAP_PANEL": "off",
        "AGENTWRAP_HOME": os.environ["AGENTWRAP_HOME"],
    }
    return repo, env, config


def run_opencode(
    opencode: Path, repo: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [agentwrap_exe(), "opencode", *args],
        cwd=repo,
        env={**env, "AGENTWRAP_OPENCODE_BIN": str(opencode)},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def _tools(body: dict[str, Any]) -> list[str]:
    return [t.get("name") or t.get("function", {}).get("name") for t in body.get("tools") or []]


def with_subagent(body: dict[str, Any], headers: dict[str, str]) -> Reply:
    """Title, then the main loop starts a `task` subagent, which answers; the main loop ends."""
    if "title generator" in json.dumps(body.get("system")):
        return Reply(text="Listing the files", usage={"input": 300, "output": 4})
    tools = _tools(body)
    if tools and "task" not in tools:  # the child session: opencode's tools without `task`
        return Reply(text="The repository holds app.py and README.md.", usage={"input": 900})
    if "tool_result" not in json.dumps(body["messages"]):
        task = {
            "description": "list files",
            "prompt": "List the files.",
            "subagent_type": "general",
        }
        return Reply(tool_calls=[Call("task", task)], usage={"input": 4000, "output": 30})
    return Reply(text="Done: app.py and README.md.", usage={"input": 4200, "output": 8})


def test_opencode_runs_a_subagent_through_agentwrap_to_the_users_gateway(tmp_path, opencode_bin):
    with FakeProvider("anthropic", with_subagent) as gateway:
        repo, env, config = opencode_home(tmp_path, gateway.base_url)
        before = config.read_text()
        (repo / ".agentwrap.toml").write_text(PASSTHROUGH)
        done = run_opencode(opencode_bin, repo, env, "run", "-m", MODEL, PROMPT)
        requests = posts(gateway)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Done: app.py and README.md." in done.stdout
    assert [r.path for r in requests] == ["/v1/messages"] * 4  # through us to the gateway
    assert all(r.headers["x-api-key"] == KEY for r in requests)  # the user's key, untouched
    assert config.read_text() == before  # the user's config was never edited
    assert "had baseURL " + gateway.base_url in done.stderr
    (sess,) = sessions()
    assert sess["agent"] == "opencode" and sess["exit_code"] == 0
    assert sess["argv"] == ["opencode", "run", "-m", MODEL, PROMPT]
    calls = calls_of(sess["id"])
    assert sorted((c["surface"], c["step"], c["status"]) for c in calls) == [
        ("anthropic", "background", "ok"),
        ("anthropic", "implement", "ok"),
        ("anthropic", "implement", "ok"),
        ("anthropic", "subagent", "ok"),
    ]
    loop = [c for c in calls if c["step"] != "background"]
    assert [c["step"] for c in loop] == ["implement", "subagent", "implement"]
    assert "x-parent-session-id" in loop[1]["evidence"]
    # The child session's calls belong to the main loop's conversation, as its subagent.
    assert loop[1]["thread_id"] == loop[0]["thread_id"] == loop[2]["thread_id"]
    assert loop[1]["agent_id"] and loop[1]["agent_id"] != loop[0]["thread_id"]
    assert KEY not in json.dumps(calls)


def test_opencode_subagent_routed_to_a_chat_completions_model(tmp_path, opencode_bin):
    chat_reply = Reply(text="The repository holds app.py and README.md.", usage={"input": 700})
    with (
        FakeProvider("anthropic", with_subagent) as gateway,
        FakeProvider("openai-chat", [chat_reply]) as chat,
    ):
        repo, env, _ = opencode_home(tmp_path, gateway.base_url)
        env["TEST_CHAT_KEY"] = "sk-chat-route"
        (repo / ".agentwrap.toml").write_text(TO_CHAT.format(url=chat.base_url))
        done = run_opencode(opencode_bin, repo, env, "run", "-m", MODEL, PROMPT)
        main_requests, chat_requests = posts(gateway), posts(chat)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Done: app.py and README.md." in done.stdout
    (request,) = chat_requests
    assert request.path == "/v1/chat/completions" and request.body["model"] == "gpt-5.4"
    assert request.headers["authorization"] == "Bearer sk-chat-route"
    assert KEY not in json.dumps(request.headers)  # the Anthropic key stays Anthropic's
    system = request.body["messages"][0]
    assert system["role"] == "system" and "You are OpenCode" in json.dumps(system["content"])
    assert {t["function"]["name"] for t in request.body["tools"]} >= {"bash", "read", "glob"}
    # The subagent's answer reached the main loop as the task tool's result.
    assert "app.py and README.md" in json.dumps(main_requests[-1].body["messages"][-1])
    (sess,) = sessions()
    calls = [c for c in calls_of(sess["id"]) if c["step"] != "background"]
    assert [(c["step"], c["surface"], c["provider_api"], c["model"]) for c in calls] == [
        ("implement", "anthropic", "anthropic", "claude-sonnet-4-5"),
        ("subagent", "anthropic", "openai-chat", "gpt-5.4"),
        ("implement", "anthropic", "anthropic", "claude-sonnet-4-5"),
    ]


def test_opencode_exit_code_is_passed_through(tmp_path, opencode_bin):
    # An unknown subcommand: opencode prints its usage and fails; agentwrap exits the same.
    with FakeProvider("anthropic", with_subagent) as gateway:
        repo, env, _ = opencode_home(tmp_path, gateway.base_url)
        plain = subprocess.run(
            [str(opencode_bin), "models", "no-such-provider"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        done = run_opencode(opencode_bin, repo, env, "models", "no-such-provider")
    assert plain.returncode != 0
    assert done.returncode == plain.returncode
    (sess,) = sessions()
    assert sess["exit_code"] == plain.returncode


@pytest.mark.tmux
def test_opencode_tui_through_agentwrap_in_tmux(tmp_path, opencode_bin):
    from tests.support.claude_env import TmuxPane

    with FakeProvider("anthropic", with_subagent) as gateway:
        repo, env, _ = opencode_home(tmp_path, gateway.base_url)
        env.update(AGENTWRAP_OPENCODE_BIN=str(opencode_bin), TERM="xterm-256color")
        env["OPENCODE_CONFIG_CONTENT"] = json.dumps({"model": MODEL})  # the user's own, kept
        pane = TmuxPane(f"aw-opencode-{os.getpid()}", width=140, height=40)
        pane.start([agentwrap_exe(), "opencode"], env, repo)
        try:
            pane.wait_for("ctrl+p", timeout=120)  # its TUI drew in the terminal it inherited
            for _ in range(6):  # it drops keys while it starts up
                pane.type(PROMPT)
                try:
                    pane.wait_for(PROMPT, timeout=10)
                    break
                except TimeoutError:
                    continue
            pane.press("Enter")
            pane.wait_for("Done: app.py and README.md.", timeout=120)
            pane.submit("/exit")
            screen = pane.wait_for("[exited 0]", timeout=60)
        finally:
            pane.kill()
    assert "agentwrap log" in screen  # the summary was printed after opencode exited
    (sess,) = sessions()
    steps = [c["step"] for c in calls_of(sess["id"]) if c["step"] != "background"]
    assert steps == ["implement", "subagent", "implement"]

"""`agentwrap qwen` with the real qwen-code against local fake upstreams.

qwen-code is pinned in tests/e2e/agents/package.json (`@qwen-code/qwen-code`). The user's
gateway is their OPENAI_BASE_URL; HTTPS_PROXY names a proxy that is not there, which qwen would
send even loopback calls through if agentwrap left it set.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from agentwrap.agents.qwen import AGENT
from agentwrap.fakes.provider import Call, FakeProvider, Reply
from tests.support.agent_cli import agentwrap_exe, calls_of, posts, require_pinned, sessions
from tests.support.claude_env import TmuxPane, _seed_repo

KEY = "sk-qwen-test-" + "0" * 40
PROMPT = "use an agent to list the files"
ARGS = ["--yolo", "-p", PROMPT]

PASSTHROUGH = """
[routing]
default = "requested"
"""

TO_ANTHROPIC = """
[providers.claude]
api = "anthropic"
base_url = "{url}"
key_env = "TEST_ANTHROPIC_KEY"

[models.sonnet]
provider = "claude"
model = "claude-sonnet-4-6"
capabilities = ["tools"]

[routing]
default = "requested"
subagent = "sonnet"
"""


@pytest.fixture(scope="module")
def qwen_bin() -> Path:
    return require_pinned("qwen", AGENT.tested, "qwen-code")


def qwen_env(root: Path, gateway: str) -> tuple[Path, dict[str, str]]:
    home, repo = root / "home", root / "repo"
    home.mkdir()
    repo.mkdir()
    _seed_repo(repo)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": gateway,
        "OPENAI_MODEL": "qwen3-coder-plus",
        "HTTPS_PROXY": "http://127.0.0.1:9",  # nothing listens there
        "QWEN_CODE_SUPPRESS_YOLO_WARNING": "1",
        "AGENTWRAP_PANEL": "off",
        "AGENTWRAP_HOME": os.environ["AGENTWRAP_HOME"],
    }
    return repo, env


def run_qwen(qwen: Path, repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [agentwrap_exe(), "qwen", *ARGS],
        cwd=repo,
        env={**env, "AGENTWRAP_QWEN_BIN": str(qwen)},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def with_subagent(body: dict[str, Any], headers: dict[str, str]) -> Reply:
    """The main loop starts an Explore agent, which answers; then the main loop finishes."""
    system = json.dumps(body["messages"][0])
    if "file search specialist" in system:
        return Reply(text="The repository holds app.py and README.md.", usage={"input": 900})
    if "You are Qwen Code" not in system:  # memory extraction after the turn
        return Reply(text="Nothing to remember.", usage={"input": 500, "output": 4})
    if not any(m.get("role") == "tool" for m in body["messages"]):
        task = {
            "description": "list files",
            "prompt": "List the files.",
            "subagent_type": "Explore",
            "run_in_background": False,
        }
        return Reply(tool_calls=[Call("agent", task)], usage={"input": 4000, "output": 30})
    return Reply(text="Done: app.py and README.md.", usage={"input": 4200, "output": 8})


def _loop(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls but the memory extraction qwen sometimes makes after a turn."""
    return [c for c in calls if c["step"] != "background"]


def test_qwen_runs_a_subagent_through_agentwrap_to_the_users_gateway(tmp_path, qwen_bin):
    with FakeProvider("openai-chat", with_subagent) as gateway:
        repo, env = qwen_env(tmp_path, gateway.base_url)
        (repo / ".agentwrap.toml").write_text(PASSTHROUGH)
        done = run_qwen(qwen_bin, repo, env)
        requests = posts(gateway)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Done: app.py and README.md." in done.stdout
    assert {r.path for r in requests} == {"/v1/chat/completions"}  # through us to the gateway
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in requests)
    assert f"OPENAI_BASE_URL was {gateway.base_url}" in done.stderr
    assert "HTTPS_PROXY cleared for qwen" in done.stderr
    (sess,) = sessions()
    assert sess["agent"] == "qwen" and sess["exit_code"] == 0
    assert sess["argv"] == ["qwen", *ARGS]
    calls = calls_of(sess["id"])
    assert [(c["surface"], c["step"], c["status"]) for c in _loop(calls)] == [
        ("openai-chat", "implement", "ok"),
        ("openai-chat", "subagent", "ok"),
        ("openai-chat", "implement", "ok"),
    ]
    assert "Explore" in _loop(calls)[1]["evidence"]
    assert all(c["step"] in ("implement", "subagent", "background") for c in calls)
    assert KEY not in json.dumps(calls)


def test_qwen_subagent_routed_to_an_anthropic_model(tmp_path, qwen_bin):
    claude_reply = Reply(text="The repository holds app.py and README.md.", usage={"input": 700})
    with (
        FakeProvider("openai-chat", with_subagent) as gateway,
        FakeProvider("anthropic", [claude_reply]) as claude,
    ):
        repo, env = qwen_env(tmp_path, gateway.base_url)
        env["TEST_ANTHROPIC_KEY"] = "sk-ant-route"
        (repo / ".agentwrap.toml").write_text(TO_ANTHROPIC.format(url=claude.base_url))
        done = run_qwen(qwen_bin, repo, env)
        main_requests, claude_requests = posts(gateway), posts(claude)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Done: app.py and README.md." in done.stdout
    (request,) = claude_requests
    assert request.path == "/v1/messages" and request.body["model"] == "claude-sonnet-4-6"
    assert request.headers["x-api-key"] == "sk-ant-route"
    assert KEY not in json.dumps(request.headers)  # the OpenAI key stays OpenAI's
    assert "file search specialist" in json.dumps(request.body["system"])
    assert {t["name"] for t in request.body["tools"]} >= {"read_file", "glob"}
    # The subagent's answer reached the main loop as the agent tool's result.
    main = [r for r in main_requests if "You are Qwen Code" in json.dumps(r.body["messages"][0])]
    assert "app.py and README.md" in json.dumps(main[-1].body["messages"])
    (sess,) = sessions()
    calls = _loop(calls_of(sess["id"]))
    assert [(c["step"], c["surface"], c["provider_api"], c["model"]) for c in calls] == [
        ("implement", "openai-chat", "openai-chat", "qwen3-coder-plus"),
        ("subagent", "openai-chat", "anthropic", "claude-sonnet-4-6"),
        ("implement", "openai-chat", "openai-chat", "qwen3-coder-plus"),
    ]


def submit_when_ready(pane: TmuxPane, text: str) -> None:
    """Type `text` until qwen draws it (it drops keys while it starts up), then press Enter."""
    for _ in range(6):
        pane.type(text)
        try:
            pane.wait_for(text, timeout=10)
        except TimeoutError:
            continue
        time.sleep(0.3)
        pane.press("Enter")
        return
    raise TimeoutError(f"qwen never drew {text!r}:\n{pane.screen()}")


@pytest.mark.tmux
def test_interactive_qwen_shows_agentwraps_status_line(tmp_path, qwen_bin):

    reply = Reply(text="Hello from the gateway, through agentwrap.", usage={"input": 2400})
    with FakeProvider("openai-chat", [reply], default="Nothing to remember.") as gateway:
        repo, env = qwen_env(tmp_path, gateway.base_url)
        # Interactive qwen asks for an auth type unless its settings name one.
        settings = Path(env["HOME"]) / ".qwen" / "settings.json"
        settings.parent.mkdir()
        settings.write_text(json.dumps({"security": {"auth": {"selectedType": "openai"}}}))
        before = settings.read_text()
        env["AGENTWRAP_QWEN_BIN"] = str(qwen_bin)
        pane = TmuxPane(f"aw-qwen-{os.getpid()}", width=140, height=40)
        pane.start([agentwrap_exe(), "qwen"], env, repo)
        try:
            # agentwrap's status line stands in qwen's footer from the start.
            pane.wait_for("agentwrap: no calls yet", timeout=90)
            submit_when_ready(pane, "say hello")
            pane.wait_for("Hello from the gateway", timeout=90)
            pane.wait_for("qwen3-coder-plus", timeout=60)  # the status line names the model
            pane.submit("/quit")
            screen = pane.wait_for("[exited 0]", timeout=60)
        finally:
            pane.kill()
    assert "agentwrap log" in screen  # the summary was printed after qwen exited
    # qwen writes "autoModeAcknowledged" there itself; nothing of agentwrap's goes into it.
    after = json.loads(settings.read_text())
    assert after["security"] == json.loads(before)["security"], after
    assert "statusLine" not in json.dumps(after) and "127.0.0.1" not in json.dumps(after)
    (sess,) = sessions()
    assert any(c["input_tokens"] == 2400 and c["status"] == "ok" for c in calls_of(sess["id"]))

"""`agentwrap gemini` with the real Gemini CLI against local fake upstreams."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentwrap.agents import gemini as gemini_agent
from agentwrap.fakes.provider import Call, FakeProvider, Reply
from agentwrap.route.profile import parse_profile_text
from agentwrap.wire.call import GEMINI
from tests.support.agent_cli import agentwrap_exe, calls_of, posts, sessions
from tests.support.gemini_env import (
    ROUTER_MODEL,
    GeminiEnv,
    is_router_call,
    make_gemini_env,
    router_reply_text,
)

REPLY = "Hello from the fake Gemini upstream, through agentwrap."
ROUTED_MAIN_MODEL = "gemini-3.8-flash"  # what 0.61 picks for a low complexity score

GEMINI_PROFILE = """
[providers.gemini]
api = "gemini"
base_url = "{url}"
# A local stand-in for the API's own host: the agent's own key goes there when told.
forward_agent_key = true

[routing]
default = "requested"
"""

ANTHROPIC_PROFILE = """
[providers.claude]
api = "anthropic"
base_url = "{url}"

[models.sonnet]
provider = "claude"
model = "claude-sonnet-4-6"
capabilities = ["tools"]

[routing]
default = "sonnet"
implement = "sonnet"
background = "sonnet"
subagent = "sonnet"

# Sonnet costs more than the Gemini models the CLI asks for: sending it there is an escalation.
[[rules]]
name = "everything-to-claude"
use = "sonnet"
escalate = true
"""


def gemini_script(*main: Reply, router: Callable[[dict], bool] = is_router_call) -> list[Any]:
    """A script that answers each routing call itself and the other calls with `main` in order."""
    queue = list(main)

    def answer(body: dict) -> Reply:
        if router(body):
            return Reply(text=router_reply_text(), usage={"input": 900, "output": 30})
        if not queue:
            return Reply(status=400, error="the test's script ran out")
        return queue.pop(0)

    return [answer] * (len(main) * 2 + 4)


def run_gemini(
    ge: GeminiEnv, *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """`agentwrap gemini ARGS` in the test repository, no panel."""
    full = {**ge.env, "AGENTWRAP_GEMINI_BIN": str(ge.binary), "AGENTWRAP_PANEL": "off"}
    full.update(env or {})
    return subprocess.run(
        [agentwrap_exe(), "gemini", *args],
        cwd=ge.cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def function_names(body: dict) -> list[str]:
    return [d["name"] for t in body.get("tools", []) for d in t.get("functionDeclarations", [])]


def test_gemini_prompt_through_agentwrap(tmp_path):
    main = Reply(text=REPLY, usage={"input": 3000, "output": 12, "cache_read": 1000})
    with FakeProvider("gemini", gemini_script(main)) as fake:
        ge = make_gemini_env(tmp_path)
        (ge.cwd / ".agentwrap.toml").write_text(GEMINI_PROFILE.format(url=fake.base_url))
        done = run_gemini(ge, "-p", "say hello")
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == REPLY  # stdout stays the agent's alone
    router, loop = requests
    # The proxy's /s/<secret> prefix is not forwarded; the endpoints are Gemini's own.
    assert router.path == f"/v1beta/models/{ROUTER_MODEL}:generateContent"
    assert loop.path == f"/v1beta/models/{ROUTED_MAIN_MODEL}:streamGenerateContent?alt=sse"
    # The user's own key reached the upstream as Gemini CLI sent it.
    assert router.headers["x-goog-api-key"] == ge.api_key == loop.headers["x-goog-api-key"]
    assert loop.headers["user-agent"].startswith("GeminiCLI")
    assert "say hello" in json.dumps(loop.body["contents"])
    (sess,) = sessions()
    assert sess["agent"] == "gemini" and sess["exit_code"] == 0 and sess["ended_at"]
    assert sess["argv"] == ["gemini", "-p", "say hello"]
    first, second = calls_of(sess["id"])
    assert first["surface"] == second["surface"] == "gemini"
    assert first["model"] == ROUTER_MODEL and first["streamed"] == 0
    assert first["step"] == "background" and "complexity_score" in first["evidence"]
    assert (first["input_tokens"], first["output_tokens"]) == (900, 30)
    assert second["model"] == ROUTED_MAIN_MODEL and second["streamed"] == 1
    assert second["step"] == "implement" and "main loop" in second["evidence"]
    # Gemini counts cached tokens inside promptTokenCount; the trace keeps them apart.
    assert (
        second["input_tokens"],
        second["cache_read_tokens"],
        second["output_tokens"],
    ) == (3000, 1000, 12)
    assert all(c["status"] == "ok" and c["cost_usd"] and c["cost_usd"] > 0 for c in (first, second))
    assert sess["id"] in done.stderr and "agentwrap log" in done.stderr
    assert ge.api_key not in json.dumps(calls_of(sess["id"])) + json.dumps(sess)


def test_gemini_lists_a_directory_and_answers(tmp_path):
    script = gemini_script(
        Reply(
            tool_calls=[Call("list_directory", {"dir_path": "."})],
            usage={"input": 2000, "output": 20},
        ),
        Reply(
            text="The repository holds README.md and app.py.", usage={"input": 2100, "output": 11}
        ),
    )
    with FakeProvider("gemini", script) as fake:
        ge = make_gemini_env(tmp_path)
        (ge.cwd / ".agentwrap.toml").write_text(GEMINI_PROFILE.format(url=fake.base_url))
        done = run_gemini(ge, "-p", "list the files")
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert "The repository holds README.md and app.py." in done.stdout
    loop = [r for r in requests if not is_router_call(r.body)]
    assert len(loop) == 2
    assert "list_directory" in function_names(loop[0].body)
    responses = [
        part["functionResponse"]
        for content in loop[1].body["contents"]
        for part in content.get("parts", [])
        if "functionResponse" in part
    ]
    assert responses and responses[-1]["name"] == "list_directory"
    listing = json.dumps(responses[-1]["response"])
    assert "README.md" in listing and "app.py" in listing  # the real listing of the repository
    (sess,) = sessions()
    calls = calls_of(sess["id"])
    assert [c["step"] for c in calls] == ["background", "implement", "implement"]
    assert [c["input_tokens"] for c in calls[1:]] == [2000, 2100]
    assert all(c["status"] == "ok" and c["cost_usd"] and c["cost_usd"] > 0 for c in calls)


def test_gemini_subagent_calls_are_subagent_steps(tmp_path):
    report = {
        "SummaryOfFindings": "app.py defines greet().",
        "ExplorationTrace": ["listed the repository"],
        "RelevantLocations": [
            {"FilePath": "app.py", "Reasoning": "defines greet", "KeySymbols": ["greet"]}
        ],
    }
    script = gemini_script(
        Reply(
            tool_calls=[
                Call(
                    "invoke_agent", {"agent_name": "codebase_investigator", "prompt": "Find greet."}
                )
            ]
        ),
        Reply(tool_calls=[Call("complete_task", {"report": report})]),
        Reply(text="greet() lives in app.py."),
    )
    with FakeProvider("gemini", script) as fake:
        ge = make_gemini_env(tmp_path)
        (ge.cwd / ".agentwrap.toml").write_text(GEMINI_PROFILE.format(url=fake.base_url))
        done = run_gemini(ge, "-p", "where is greet defined?")
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert "greet() lives in app.py." in done.stdout
    sub = [r for r in requests if "complete_task" in function_names(r.body)]
    assert len(sub) == 1  # the subagent's own loop, with its finishing tool
    (sess,) = sessions()
    steps = [(c["step"], c["evidence"]) for c in calls_of(sess["id"])]
    kinds = [s for s, _ in steps]
    assert kinds == ["background", "implement", "subagent", "implement"]
    assert "Codebase Investigator" in steps[2][1]


def _anthropic_router(body: dict) -> bool:
    return "complexity_score" in json.dumps(body.get("system", ""))


def test_gemini_routed_to_an_anthropic_model(tmp_path):
    script = gemini_script(
        Reply(
            tool_calls=[Call("list_directory", {"dir_path": "."}, id="toolu_ls_1")],
            usage={"input": 1800, "output": 15},
        ),
        Reply(text="Answered by an Anthropic model.", usage={"input": 1900, "output": 9}),
        router=_anthropic_router,
    )
    with FakeProvider("anthropic", script) as fake:
        ge = make_gemini_env(tmp_path)
        (ge.cwd / ".agentwrap.toml").write_text(ANTHROPIC_PROFILE.format(url=fake.base_url))
        done = run_gemini(ge, "-p", "list the files")
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert "Answered by an Anthropic model." in done.stdout
    assert all(r.path.startswith("/v1/messages") for r in requests)
    loop = [r for r in requests if not _anthropic_router(r.body)]
    assert len(loop) == 2
    first, second = (r.body for r in loop)
    assert first["model"] == "claude-sonnet-4-6" and first["stream"] is True
    # Gemini CLI's system instruction became the system prompt; its tools became tools.
    assert "You are Gemini CLI" in json.dumps(first["system"])
    assert "list_directory" in [t["name"] for t in first["tools"]]
    # The tool the CLI ran came back as a tool_result for the Anthropic tool_use.
    results = [
        block
        for message in second["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]
    assert results and results[-1]["tool_use_id"] == "toolu_ls_1"
    assert "README.md" in json.dumps(results[-1]["content"])
    # The Gemini key is the user's, for Google: it never goes to another provider.
    assert ge.api_key not in json.dumps([r.headers for r in requests])
    (sess,) = sessions()
    calls = calls_of(sess["id"])
    main_calls = [c for c in calls if c["step"] == "implement"]
    assert len(main_calls) == 2
    for call in main_calls:
        assert call["surface"] == "gemini" and call["provider_api"] == "anthropic"
        assert call["model"] == "claude-sonnet-4-6" and call["status"] == "ok"
        assert call["cost_usd"] and call["cost_usd"] > 0
    assert [c["input_tokens"] for c in main_calls] == [1800, 1900]


def test_a_gemini_base_url_of_the_users_own_becomes_the_upstream(tmp_path):
    with FakeProvider("gemini", gemini_script(Reply(text=REPLY))) as fake:
        ge = make_gemini_env(tmp_path, extra_env={"GOOGLE_GEMINI_BASE_URL": fake.base_url})
        done = run_gemini(ge, "-p", "say hello")  # no profile: the passthrough preset
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == REPLY
    assert "agentwrap forwards Gemini calls there" in done.stderr and fake.base_url in done.stderr
    assert len(requests) == 2
    assert all(r.headers["x-goog-api-key"] == ge.api_key for r in requests)
    (sess,) = sessions()
    calls = calls_of(sess["id"])
    assert len(calls) == 2 and all(c["provider"] == "gemini" and c["status"] == "ok" for c in calls)


def test_gemini_missing_is_a_clear_error_with_exit_127(tmp_path):
    env = dict(os.environ)
    env["PATH"] = str(tmp_path)  # no gemini here
    env.pop("AGENTWRAP_GEMINI_BIN", None)
    done = subprocess.run(
        [agentwrap_exe(), "gemini", "-p", "hi"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 127
    assert "npm install -g @google/gemini-cli" in done.stderr
    assert "Traceback" not in done.stderr
    assert sessions() == []  # nothing recorded as if it ran


def test_gemini_bin_override_that_is_not_executable(tmp_path):
    env = {**os.environ, "AGENTWRAP_GEMINI_BIN": str(tmp_path / "nope")}
    done = subprocess.run(
        [agentwrap_exe(), "gemini", "-p", "hi"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 127
    assert "AGENTWRAP_GEMINI_BIN" in done.stderr and "not an executable file" in done.stderr


def _settings(home: Path, selected: str) -> None:
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(
        json.dumps({"security": {"auth": {"selectedType": selected}}})
    )


def test_launch_plan_says_which_auth_modes_bypass_agentwrap(tmp_path):
    base = "http://127.0.0.1:9/s/abc"
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": "/usr/bin", "GEMINI_API_KEY": "k"}

    _settings(home, "gemini-api-key")
    plan = gemini_agent.plan("/bin/gemini", ["-p", "x"], base, env)
    assert plan.env["GOOGLE_GEMINI_BASE_URL"] == base and plan.notes == []
    assert plan.argv == ["/bin/gemini", "-p", "x"] and gemini_agent.upstreams(env) == {}
    assert "127.0.0.1" in plan.env["NO_PROXY"]

    _settings(home, "oauth-personal")
    plan = gemini_agent.plan("/bin/gemini", [], base, env)
    assert any("NOT pass through agentwrap" in n and "oauth-personal" in n for n in plan.notes)

    _settings(home, "gemini-api-key")
    plan = gemini_agent.plan("/bin/gemini", [], base, {**env, "GOOGLE_GENAI_USE_VERTEXAI": "true"})
    assert plan.notes == []  # the selected type wins over the environment, as in the CLI

    (home / ".gemini" / "settings.json").unlink()
    plan = gemini_agent.plan("/bin/gemini", [], base, {**env, "GOOGLE_GENAI_USE_VERTEXAI": "true"})
    assert any("Vertex AI" in n and "NOT pass through" in n for n in plan.notes)
    keyless = {k: v for k, v in env.items() if k != "GEMINI_API_KEY"}
    plan = gemini_agent.plan("/bin/gemini", [], base, keyless)
    assert any("GEMINI_API_KEY is not set" in n for n in plan.notes)

    # A base URL that is already an agentwrap proxy (a nested run) is not an upstream.
    assert gemini_agent.upstreams({**env, "GOOGLE_GEMINI_BASE_URL": base}) == {}
    own = {**env, "GOOGLE_GEMINI_BASE_URL": "https://gw.example/g/"}
    assert gemini_agent.upstreams(own) == {"gemini": "https://gw.example/g"}
    assert any(
        "https://gw.example/g" in n for n in gemini_agent.plan("/bin/gemini", [], base, own).notes
    )


def test_gemini_passthrough_goes_to_google_unless_an_upstream_was_set():
    prof = parse_profile_text("", agent_api=GEMINI, env={})
    provider = prof.provider_for_api(GEMINI)
    assert provider.api == GEMINI
    assert provider.base_url == "https://generativelanguage.googleapis.com"
    moved = parse_profile_text(
        "", agent_api=GEMINI, env={"AGENTWRAP_GEMINI_UPSTREAM": "https://gw.example/g/"}
    )
    assert moved.provider_for_api(GEMINI).base_url == "https://gw.example/g"
    assert str(moved.origins["providers.gemini"]) == "env AGENTWRAP_GEMINI_UPSTREAM"


@pytest.mark.tmux
def test_interactive_gemini_in_tmux(tmp_path):
    from tests.support.claude_env import TmuxPane

    reply = "Hello from the fake, interactively."
    with FakeProvider("gemini", gemini_script(Reply(text=reply))) as fake:
        ge = make_gemini_env(tmp_path)
        (ge.cwd / ".agentwrap.toml").write_text(GEMINI_PROFILE.format(url=fake.base_url))
        env = {**ge.env, "AGENTWRAP_GEMINI_BIN": str(ge.binary), "AGENTWRAP_PANEL": "off"}
        pane = TmuxPane(f"aw-gemini-{os.getpid()}", width=120, height=40)
        pane.start([agentwrap_exe(), "gemini"], env, ge.cwd)
        try:
            pane.wait_for("Type your message", timeout=60)
            pane.submit("hello there")
            pane.wait_for(reply, timeout=60)
            pane.submit("/quit")
            screen = pane.wait_for("[exited 0]", timeout=60)
        finally:
            pane.kill()
        requests = posts(fake)
    assert "agentwrap log" in screen  # the summary was printed after Gemini CLI exited
    assert len(requests) == 2 and "hello there" in json.dumps(requests[-1].body["contents"])
    (sess,) = sessions()
    assert sess["argv"] == ["gemini"] and sess["exit_code"] == 0
    assert [c["step"] for c in calls_of(sess["id"])] == ["background", "implement"]


@pytest.mark.tmux
def test_compression_is_recorded_as_compact_steps(tmp_path):
    from tests.support.claude_env import TmuxPane
    from tests.support.gemini_env import SETTINGS

    snapshot = "<state_snapshot><overall_goal>greet</overall_goal></state_snapshot>"

    def answer(body: dict) -> Reply:
        if is_router_call(body):
            return Reply(text=router_reply_text())
        if "<state_snapshot>" in json.dumps(body.get("systemInstruction")):
            return Reply(text=snapshot, usage={"input": 5000, "output": 40})
        # Varied words (a repeated sentence trips the CLI's loop detection), and a prompt
        # size over the threshold below, so the next prompt compresses the history first.
        return Reply(
            text=" ".join(f"word{i}" for i in range(40)), usage={"input": 200_000, "output": 50}
        )

    with FakeProvider("gemini", [answer] * 10) as fake:
        # 1% of the model's window: 200k prompt tokens are over it.
        settings = {**SETTINGS, "model": {"compressionThreshold": 0.01}}
        ge = make_gemini_env(tmp_path, settings=settings)
        (ge.cwd / ".agentwrap.toml").write_text(GEMINI_PROFILE.format(url=fake.base_url))
        env = {**ge.env, "AGENTWRAP_GEMINI_BIN": str(ge.binary), "AGENTWRAP_PANEL": "off"}
        pane = TmuxPane(f"aw-gemini-c-{os.getpid()}", width=120, height=40)
        pane.start([agentwrap_exe(), "gemini"], env, ge.cwd)
        try:
            pane.wait_for("Type your message", timeout=60)
            pane.submit("hello there")
            pane.wait_for("word39", timeout=60)
            pane.submit("and once more")
            deadline = 60
            while deadline and len(posts(fake)) < 6:  # compression, routing, the turn
                time.sleep(1)
                deadline -= 1
            pane.submit("/quit")
            pane.wait_for("[exited 0]", timeout=60)
        finally:
            pane.kill()
        requests = posts(fake)
    compress = [
        r for r in requests if "<state_snapshot>" in json.dumps(r.body["systemInstruction"])
    ]
    assert len(compress) == 2  # the summary, then its verification pass
    assert all(r.path.endswith(":generateContent") for r in compress)
    (sess,) = sessions()
    steps = [c["step"] for c in calls_of(sess["id"])]
    assert steps.count("compact") == 2
    assert steps.index("compact") > steps.index("implement")  # after the first prompt

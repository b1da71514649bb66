"""`agentwrap cline` with the real Cline CLI against local fake upstreams.

The CLI is pinned in tests/e2e/agents/package.json (`cline`, a native binary from a platform
package). The user's providers file is made the way a user makes it, with `cline auth`, in a
throwaway HOME; the test then gives its anthropic provider a gateway `baseUrl`.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from agentwrap.agents.cline import AGENT
from agentwrap.fakes.provider import Call, FakeProvider, Reply
from tests.support.agent_cli import (
    agent_home,
    calls_of,
    posts,
    require_pinned,
    run_through_agentwrap,
    sessions,
)

KEY = "sk-ant-api03-cline-test-" + "0" * 40

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
def cline_bin() -> Path:
    return require_pinned("cline", AGENT.tested, "Cline CLI")


def cline_home(root: Path, cline: Path, gateway: str | None) -> tuple[Path, dict[str, str], Path]:
    """HOME with a providers file made by `cline auth`, a repository, and the environment."""
    repo, env = agent_home(root)
    home = Path(env["HOME"])
    auth = [str(cline), "auth", "-p", "anthropic", "-k", KEY, "-m", "claude-sonnet-4-6"]
    done = subprocess.run(auth, env=env, cwd=repo, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    settings = home / ".cline" / "data" / "settings" / "providers.json"
    if gateway is not None:
        doc = json.loads(settings.read_text())
        doc["providers"]["anthropic"]["settings"]["baseUrl"] = gateway + "/v1"
        settings.write_text(json.dumps(doc, indent=2))
    return repo, env, settings


def run_cline(
    cline: Path, repo: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return run_through_agentwrap("cline", cline, repo, env, *args)


def with_subagent(body: dict, headers: dict) -> Reply:
    """The main loop spawns a subagent, which answers; then the main loop finishes."""
    tools = [t.get("name") or t.get("function", {}).get("name") for t in body.get("tools", [])]
    if "You are a helper that lists files." in json.dumps(
        body.get("system") or body["messages"][:1]
    ):
        return Reply(
            text="The repository holds app.py and README.md.", usage={"input": 500, "output": 9}
        )
    task = {"systemPrompt": "You are a helper that lists files.", "task": "list the files"}
    if "spawn_agent" in tools and "list the files" not in json.dumps(body["messages"][1:]):
        return Reply(tool_calls=[Call("spawn_agent", task)], usage={"input": 4000, "output": 30})
    return Reply(text="Done: app.py and README.md.", usage={"input": 4200, "output": 8})


def test_cline_runs_a_subagent_through_agentwrap_to_the_users_gateway(tmp_path, cline_bin):
    with FakeProvider("anthropic", with_subagent) as gateway:
        repo, env, settings = cline_home(tmp_path, cline_bin, gateway.base_url)
        before = settings.read_text()
        (repo / ".agentwrap.toml").write_text(PASSTHROUGH)
        done = run_cline(cline_bin, repo, env, "use a subagent to list the files")
        requests = posts(gateway)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Done: app.py and README.md." in done.stdout
    assert [r.path for r in requests] == ["/v1/messages"] * 3  # through us to the gateway
    assert all(r.headers["x-api-key"] == KEY for r in requests)  # the user's key, untouched
    assert settings.read_text() == before  # the user's providers file was never edited
    assert "agentwrap forwards its calls there" in done.stderr
    (sess,) = sessions()
    assert sess["agent"] == "cline" and sess["exit_code"] == 0
    assert sess["argv"] == ["cline", "use a subagent to list the files"]
    calls = calls_of(sess["id"])
    assert [(c["surface"], c["step"], c["status"]) for c in calls] == [
        ("anthropic", "implement", "ok"),
        ("anthropic", "subagent", "ok"),
        ("anthropic", "implement", "ok"),
    ]
    assert "spawn_agent" in calls[1]["evidence"]
    assert KEY not in json.dumps(calls)
    # The run's providers file is gone, and no Cline hub daemon outlived the run.
    leftovers = list(Path(tempfile.gettempdir()).glob("agentwrap-cline-*/providers.json"))
    assert not [p for p in leftovers if KEY in p.read_text()]
    daemons = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(repo) not in daemons


def test_cline_subagent_routed_to_a_chat_completions_model(tmp_path, cline_bin):
    # The main loop keeps Anthropic's server-run web_search tool, so it stays on Anthropic; the
    # subagent's tools are all Cline's own, and its calls cross to a Chat Completions model.
    chat_reply = Reply(text="The repository holds app.py and README.md.", usage={"input": 700})
    with (
        FakeProvider("anthropic", with_subagent) as gateway,
        FakeProvider("openai-chat", [chat_reply]) as chat,
    ):
        repo, env, _ = cline_home(tmp_path, cline_bin, gateway.base_url)
        env["TEST_CHAT_KEY"] = "sk-chat-route"
        (repo / ".agentwrap.toml").write_text(TO_CHAT.format(url=chat.base_url))
        done = run_cline(cline_bin, repo, env, "use a subagent to list the files")
        main_requests, chat_requests = posts(gateway), posts(chat)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Done: app.py and README.md." in done.stdout
    (request,) = chat_requests
    assert request.path == "/v1/chat/completions" and request.body["model"] == "gpt-5.4"
    assert request.headers["authorization"] == "Bearer sk-chat-route"
    assert KEY not in json.dumps(request.headers)  # the Anthropic key stays Anthropic's
    assert request.body["messages"][0] == {
        "role": "system",
        "content": "You are a helper that lists files.",
    }
    assert {t["function"]["name"] for t in request.body["tools"]} >= {"read_files", "run_commands"}
    # The subagent's answer reached the main loop as the spawn_agent tool's result.
    assert "app.py and README.md" in json.dumps(main_requests[-1].body["messages"][-1])
    (sess,) = sessions()
    calls = calls_of(sess["id"])
    assert [(c["step"], c["surface"], c["provider_api"], c["model"]) for c in calls] == [
        ("implement", "anthropic", "anthropic", "claude-sonnet-4-6"),
        ("subagent", "anthropic", "openai-chat", "gpt-5.4"),
        ("implement", "anthropic", "anthropic", "claude-sonnet-4-6"),
    ]

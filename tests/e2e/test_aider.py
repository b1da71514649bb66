"""`agentwrap aider` with the real aider against local fake upstreams.

aider is heavy (aider-chat 0.86.2 and LiteLLM: about 660 MB, a few minutes to install), so the
test setup installs it once into a venv of its own under the test cache (tests/support/
agent_cli.py), never into agentwrap's. Offline it needs LITELLM_LOCAL_MODEL_COST_MAP=True, or
LiteLLM tries to fetch its price list at start (it fails fast without network and goes on).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agentwrap.fakes.provider import FakeProvider, Reply
from tests.support.agent_cli import (
    agent_home,
    calls_of,
    posts,
    require_pypi,
    run_through_agentwrap,
    sessions,
)

EDIT = (
    "Changing the greeting.\n\napp.py\n```python\n<<<<<<< SEARCH\n"
    '    return f"hello {name}"\n=======\n    return f"hi there {name}"\n>>>>>>> REPLACE\n```\n'
)
# aider without its questions, update check, analytics and colours.
QUIET = ["--yes-always", "--no-check-update", "--analytics-disable", "--no-show-model-warnings"]
QUIET += ["--no-pretty"]

PASSTHROUGH = """
[routing]
default = "requested"
"""

TO_ANTHROPIC = """
[providers.claude]
api = "anthropic"
base_url = "{url}"
key_env = "TEST_ANTHROPIC_KEY"

# Haiku ($1/$5 per million) costs less than the gpt-4.1 aider asks for ($2/$8): a dearer
# model would need an escalation rule, and the call would stay on OpenAI.
[models.haiku]
provider = "claude"
model = "claude-haiku-4-5"

[routing]
default = "haiku"
"""


@pytest.fixture(scope="module")
def aider_bin() -> Path:
    return require_pypi("aider-chat", "aider", "aider")


def aider_env(root: Path, **extra: str) -> tuple[Path, dict[str, str]]:
    return agent_home(
        root,
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        GIT_AUTHOR_NAME="Test User",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="Test User",
        GIT_COMMITTER_EMAIL="test@example.invalid",
        **extra,
    )


def run_aider(
    aider: Path, repo: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return run_through_agentwrap("aider", aider, repo, env, *args)


def answer(body: dict, headers: dict) -> Reply:
    """The main model edits app.py; the weak model writes the commit message."""
    if "commit message" in json.dumps(body).lower():
        return Reply(text="feat: greet with hi there", usage={"input": 300, "output": 8})
    return Reply(text=EDIT, usage={"input": 2500, "output": 40})


def test_aider_edits_and_commits_through_agentwrap_to_the_users_own_server(tmp_path, aider_bin):
    with FakeProvider("openai-chat", answer) as gateway:
        # The user's own OpenAI-compatible server, as aider users set it: OPENAI_API_BASE.
        repo, env = aider_env(tmp_path, OPENAI_API_BASE=gateway.base_url, OPENAI_API_KEY="sk-user")
        (repo / ".agentwrap.toml").write_text(PASSTHROUGH)
        args = ["--model", "openai/gpt-4.1", *QUIET, "--message", "greet with hi there", "app.py"]
        done = run_aider(aider_bin, repo, env, *args)
        requests = posts(gateway)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Changing the greeting." in done.stdout and "Applied edit to app.py" in done.stdout
    assert 'return f"hi there {name}"' in (repo / "app.py").read_text()
    log = subprocess.run(
        ["git", "log", "-1", "--format=%s"], cwd=repo, capture_output=True, text=True
    )
    assert log.stdout.strip() == "feat: greet with hi there"
    # Both calls went through agentwrap to the user's server, with the user's key.
    assert [r.path for r in requests] == ["/v1/chat/completions"] * 2
    assert all(r.headers["authorization"] == "Bearer sk-user" for r in requests)
    assert f"OPENAI_API_BASE was {gateway.base_url}" in done.stderr
    (sess,) = sessions()
    assert sess["agent"] == "aider" and sess["exit_code"] == 0
    assert sess["argv"] == ["aider", *args]  # arguments untouched (ours went before them)
    calls = calls_of(sess["id"])
    assert [(c["surface"], c["step"], c["model"], c["status"]) for c in calls] == [
        ("openai-chat", "implement", "gpt-4.1", "ok"),
        ("openai-chat", "background", "gpt-4.1-mini", "ok"),
    ]
    assert "coding" in calls[0]["evidence"] and "commit message" in calls[1]["evidence"]
    assert "sk-user" not in json.dumps(calls)


def test_aider_routed_to_an_anthropic_model(tmp_path, aider_bin):
    with FakeProvider("anthropic", answer) as anthropic:
        repo, env = aider_env(tmp_path, OPENAI_API_KEY="sk-user", TEST_ANTHROPIC_KEY="sk-ant-route")
        (repo / ".agentwrap.toml").write_text(TO_ANTHROPIC.format(url=anthropic.base_url))
        # Its commit message too asks for gpt-4.1, not the cheaper gpt-4.1-mini Haiku would
        # not undercut.
        args = ["--model", "openai/gpt-4.1", "--weak-model", "openai/gpt-4.1", *QUIET]
        args += ["--message", "greet with hi there", "app.py"]
        done = run_aider(aider_bin, repo, env, *args)
        requests = posts(anthropic)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Applied edit to app.py" in done.stdout
    assert 'return f"hi there {name}"' in (repo / "app.py").read_text()
    assert requests and all(r.path.startswith("/v1/messages") for r in requests)
    # aider's system prompt crossed into the Messages API's system field.
    assert "Act as an expert software developer" in json.dumps(requests[0].body["system"])
    assert all(r.headers["x-api-key"] == "sk-ant-route" for r in requests)
    assert not any("sk-user" in json.dumps(r.headers) for r in requests)
    (sess,) = sessions()
    calls = calls_of(sess["id"])
    assert [(c["surface"], c["provider_api"], c["model"]) for c in calls] == [
        ("openai-chat", "anthropic", "claude-haiku-4-5")
    ] * 2
    assert [c["step"] for c in calls] == ["implement", "background"]


def test_a_dotenv_gateway_for_anthropic_is_kept_as_the_upstream(tmp_path, aider_bin):
    # aider loads .env files over the environment; agentwrap's --set-env (in AIDER_SET_ENV)
    # still wins, and the gateway named there is where agentwrap sends aider's Anthropic calls.
    reply = Reply(text="Hello from the Anthropic gateway.", usage={"input": 900, "output": 7})
    with FakeProvider("anthropic", [reply]) as gateway:
        repo, env = aider_env(tmp_path, ANTHROPIC_API_KEY="sk-ant-user")
        (repo / ".env").write_text(f"ANTHROPIC_API_BASE={gateway.base_url}\n")
        (repo / ".agentwrap.toml").write_text(PASSTHROUGH)
        args = ["--model", "anthropic/claude-sonnet-4-5", *QUIET, "--no-git", "--message", "hi"]
        done = run_aider(aider_bin, repo, env, *args)
        (request,) = posts(gateway)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Hello from the Anthropic gateway." in done.stdout
    assert request.path == "/v1/messages" and request.headers["x-api-key"] == "sk-ant-user"
    (sess,) = sessions()
    (call,) = calls_of(sess["id"])
    assert (call["surface"], call["step"], call["status"]) == ("anthropic", "implement", "ok")

"""`agentwrap crush` with the real Crush against a local fake upstream.

Crush is pinned in tests/e2e/agents/package.json among optionalDependencies: its postinstall
downloads its binary from outside the registry, so where that fails (tests/fixtures/crush/
README.md) this test skips and says why. The user's gateway is their ANTHROPIC_API_ENDPOINT.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agentwrap.agents.crush import AGENT
from agentwrap.fakes.provider import FakeProvider, Reply
from tests.support.agent_cli import agentwrap_exe, calls_of, posts, require_pinned, sessions
from tests.support.claude_env import _seed_repo

KEY = "sk-ant-api03-crush-test-" + "0" * 40
PROMPT = "say hello"

PASSTHROUGH = """
[routing]
default = "requested"
"""


@pytest.fixture(scope="module")
def crush_bin() -> Path:
    return require_pinned("crush", AGENT.tested, "Crush")


def answer(body: dict[str, Any], headers: dict[str, str]) -> Reply:
    if "short title" in json.dumps(body.get("system")):
        return Reply(text="Saying hello", usage={"input": 200, "output": 3})
    return Reply(text="Hello from the gateway.", usage={"input": 3000, "output": 6})


def test_crush_runs_through_agentwrap_to_the_users_gateway(tmp_path, crush_bin):
    home, repo = tmp_path / "home", tmp_path / "repo"
    home.mkdir()
    repo.mkdir()
    _seed_repo(repo)
    (repo / ".agentwrap.toml").write_text(PASSTHROUGH)
    with FakeProvider("anthropic", answer) as gateway:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "ANTHROPIC_API_KEY": KEY,
            "ANTHROPIC_API_ENDPOINT": gateway.base_url,
            "CRUSH_DISABLE_PROVIDER_AUTO_UPDATE": "1",
            "AGENTWRAP_PANEL": "off",
            "AGENTWRAP_HOME": os.environ["AGENTWRAP_HOME"],
            "AGENTWRAP_CRUSH_BIN": str(crush_bin),
        }
        done = subprocess.run(
            [agentwrap_exe(), "crush", "run", PROMPT],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        requests = posts(gateway)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Hello from the gateway." in done.stdout
    assert requests and {r.path for r in requests} == {"/v1/messages"}
    assert all(r.headers["x-api-key"] == KEY for r in requests)  # the user's key, untouched
    assert f"ANTHROPIC_API_ENDPOINT was {gateway.base_url}" in done.stderr
    (sess,) = sessions()
    assert sess["agent"] == "crush" and sess["exit_code"] == 0
    assert sess["argv"] == ["crush", "run", PROMPT]
    steps = sorted(c["step"] for c in calls_of(sess["id"]))
    assert "implement" in steps and set(steps) <= {"implement", "background"}

"""The session secret never appears on a command line, where every local user reads it (`ps`):
every registered agent's launch plan is checked, and real agents are watched through /proc
while their call is in flight. Nor does agentwrap print it to stderr."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from agentwrap.agents import registry
from agentwrap.agents.base import (
    Agent,
    LaunchPlan,
    SecretOnCommandLine,
)
from agentwrap.fakes.provider import FakeProvider, Reply
from tests.security import procs

SECRET = "Zq3-secret-for-the-test_9x"
BASE_URL = f"http://127.0.0.1:4567/s/{SECRET}"


def agentwrap_exe() -> str:
    return str(Path(sys.executable).parent / "agentwrap")


@pytest.mark.parametrize("agent", registry.agents(), ids=lambda a: a.name)
def test_no_registered_agents_launch_plan_puts_the_secret_on_its_command_line(
    agent: Agent, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-x"}
    plan = agent.launch_plan(f"/opt/{agent.binary}", ["--some", "arg"], BASE_URL, env)
    try:
        assert not [arg for arg in plan.argv if SECRET in arg]
    finally:
        plan.remove_scratch()


def test_a_plan_that_would_put_it_there_is_refused() -> None:
    def leaky(exe: str, args: list[str], base_url: str, env: object) -> LaunchPlan:
        return LaunchPlan([exe, f"--base-url={base_url}", *args], {})

    agent = Agent(
        name="leaky",
        label="Leaky ('leaky')",
        binary="leaky",
        install="-",
        api="anthropic",
        help="-",
        plan=leaky,
        upstreams=lambda env: {},
        classify=lambda call: None,
        detect=lambda call: False,
    )
    with pytest.raises(SecretOnCommandLine) as caught:
        agent.launch_plan("/bin/leaky", [], BASE_URL, {})
    assert SECRET not in str(caught.value)


RUN_CHILD = """\
import pathlib, sys, time
pathlib.Path(sys.argv[1]).write_text("up")
time.sleep(30)
"""


def test_agentwrap_run_keeps_it_in_the_environment(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [agentwrap_exe(), "run", "--quiet", "--", sys.executable, "-c", RUN_CHILD, str(ready)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env({"AGENTWRAP_PANEL": "off"}),
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the command never started"
        secret = procs.session_secret(proc.pid)
        assert secret, "no process below agentwrap holds the session's base URL"
        assert procs.command_lines_holding(secret) == []
    finally:
        # SIGTERM reaches the sleeping child through agentwrap; after a SIGKILL the child
        # would hold the pipes open for the rest of its sleep.
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate(timeout=30)
    assert secret not in err


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os

    return {**os.environ, **extra}


# -- the real agents ------------------------------------------------------------------------


def watch_agent(
    argv: list[str], env: dict[str, str], cwd: Path, fake: FakeProvider, binary: str
) -> subprocess.CompletedProcess[str]:
    """Run an agent through agentwrap and, while its first call waits on the fake, check every
    command line on the machine for the session secret; then let it finish."""
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        fake.wait_for_requests(1, timeout=150)
        tree = procs.descendants(proc.pid)
        assert any(binary in procs.cmdline(pid) for pid in tree), "the agent is not running"
        secret = procs.session_secret(proc.pid)
        assert secret, "no process below agentwrap was given the session secret"
        assert procs.command_lines_holding(secret) == []
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert secret not in out and secret not in err
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


SLOW = 3.0  # seconds the first answer waits, while the test looks at every process


@pytest.mark.e2e
def test_claude_code(tmp_path: Path) -> None:
    from tests.support.claude_env import make_claude_env

    with FakeProvider("anthropic", default=Reply(text="hello", first_byte_delay=SLOW)) as fake:
        ce = make_claude_env(tmp_path, base_url=fake.base_url)
        env = {**ce.env, "AGENTWRAP_CLAUDE_BIN": str(ce.binary), "AGENTWRAP_PANEL": "off"}
        done = watch_agent(
            [agentwrap_exe(), "claude", "-p", "say hello"], env, ce.cwd, fake, "claude"
        )
    assert done.returncode == 0, done.stderr


@pytest.mark.e2e
def test_codex(tmp_path: Path) -> None:
    from tests.support.codex_env import OFFLINE_ARGS, make_codex_env

    with FakeProvider("openai-responses", default=Reply(text="hello", first_byte_delay=SLOW)) as fake:  # fmt: skip
        ce = make_codex_env(tmp_path, extra_env={"AGENTWRAP_OPENAI_UPSTREAM": fake.base_url})
        env = {**ce.env, "AGENTWRAP_CODEX_BIN": str(ce.binary), "AGENTWRAP_PANEL": "off"}
        done = watch_agent(
            [agentwrap_exe(), "codex", *OFFLINE_ARGS, "exec", "say hello"],
            env,
            ce.cwd,
            fake,
            "codex",
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello"


@pytest.mark.e2e
def test_gemini_cli(tmp_path: Path) -> None:
    from tests.support.gemini_env import is_router_call, make_gemini_env, router_reply_text

    def answer(body: dict, headers: dict) -> Reply:
        if is_router_call(body):
            return Reply(text=router_reply_text(), first_byte_delay=SLOW)
        return Reply(text="hello")

    with FakeProvider("gemini", answer) as fake:
        ge = make_gemini_env(tmp_path, extra_env={"GOOGLE_GEMINI_BASE_URL": fake.base_url})
        env = {**ge.env, "AGENTWRAP_GEMINI_BIN": str(ge.binary), "AGENTWRAP_PANEL": "off"}
        done = watch_agent(
            [agentwrap_exe(), "gemini", "-p", "say hello"], env, ge.cwd, fake, "gemini"
        )
    assert done.returncode == 0, done.stderr


def test_the_front_door_takes_the_secret_from_its_header_and_never_forwards_it(
    agentwrap_bin: str,
) -> None:
    from tests.support.serve import serve

    body = {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}  # fmt: skip
    with FakeProvider("anthropic", default=Reply(text="hi")) as fake:
        env = {"AGENTWRAP_ANTHROPIC_UPSTREAM": fake.base_url}
        with serve(agentwrap_bin, env=env) as served:
            url = f"{served.origin}/v1/messages"
            ok = httpx.post(url, json=body, headers={"x-agentwrap-secret": served.secret})
            wrong = httpx.post(url, json=body, headers={"x-agentwrap-secret": served.secret[:-1]})
            missing = httpx.post(url, json=body)
        (received,) = fake.generating()
    assert ok.status_code == 200 and ok.json()["content"][0]["text"] == "hi"
    assert wrong.status_code == missing.status_code == 403
    assert "x-agentwrap-secret" not in received.headers
    assert served.secret not in str(received.headers) and received.path == "/v1/messages"

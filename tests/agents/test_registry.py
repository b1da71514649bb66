"""The agent registry: one object per agent, read by the router, the proxy and the launcher."""

from __future__ import annotations

import json

import pytest

from agentwrap.agents import aider, claude, cline, codex, crush, gemini, opencode, qwen, registry
from agentwrap.agents.base import Agent
from agentwrap.route.classify import classify, detect_agent
from agentwrap.route.step import Step
from agentwrap.wire.call import ANTHROPIC, APIS, GEMINI, OPENAI_RESPONSES, Call
from tests.support.agent_cli import pypi_pins
from tests.support.claude_env import AGENTS_DIR


def test_every_agent_module_defines_one_registered_agent() -> None:
    assert [a.name for a in registry.agents()] == [
        "claude",
        "codex",
        "gemini",
        "aider",
        "cline",
        "opencode",
        "qwen",
        "crush",
    ]
    for module in (claude, codex, gemini, aider, cline, opencode, qwen, crush):
        assert registry.get(module.AGENT.name) is module.AGENT


@pytest.mark.parametrize(
    ("name", "api", "binary_env"),
    [
        ("claude", ANTHROPIC, "AGENTWRAP_CLAUDE_BIN"),
        ("codex", OPENAI_RESPONSES, "AGENTWRAP_CODEX_BIN"),
        ("gemini", GEMINI, "AGENTWRAP_GEMINI_BIN"),
    ],
)
def test_each_agent_names_its_api_binary_and_install(name: str, api: str, binary_env: str) -> None:
    agent = registry.get(name)
    assert agent is not None and agent.api in APIS and agent.api == api
    assert agent.binary == name and agent.binary_env == binary_env
    assert agent.install.startswith("npm install -g ") and agent.help


def test_binary_override_wins_over_path(tmp_path) -> None:
    exe = tmp_path / "my-claude"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    env = {"PATH": str(tmp_path), "AGENTWRAP_CLAUDE_BIN": str(exe)}
    assert claude.AGENT.find_binary(env) == str(exe)
    assert claude.AGENT.find_binary({**env, "AGENTWRAP_CLAUDE_BIN": str(tmp_path / "no")}) is None
    (tmp_path / "claude").write_text("#!/bin/sh\n")
    (tmp_path / "claude").chmod(0o755)
    assert claude.AGENT.find_binary({"PATH": str(tmp_path)}) == str(tmp_path / "claude")


@pytest.mark.parametrize(
    ("name", "args", "batch"),
    [
        ("claude", ["-p", "hi"], True),
        ("claude", ["--print=hi"], True),
        ("claude", ["--resume"], False),
        ("codex", ["exec", "fix it"], True),
        ("codex", ["-c", "x=1", "review"], True),
        ("codex", ["-p", "work"], False),  # Codex's -p is --profile, not print mode
        ("codex", ["fix it"], False),
        ("gemini", ["-p", "hi"], True),
        ("gemini", ["mcp", "list"], True),
        ("gemini", ["--model", "x"], False),
    ],
)
def test_batch_invocations_are_the_agents_own(name: str, args: list[str], batch: bool) -> None:
    agent = registry.get(name)
    assert agent is not None and agent.is_batch(args) is batch


def test_conversation_ids_come_from_the_agent_that_names_them() -> None:
    headers = {"x-claude-code-session-id": "t-1", "x-claude-code-agent-id": "a-1"}
    assert registry.conversation_ids(headers, "claude") == ("t-1", "a-1")
    assert registry.conversation_ids(headers) == ("t-1", "a-1")  # serve: any agent's reading
    assert registry.conversation_ids({"session-id": "c-1"}) == ("c-1", None)
    assert registry.conversation_ids({"session-id": "c-1"}, "codex") == ("c-1", None)
    assert registry.conversation_ids({"user-agent": "x"}, "gemini") == (None, None)


def test_a_codex_thread_other_than_its_sessions_is_a_subagent() -> None:
    main = {"session-id": "c-1", "thread-id": "c-1"}
    assert registry.conversation_ids(main, "codex") == ("c-1", None)
    spawned = {"session-id": "c-1", "thread-id": "t-2"}
    assert registry.conversation_ids(spawned, "codex") == ("c-1", "t-2")


def test_upstreams_are_the_users_own_endpoints_only() -> None:
    ours = "http://127.0.0.1:9/s/abc"
    assert claude.upstreams({"ANTHROPIC_BASE_URL": "https://gw.example/a/"}) == {
        "anthropic": "https://gw.example/a"
    }
    assert claude.upstreams({"ANTHROPIC_BASE_URL": ours}) == {}
    assert gemini.upstreams({"GOOGLE_GEMINI_BASE_URL": ours}) == {}


def test_the_router_reads_detection_and_hints_from_the_registry() -> None:
    call = Call(ANTHROPIC, "messages", {"model": "m", "messages": []}, {"user-agent": "toy/1"})
    assert detect_agent(call) is None
    seen: list[str] = []

    def toy_classify(c: Call) -> Step:
        seen.append(c.model or "")
        return Step("search", "toy marker → search")

    toy = Agent(
        name="toy",
        label="Toy ('toy')",
        binary="toy",
        install="pip install toy",
        api=ANTHROPIC,
        help="Run the toy.",
        plan=claude.plan,
        upstreams=lambda env: {},
        classify=toy_classify,
        detect=lambda c: c.header("user-agent") == "toy/1",
    )
    registry.register(toy)
    try:
        assert detect_agent(call) == "toy"
        step = classify(call)
        assert (step.kind, step.evidence) == ("search", "toy marker → search") and seen == ["m"]
    finally:
        registry.unregister("toy")
    assert detect_agent(call) is None


def test_each_agent_knows_its_package_and_the_release_it_was_tested_with() -> None:
    for agent in registry.agents():
        assert agent.tested and agent.package and agent.registry in ("npm", "pypi")
        assert agent.wiring
        if agent.registry == "npm":
            assert agent.package in agent.install


def test_the_tested_releases_are_the_ones_the_e2e_tests_pin() -> None:
    # The pins belong to the tests; the registry says which release agentwrap was tested with.
    manifest = json.loads((AGENTS_DIR / "package.json").read_text())
    pins = manifest["dependencies"] | manifest.get("optionalDependencies", {})
    pins |= pypi_pins()
    tested = {a.package: a.tested for a in registry.agents()}
    assert tested == {package: pins.get(package) for package in tested}
    assert set(pins) == set(tested)  # nothing pinned that no agent is tested with


@pytest.mark.parametrize("name", ["aider", "cline", "opencode", "qwen", "crush"])
def test_a_missing_agent_names_its_install_command_and_exits_127(name: str, tmp_path) -> None:
    import subprocess

    from tests.support.agent_cli import agentwrap_exe

    agent = registry.get(name)
    assert agent is not None
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path), "AGENTWRAP_PANEL": "off"}
    done = subprocess.run(
        [agentwrap_exe(), name, "--model", "x", "hello"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 127
    assert f"{agent.label} was not found on PATH" in done.stderr
    assert f"Install it with: {agent.install}" in done.stderr

"""Crush's agent module: its environment, its own endpoints kept, its markers.

Crush's npm package downloads its binary from outside the registry at install, so the real CLI
could not run here (tests/fixtures/crush/README.md): its markers are checked on requests shaped
after its source, in each API it speaks; the real CLI through agentwrap is
tests/e2e/test_crush.py, which skips while the package cannot install.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentwrap.agents import crush, registry
from agentwrap.route.classify import classify, detect_agent
from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES, Call

OURS = "http://127.0.0.1:4567/s/secret"
CRUSH_UA = {"user-agent": "Charm-Crush/0.96.1 (https://charm.land/crush)"}

# The openings of Crush's system prompts (internal/agent/templates in its source).
PROMPTS = {
    "implement": "You are Crush, a powerful AI Assistant that runs in the CLI.\n\n<critical_rules>",
    "background": "You will generate a short title based on the first message a user begins",
    "compact": "You are summarizing a conversation to preserve context for continuing work",
    "subagent": "You are an agent for Crush. Given the user's prompt, you should use the tools",
}


def request(surface: str, system: str) -> Call:
    """A Crush request of `surface` with this system prompt, as its SDKs send it."""
    user = "list the files"
    body: dict[str, Any]
    if surface == ANTHROPIC:
        body = {
            "model": "claude-sonnet-4-6",
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": user}]}],
            "stream": True,
        }
        return Call(surface, "messages", body, CRUSH_UA)
    if surface == OPENAI_RESPONSES:
        body = {"model": "gpt-5.6-sol", "instructions": system, "input": user, "stream": True}
        return Call(surface, "responses", body, CRUSH_UA)
    if surface == OPENAI_CHAT:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return Call(surface, "chat", {"model": "glm-5", "messages": messages}, CRUSH_UA)
    body = {
        "systemInstruction": {"parts": [{"text": system}]},
        "contents": [{"role": "user", "parts": [{"text": user}]}],
    }
    return Call(surface, "stream_generate", body, CRUSH_UA, "gemini-3-flash-preview")


def test_crush_is_registered() -> None:
    assert registry.get("crush") is crush.AGENT
    assert crush.AGENT.package == "@charmland/crush" and crush.AGENT.binary == "crush"


@pytest.mark.parametrize("surface", [ANTHROPIC, OPENAI_RESPONSES, OPENAI_CHAT, GEMINI])
@pytest.mark.parametrize("kind", sorted(PROMPTS))
def test_each_prompt_gets_its_step_kind_in_every_api(kind: str, surface: str) -> None:
    call = request(surface, PROMPTS[kind])
    assert detect_agent(call) == "crush"
    step = classify(call, "crush")
    assert step.kind == kind and step.matched, step
    assert step.main_loop is (kind in ("implement", "compact"))


def test_the_fetch_subagent_is_named() -> None:
    call = request(ANTHROPIC, "You are a web content analysis agent for Crush. Your task is")
    step = crush.classify(call)
    assert step is not None and (step.kind, step.subagent_type) == ("subagent", "agentic_fetch")


def test_an_unknown_prompt_falls_to_the_default_and_says_so() -> None:
    step = crush.classify(request(OPENAI_CHAT, "You review SQL migrations."))
    assert step is not None and step.kind == "implement" and not step.matched
    other = Call(ANTHROPIC, "messages", {"system": PROMPTS["implement"]}, {"user-agent": "x/1"})
    assert crush.classify(other) is None and not crush.detect(other)


def test_plan_sets_both_forms_of_every_endpoint(tmp_path) -> None:
    env = {"HOME": str(tmp_path), "ANTHROPIC_API_KEY": "sk-user"}
    args = ["run", "fix it"]
    plan = crush.plan("/bin/crush", args, OURS, env)
    assert plan.argv == ["/bin/crush", *args]  # arguments untouched
    expected = {
        "ANTHROPIC_API_ENDPOINT": OURS,
        "OPENAI_API_ENDPOINT": OURS + "/v1",
        "GEMINI_API_ENDPOINT": OURS,
    }
    for var, url in expected.items():
        assert plan.env[var] == plan.env["CRUSH_" + var] == url
    assert plan.env["ANTHROPIC_API_KEY"] == "sk-user"
    assert plan.notes == [] and plan.scratch == []
    assert not list(tmp_path.rglob("*"))  # nothing written


def test_the_users_endpoints_become_upstreams() -> None:
    env = {
        "ANTHROPIC_API_ENDPOINT": "https://gw.example/anthropic/",
        "OPENAI_API_ENDPOINT": "http://llm:8000/v1",
        "CRUSH_OPENAI_API_ENDPOINT": "http://other:9000/v1",  # Crush's own form wins
        "GEMINI_API_ENDPOINT": OURS,  # a nested agentwrap's: never an upstream
    }
    assert crush.upstreams(env) == {
        "anthropic": "https://gw.example/anthropic",
        "openai": "http://other:9000/v1",
    }
    notes = crush.plan("/bin/crush", [], OURS, {**env, "HOME": "/nonexistent"}).notes
    assert notes == [
        "ANTHROPIC_API_ENDPOINT was https://gw.example/anthropic: agentwrap forwards Crush's "
        "anthropic calls there",
        "CRUSH_OPENAI_API_ENDPOINT was http://other:9000/v1: agentwrap forwards Crush's openai "
        "calls there",
    ]


def test_config_files_that_take_calls_past_agentwrap_are_named(tmp_path, monkeypatch) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    (home / ".config" / "crush").mkdir(parents=True)
    (repo / ".git").mkdir(parents=True)
    (home / ".config" / "crush" / "crush.json").write_text(
        json.dumps(
            {
                "providers": {
                    "anthropic": {"base_url": "$ANTHROPIC_API_ENDPOINT", "api_key": "k"},
                    "openrouter": {"api_key": "or"},
                }
            }
        )
    )
    project = repo / ".crush.json"
    project.write_text(json.dumps({"providers": {"openai": {"base_url": "http://llm:8000/v1"}}}))
    before = project.read_text()
    monkeypatch.chdir(repo)
    notes = crush.plan("/bin/crush", ["run", "hi"], OURS, {"HOME": str(home)}).notes
    assert notes == [
        f"{project} gives Crush's openai provider base_url http://llm:8000/v1: Crush calls it "
        "directly, so those calls will NOT pass through agentwrap (nothing is routed or recorded)",
        "Crush's provider(s) openrouter call their services directly: their calls will NOT pass "
        "through agentwrap; anthropic, openai and gemini do",
    ]
    assert project.read_text() == before  # only read


@pytest.mark.parametrize(
    ("args", "batch"),
    [
        (["run", "fix the tests"], True),
        (["-c", "/src", "run", "fix"], True),
        (["--version"], True),
        (["logs"], True),
        ([], False),
        (["-c", "/src"], False),
        (["--yolo"], False),
    ],
)
def test_batch_invocations(args: list[str], batch: bool) -> None:
    assert crush.is_batch(args) is batch

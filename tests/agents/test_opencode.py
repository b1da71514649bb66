"""opencode's agent module: its session-scoped config, its own base URLs kept, its markers.

The markers are checked on real requests opencode 1.18.33 sent (tests/fixtures/opencode/); the
real CLI through agentwrap is tests/e2e/test_opencode.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentwrap.agents import opencode, registry
from agentwrap.route.classify import classify, detect_agent
from agentwrap.wire.call import Call
from tests.agents.test_aider import captured_call

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "opencode"
FILES = sorted(FIXTURES.glob("*.json"))
OURS = "http://127.0.0.1:4567/s/secret"


def test_opencode_is_registered() -> None:
    assert registry.get("opencode") is opencode.AGENT
    assert opencode.AGENT.package == "opencode-ai" and opencode.AGENT.binary == "opencode"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_captured_requests_get_their_step_kind(path: Path) -> None:
    record = json.loads(path.read_text())
    assert record["opencode_version"] == opencode.AGENT.tested
    call = captured_call(record)
    assert detect_agent(call) == "opencode"
    step = classify(call, "opencode")
    assert step.kind == record["label"] and step.matched, step
    assert step.main_loop is (record["label"] in ("implement", "plan", "compact"))


def test_every_kind_opencode_has_was_captured() -> None:
    kinds = {json.loads(p.read_text())["label"] for p in FILES}
    assert kinds == {"implement", "plan", "subagent", "compact", "background"}


def test_a_subagent_belongs_to_its_parents_conversation() -> None:
    record = json.loads((FIXTURES / "subagent-task.json").read_text())
    parent = record["headers"]["x-parent-session-id"]
    child = record["headers"]["x-session-id"]
    assert registry.conversation_ids(record["headers"], "opencode") == (parent, child)
    assert registry.conversation_ids({"x-session-id": "ses_1"}, "opencode") == ("ses_1", None)


def test_a_request_from_another_client_is_not_opencodes() -> None:
    body = {"model": "m", "system": "You are OpenCode, the best coding agent", "messages": []}
    call = Call("anthropic", "messages", body, {"user-agent": "curl/8"})
    assert opencode.classify(call) is None and not opencode.detect(call)


def test_plan_points_every_provider_we_carry_at_us_in_the_environment(tmp_path) -> None:
    env = {"HOME": str(tmp_path), "ANTHROPIC_API_KEY": "sk-user"}
    args = ["run", "-m", "anthropic/claude-sonnet-4-5", "fix it"]
    plan = opencode.plan("/bin/opencode", args, OURS, env)
    assert plan.argv == ["/bin/opencode", *args]  # arguments untouched
    doc = json.loads(plan.env[opencode.CONTENT_ENV])
    assert {name: p["options"]["baseURL"] for name, p in doc["provider"].items()} == {
        "anthropic": OURS + "/v1",
        "openai": OURS + "/v1",
        "google": OURS + "/v1beta",
    }
    assert plan.env["ANTHROPIC_API_KEY"] == "sk-user" and plan.scratch == []
    assert "127.0.0.1" in plan.env["NO_PROXY"] and plan.notes == []
    assert not list(tmp_path.rglob("*"))  # nothing written: the config lives in the variable


def test_the_users_own_config_content_is_merged_not_replaced(tmp_path) -> None:
    theirs = {
        "model": "anthropic/claude-sonnet-4-5",
        "provider": {"anthropic": {"options": {"apiKey": "sk-own", "timeout": 5}}},
    }
    env = {"HOME": str(tmp_path), opencode.CONTENT_ENV: json.dumps(theirs)}
    doc = json.loads(opencode.plan("/bin/opencode", [], OURS, env).env[opencode.CONTENT_ENV])
    assert doc["model"] == "anthropic/claude-sonnet-4-5"
    assert doc["provider"]["anthropic"]["options"] == {
        "apiKey": "sk-own",
        "timeout": 5,
        "baseURL": OURS + "/v1",
    }


def test_base_urls_in_the_users_files_become_upstreams(tmp_path, monkeypatch) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    (home / ".config" / "opencode").mkdir(parents=True)
    (repo / ".git").mkdir(parents=True)
    (home / ".config" / "opencode" / "opencode.json").write_text(
        json.dumps({"provider": {"anthropic": {"options": {"baseURL": "https://gw.example/v1"}}}})
    )
    # JSONC, as opencode allows: comments and a trailing comma.
    (repo / "opencode.jsonc").write_text(
        '{\n  // the team gateway\n  "provider": {"openai": {"options": '
        '{"baseURL": "http://llm:8000/v1/"}}, "ollama": {"options": {"baseURL": "http://x"}},},\n}'
    )
    before = (repo / "opencode.jsonc").read_text()
    monkeypatch.chdir(repo)
    env = {"HOME": str(home)}
    assert opencode.upstreams(env) == {
        "anthropic": "https://gw.example",
        "openai": "http://llm:8000/v1",
    }
    plan = opencode.plan("/bin/opencode", ["run", "hi"], OURS, env)
    assert plan.notes[0] == (
        "opencode's anthropic provider had baseURL https://gw.example (opencode.json): "
        "agentwrap forwards its calls there"
    )
    assert any("ollama" in note and "NOT" in note for note in plan.notes)
    assert (repo / "opencode.jsonc").read_text() == before  # the user's files untouched
    nested = {opencode.CONTENT_ENV: plan.env[opencode.CONTENT_ENV], "HOME": str(tmp_path)}
    assert opencode.upstreams(nested) == {}  # a nested agentwrap's own URL is never one


@pytest.mark.parametrize(
    ("args", "batch"),
    [
        (["run", "fix the tests"], True),
        (["-m", "anthropic/claude-sonnet-4-5", "run", "fix"], True),
        (["--version"], True),
        (["models"], True),
        ([], False),
        (["--agent", "plan"], False),
        (["."], False),  # a project folder: the TUI
    ],
)
def test_batch_invocations(args: list[str], batch: bool) -> None:
    assert opencode.is_batch(args) is batch

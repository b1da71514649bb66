"""qwen-code's agent module: its environment, its own base URLs kept, its markers.

The markers are checked on real requests qwen-code 0.24.4 sent (tests/fixtures/qwen/); the
real CLI through agentwrap is tests/e2e/test_qwen.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentwrap.agents import qwen, registry
from agentwrap.route.classify import classify, detect_agent
from agentwrap.wire.call import Call
from tests.agents.test_aider import captured_call

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qwen"
FILES = sorted(FIXTURES.glob("*.json"))
OURS = "http://127.0.0.1:4567/s/secret"
QWEN_UA = {"user-agent": "QwenCode/0.24.4 (linux; x64)"}


def test_qwen_is_registered() -> None:
    assert registry.get("qwen") is qwen.AGENT
    assert qwen.AGENT.package == "@qwen-code/qwen-code" and qwen.AGENT.binary == "qwen"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_captured_requests_get_their_step_kind(path: Path) -> None:
    record = json.loads(path.read_text())
    assert record["qwen_version"] == qwen.AGENT.tested
    call = captured_call(record)
    assert detect_agent(call) == "qwen"
    step = classify(call, "qwen")
    assert step.kind == record["label"] and step.matched, step
    assert step.main_loop is (record["label"] in ("implement", "plan", "compact"))


def test_every_kind_qwen_has_was_captured() -> None:
    kinds = {json.loads(p.read_text())["label"] for p in FILES}
    assert kinds == {"implement", "plan", "subagent", "compact", "background"}


def test_subagents_are_named_by_their_prompt() -> None:
    names = {}
    for name in ("subagent-explore", "subagent-general-purpose"):
        step = qwen.classify(captured_call(json.loads((FIXTURES / f"{name}.json").read_text())))
        assert step is not None
        names[name] = step.subagent_type
    assert names == {
        "subagent-explore": "Explore",
        "subagent-general-purpose": "general-purpose",
    }
    custom = {
        "model": "m",
        "messages": [{"role": "system", "content": "You review SQL migrations."}],
    }
    step = qwen.classify(Call("openai-chat", "chat", custom, QWEN_UA))
    assert step is not None and step.kind == "subagent"


def test_the_title_prompt_found_in_the_bundle_is_background() -> None:
    body = {
        "model": "qwen-fast",
        "messages": [
            {"role": "system", "content": "Generate a concise, sentence-case title (3-7 words)"},
            {"role": "user", "content": "Generate the session title now."},
        ],
    }
    step = qwen.classify(Call("openai-chat", "chat", body, QWEN_UA))
    assert step is not None and step.kind == "background"


def test_a_request_from_another_client_is_not_qwens() -> None:
    body = {"model": "m", "messages": [{"role": "system", "content": "You are Qwen Code"}]}
    call = Call("openai-chat", "chat", body, {"user-agent": "OpenAI/Python 2.1"})
    assert qwen.classify(call) is None and not qwen.detect(call)


def test_plan_sets_both_base_urls_and_clears_proxies(tmp_path) -> None:
    env = {
        "HOME": str(tmp_path),
        "OPENAI_API_KEY": "sk-user",
        "HTTPS_PROXY": "http://corp-proxy:3128",
        "http_proxy": "http://corp-proxy:3128",
    }
    args = ["-p", "fix it", "--yolo"]
    plan = qwen.plan("/bin/qwen", args, OURS, env)
    plan.remove_scratch()
    assert plan.argv == ["/bin/qwen", *args]  # arguments untouched: no --auth-type added
    assert plan.env["OPENAI_BASE_URL"] == OURS + "/v1"
    assert plan.env["ANTHROPIC_BASE_URL"] == OURS
    assert plan.env["OPENAI_API_KEY"] == "sk-user"
    assert not any(var in plan.env for var in qwen.PROXY_VARS)
    assert plan.notes == []
    assert plan.pointing_notes == [
        "HTTPS_PROXY, http_proxy cleared for qwen: it sends even loopback calls through a proxy"
    ]
    assert env["HTTPS_PROXY"] == "http://corp-proxy:3128"  # the caller's environment is not ours


def test_the_users_base_urls_become_upstreams(tmp_path, monkeypatch) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    repo.mkdir(parents=True)
    home.mkdir()
    (repo / ".env").write_text('ANTHROPIC_BASE_URL="https://gw.example/anthropic"\n')
    monkeypatch.chdir(repo)
    env = {"HOME": str(home), "OPENAI_BASE_URL": "http://llm:8000/v1/"}
    assert qwen.upstreams(env) == {
        "openai": "http://llm:8000/v1",
        "anthropic": "https://gw.example/anthropic",
    }
    plan = qwen.plan("/bin/qwen", ["-p", "hi"], OURS, env)
    plan.remove_scratch()
    assert plan.notes == [
        "OPENAI_BASE_URL was http://llm:8000/v1 (the environment): agentwrap forwards qwen's "
        "calls there",
        f"ANTHROPIC_BASE_URL was https://gw.example/anthropic (set in {repo / '.env'}): "
        "agentwrap forwards qwen's calls there",
    ]
    assert qwen.upstreams({"HOME": str(home), "OPENAI_BASE_URL": OURS + "/v1"}) == {
        "anthropic": "https://gw.example/anthropic"
    }


def test_what_takes_calls_past_agentwrap_is_named(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".qwen").mkdir()
    (tmp_path / ".qwen" / "settings.json").write_text(
        json.dumps(
            {
                "security": {"auth": {"selectedType": "qwen-oauth"}},
                "modelProviders": {
                    "openai": [{"id": "gpt-x", "baseUrl": "https://other.example/v1"}]
                },
            }
        )
    )
    env = {"HOME": str(tmp_path)}
    plan = qwen.plan("/bin/qwen", ["--openai-base-url", "http://x/v1"], OURS, env)
    plan.remove_scratch()
    notes = plan.notes
    assert len(notes) == 3 and all("NOT pass through agentwrap" in note for note in notes)
    assert "Qwen OAuth" in notes[0] and "gpt-x" in notes[1] and "--openai-base-url" in notes[2]
    # An API key chosen on the command line wins over the settings' OAuth.
    plan = qwen.plan("/bin/qwen", ["--auth-type", "openai"], OURS, env)
    plan.remove_scratch()
    assert not any("Qwen OAuth" in note for note in plan.notes)


def test_our_status_line_goes_in_a_copy_of_the_system_defaults(tmp_path) -> None:
    from agentwrap.statusline import statusline_command

    theirs = tmp_path / "system-defaults.json"
    theirs.write_text(json.dumps({"ui": {"theme": "dark"}, "general": {"vimMode": True}}))
    env = {"HOME": str(tmp_path), qwen.DEFAULTS_ENV: str(theirs)}
    plan = qwen.plan("/bin/qwen", [], OURS, env)
    copy = Path(plan.env[qwen.DEFAULTS_ENV])
    try:
        assert copy != theirs and plan.scratch == [copy.parent]
        assert json.loads(copy.read_text()) == {
            "ui": {
                "theme": "dark",
                "statusLine": {"type": "command", "command": statusline_command()},
            },
            "general": {"vimMode": True},
        }
    finally:
        plan.remove_scratch()
    assert not copy.parent.exists()
    assert json.loads(theirs.read_text()) == {"ui": {"theme": "dark"}, "general": {"vimMode": True}}
    # Defaults that already name a status line keep it; unreadable ones are not replaced.
    theirs.write_text(json.dumps({"ui": {"statusLine": {"type": "preset", "items": ["model"]}}}))
    plan = qwen.plan("/bin/qwen", [], OURS, env)
    kept = json.loads(Path(plan.env[qwen.DEFAULTS_ENV]).read_text())
    plan.remove_scratch()
    assert kept["ui"]["statusLine"] == {"type": "preset", "items": ["model"]}
    theirs.write_text("{not json")
    assert qwen.plan("/bin/qwen", [], OURS, env).env[qwen.DEFAULTS_ENV] == str(theirs)


@pytest.mark.parametrize(
    ("args", "batch"),
    [
        (["-p", "fix the tests"], True),
        (["--prompt=fix"], True),
        (["mcp", "list"], True),
        (["--version"], True),
        ([], False),
        (["--yolo"], False),
        (["-i", "fix it"], False),  # --prompt-interactive stays in its UI
    ],
)
def test_batch_invocations(args: list[str], batch: bool) -> None:
    assert qwen.is_batch(args) is batch

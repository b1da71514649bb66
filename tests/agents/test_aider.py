"""aider's agent module: its launch plan, its own base URLs kept, and its step markers.

The markers are checked on real requests aider 0.86.2 sent (tests/fixtures/aider/); the real
CLI through agentwrap is tests/e2e/test_aider.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentwrap.agents import aider, registry
from agentwrap.route.classify import classify, detect_agent
from agentwrap.wire.call import Call
from agentwrap.wire.surface import SURFACES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "aider"
FILES = sorted(FIXTURES.glob("*.json"))
OURS = "http://127.0.0.1:4567/s/secret"


def captured_call(record: dict) -> Call:
    """The Call the proxy would make of a captured request."""
    for surface in SURFACES.values():
        route = surface.match(record["method"], record["path"])
        if route is not None:
            return Call(
                route.surface, route.endpoint, record["body"], record["headers"], route.path_model
            )
    raise AssertionError(f"no API serves {record['path']}")


def test_aider_is_registered() -> None:
    assert registry.get("aider") is aider.AGENT
    assert aider.AGENT.registry == "pypi" and aider.AGENT.package == "aider-chat"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_captured_requests_get_their_step_kind(path: Path) -> None:
    record = json.loads(path.read_text())
    assert record["aider_version"] == aider.AGENT.tested
    call = captured_call(record)
    assert detect_agent(call) == "aider"
    step = aider.classify(call)
    assert step is not None and step.kind == record["label"], step
    assert step.evidence.startswith("aider system prompt: ")
    # The router reads the same markers when the session knows the agent.
    assert classify(call, "aider").kind == record["label"]


def test_every_kind_aider_has_was_captured() -> None:
    kinds = {json.loads(p.read_text())["label"] for p in FILES}
    assert kinds == {"implement", "plan", "explore", "compact", "background"}


def test_a_request_without_an_aider_prompt_is_not_aiders() -> None:
    call = Call(
        "openai-chat",
        "chat",
        {"model": "m", "messages": [{"role": "system", "content": "You are a helpful bot."}]},
    )
    assert aider.classify(call) is None and not aider.detect(call)


def test_plan_points_every_litellm_variable_at_us_and_keeps_arguments(tmp_path) -> None:
    env = {"HOME": str(tmp_path), "OPENAI_API_KEY": "sk-user"}
    args = ["--model", "sonnet", "--message", "fix it", "app.py"]
    plan = aider.plan("/bin/aider", args, OURS, env)
    # Our settings travel in aider's environment form of --set-env, not on its command line.
    assert plan.argv == ["/bin/aider", *args]
    assert plan.env["AIDER_SET_ENV"] == (
        f"[OPENAI_BASE_URL={OURS}/v1, OPENAI_API_BASE={OURS}/v1, ANTHROPIC_API_BASE={OURS}, "
        f"ANTHROPIC_BASE_URL={OURS}, GEMINI_API_BASE={OURS}/v1beta]"
    )
    assert plan.env["OPENAI_API_BASE"] == f"{OURS}/v1" and plan.env["OPENAI_API_KEY"] == "sk-user"
    assert "127.0.0.1" in plan.env["NO_PROXY"] and plan.notes == [] and plan.scratch == []


def test_the_users_own_set_env_options_join_ours_in_the_environment(tmp_path) -> None:
    args = ["--set-env", "FOO=1", "--set-env=BAR=2", "--message", "hi"]
    plan = aider.plan("/bin/aider", args, OURS, {"HOME": str(tmp_path)})
    assert plan.argv == ["/bin/aider", "--message", "hi"]
    assert plan.env["AIDER_SET_ENV"].endswith(f"GEMINI_API_BASE={OURS}/v1beta, FOO=1, BAR=2]")
    assert plan.notes == []
    # aider splits the variable at commas: such a value stays where it was, and a note says so.
    kept = aider.plan("/bin/aider", ["--set-env", "LIST=a,b"], OURS, {"HOME": str(tmp_path)})
    assert kept.argv == ["/bin/aider", "--set-env", "LIST=a,b"]
    assert any("comma" in note for note in kept.notes)


def test_the_users_base_urls_become_upstreams(tmp_path) -> None:
    home = tmp_path / "home"
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    home.mkdir()
    (home / ".env").write_text("ANTHROPIC_API_BASE=https://gw.example/anthropic/v1/messages\n")
    (repo / ".env").write_text(
        '# the team gateway\nexport GEMINI_API_BASE="https://gw.example/g/v1beta"\n'
    )
    env = {"HOME": str(home), "OPENAI_API_BASE": "http://localhost:8000/v1/"}
    found = aider.own_endpoints(env, cwd=repo)
    assert found == {
        "openai": ("OPENAI_API_BASE", "http://localhost:8000/v1"),
        "anthropic": ("ANTHROPIC_API_BASE", "https://gw.example/anthropic"),
        "gemini": ("GEMINI_API_BASE", "https://gw.example/g"),
    }
    # --openai-api-base on the command line wins, as in aider.
    by_arg = aider.own_endpoints(env, ["--openai-api-base=http://other:9/v1"], cwd=repo)
    assert by_arg["openai"] == ("OPENAI_API_BASE", "http://other:9/v1")
    # A nested agentwrap's own URL is never an upstream.
    assert aider.own_endpoints({"HOME": str(home), "OPENAI_BASE_URL": OURS + "/v1"}, cwd=home) == {
        "anthropic": ("ANTHROPIC_API_BASE", "https://gw.example/anthropic")
    }


def test_agent_upstreams_join_environment_and_arguments(tmp_path) -> None:
    env = {"HOME": str(tmp_path), "OPENAI_BASE_URL": "http://local:1234/v1"}
    assert aider.AGENT.own_upstreams(env, []) == {"openai": "http://local:1234/v1"}
    # OPENAI_BASE_URL is read before OPENAI_API_BASE (which --openai-api-base sets), as LiteLLM does.
    assert aider.AGENT.own_upstreams(env, ["--openai-api-base", "http://x/v1"]) == {
        "openai": "http://local:1234/v1"
    }
    assert aider.AGENT.own_upstreams(
        {"HOME": str(tmp_path)}, ["--openai-api-base", "http://x/v1"]
    ) == {"openai": "http://x/v1"}


@pytest.mark.parametrize(
    ("args", "batch"),
    [
        (["--message", "hi"], True),
        (["-m", "hi"], True),
        (["--message-file=task.md"], True),
        (["--commit"], True),
        (["--model", "sonnet", "app.py"], False),
        ([], False),
    ],
)
def test_batch_invocations(args: list[str], batch: bool) -> None:
    assert aider.is_batch(args) is batch

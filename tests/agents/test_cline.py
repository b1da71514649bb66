"""Cline's agent module: its scratch providers file, its own base URLs kept, its markers.

The markers are checked on real requests Cline 3.0.65 sent (tests/fixtures/cline/); the real
CLI through agentwrap is tests/e2e/test_cline.py.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from agentwrap.agents import cline, registry
from agentwrap.route.classify import detect_agent
from tests.agents.test_aider import captured_call

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cline"
FILES = sorted(FIXTURES.glob("*.json"))
OURS = "http://127.0.0.1:4567/s/secret"

USER_SETTINGS = {
    "version": 1,
    "lastUsedProvider": "anthropic",
    "providers": {
        "anthropic": {
            "settings": {
                "provider": "anthropic",
                "apiKey": "sk-ant-user",
                "model": "claude-sonnet-4-6",
                "baseUrl": "https://gw.example/anthropic/v1",
            },
            "tokenSource": "manual",
        },
        "openrouter": {"settings": {"provider": "openrouter", "apiKey": "or-key"}},
    },
}


def write_user_settings(home: Path, doc: dict) -> Path:
    path = home / ".cline" / "data" / "settings" / "providers.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc))
    return path


def test_cline_is_registered() -> None:
    assert registry.get("cline") is cline.AGENT and cline.AGENT.package == "cline"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_captured_requests_get_their_step_kind(path: Path) -> None:
    record = json.loads(path.read_text())
    assert record["cline_version"] == cline.AGENT.tested
    call = captured_call(record)
    assert detect_agent(call) == "cline"
    step = cline.classify(call)
    assert step is not None and step.kind == record["label"] and step.matched, step


def test_plan_hands_cline_a_scratch_copy_pointed_at_us(tmp_path) -> None:
    user_file = write_user_settings(tmp_path, USER_SETTINGS)
    before = user_file.read_text()
    env = {"HOME": str(tmp_path)}
    plan = cline.plan("/bin/cline", ["-m", "x", "fix it"], OURS, env)
    try:
        assert plan.argv == ["/bin/cline", "-m", "x", "fix it"]  # arguments untouched
        copy = Path(plan.env[cline.SETTINGS_ENV])
        assert plan.scratch == [copy.parent] and copy.parent != user_file.parent
        assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        doc = json.loads(copy.read_text())
        anthropic = doc["providers"]["anthropic"]["settings"]
        assert anthropic["baseUrl"] == OURS + "/v1" and anthropic["apiKey"] == "sk-ant-user"
        assert "baseUrl" not in doc["providers"]["openrouter"]["settings"]  # not ours to carry
        assert doc["lastUsedProvider"] == "anthropic"
        assert plan.env[cline.BACKEND_ENV] == "local"  # no hub daemon outlives the run
        assert plan.notes == [
            "Cline's anthropic provider had baseUrl https://gw.example/anthropic: agentwrap "
            "forwards its calls there"
        ]
    finally:
        plan.remove_scratch()
    assert not copy.exists() and user_file.read_text() == before  # the user's file untouched


def test_upstreams_come_from_the_file_the_arguments_select(tmp_path) -> None:
    write_user_settings(tmp_path, USER_SETTINGS)
    env = {"HOME": str(tmp_path)}
    assert cline.upstreams(env) == {"anthropic": "https://gw.example/anthropic"}
    other = tmp_path / "elsewhere"
    (other / "settings").mkdir(parents=True)
    (other / "settings" / "providers.json").write_text(
        json.dumps(
            {
                "providers": {
                    "openai": {"settings": {"provider": "openai", "baseUrl": "http://llm:8000/v1/"}}
                }
            }
        )
    )
    assert cline.AGENT.own_upstreams(env, ["--data-dir", str(other), "hi"]) == {
        "anthropic": "https://gw.example/anthropic",
        "openai": "http://llm:8000/v1",
    }
    ours = {"providers": {"anthropic": {"settings": {"provider": "anthropic", "baseUrl": OURS}}}}
    assert cline.own_endpoints(ours) == {}  # a nested agentwrap's own URL is never an upstream


def test_a_provider_agentwrap_cannot_carry_is_named(tmp_path) -> None:
    write_user_settings(tmp_path, {"lastUsedProvider": "cline", "providers": {}})
    plan = cline.plan("/bin/cline", ["hi"], OURS, {"HOME": str(tmp_path)})
    plan.remove_scratch()
    assert any("provider 'cline'" in note and "NOT" in note for note in plan.notes)
    plan = cline.plan("/bin/cline", ["-P", "anthropic", "hi"], OURS, {"HOME": str(tmp_path)})
    plan.remove_scratch()
    assert plan.notes == []


@pytest.mark.parametrize(
    ("args", "batch"),
    [
        (["fix the tests"], True),
        (["-m", "claude-sonnet-4-6", "fix it"], True),
        (["-m", "claude-sonnet-4-6"], False),
        (["-i", "fix it"], False),
        ([], False),
        (["--version"], True),
    ],
)
def test_batch_invocations(args: list[str], batch: bool) -> None:
    assert cline.is_batch(args) is batch

"""Learned routing through `agentwrap serve`: decisions read the store's evidence, every call
records its propensity, and each labelled step is counted in the store."""

from __future__ import annotations

from pathlib import Path

import anthropic

from agentwrap import paths
from agentwrap.fakes.anthropic import FakeAnthropic, Reply, ToolUse
from agentwrap.route.learn import ArmKey, Tally
from agentwrap.trace.store import TraceStore
from tests.proxy.conftest import running_serve, wait_calls

PROFILE = """
[providers.anthropic]
api = "anthropic"
base_url = "{url}"

[models.small]
provider = "anthropic"
model = "claude-haiku-4-5"

[models.big]
provider = "anthropic"
model = "claude-opus-4-6"

[routing]
implement = {{ use = "auto", candidates = ["small", "big"], max_failure_rate = 0.1, explore = {explore} }}
"""

TOOLS = [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}]
BASH = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}


def _session(url: str, first_fails: bool) -> None:
    """Three steps of one conversation: two tool calls, then the final answer."""
    client = anthropic.Anthropic(
        base_url=url,
        api_key="k",
        max_retries=0,
        default_headers={"x-claude-code-session-id": "conv-1"},
    )
    history: list[dict] = [{"role": "user", "content": "look around"}]
    for is_error in (None, first_fails, False):
        if is_error is not None:
            history += [
                {"role": "assistant", "content": [BASH]},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": "no such file" if is_error else "a.txt",
                            "is_error": is_error,
                        }
                    ],
                },
            ]
        client.messages.create(
            model="claude-opus-4-6", max_tokens=300, tools=TOOLS, messages=history
        )


def _replies() -> list[Reply | str]:
    return [Reply([ToolUse("Bash", {"command": "ls"})]), Reply([ToolUse("Bash", {})]), "done"]


def _profile(tmp_path: Path, url: str, explore: float) -> str:
    path = tmp_path / "p.toml"
    path.write_text(PROFILE.format(url=url, explore=explore))
    return str(path)


def test_labelled_steps_are_counted_in_the_store_and_every_call_has_a_propensity(
    agentwrap_bin, tmp_path
):
    with FakeAnthropic(_replies()) as fake:
        profile = _profile(tmp_path, fake.base_url, 0)
        with running_serve(agentwrap_bin, fake.base_url, "--profile", profile) as url:
            _session(url, first_fails=True)
            calls = wait_calls(3)
    # Nothing known yet: the last candidate, with certainty (explore = 0).
    assert [c["model"] for c in calls] == ["claude-opus-4-6"] * 3
    assert [c["propensity"] for c in calls] == [1.0, 1.0, 1.0]
    assert [c["outcome"] for c in calls] == ["failed", "succeeded", None]
    assert "auto: none credibly within 10% → big, the last candidate" in calls[0]["reason"]
    store = TraceStore(paths.trace_db())
    try:
        evidence = store.evidence()
    finally:
        store.close()
    assert dict(evidence) == {
        ArmKey("claude", "implement", "claude-opus-4-6"): Tally(1, 1, labelled=2)
    }


def test_decisions_read_what_earlier_sessions_learned(agentwrap_bin, tmp_path):
    store = TraceStore(paths.trace_db())
    try:
        store.merge_evidence(
            [(ArmKey("claude", "implement", "claude-haiku-4-5"), Tally(300, 3, labelled=303))]
        )
    finally:
        store.close()
    with FakeAnthropic(_replies()) as fake:
        profile = _profile(tmp_path, fake.base_url, 0.2)
        # Seed 0's first draw (0.84) is past the 20% exploration: the first call exploits.
        seeded = {"AGENTWRAP_EXPLORE_SEED": "0"}
        with running_serve(agentwrap_bin, fake.base_url, "--profile", profile, env=seeded) as url:
            _session(url, first_fails=False)
            calls = wait_calls(3)
        sent = [r.body["model"] for r in fake.message_requests]
    assert [c["model"] for c in calls] == sent
    for call in calls:
        # small is credibly within 10%: it is the choice (0.8); big is explored (0.2).
        expected = 0.8 if call["model"] == "claude-haiku-4-5" else 0.2
        assert call["propensity"] == expected
    first = calls[0]
    assert first["model"] == "claude-haiku-4-5"
    assert "auto: small: 1.0% failures (≤ 2.5%, 303 steps) within 10%" in first["reason"]
    store = TraceStore(paths.trace_db())
    try:
        tally = store.evidence().tally("claude", "implement", "claude-haiku-4-5")
    finally:
        store.close()
    haiku_steps = sum(c["model"] == "claude-haiku-4-5" for c in calls[:2])
    assert tally.labelled == 303 + haiku_steps

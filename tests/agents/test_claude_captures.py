"""The classifier on requests made by the real Claude Code CLI (tests/fixtures/claude/*.json).

Each capture is {"headers", "body", "label", ...} recorded from Claude Code 2.1.197 against a
local upstream; the label is the step the scenario drove (Explore agent, plan mode, /compact...).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentwrap.route.classify import classify, detect_agent
from agentwrap.route.decide import decide
from agentwrap.route.profile import REQUESTED, load_profile
from agentwrap.wire.call import Call

CAPTURES = sorted((Path(__file__).parent.parent / "fixtures" / "claude").glob("*.json"))


def load_call(path: Path) -> tuple[Call, str]:
    capture = json.loads(path.read_text())
    headers = {k.lower(): v for k, v in capture["headers"].items()}
    endpoint = "count_tokens" if "count_tokens" in capture.get("path", "") else "messages"
    return Call("anthropic", endpoint, capture["body"], headers), capture["label"]


def test_captures_exist_for_every_step_kind() -> None:
    labels = {load_call(p)[1] for p in CAPTURES}
    assert {"plan", "explore", "implement", "subagent", "background", "compact", "search"} <= labels


@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_classifier_agrees_with_the_capture_label(path: Path) -> None:
    call, label = load_call(path)
    assert detect_agent(call) == "claude"
    step = classify(call)
    assert step.kind == label, step.evidence
    assert step.matched, f"matched only the default: {step.evidence}"
    assert step.evidence.endswith(f"→ {label}") or f"→ {label} (" in step.evidence


@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_balanced_decisions_on_real_requests(path: Path) -> None:
    profile = load_profile(explicit="balanced", env={}, translation=False)
    call, label = load_call(path)
    decision = decide(profile, call, classify(call), None)
    routed = decision.target.alias or REQUESTED  # the requested model has no alias of its own
    assert routed == profile.routing[label] or decision.rule.startswith("rule ")
    assert decision.target.provider.api == "anthropic"
    assert decision.baseline_model == call.model

"""The classifier on fresh requests from the installed Claude Code (real CLI, local upstream).

The committed captures (test_claude_captures.py) pin the wire of 2.1.197; this reruns the
capture scenarios live, so an upgrade of the CLI that the classifier no longer understands
fails here with the evidence of what it saw.
"""

from __future__ import annotations

import json
import shutil

import pytest

from agentwrap.route.classify import classify
from agentwrap.wire.call import Call
from tests.e2e.capture_claude import SCENARIOS, capture
from tests.support.claude_env import require_claude

INTERACTIVE = {"interactive", "interactive-compact", "plan-mode-toggled"}


def _params() -> list:
    out = []
    for name in SCENARIOS:
        marks = [pytest.mark.e2e] + ([pytest.mark.tmux] if name in INTERACTIVE else [])
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", _params())
def test_classifier_on_live_requests(name: str) -> None:
    require_claude()
    if name in INTERACTIVE and shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    captured = capture(SCENARIOS[name])
    assert captured, f"scenario {name} chose no request"
    for chosen, text in captured:
        live = json.loads(text)
        headers = {k.lower(): v for k, v in live["headers"].items()}
        step = classify(Call("anthropic", "messages", live["body"], headers))
        assert (step.kind, step.matched) == (chosen.label, True), f"{name}: {step.evidence}"

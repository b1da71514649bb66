"""Fresh captures from the installed Claude Code still show the markers of the committed ones.

Reruns the capture scenarios of tests/e2e/capture_claude.py live (real CLI, fake upstream),
and compares each chosen request's markers with those of its committed fixture. When this
fails after a Claude Code upgrade, the wire changed: rerun the capture script, review the
diff of tests/fixtures/claude/, and update the classifier's hints.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.e2e.capture_claude import FIXTURES, SCENARIOS, capture
from tests.support.claude_env import require_claude
from tests.support.claude_markers import markers, missing_for

INTERACTIVE = {"interactive", "plan-mode-toggled"}


def _params() -> list:
    params = []
    for name in SCENARIOS:
        marks = [pytest.mark.e2e]
        if name in INTERACTIVE:
            marks.append(pytest.mark.tmux)
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", _params())
def test_live_capture_matches_the_committed_markers(name: str) -> None:
    require_claude()
    if name in INTERACTIVE and shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    captured = capture(SCENARIOS[name])
    assert captured, f"scenario {name} chose no request"
    for chosen, text in captured:
        live = json.loads(text)
        label = chosen.label
        assert missing_for(label, live["headers"], live["body"]) == [], (
            f"{name}: the live {label} request lacks its step kind's markers"
        )
        committed = json.loads((FIXTURES / f"{label}-{name}.json").read_text())
        now = markers(live["headers"], live["body"])
        then = markers(committed["headers"], committed["body"])
        assert now == then, (
            f"{name}/{label}: Claude Code's wire changed (new: {sorted(now - then)}, "
            f"gone: {sorted(then - now)}); rerun tests/e2e/capture_claude.py"
        )

"""Fresh captures from the installed Claude Code still show the markers of the committed ones,
and the classifier still reads them.

Reruns the capture scenarios of tests/e2e/capture_claude.py live (real CLI, fake upstream),
once each: every chosen request's markers are compared with those of its committed fixture,
and the classifier must give it its step kind. When this fails after a Claude Code upgrade,
the wire changed: rerun the capture script, review the diff of tests/fixtures/claude/, and
update the classifier's hints.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from agentwrap.fakes.anthropic import FakeAnthropic
from agentwrap.route.classify import classify
from agentwrap.wire.call import Call
from tests.e2e.capture_claude import FIXTURES, SCENARIOS, capture
from tests.support.claude_env import (
    INTERACTIVE_READY,
    TITLE_CALLS_PER_PROMPT,
    TmuxPane,
    is_title_request,
    make_claude_env,
    require_claude,
)
from tests.support.claude_markers import markers, missing_for

INTERACTIVE = {"interactive", "interactive-compact", "plan-mode-toggled"}


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
def test_live_capture_matches_the_committed_markers_and_classifies(name: str) -> None:
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
        headers = {k.lower(): v for k, v in live["headers"].items()}
        step = classify(Call("anthropic", "messages", live["body"], headers))
        assert (step.kind, step.matched) == (label, True), f"{name}: {step.evidence}"


def test_print_mode_runs_offline_against_the_fake(tmp_path) -> None:
    """The documented offline set-up: `claude -p` gets the fake's reply, nothing else is sent."""
    with FakeAnthropic(["Hello from the fake upstream."]) as fake:
        ce = make_claude_env(tmp_path, fake.base_url)
        done = ce.run("-p", "hi")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Hello from the fake upstream."
    (request,) = fake.message_requests
    assert request.path == "/v1/messages?beta=true"
    assert request.headers["x-api-key"] == ce.api_key
    # Besides the call itself, at most a warm-up HEAD of the base URL.
    others = [(r.method, r.path) for r in fake.requests if r.endpoint != "messages"]
    assert all(method == "HEAD" for method, _ in others), others


@pytest.mark.tmux
@pytest.mark.parametrize(
    "exit_keys", [["/exit"], ["C-d", "C-d"]], ids=["slash-exit", "ctrl-d-twice"]
)
def test_interactive_mode_in_tmux_without_dialogs(tmp_path, exit_keys: list[str]) -> None:
    """Interactive: no first-run dialog, a typed prompt gets the reply, and a clean exit."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")

    def answer(body: dict, headers: dict) -> str:
        return '{"title": "Greeting"}' if is_title_request(body) else "Hi from the fake upstream."

    with FakeAnthropic(answer) as fake:
        ce = make_claude_env(tmp_path, fake.base_url)
        pane = TmuxPane(f"claude-env-{os.getpid()}-{exit_keys[0].strip('/')}")
        try:
            pane.start(ce.command(), ce.env, ce.cwd)
            pane.wait_for(*INTERACTIVE_READY, timeout=60)
            pane.submit("hello there")
            pane.wait_for("Hi from the fake upstream.", timeout=60)
            for key in exit_keys:
                if key.startswith("/"):
                    pane.submit(key)
                else:
                    pane.press(key)
                    time.sleep(0.3)
            screen = pane.wait_for("[exited", timeout=30)
        finally:
            pane.kill()
    assert "[exited 0]" in screen
    bodies = [r.body for r in fake.message_requests]
    assert sum(is_title_request(b) for b in bodies) == TITLE_CALLS_PER_PROMPT
    assert sum(not is_title_request(b) for b in bodies) == 1

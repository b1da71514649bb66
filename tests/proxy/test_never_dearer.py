"""Routes up are not silent: a session whose profile routes to a model dearer than the one the
agent asked for keeps the requested model, and its summary says so once, with the remedy."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anthropic

from agentwrap import paths
from agentwrap.fakes.anthropic import FakeAnthropic
from agentwrap.summary import summary_json
from agentwrap.trace.store import TraceStore
from tests.conftest import subprocess_env

PROFILE = """
[providers.anthropic]
api = "anthropic"
base_url = "{url}"

[models.opus]
provider = "anthropic"
model = "claude-opus-4-6"

[routing]
default = "opus"
{rules}
"""

ESCALATE = '\n[[rules]]\nname = "hard"\nuse = "opus"\nescalate = true\n'

# The wrapped command: it tells the test the base URL agentwrap gave it, and waits while the
# test makes the agent's two calls there with the official SDK, already imported in this
# process (importing it in the command costs more than the rest of the session).
COMMAND = """
import os, pathlib, sys, time
here = pathlib.Path(sys.argv[1])
(here / "url.part").write_text(os.environ["ANTHROPIC_BASE_URL"])
os.replace(here / "url.part", here / "url")
while not (here / "done").exists():
    time.sleep(0.02)
"""


def _agent_calls(base_url: str) -> None:
    """The agent's two calls, asking for Haiku."""
    client = anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0)
    for text in ("one", "two"):
        client.messages.create(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": text}]
        )


def _run(agentwrap_bin: str, tmp_path: Path, rules: str) -> tuple[str, list[str]]:
    """One session through `agentwrap run`: its stderr, and the models the provider was sent."""
    with FakeAnthropic(["first", "second"]) as fake:
        profile = tmp_path / "p.toml"
        profile.write_text(PROFILE.format(url=fake.base_url, rules=rules))
        proc = subprocess.Popen(
            [agentwrap_bin, "run", "--panel", "off", "--profile", str(profile), "--"]
            + [sys.executable, "-c", COMMAND, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
        )
        try:
            _agent_calls(_wait_for_url(tmp_path / "url", proc))
        finally:
            (tmp_path / "done").touch()
            _, err = proc.communicate(timeout=120)
        sent = [r.body["model"] for r in fake.message_requests]
    assert proc.returncode == 0, err
    return err, sent


def _wait_for_url(path: Path, proc: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the command never started"
        time.sleep(0.02)
    return path.read_text()


def test_a_session_kept_on_the_requested_model_says_so_once_with_the_remedy(
    agentwrap_bin: str, tmp_path: Path
) -> None:
    err, sent = _run(agentwrap_bin, tmp_path, "")
    assert sent == ["claude-haiku-4-5", "claude-haiku-4-5"]
    line = (
        "never dearer: 2 calls stayed on claude-haiku-4-5, the model the agent asked for: "
        "routing.default sends them to opus (claude-opus-4-6), which costs more; to allow it, "
        'add a [[rules]] entry with use = "opus", escalate = true'
    )
    # Once for the session, not once per call; the summary prints each line of facts whole.
    assert err.count("never dearer") == 1 and line in err, err
    store = TraceStore(paths.trace_db())
    try:
        session_id = store.sessions(limit=1)[0]["id"]
        reasons = [c["reason"] for c in store.calls(session_id)]
        doc = summary_json(store, session_id)
    finally:
        store.close()
    # Each call's reason names the entry that asked for the dearer model and the remedy.
    assert all(
        "never dearer: kept the requested model claude-haiku-4-5: routing.default sends this "
        "step to opus (claude-opus-4-6 on anthropic), which costs more (~$" in r
        for r in reasons
    ), reasons
    assert json.loads(json.dumps(doc["held_back"])) == [
        {
            "where": "routing.default",
            "alias": "opus",
            "model": "claude-opus-4-6",
            "requested": "claude-haiku-4-5",
            "calls": 2,
            "remedy": 'to allow it, add a [[rules]] entry with use = "opus", escalate = true',
        }
    ]


def test_an_escalation_by_name_goes_up_and_the_summary_says_nothing_of_it(
    agentwrap_bin: str, tmp_path: Path
) -> None:
    err, sent = _run(agentwrap_bin, tmp_path, ESCALATE)
    assert sent == ["claude-opus-4-6", "claude-opus-4-6"]
    assert "never dearer" not in err and "agentwrap ·" in err

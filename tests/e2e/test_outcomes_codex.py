"""Codex CLI's steps labelled from its own traffic: a shell call that fails, one that succeeds."""

from __future__ import annotations

from agentwrap.fakes.provider import Call, FakeProvider, Reply
from tests.e2e.test_codex import OPENAI_PROFILE, run_codex
from tests.support.agent_cli import calls_of, sessions
from tests.support.codex_env import CLASSIC_MODEL, make_codex_env


def test_a_failing_and_a_succeeding_shell_call_are_labelled(tmp_path):
    script = [
        Reply(tool_calls=[Call("exec_command", {"cmd": "ls /no/such/dir"}, id="call_a")]),
        Reply(tool_calls=[Call("exec_command", {"cmd": "ls"}, id="call_b")]),
        Reply(text="The repository holds README.md and app.py."),
    ]
    with FakeProvider("openai-responses", script) as fake:
        ce = make_codex_env(tmp_path)
        (ce.cwd / ".agentwrap.toml").write_text(OPENAI_PROFILE.format(url=fake.base_url))
        done = run_codex(ce, "exec", "-m", CLASSIC_MODEL, "list the files")
    assert done.returncode == 0, done.stderr
    (sess,) = sessions()
    calls = calls_of(sess["id"])
    assert [c["step"] for c in calls] == ["implement"] * 3
    assert [c["stop_reason"] for c in calls] == ["tool_use", "tool_use", "end_turn"]
    assert [c["outcome"] for c in calls] == ["failed", "succeeded", None]
    # Codex's own words for a failing command: "Process exited with code 2", then the output.
    assert calls[0]["outcome_evidence"] == "exec_command failed: exit code 2"
    assert calls[1]["outcome_evidence"] == "1 tool result(s), none failed"
    assert all(c["signals"] == [] for c in calls)
    # One conversation, named by Codex's session id.
    assert len({c["thread_id"] for c in calls}) == 1 and calls[0]["thread_id"]

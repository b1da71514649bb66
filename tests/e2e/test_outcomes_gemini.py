"""Gemini CLI's steps labelled from its own traffic: a tool that fails, one that succeeds."""

from __future__ import annotations

from agentwrap.fakes.provider import Call, FakeProvider, Reply
from tests.e2e.test_gemini_cli import GEMINI_PROFILE, gemini_script, run_gemini
from tests.support.agent_cli import calls_of, sessions
from tests.support.gemini_env import make_gemini_env


def test_a_failing_tool_and_a_failing_shell_command_are_labelled(tmp_path):
    script = gemini_script(
        Reply(tool_calls=[Call("read_file", {"file_path": "nope.txt"})]),
        Reply(tool_calls=[Call("run_shell_command", {"command": "ls /no/such/dir"})]),
        Reply(tool_calls=[Call("list_directory", {"dir_path": "."})]),
        Reply(text="The repository holds README.md and app.py."),
    )
    with FakeProvider("gemini", script) as fake:
        ge = make_gemini_env(tmp_path)
        (ge.cwd / ".agentwrap.toml").write_text(GEMINI_PROFILE.format(url=fake.base_url))
        done = run_gemini(ge, "-p", "read nope.txt", "--yolo")
    assert done.returncode == 0, done.stderr
    (sess,) = sessions()
    calls = [c for c in calls_of(sess["id"]) if c["step"] == "implement"]
    assert [c["outcome"] for c in calls] == ["failed", "failed", "succeeded", None]
    # Gemini CLI's error response: {"error": "..."} in the functionResponse.
    missing = f"read_file failed: File not found: {ge.cwd / 'nope.txt'}"
    assert calls[0]["outcome_evidence"] == missing
    # Its shell tool writes the exit code into the output.
    assert calls[1]["outcome_evidence"] == "run_shell_command failed: exit code 2"
    assert calls[2]["outcome_evidence"] == "1 tool result(s), none failed"
    # Gemini CLI names no conversation: its first message does, the same for every step.
    assert len({c["thread_id"] for c in calls}) == 1
    assert calls[0]["thread_id"].startswith("first-message-")

"""`agentwrap claude` with the real Claude Code CLI against a local fake Anthropic upstream."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agentwrap import paths
from agentwrap.fakes.anthropic import FakeAnthropic, Reply
from agentwrap.trace.store import TraceStore
from tests.support.claude_env import TmuxPane, is_title_request, make_claude_env

REPLY = "Hello from the fake upstream, through agentwrap."


def answer(body, headers):
    if is_title_request(body):
        return Reply('{"title": "Greeting"}', input_tokens=50, output_tokens=6)
    return Reply(REPLY, input_tokens=2400, output_tokens=15, cache_read_input_tokens=1000)


def agentwrap_exe() -> str:
    return str(Path(sys.executable).parent / "agentwrap")


def sessions() -> list[dict]:
    if not paths.trace_db().exists():
        return []
    store = TraceStore(paths.trace_db())
    try:
        return store.sessions(100)
    finally:
        store.close()


def calls_of(session_id: str) -> list[dict]:
    store = TraceStore(paths.trace_db())
    try:
        return store.calls(session_id)
    finally:
        store.close()


def test_claude_print_mode_through_agentwrap(tmp_path):
    with FakeAnthropic(answer) as fake:
        # The user's own ANTHROPIC_BASE_URL (a gateway) becomes agentwrap's upstream.
        ce = make_claude_env(tmp_path, base_url=fake.base_url)
        ce.env["AGENTWRAP_CLAUDE_BIN"] = str(ce.binary)
        done = subprocess.run(
            [agentwrap_exe(), "claude", "-p", "say hello"],
            cwd=ce.cwd,
            env=ce.env,
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        assert REPLY in done.stdout
        assert done.stdout.strip() == REPLY  # stdout stays the agent's alone
        msgs = fake.message_requests
        assert msgs, "no call reached the upstream"
        assert all(
            r.headers.get("x-api-key") == ce.api_key for r in msgs
        )  # credentials passed through
        assert all("/s/" not in r.path for r in msgs)
    (sess,) = sessions()
    assert sess["agent"] == "claude" and sess["exit_code"] == 0 and sess["ended_at"]
    assert sess["argv"] == ["claude", "-p", "say hello"]
    calls = calls_of(sess["id"])
    assert len(calls) == len(msgs)
    main = [c for c in calls if c["input_tokens"] == 2400]
    assert main and main[0]["status"] == "ok" and main[0]["streamed"] == 1
    assert main[0]["output_tokens"] == 15 and main[0]["cache_read_tokens"] == 1000
    assert main[0]["cost_usd"] and main[0]["cost_usd"] > 0
    # The summary went to stderr, with the session id and where to look next.
    assert sess["id"] in done.stderr and "agentwrap log" in done.stderr
    assert ce.api_key not in json.dumps(calls) + json.dumps(sess)


def test_claude_missing_is_a_clear_error_with_exit_127(tmp_path):
    env = dict(os.environ)
    env["PATH"] = str(tmp_path)  # no claude here
    env.pop("AGENTWRAP_CLAUDE_BIN", None)
    done = subprocess.run(
        [agentwrap_exe(), "claude", "-p", "hi"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 127
    assert "npm install -g @anthropic-ai/claude-code" in done.stderr
    assert "Traceback" not in done.stderr
    assert sessions() == []  # nothing recorded as if it ran


def test_run_passes_exit_code_and_env(tmp_path):
    out = tmp_path / "env.json"
    code = f"import json,os,sys; json.dump(dict(os.environ), open({str(out)!r},'w')); sys.exit(7)"
    done = subprocess.run(
        [agentwrap_exe(), "run", "--quiet", "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 7, done.stderr
    env = json.loads(out.read_text())
    assert (
        env["ANTHROPIC_BASE_URL"].startswith("http://127.0.0.1:")
        and "/s/" in env["ANTHROPIC_BASE_URL"]
    )
    assert env["OPENAI_BASE_URL"] == env["ANTHROPIC_BASE_URL"] + "/v1"
    assert "127.0.0.1" in env["NO_PROXY"].split(",")
    (sess,) = sessions()
    assert sess["exit_code"] == 7 and sess["id"] == env["AGENTWRAP_SESSION_ID"]


def test_sigterm_reaches_the_agent_and_the_session_is_closed(tmp_path):
    ready = tmp_path / "ready"
    code = (
        "import signal,sys,time,pathlib\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
        f"pathlib.Path({str(ready)!r}).write_text('1')\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [agentwrap_exe(), "run", "--quiet", "--", sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 42  # the agent's own exit code
    (sess,) = sessions()
    assert sess["exit_code"] == 42 and sess["ended_at"] is not None


def test_bedrock_mode_is_announced(tmp_path):
    with FakeAnthropic(answer) as fake:
        ce = make_claude_env(tmp_path, base_url=fake.base_url)
        fake_claude = tmp_path / "claude"
        fake_claude.write_text("#!/bin/sh\nexit 0\n")
        fake_claude.chmod(0o755)
        ce.env["AGENTWRAP_CLAUDE_BIN"] = str(fake_claude)
        ce.env["CLAUDE_CODE_USE_BEDROCK"] = "1"
        done = subprocess.run(
            [agentwrap_exe(), "claude", "-p", "x"],
            env=ce.env,
            cwd=ce.cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0
    assert "NOT pass through agentwrap" in done.stderr and "Bedrock" in done.stderr


@pytest.mark.tmux
def test_interactive_claude_in_tmux(tmp_path):
    with FakeAnthropic(answer) as fake:
        ce = make_claude_env(tmp_path, base_url=fake.base_url)
        ce.env["AGENTWRAP_CLAUDE_BIN"] = str(ce.binary)
        ce.env["AGENTWRAP_PANEL"] = "off"
        pane = TmuxPane(f"aw-int-{os.getpid()}", width=120, height=40)
        pane.start([agentwrap_exe(), "claude"], ce.env, ce.cwd)
        try:
            # agentwrap's statusline takes the place of the shortcuts hint under the prompt.
            pane.wait_for("agentwrap: no calls yet", timeout=60)
            pane.submit("hello there")
            pane.wait_for("Hello from the fake upstream", timeout=60)
            # After the reply, the statusline names the model that handled the step, and its cost.
            status = pane.wait_for("claude-opus", "claude-sonnet", timeout=30)
            assert "$" in status.splitlines()[-1] or "$" in status
            pane.submit("/exit")
            screen = pane.wait_for("[exited 0]", timeout=60)
        finally:
            pane.kill()
    assert "agentwrap log" in screen  # the summary was printed after the agent exited
    (sess,) = sessions()
    calls = calls_of(sess["id"])
    assert any(c["input_tokens"] == 2400 and c["status"] == "ok" for c in calls)


@pytest.mark.tmux
def test_panel_opens_in_a_tmux_split_and_shows_the_new_call(tmp_path):
    with FakeAnthropic(answer) as fake:
        ce = make_claude_env(tmp_path, base_url=fake.base_url)
        ce.env["AGENTWRAP_CLAUDE_BIN"] = str(ce.binary)
        # Wide enough that the panel's pane (38% of it) shows each call's tokens.
        pane = TmuxPane(f"aw-panel-{os.getpid()}", width=240, height=50)
        # The pane's command starts from a clean env; give it what tmux gives its panes.
        tmpdir = os.environ.get("TMUX_TMPDIR", "/tmp")
        ce.env["TMUX"] = f"{tmpdir}/tmux-{os.getuid()}/{pane.socket},0,0"
        ce.env["TMUX_PANE"] = "%0"
        pane.start([agentwrap_exe(), "claude"], ce.env, ce.cwd)
        try:
            pane.wait_for("agentwrap: no calls yet", timeout=60)
            panes = pane._tmux("list-panes", "-t", pane.name, "-F", "#{pane_id}").stdout.split()
            assert len(panes) == 2, "the panel did not open beside the agent"
            panel_pane = panes[1]

            def panel_screen() -> str:
                return pane._tmux("capture-pane", "-p", "-t", panel_pane).stdout

            deadline = time.monotonic() + 30
            while "simulated" not in panel_screen() and "calls" not in panel_screen():
                assert time.monotonic() < deadline, panel_screen()
                time.sleep(0.3)
            before = panel_screen()
            assert "2,400" not in before
            pane.submit("hello there")
            pane.wait_for("Hello from the fake upstream", timeout=60)
            deadline = time.monotonic() + 20
            while "2,400" not in panel_screen() and "2.4k" not in panel_screen():
                assert time.monotonic() < deadline, panel_screen()
                time.sleep(0.3)
            pane.submit("/exit")
            pane.wait_for("[exited 0]", timeout=60)
            remaining = pane._tmux("list-panes", "-t", pane.name, "-F", "#{pane_id}").stdout.split()
            assert remaining == panes[:1], "the panel pane was not closed with the session"
        finally:
            pane.kill()


def test_agent_killed_mid_stream_leaves_an_aborted_record(tmp_path):
    release = threading.Event()
    held = Reply(
        "never delivered in full", input_tokens=4321, hold_after=2, release=release, hold_timeout=60
    )
    with FakeAnthropic([held]) as fake:
        code = (
            "import os, signal, httpx\n"
            "url = os.environ['ANTHROPIC_BASE_URL'] + '/v1/messages'\n"
            "body = {'model': 'claude-sonnet-4-6', 'max_tokens': 50, 'stream': True,\n"
            "        'messages': [{'role': 'user', 'content': 'hi'}]}\n"
            "with httpx.stream('POST', url, json=body, headers={'x-api-key': 'k'}, timeout=30) as r:\n"
            "    for line in r.iter_lines():\n"
            "        if line.startswith('event: message_start'):\n"
            "            os.kill(os.getpid(), signal.SIGKILL)\n"
        )
        env = dict(os.environ, ANTHROPIC_BASE_URL=fake.base_url)
        done = subprocess.run(
            [agentwrap_exe(), "run", "--quiet", "--", sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        release.set()
    assert done.returncode == 137  # 128 + SIGKILL, the agent's own fate
    (sess,) = sessions()
    (call,) = calls_of(sess["id"])
    assert call["status"] == "aborted" and call["input_tokens"] == 4321
    assert sess["exit_code"] == 137 and sess["ended_at"] is not None

"""Where the live panel goes, and the Claude Code statusline setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentwrap import panel
from agentwrap.agents import claude
from agentwrap.agents.claude import with_statusline
from agentwrap.fakes.anthropic import FakeAnthropic, Reply
from tests.support.claude_env import TmuxPane

TTY = {"stdin_tty": True, "stdout_tty": True}


@pytest.mark.parametrize(
    ("requested", "env", "args", "tty", "expected"),
    [
        (None, {"TMUX": "/tmp/sock,1,0"}, [], TTY, "split"),
        ("window", {"TMUX": "/tmp/sock,1,0"}, [], TTY, "window"),
        (None, {}, [], TTY, "hint"),  # outside tmux the default changes nothing on screen
        ("split", {}, [], TTY, "wrap"),  # ...unless asked: then agentwrap starts tmux
        ("off", {"TMUX": "/tmp/sock,1,0"}, [], TTY, "off"),
        (None, {"TMUX": "/tmp/sock,1,0"}, ["-p", "hi"], TTY, "off"),  # print mode: never
        (None, {"TMUX": "/tmp/sock,1,0"}, ["--print"], TTY, "off"),
        ("split", {"TMUX": "/tmp/sock,1,0"}, [], {"stdin_tty": True, "stdout_tty": False}, "off"),
        (None, {"TMUX": "/tmp/sock,1,0", "AGENTWRAP_PANEL": "off"}, [], TTY, "off"),
        ("split", {panel.WRAPPED_ENV: "/x"}, [], TTY, "hint"),  # no tmux inside our own tmux loop
    ],
)
def test_panel_mode(requested, env, args, tty, expected):
    env = {"PATH": os.environ["PATH"], **env}
    assert panel.resolve_mode(requested, env, claude.is_batch(args), **tty) == expected


def test_unknown_panel_mode_names_the_known_ones():
    with pytest.raises(ValueError, match="known: auto, split, window, off"):
        panel.resolve_mode("sideways", {}, False, **TTY)


def _settings(args: list[str]) -> dict:
    i = args.index("--settings")
    return json.loads(args[i + 1])


def test_statusline_added_through_settings_flag(tmp_path):
    env = {"HOME": str(tmp_path)}
    out = with_statusline(["-c"], env, tmp_path)
    assert out[-1] == "-c"
    line = _settings(out)["statusLine"]
    assert line["type"] == "command" and "agentwrap.statusline" in line["command"]


def test_statusline_merged_into_the_users_own_settings_flag(tmp_path):
    env = {"HOME": str(tmp_path)}
    theirs = tmp_path / "mine.json"
    theirs.write_text(json.dumps({"model": "opus", "permissions": {"allow": ["Bash"]}}))
    out = with_statusline(["--settings", str(theirs), "-p", "x"], env, tmp_path)
    merged = _settings(out)
    assert merged["model"] == "opus" and merged["permissions"] == {"allow": ["Bash"]}
    assert "statusLine" in merged
    assert json.loads(theirs.read_text()) == {"model": "opus", "permissions": {"allow": ["Bash"]}}
    inline = with_statusline(['--settings={"model": "haiku"}'], env, tmp_path)
    assert json.loads(inline[0].split("=", 1)[1]) == {
        "model": "haiku",
        "statusLine": merged["statusLine"],
    }


def test_users_own_statusline_wins(tmp_path):
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "settings.json").write_text(
        json.dumps({"statusLine": {"type": "command", "command": "mine"}})
    )
    env = {"HOME": str(tmp_path)}
    assert with_statusline(["-c"], env, tmp_path) == ["-c"]
    mine = json.dumps({"statusLine": {"type": "command", "command": "x"}})
    assert with_statusline(["--settings", mine], {"HOME": "/nonexistent"}, tmp_path) == [
        "--settings",
        mine,
    ]


@pytest.mark.tmux
def test_split_outside_tmux_starts_a_tmux_session_and_keeps_the_exit_code(tmp_path):
    pane = TmuxPane(f"aw-wrap-{os.getpid()}", width=160, height=40)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "TERM": "xterm-256color",
        "AGENTWRAP_HOME": os.environ["AGENTWRAP_HOME"],
        "TMUX_TMPDIR": str(tmp_path),  # the tmux agentwrap starts gets a server of its own
    }
    exe = str(Path(sys.executable).parent / "agentwrap")
    # One call through agentwrap (a session without calls has no summary), then exit 5.
    script = (
        "import json, os, time, urllib.request\n"
        "url = os.environ['ANTHROPIC_BASE_URL'] + '/v1/messages'\n"
        "body = {'model': 'claude-haiku-4-5', 'max_tokens': 8,"
        " 'messages': [{'role': 'user', 'content': 'hi'}]}\n"
        "headers = {'content-type': 'application/json', 'x-api-key': 'sk-test',"
        " 'anthropic-version': '2023-06-01'}\n"
        "urllib.request.urlopen(urllib.request.Request(url, json.dumps(body).encode(), headers))\n"
        "print('agent running'); time.sleep(3); raise SystemExit(5)\n"
    )
    with FakeAnthropic(default=Reply("ok", input_tokens=10, output_tokens=2)) as fake:
        env["ANTHROPIC_BASE_URL"] = fake.base_url
        pane.start(
            [exe, "run", "--panel", "split", "--", sys.executable, "-c", script], env, tmp_path
        )
        try:
            screen = pane.wait_for("agent running", timeout=30)
            assert "[exited" not in screen
            # The session agentwrap started holds the agent and the panel side by side.
            sock = tmp_path / f"tmux-{os.getuid()}" / "default"
            listed = subprocess.run(
                ["tmux", "-S", str(sock), "list-panes", "-a", "-F", "#{pane_current_command}"],
                capture_output=True,
                text=True,
            )
            assert len(listed.stdout.split()) == 2, listed
            screen = pane.wait_for("[exited 5]", timeout=40)
        finally:
            pane.kill()
    assert "agentwrap log" in screen  # the summary printed after tmux closed

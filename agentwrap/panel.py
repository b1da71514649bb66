"""Showing the live panel beside an interactive agent.

The panel is `agentwrap top <session>` — the same program as in any other terminal, following
the trace store — placed next to the agent:

- inside tmux: a split pane (or a new window), opened without taking the focus from the
  agent, closed when the session ends;
- outside tmux, with `--panel split`: agentwrap starts a tmux session for the user, with the
  agent in one pane and the panel in the other, and passes the agent's exit code back;
- outside tmux by default: no panel (wrapping someone's terminal in tmux changes its
  scrollback and key bindings, so it is opt-in), and one line saying how to open it.

Non-interactive runs (the agent's batch mode, such as `claude -p`, or stdin/stdout not a
terminal) never open a panel.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

MODES = ("auto", "split", "window", "off")
PANEL_ENV = "AGENTWRAP_PANEL"
WRAPPED_ENV = "AGENTWRAP_TMUX_WRAPPED"  # set inside the tmux session agentwrap started
PANE_PERCENT = 38


def agentwrap_command() -> list[str]:
    """How to run this agentwrap again (the panel, the wrapped session)."""
    return [sys.executable, "-m", "agentwrap"]


def interactive(batch: bool, stdin_tty: bool | None = None, stdout_tty: bool | None = None) -> bool:
    """Whether the agent runs with a person at the terminal (`batch`: its arguments say not)."""
    stdin_tty = sys.stdin.isatty() if stdin_tty is None else stdin_tty
    stdout_tty = sys.stdout.isatty() if stdout_tty is None else stdout_tty
    return stdin_tty and stdout_tty and not batch


def resolve_mode(requested: str | None, env: Mapping[str, str], batch: bool, **tty: bool) -> str:
    """The panel mode this run gets: split, window, wrap (start tmux), hint or off.

    `batch`: the agent's arguments make it print and exit (the agent's `is_batch`).
    """
    mode = (requested or env.get(PANEL_ENV) or "auto").lower()
    if mode not in MODES:
        raise ValueError(f"unknown panel mode '{mode}'; known: {', '.join(MODES)}")
    if mode == "off" or not interactive(batch, **tty):
        return "off"
    in_tmux = bool(env.get("TMUX"))
    has_tmux = shutil.which("tmux", path=env.get("PATH")) is not None
    if in_tmux and has_tmux:
        return "window" if mode == "window" else "split"
    if mode in ("split", "window") and has_tmux and not env.get(WRAPPED_ENV):
        return "wrap"
    return "hint"


def top_command(session_id: str) -> str:
    return " ".join(shlex.quote(a) for a in [*agentwrap_command(), "top", session_id])


class TmuxPanel:
    """A panel pane or window in the tmux the agent runs in."""

    def __init__(self, session_id: str, mode: str, env: Mapping[str, str]) -> None:
        self.session_id = session_id
        self.mode = mode
        self.env = dict(env)
        self.target: str | None = None

    def open(self) -> str | None:
        """Open the panel; returns an error message, or None when it opened."""
        cmd = top_command(self.session_id)
        env_args: list[str] = []
        for var in ("AGENTWRAP_HOME",):
            if var in self.env:
                env_args += ["-e", f"{var}={self.env[var]}"]
        if self.mode == "window":
            argv = ["tmux", "new-window", "-d", "-P", "-F", "#{pane_id}", *env_args, cmd]
        else:
            here = self.env.get("TMUX_PANE")
            argv = [
                "tmux",
                "split-window",
                "-h",
                "-d",
                "-l",
                f"{PANE_PERCENT}%",
                "-P",
                "-F",
                "#{pane_id}",
            ]
            if here:
                argv += ["-t", here]
            argv += [*env_args, cmd]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10, env=self.env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"could not open the panel: {exc}"
        if done.returncode != 0:
            return f"could not open the panel: {done.stderr.strip() or done.returncode}"
        self.target = done.stdout.strip() or None
        return None

    def close(self) -> None:
        if self.target:
            subprocess.run(
                ["tmux", "kill-pane", "-t", self.target],
                capture_output=True,
                timeout=10,
                env=self.env,
            )
            self.target = None


def wrap_in_tmux(args: Sequence[str], env: Mapping[str, str], state_dir: Path) -> int:
    """Run `agentwrap <args>` inside a new tmux session; returns tmux's exit code.

    The environment travels in a file only the user can read (never on a command line, where
    keys would show in `ps`). The inner agentwrap (marked by WRAPPED_ENV) opens the split,
    runs the agent without a summary, and writes `<exit code> <session id>` to
    `state_dir/status` for this process to report.
    """
    env_file = state_dir / "env.json"
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(dict(env), f)
    inner = [*agentwrap_command(), *args]
    cmd = f"{WRAPPED_ENV}={shlex.quote(str(state_dir))} " + " ".join(shlex.quote(a) for a in inner)
    name = f"agentwrap-{os.getpid()}"
    return subprocess.call(["tmux", "new-session", "-s", name, f"env {cmd}"], env=dict(env))


def restore_wrapped_env() -> Path | None:
    """Inside a tmux session started by `wrap_in_tmux`: take back the caller's environment."""
    state = os.environ.pop(WRAPPED_ENV, None)
    if not state:
        return None
    state_dir = Path(state)
    env_file = state_dir / "env.json"
    try:
        saved = json.loads(env_file.read_text())
        env_file.unlink()
    except (OSError, ValueError):
        return state_dir
    for key, value in saved.items():
        if key not in ("TMUX", "TMUX_PANE", "TERM"):
            os.environ[key] = value
    return state_dir


def write_status(state_dir: Path, code: int, session_id: str) -> None:
    (state_dir / "status").write_text(f"{code} {session_id}\n")


def read_status(state_dir: Path) -> tuple[int, str] | None:
    try:
        code, session_id = (state_dir / "status").read_text().split()
        return int(code), session_id
    except (OSError, ValueError):
        return None

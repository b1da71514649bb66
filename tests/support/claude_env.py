"""Running the real Claude Code CLI offline, against a local fake upstream.

The CLI is pinned in tests/e2e/agents/package.json (`@anthropic-ai/claude-code`, 2.1.332) and
installed by `./install.sh --dev` (npm install in that folder). `claude_binary()` finds it and,
on a fresh machine, runs that `npm install` once; `require_claude()` skips the test with the
reason when that is impossible (no npm, no registry).

`make_claude_env(root, base_url)` builds what one run needs:

- a throwaway HOME whose `~/.claude.json` answers every first-run question:
  `hasCompletedOnboarding: true`; `customApiKeyResponses.approved` holding the *last 20
  characters* of the API key (the CLI compares `key.slice(-20)`); and
  `projects[<dir>].hasTrustDialogAccepted: true` for the working directory as given and as
  resolved (the CLI looks trust up by the project's root directory, which is the working
  directory here: the repository is created at its top);
- a working directory (a small git repository unless `git_repo=False`);
- an environment built from scratch (nothing of the caller's ANTHROPIC_*/CLAUDE_*/proxy/XDG
  variables leaks in): PATH, HOME, TERM, LANG, `ANTHROPIC_API_KEY` (a fake key),
  `ANTHROPIC_BASE_URL` (when given), `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`,
  `CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL=1`, `DISABLE_TELEMETRY=1`,
  `DISABLE_AUTOUPDATER=1`, `NO_PROXY=127.0.0.1,localhost`, and AGENTWRAP_HOME passed through
  when set (so `agentwrap claude` under test writes to the test's store).

What the CLI does on the wire (2.1.197; 2.1.332 differs where said), seen with these settings:

- `-p "hi"`: one `HEAD <base_url>` (a connection warm-up, its answer is ignored), then one
  `POST <base_url>/v1/messages?beta=true` (stream). Nothing else. Exit 0, the reply on stdout.
- Auth: `x-api-key: <ANTHROPIC_API_KEY>`.

Interactive mode in tmux (verified against the fake):

- Start it with a fixed size, e.g. `tmux new-session -d -s S -x 120 -y 40 -c CWD 'env ... claude'`
  (pass the environment explicitly: a tmux server started earlier keeps its own; `TmuxPane`
  below does this, on a tmux server of its own).
  With the `~/.claude.json` above there is no onboarding, theme, API-key or trust dialog: the
  screen shows the welcome box and the `❯` prompt within a second or two (wait for one of
  INTERACTIVE_READY before typing: "? for shortcuts", "plan mode on" when started with
  `--permission-mode plan`, or "auto mode on": 2.1.332 starts in auto mode).
- Type a prompt with `tmux send-keys -t S -l 'hello'` and then `tmux send-keys -t S Enter` as
  a separate call, a moment later (a precaution: a burst of text ending in Enter may be read
  as a paste, whose Enter is a newline inside the prompt).
- The reply appears in the pane (`tmux capture-pane -p -t S`), prefixed with "●" (the
  footer also shows a "●", so wait for the reply's own text).
- Interactive mode sends the main-loop call and, once per session, a background call that
  makes the session title (haiku model, no tools, `output_config.format` a JSON schema with a
  `title` property; seen after the first prompt, but not after a bare "hello"). It races the
  main-loop call, so a list script must tolerate either order: script by callable, and tell
  them apart with `is_title_request()`. Answer it with JSON such as `{"title": "Demo"}`.
  2.1.332 sent no title call at all here (two prompts, waiting 6 s after each).
- `/compact` works both in `-p` (`claude -p "/compact" --continue`, after a few turns) and
  interactively; the screen then shows "Compacted".
- Shift+Tab (tmux key `BTab`) cycles the permission mode: default -> accept edits -> plan
  mode -> auto mode -> default; the footer shows "accept edits on", "plan mode on",
  "auto mode on", and "? for shortcuts" again for the default. 2.1.332 starts in auto mode
  (start it with `--permission-mode default` to cycle as above), and on the first tool call
  that needs its check shows "Auto mode can't check actions in this session": the check is
  asked of the API (`safeguards` in the main loop's body), which the fake does not answer.
- Exit cleanly: type `/exit` then Enter; or Ctrl-D twice, or Ctrl-C twice, on an empty
  prompt. All three exit with status 0 (/exit and Ctrl-D are checked by
  tests/e2e/test_claude_captures.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "AGENTS_DIR",
    "CLAUDE_VERSION",
    "INTERACTIVE_READY",
    "TEST_API_KEY",
    "TITLE_CALLS_PER_PROMPT",
    "ClaudeEnv",
    "TmuxPane",
    "claude_binary",
    "is_title_request",
    "make_claude_env",
    "require_claude",
]

CLAUDE_VERSION = "2.1.332"
AGENTS_DIR = Path(__file__).resolve().parents[1] / "e2e" / "agents"
# Shaped like a real key so the CLI accepts it; it opens nothing anywhere.
# On screen when interactive Claude Code is ready for a prompt (normal footer; plan-mode footer).
INTERACTIVE_READY = ("? for shortcuts", "plan mode on", "auto mode on")
# Session-title calls per interactive prompt: 2.1.197 sent one; 2.1.332 sent none here.
TITLE_CALLS_PER_PROMPT = 0
TEST_API_KEY = "sk-ant-api03-agentwrap-test-" + "0" * 60 + "-FAKEKEYFORTESTS0000AA"


def claude_binary(install: bool = True) -> tuple[Path | None, str]:
    """The Claude Code binary of this test lane (pinned, or the newest with --agents=latest)
    and "" — or None and why it is unavailable.

    When it is missing and `install` is true, the test setup installs it (tests/support/
    agent_cli.py: npm install in tests/e2e/agents once per process, under a file lock).
    """
    from tests.support.agent_cli import pinned_binary

    return pinned_binary("claude", CLAUDE_VERSION, "Claude Code", install)


def require_claude() -> Path:
    """The Claude Code binary, or skip the calling test with the reason."""
    import pytest

    binary, reason = claude_binary()
    if binary is None:
        pytest.skip(reason)
    return binary


@dataclass
class ClaudeEnv:
    """Everything one offline Claude Code run needs."""

    binary: Path
    home: Path
    cwd: Path
    env: dict[str, str]
    api_key: str

    def command(self, *args: str) -> list[str]:
        """The argv that runs the pinned CLI with `args`."""
        return [str(self.binary), *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the CLI with `args` in `cwd` with `env`; output captured as text."""
        return subprocess.run(
            self.command(*args),
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def shell_exports(self) -> str:
        """`env -i K=V ...` prefix, for starting the CLI inside tmux with exactly `env`."""
        import shlex

        return "env -i " + " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))


def _git(cwd: Path, *args: str) -> None:
    ident = {
        "GIT_AUTHOR_NAME": "Test User",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test User",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(cwd),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    subprocess.run(["git", *args], cwd=cwd, env=ident, check=True, capture_output=True)


def _seed_repo(cwd: Path) -> None:
    """A tiny project so file tools and subagents have something real to look at."""
    (cwd / "README.md").write_text("# demo\n\nA tiny demo project for tests.\n")
    (cwd / "app.py").write_text(
        'def greet(name: str) -> str:\n    return f"hello {name}"\n\n\n'
        'if __name__ == "__main__":\n    print(greet("world"))\n'
    )
    if shutil.which("git"):
        _git(cwd, "init", "-q", "-b", "main")
        _git(cwd, "add", ".")
        _git(cwd, "commit", "-q", "-m", "initial commit")


def claude_json(cwd: Path, api_key: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ~/.claude.json that skips onboarding, the API-key question and the trust dialog."""
    trusted = {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}
    dirs = {str(cwd), str(cwd.resolve())}
    return {
        "hasCompletedOnboarding": True,
        "lastOnboardingVersion": CLAUDE_VERSION,
        "theme": "dark",
        "customApiKeyResponses": {"approved": [api_key[-20:]], "rejected": []},
        "projects": {d: dict(trusted) for d in sorted(dirs)},
        **(extra or {}),
    }


def make_claude_env(
    root: Path,
    base_url: str | None = None,
    *,
    api_key: str = TEST_API_KEY,
    git_repo: bool = True,
    extra_env: Mapping[str, str] | None = None,
    binary: Path | None = None,
) -> ClaudeEnv:
    """Build HOME (root/home), a working directory (root/repo) and the env for one run.

    `base_url` becomes ANTHROPIC_BASE_URL (leave it None when agentwrap sets it).
    `binary` defaults to `require_claude()` (which skips the test when unavailable).
    """
    home = root / "home"
    cwd = root / "repo"
    home.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    if git_repo:
        _seed_repo(cwd)
    (home / ".claude.json").write_text(json.dumps(claude_json(cwd, api_key), indent=2))
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "USER": "user",
        "LANG": "C.UTF-8",
        "TERM": "xterm-256color",
        "ANTHROPIC_API_KEY": api_key,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    if base_url is not None:
        env["ANTHROPIC_BASE_URL"] = base_url
    if "AGENTWRAP_HOME" in os.environ:
        env["AGENTWRAP_HOME"] = os.environ["AGENTWRAP_HOME"]
    env.update(extra_env or {})
    return ClaudeEnv(binary or require_claude(), home, cwd, env, api_key)


def is_title_request(body: Mapping[str, Any]) -> bool:
    """True for Claude Code's background session-title call (no tools, a JSON-schema output)."""
    fmt = (body.get("output_config") or {}).get("format") or {}
    schema = fmt.get("schema") or {}
    return not body.get("tools") and "title" in (schema.get("properties") or {})


def text_of(content: str | Sequence[Mapping[str, Any]]) -> str:
    """All text of a message's content (a string, or blocks), joined."""
    if isinstance(content, str):
        return content
    return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, Mapping))


class TmuxPane:
    """A detached tmux session running one command at a fixed size, for driving TUIs.

    Uses its own tmux server socket (`-L`), so it neither sees nor disturbs other sessions.
    """

    def __init__(self, name: str, width: int = 120, height: int = 40) -> None:
        self.name = name
        self.socket = f"agentwrap-test-{name}"
        self.width = width
        self.height = height

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check
        )

    def start(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
        """Run `argv` with exactly `env` in `cwd`; the pane stays after the command exits."""
        import shlex

        command = "env -i " + " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
        command += " " + " ".join(shlex.quote(a) for a in argv)
        # Keep the pane open after exit so the final screen and the exit status can be read.
        command += '; echo "[exited $?]"; sleep 600'
        self._tmux("kill-server", check=False)
        self._tmux(
            "new-session",
            "-d",
            "-s",
            self.name,
            "-x",
            str(self.width),
            "-y",
            str(self.height),
            "-c",
            str(cwd),
            command,
        )

    def screen(self) -> str:
        """The visible text of the pane."""
        return self._tmux("capture-pane", "-p", "-t", self.name, check=False).stdout

    def wait_for(self, *texts: str, timeout: float = 30.0) -> str:
        """Wait until one of `texts` is on screen; return the screen (TimeoutError otherwise)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if any(t in screen for t in texts):
                return screen
            if time.monotonic() > deadline:
                raise TimeoutError(f"none of {texts!r} on screen after {timeout}s:\n{screen}")
            time.sleep(0.2)

    def type(self, text: str) -> None:
        """Type `text` literally (no Enter)."""
        self._tmux("send-keys", "-t", self.name, "-l", text)

    def press(self, *keys: str) -> None:
        """Press keys by tmux name: "Enter", "C-d", "Escape"..."""
        self._tmux("send-keys", "-t", self.name, *keys)

    def submit(self, text: str) -> None:
        """Type `text`, then press Enter separately (so it is not taken as part of a paste)."""
        import time

        self.type(text)
        # Enter only once the agent has drawn the text: a busy agent that reads the text and
        # the Enter in one chunk takes them both for a paste, and the Enter never submits.
        with contextlib.suppress(TimeoutError):
            self.wait_for(text[-30:], timeout=20)
        time.sleep(0.3)
        self.press("Enter")

    def kill(self) -> None:
        """Stop the tmux server of this pane (and the command in it)."""
        self._tmux("kill-server", check=False)

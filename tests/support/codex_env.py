"""Running the real Codex CLI offline, against a local fake upstream.

The CLI is pinned in tests/e2e/agents/package.json (`@openai/codex`, 0.171.0; npm installs
a native binary from a platform optional dependency) next to Claude Code, and installed the
same way (`./install.sh --dev`, or once per test process by `agent_binary`).

`make_codex_env(root)` builds what one run needs: a throwaway HOME with its own CODEX_HOME
(so no login, config or history of the caller is read), a small git repository as the
working directory, and an environment built from scratch (PATH, HOME, CODEX_HOME, LANG,
TERM, OPENAI_API_KEY set to a fake key, NO_PROXY for loopback, AGENTWRAP_HOME passed
through). `OFFLINE_ARGS` are the `-c` overrides that stop Codex's other traffic.

What Codex 0.169 does on the wire, seen with these settings:

- `codex exec PROMPT` with a `-c model_provider=...` pointing at 127.0.0.1: only
  `POST <base_url>/responses` (stream), nothing else; exit 0 with the final message on
  stdout, its banner and transcript on stderr.
- The default model (gpt-6.1-sol) uses a "responses lite" request: no `tools` key, the tools
  sit in an `additional_tools` input item (namespaces; shell access only through a JavaScript
  `exec` custom tool), header `x-openai-internal-codex-responses-lite: true`. `-m gpt-5.5`
  gives the classic shape: a `tools` list with the function `exec_command` (`{"cmd": ...}`).
- `exec` runs with sandbox read-only and approval "never": `ls` runs without a question.

0.171 (the pin since): the default model is gpt-6.2-sol, which the bundled price table does not
know yet (its calls are unpriced); requests carry `accept-encoding: zstd,gzip`; the rest of the
above held on these tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.agent_cli import pinned_binary, require_pinned
from tests.support.claude_env import _seed_repo

__all__ = [
    "CLASSIC_MODEL",
    "CODEX_VERSION",
    "OFFLINE_ARGS",
    "TEST_OPENAI_KEY",
    "CodexEnv",
    "codex_binary",
    "make_codex_env",
    "require_codex",
]

CODEX_VERSION = "0.171.0"
# A model of Codex's built-in catalogue that still sends a `tools` list with exec_command.
CLASSIC_MODEL = "gpt-5.5"
TEST_OPENAI_KEY = "sk-proj-agentwrap-test-" + "0" * 40  # opens nothing anywhere
OFFLINE_ARGS = ("-c", "analytics.enabled=false", "-c", "features.plugins=false")


def codex_binary(install: bool = True) -> tuple[Path | None, str]:
    """The pinned Codex binary and "" — or None and why it is unavailable.

    A missing binary is installed by the same `npm install` in tests/e2e/agents that
    installs Claude Code (once per process, under the same file lock).
    """
    return pinned_binary("codex", CODEX_VERSION, "Codex", install)


def require_codex() -> Path:
    """The Codex binary, or skip the calling test with the reason."""
    return require_pinned("codex", CODEX_VERSION, "Codex")


@dataclass
class CodexEnv:
    """Everything one offline Codex run needs."""

    binary: Path
    home: Path
    codex_home: Path
    cwd: Path
    env: dict[str, str]
    api_key: str


def make_codex_env(
    root: Path,
    *,
    api_key: str | None = TEST_OPENAI_KEY,
    extra_env: Mapping[str, str] | None = None,
    binary: Path | None = None,
) -> CodexEnv:
    """Build HOME (root/home, CODEX_HOME inside), a git repository (root/repo) and the env.

    `api_key` None leaves OPENAI_API_KEY unset. `binary` defaults to `require_codex()`.
    """
    home = root / "home"
    codex_home = home / ".codex"
    cwd = root / "repo"
    codex_home.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    _seed_repo(cwd)
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "USER": "user",
        "LANG": "C.UTF-8",
        "TERM": "xterm-256color",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    if api_key is not None:
        env["OPENAI_API_KEY"] = api_key
    if "AGENTWRAP_HOME" in os.environ:
        env["AGENTWRAP_HOME"] = os.environ["AGENTWRAP_HOME"]
    env.update(extra_env or {})
    return CodexEnv(binary or require_codex(), home, codex_home, cwd, env, api_key or "")

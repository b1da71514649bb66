"""Running the real Gemini CLI offline, against a local fake upstream.

The CLI is pinned in tests/e2e/agents/package.json (`@google/gemini-cli`, 0.61.0) next to
Claude Code and Codex, and installed the same way (`./install.sh --dev`, or once per test
process by `pinned_binary`).

`make_gemini_env(root)` builds what one run needs: a throwaway HOME whose
`~/.gemini/settings.json` selects API-key auth (`security.auth.selectedType:
"gemini-api-key"`), turns usage statistics off and auto-update (and its notice) off; a small
git repository as the working directory; and an environment built from scratch (PATH, HOME,
LANG, TERM, GEMINI_API_KEY set to a fake key, GEMINI_CLI_TRUST_WORKSPACE=true so the
workspace is trusted without a dialog, NO_PROXY for loopback, AGENTWRAP_HOME passed through).

What Gemini CLI 0.61 does on the wire, seen with these settings and GOOGLE_GEMINI_BASE_URL
set to a local server:

- `gemini -p PROMPT`: `POST <base>/v1beta/models/gemini-3.5-flash-lite:generateContent` (the
  model-routing call: a JSON schema asking for complexity_reasoning and complexity_score), then
  `POST <base>/v1beta/models/<chosen model>:streamGenerateContent?alt=sse` (score 10 chose
  gemini-3.8-flash). Nothing else. Exit 0, the reply on stdout, warnings on stderr.
- If the routing answer does not fit the schema the CLI logs the error and falls back to
  its default model (gemini-3.1-pro-preview); the run still succeeds.
- Headless tools: list_directory, read_file, grep_search, glob, google_web_search,
  update_topic, enter_plan_mode, invoke_agent (no shell and no file writes without
  `--yolo`/`--approval-mode`). A function call is run and its result sent back on the same
  streaming endpoint; the model's call is echoed with
  `thoughtSignature: "skip_thought_signature_validator"` when the upstream sent none.
- Auth: `x-goog-api-key: <GEMINI_API_KEY>`; user-agent `GeminiCLI-tui/0.61.0/<model> (...)`.
- Interactive (`gemini` in tmux): ready when "Type your message" shows; a prompt makes the
  same two calls; `/quit` exits 0 after a stats box. With `model.compressionThreshold` low
  (0.01) and a reply reporting 200k prompt tokens, the next prompt first sends two
  `generateContent` calls (the `<state_snapshot>` summary and its verification). A reply
  that repeats one sentence trips the CLI's loop detection ("A potential loop was detected").
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.agent_cli import pinned_binary, require_pinned
from tests.support.claude_env import _seed_repo

__all__ = [
    "GEMINI_VERSION",
    "ROUTER_MODEL",
    "TEST_GEMINI_KEY",
    "GeminiEnv",
    "gemini_binary",
    "is_router_call",
    "make_gemini_env",
    "require_gemini",
    "router_reply_text",
]

GEMINI_VERSION = "0.61.0"
ROUTER_MODEL = "gemini-3.5-flash-lite"  # the model of the routing call in 0.61
TEST_GEMINI_KEY = "AIzaSy-agentwrap-test-" + "0" * 17  # opens nothing anywhere
SETTINGS: dict[str, Any] = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "privacy": {"usageStatisticsEnabled": False},
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
}


def gemini_binary(install: bool = True) -> tuple[Path | None, str]:
    """The pinned Gemini CLI binary and "" — or None and why it is unavailable."""
    return pinned_binary("gemini", GEMINI_VERSION, "Gemini CLI", install)


def require_gemini() -> Path:
    """The Gemini CLI binary, or skip the calling test with the reason."""
    return require_pinned("gemini", GEMINI_VERSION, "Gemini CLI")


def is_router_call(body: Mapping[str, Any]) -> bool:
    """Whether a Gemini request body is the CLI's model-routing call."""
    config = body.get("generationConfig") or {}
    schema = config.get("responseJsonSchema") or {}
    return "complexity_score" in (schema.get("properties") or {})


def router_reply_text(score: int = 10) -> str:
    """A routing answer that fits the CLI's schema (a low score picks its flash model)."""
    return json.dumps({"complexity_reasoning": "a simple request", "complexity_score": score})


@dataclass
class GeminiEnv:
    """Everything one offline Gemini CLI run needs."""

    binary: Path
    home: Path
    cwd: Path
    env: dict[str, str]
    api_key: str


def make_gemini_env(
    root: Path,
    *,
    api_key: str | None = TEST_GEMINI_KEY,
    settings: Mapping[str, Any] | None = None,
    extra_env: Mapping[str, str] | None = None,
    binary: Path | None = None,
) -> GeminiEnv:
    """Build HOME (root/home with ~/.gemini/settings.json), a git repository (root/repo), env.

    `api_key` None leaves GEMINI_API_KEY unset; `settings` replaces the default settings.
    `binary` defaults to `require_gemini()`.
    """
    home = root / "home"
    cwd = root / "repo"
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    _seed_repo(cwd)
    doc = SETTINGS if settings is None else settings
    (home / ".gemini" / "settings.json").write_text(json.dumps(doc, indent=2))
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "USER": "user",
        "LANG": "C.UTF-8",
        "TERM": "xterm-256color",
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    if api_key is not None:
        env["GEMINI_API_KEY"] = api_key
    if "AGENTWRAP_HOME" in os.environ:
        env["AGENTWRAP_HOME"] = os.environ["AGENTWRAP_HOME"]
    env.update(extra_env or {})
    return GeminiEnv(binary or require_gemini(), home, cwd, env, api_key or "")

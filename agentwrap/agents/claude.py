"""Claude Code: launch through the proxy.

Claude Code honours ANTHROPIC_BASE_URL; requests then arrive at
`<base>/v1/messages?beta=true` with the user's own credentials (x-api-key from
ANTHROPIC_API_KEY, a bearer token from ANTHROPIC_AUTH_TOKEN or an OAuth login), which pass
through to Anthropic untouched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentwrap.agents.base import LaunchPlan, find_binary, is_our_url, with_no_proxy

NAME = "claude"
BINARY_ENV = "AGENTWRAP_CLAUDE_BIN"
INSTALL_HINT = "npm install -g @anthropic-ai/claude-code"


def binary(env: Mapping[str, str]) -> str | None:
    return find_binary("claude", BINARY_ENV, env)


def plan(exe: str, args: list[str], base_url: str, env: Mapping[str, str]) -> LaunchPlan:
    """The command and environment that make Claude Code call `base_url`."""
    child = dict(env)
    notes: list[str] = []
    upstream = None
    existing = env.get("ANTHROPIC_BASE_URL")
    if existing and not is_our_url(existing):
        upstream = existing.rstrip("/")
        notes.append(f"ANTHROPIC_BASE_URL was {upstream}: agentwrap forwards Anthropic calls there")
    for var, service in (
        ("CLAUDE_CODE_USE_BEDROCK", "Amazon Bedrock"),
        ("CLAUDE_CODE_USE_VERTEX", "Google Vertex AI"),
    ):
        if env.get(var, "").strip() not in ("", "0", "false"):
            notes.append(
                f"{var} is set: Claude Code will call {service} directly, so its calls will "
                "NOT pass through agentwrap (nothing is routed or recorded)"
            )
    child["ANTHROPIC_BASE_URL"] = base_url
    with_no_proxy(child)
    return LaunchPlan([exe, *with_statusline(args, env)], child, notes, upstream)


def _load_settings(value: str, cwd: Path) -> dict[str, Any] | None:
    """A --settings value: inline JSON or a path to a JSON file (None when unreadable)."""
    text = value
    if not value.lstrip().startswith("{"):
        try:
            text = (cwd / value).expanduser().read_text()
        except OSError:
            return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _user_has_statusline(env: Mapping[str, str], cwd: Path) -> bool:
    home = Path(env.get("HOME") or Path.home())
    config = Path(env["CLAUDE_CONFIG_DIR"]) if env.get("CLAUDE_CONFIG_DIR") else home / ".claude"
    for path in (
        config / "settings.json",
        cwd / ".claude" / "settings.json",
        cwd / ".claude" / "settings.local.json",
    ):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("statusLine"):
            return True
    return False


def with_statusline(args: list[str], env: Mapping[str, str], cwd: Path | None = None) -> list[str]:
    """The agent's arguments plus our statusLine, merged into its --settings.

    The user's own files are never edited: the setting travels in the `--settings` flag. A
    statusLine the user already has (in their settings files or their own --settings) wins.
    """
    from agentwrap.statusline import statusline_command

    cwd = cwd or Path.cwd()
    ours = {"type": "command", "command": statusline_command(), "padding": 0}
    out = list(args)
    for i, arg in enumerate(out):
        value = None
        if arg == "--settings" and i + 1 < len(out):
            value, at, joined = out[i + 1], i + 1, False
        elif arg.startswith("--settings="):
            value, at, joined = arg.split("=", 1)[1], i, True
        if value is None:
            continue
        doc = _load_settings(value, cwd)
        if doc is None or doc.get("statusLine") or _user_has_statusline(env, cwd):
            return out  # theirs stands as given
        merged = json.dumps({**doc, "statusLine": ours})
        out[at] = f"--settings={merged}" if joined else merged
        return out
    if _user_has_statusline(env, cwd):
        return out
    return ["--settings", json.dumps({"statusLine": ours}), *out]

"""Claude Code: launch through the proxy.

Claude Code honours ANTHROPIC_BASE_URL; requests then arrive at
`<base>/v1/messages?beta=true` with the user's own credentials (x-api-key from
ANTHROPIC_API_KEY, a bearer token from ANTHROPIC_AUTH_TOKEN or an OAuth login), which pass
through to Anthropic untouched.
"""

from __future__ import annotations

from collections.abc import Mapping

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
    return LaunchPlan([exe, *args], child, notes, upstream)

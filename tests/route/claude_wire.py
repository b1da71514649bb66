"""Small hand-made requests shaped like Claude Code 2.1.197's (see AGENT-WIRE.md).

The real captures in tests/fixtures/claude/ check the same markers on the real wire.
"""

from __future__ import annotations

from typing import Any

from agentwrap.wire.call import Call

BILLING = "x-anthropic-billing-header: cc_version=2.1.197.abc; cc_entrypoint=cli;"
IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."
MAIN_PROMPT = "You are an interactive agent that helps users with software engineering tasks."
EXPLORE_PROMPT = (
    "You are a file search specialist for Claude Code, Anthropic's official CLI for Claude."
)
PLAN_PROMPT = "You are a software architect and planning specialist for Claude Code."
GENERAL_PROMPT = "You are an agent for Claude Code, Anthropic's official CLI for Claude."
PLAN_REMINDER = "<system-reminder>\nPlan mode is active. The user indicated that they do not want you to execute yet.</system-reminder>"
TOOLS = [
    {"name": n, "description": n, "input_schema": {"type": "object"}}
    for n in ("Agent", "Bash", "Read", "Edit", "Write", "Grep", "Glob", "WebSearch")
]
HEADERS = {
    "user-agent": "claude-cli/2.1.197 (external, cli)",
    "x-app": "cli",
    "x-claude-code-session-id": "3f0c",
    "anthropic-version": "2023-06-01",
}


def system(*texts: str, subagent: bool = False) -> list[dict[str, Any]]:
    billing = BILLING + (" cc_is_subagent=true;" if subagent else "")
    return [{"type": "text", "text": t} for t in (billing, *texts)]


def main_loop(messages: list[dict[str, Any]] | None = None, **extra: Any) -> Call:
    """A main-loop request: context_management, ~all tools, thinking adaptive."""
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 32000,
        "stream": True,
        "system": system(IDENTITY, MAIN_PROMPT),
        "tools": TOOLS,
        "thinking": {"type": "adaptive"},
        "context_management": {"edits": []},
        "output_config": {"effort": "high"},
        "messages": messages or [{"role": "user", "content": "fix the failing test"}],
    }
    body.update(extra)
    return Call("anthropic", "messages", body, dict(HEADERS))


def subagent(
    prompt: str, *, nested: bool = False, header: bool = True, model: str = "claude-haiku-4-5"
) -> Call:
    headers = dict(HEADERS)
    if header:
        headers["x-claude-code-agent-id"] = "agent-1"
        if nested:
            headers["x-claude-code-parent-agent-id"] = "agent-0"
    body = {
        "model": model,
        "max_tokens": 32000,
        "stream": True,
        "system": system(IDENTITY, prompt, subagent=True),
        "tools": TOOLS[1:],
        "thinking": {"type": "disabled"},
        "messages": [{"role": "user", "content": "Find where the config is parsed."}],
    }
    return Call("anthropic", "messages", body, headers)


def title_call() -> Call:
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 512,
        "system": system("Generate a concise, sentence-case title for this coding session."),
        "tools": [],
        "thinking": {"type": "disabled"},
        "output_config": {
            "format": {
                "type": "json_schema",
                "schema": {"type": "object", "properties": {"title": {"type": "string"}}},
            }
        },
        "messages": [{"role": "user", "content": "fix the failing test"}],
    }
    return Call("anthropic", "messages", body, dict(HEADERS))


def web_search_call() -> Call:
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 32000,
        "system": system(IDENTITY, "You are an assistant for performing a web search tool use"),
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 8}],
        "tool_choice": {"type": "tool", "name": "web_search"},
        "messages": [{"role": "user", "content": "Perform a web search for the query: aiohttp"}],
    }
    return Call("anthropic", "messages", body, dict(HEADERS))


def compact_call() -> Call:
    messages = [
        {"role": "user", "content": "fix the failing test"},
        {"role": "assistant", "content": [{"type": "text", "text": "Done."}]},
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": "Your task is to create a detailed summary of the conversation so far, "
                    "paying close attention to the user's explicit requests.",
                }
            ],
        },
    ]
    return main_loop(messages)


def tool_round(is_error: bool) -> list[dict[str, Any]]:
    """A conversation whose newest user message carries a Bash tool result."""
    return [
        {"role": "user", "content": "run the tests"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "pytest"}}
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "is_error": is_error,
                    "content": "Exit code 1\nFAILED test_x" if is_error else "3 passed",
                }
            ],
        },
    ]

"""The markers Claude Code puts on its requests, as observed on 2.1.197 and 2.1.332
(tests/fixtures/claude/).

`markers(headers, body)` names every marker a request shows; `MISSING_FOR[label]` checks that a
request of a step kind still shows what tells that kind apart. The fixture tests check the
committed captures with them, and the live e2e test checks fresh captures from the installed
CLI, so a Claude Code upgrade that changes the wire is noticed.

The exact phrases are in PHRASES. In `system` (a list of text blocks), block 0 is the billing
line (`x-anthropic-billing-header: cc_version=...; cc_entrypoint=cli|sdk-cli;` plus
`cc_is_subagent=true;` in subagents), block 1 the identity line (interactive: Claude Code;
`-p`: Claude Agent SDK), block 2 the prompt of the part of Claude Code that is calling.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["MISSING_FOR", "PHRASES", "latest_plan_mode", "markers", "missing_for"]

PHRASES: dict[str, str | tuple[str, ...]] = {
    "identity:claude-code": "You are Claude Code, Anthropic's official CLI for Claude.",
    "identity:agent-sdk": "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
    "prompt:main": (  # 2.1.197, then 2.1.332
        "You are an interactive agent that helps users with software engineering tasks.",
        "You are an agent working with the user toward their goals",
    ),
    "prompt:explore": "You are a file search specialist for Claude Code",
    "prompt:plan": "You are a software architect and planning specialist for Claude Code",
    "prompt:general-purpose": (
        "You are an agent for Claude Code, Anthropic's official CLI for Claude. "
        "Given the user's message, you should use the tools available to complete the task."
    ),
    "prompt:title": "Generate a concise, sentence-case title (3-7 words)",
    "prompt:web-search": (
        "You are an assistant for performing a web search tool use",
        "You run a web search for another Claude model",
    ),
    "compact:summary-request": (
        "Your task is to create a detailed summary of the conversation so far"
    ),
    "compact:text-only": "CRITICAL: Respond with TEXT ONLY. Do NOT call any tools.",
    "plan-mode:active": "Plan mode is active.",
    "plan-mode:exited": "## Exited Plan Mode",
}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(b.get("text", "")) if b.get("type") == "text" else json.dumps(b)
            for b in content
            if isinstance(b, Mapping)
        )
    return ""


def latest_plan_mode(body: Mapping[str, Any]) -> str | None:
    """ "active" or "exited" from the last plan-mode note in `messages`, or None.

    Plan mode is announced by a `role: "system"` message starting "Plan mode is active." and
    ended by one starting "## Exited Plan Mode"; older notes stay in the history.
    """
    state = None
    for message in body.get("messages") or []:
        text = _text(message.get("content"))
        for word, phrase in (
            ("active", PHRASES["plan-mode:active"]),
            ("exited", PHRASES["plan-mode:exited"]),
        ):
            position = text.rfind(phrase)
            if position >= 0:
                state = word
    return state


def markers(headers: Mapping[str, str], body: Mapping[str, Any]) -> set[str]:
    """Every marker this request shows (names as in PHRASES, plus structural ones)."""
    found: set[str] = set()
    if "x-claude-code-agent-id" in headers:
        found.add("header:agent-id")
    if "x-claude-code-parent-agent-id" in headers:
        found.add("header:parent-agent-id")
    ua = headers.get("user-agent", "")
    if ua.startswith("claude-cli/"):
        found.add("ua:" + ua.split("(", 1)[-1].rstrip(")").split(", ")[-1])  # ua:cli | ua:sdk-cli
    system = body.get("system") or []
    blocks = [b.get("text", "") for b in system if isinstance(b, Mapping)]
    billing = blocks[0] if blocks and blocks[0].startswith("x-anthropic-billing-header:") else ""
    if billing:
        found.add("billing")
        if "cc_is_subagent=true" in billing:
            found.add("billing:cc_is_subagent")
        for part in billing.split(";"):
            if part.strip().startswith("cc_entrypoint="):
                found.add("entrypoint:" + part.strip().split("=", 1)[1])
    system_text = "\n".join(blocks)
    for name, phrase in PHRASES.items():
        alternatives = phrase if isinstance(phrase, tuple) else (phrase,)
        if name.startswith(("identity:", "prompt:")) and any(
            p in system_text for p in alternatives
        ):
            found.add(name)
    if "context_management" in body:
        found.add("context_management")
    thinking = body.get("thinking")
    if isinstance(thinking, Mapping):
        found.add(f"thinking:{thinking.get('type')}")
    config = body.get("output_config") or {}
    if "effort" in config:
        found.add("output_config:effort")
    schema = (config.get("format") or {}).get("schema") or {}
    if "title" in (schema.get("properties") or {}):
        found.add("output_config:format-title")
    tools = body.get("tools")
    if tools == []:
        found.add("tools:none")
    names = [t.get("name") for t in tools or [] if isinstance(t, Mapping)]
    types = [str(t.get("type", "")) for t in tools or [] if isinstance(t, Mapping)]
    if types and all(t.startswith("web_search_") for t in types):
        found.add("tools:web_search-only")
    if "Agent" in names:
        found.add("tool:Agent")
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool" and choice.get("name") == "web_search":
        found.add("tool_choice:web_search")
    messages = body.get("messages") or []
    users = [m for m in messages if m.get("role") == "user"]
    if users:
        last_user = _text(users[-1].get("content"))
        for name in ("compact:summary-request", "compact:text-only"):
            if PHRASES[name] in last_user:
                found.add(name)
    if messages and messages[-1].get("role") == "system":
        found.add("last-message:system")
    state = latest_plan_mode(body)
    if state:
        found.add(f"plan-mode:{state}")
    if isinstance(body.get("model"), str):
        found.add("model:" + body["model"])
    return found


def _need(*present: str, absent: tuple[str, ...] = ()) -> Callable[[set[str]], list[str]]:
    def check(found: set[str]) -> list[str]:
        return [p for p in present if p not in found] + [f"not {a}" for a in absent if a in found]

    return check


def _plan(found: set[str]) -> list[str]:
    # The Plan subagent, or the main loop with plan mode on.
    as_agent = _need("header:agent-id", "billing:cc_is_subagent", "prompt:plan")(found)
    as_mode = _need("prompt:main", "plan-mode:active", absent=("header:agent-id",))(found)
    return [] if not as_agent or not as_mode else as_agent + ["or"] + as_mode


MISSING_FOR: dict[str, Callable[[set[str]], list[str]]] = {
    "implement": _need(
        "prompt:main",
        "context_management",
        "tool:Agent",
        absent=(
            "header:agent-id",
            "billing:cc_is_subagent",
            "plan-mode:active",
            "compact:summary-request",
        ),
    ),
    # Since 2.1.332 subagents carry the main loop's context_management and thinking too.
    "explore": _need("header:agent-id", "billing:cc_is_subagent", "prompt:explore"),
    "plan": _plan,
    "subagent": _need("header:agent-id", "billing:cc_is_subagent", "prompt:general-purpose"),
    "background": _need(
        "tools:none", "output_config:format-title", "prompt:title", "thinking:disabled"
    ),
    "compact": _need(
        "prompt:main", "compact:summary-request", "compact:text-only", absent=("header:agent-id",)
    ),
    # 2.1.332 no longer forces the tool (tool_choice auto) and sends no thinking key.
    "search": _need("tools:web_search-only", "prompt:web-search"),
}


def missing_for(label: str, headers: Mapping[str, str], body: Mapping[str, Any]) -> list[str]:
    """What a request labelled `label` lacks of its step kind's markers ([] when all there)."""
    return MISSING_FOR[label](markers(headers, body))

"""Claude Code's step markers: how to tell its planning, exploring, compaction... calls apart.

Observed on Claude Code 2.1.197 and 2.1.332 (tests/fixtures/claude/ holds real requests of the
pinned release). Agent CLIs change their wire format between versions, so every marker is a
small, named check and a request that matches none is left to the default, with evidence that
says so.

Since 2.1.332 subagents send the main loop's shape (its betas, adaptive thinking,
context_management): the x-claude-code-agent-id header and `cc_is_subagent=true` in the
billing line still tell them apart, and are checked before the main-loop markers. The Agent
tool runs in the background, so the main loop hears of a finished subagent in a later turn of
its own that carries a `<task-notification>`: still the main loop. The auto-mode permission
classifier ("You are a security monitor for autonomous AI coding agents", no tools) is a side
request, background; through a base URL 2.1.332 asks the API for that check instead
(`safeguards` on the main loop's body), so the classifier call itself is rarely seen here.

Pure: reads the Call view only.
"""

from __future__ import annotations

import re
from typing import Any

from agentwrap.agents.claude import AGENT_ID_HEADER, SESSION_HEADER
from agentwrap.route.step import Step
from agentwrap.wire.call import ANTHROPIC, Call

PARENT_AGENT_ID_HEADER = "x-claude-code-parent-agent-id"
BILLING_PREFIX = "x-anthropic-billing-header"

# Opening lines of the built-in subagents' system prompts → (step kind, subagent type).
SUBAGENT_PROMPTS = (
    ("file search specialist", "explore", "Explore", "file-search system prompt"),
    ("software architect and planning specialist", "plan", "Plan", "planning system prompt"),
    (
        "you are an agent for claude code",
        "subagent",
        "general-purpose",
        "general-purpose system prompt",
    ),
    ("status line setup agent", "subagent", "statusline-setup", "status-line setup prompt"),
    # A fork inherits the main loop's conversation and system prompt (2.1.197, then 2.1.332).
    (
        "helps users with software engineering tasks",
        "subagent",
        "fork",
        "main-loop system prompt (a fork)",
    ),
    (
        "you are an agent working with the user toward their goals",
        "subagent",
        "fork",
        "main-loop system prompt (a fork)",
    ),
)
_COMPACT = re.compile(
    r"create a detailed summary of (the|this) (recent portion of the )?conversation"
)
_COMPACT_PREFIX = "create a detailed summary of "  # every match starts so; a plain search is cheap
_PLAN_ON = re.compile(r"plan mode (is|still) active")
_PLAN_OFF = re.compile(r"you have exited plan mode")
PROBE_MAX_TOKENS = 16  # quota and connectivity probes ask for a token or so
CLASSIFIER_PROMPT = "you are a security monitor for autonomous ai coding agents"
TASK_NOTIFICATION = "<task-notification>"


def is_claude_code(call: Call) -> bool:
    """Whether the request looks like it came from Claude Code."""
    user_agent = call.header("user-agent") or ""
    return (
        user_agent.startswith("claude-cli/")
        or call.header(SESSION_HEADER) is not None
        or call.header(AGENT_ID_HEADER) is not None
        or _billing_block(call) is not None
    )


def classify(call: Call) -> Step | None:
    """The step kind of a Claude Code request, or None when no Claude Code marker matches."""
    if call.surface != ANTHROPIC:
        return None
    body = call.body
    search = _search(call)
    if search:
        return Step("search", search)
    title = _title_request(body)
    if title:
        return Step("background", title)
    if not call.tools and any(CLASSIFIER_PROMPT in t[:200].lower() for t in _system_texts(call)):
        return Step(
            "background",
            "security-monitor system prompt, no tools (auto mode's permission classifier) "
            "→ background",
        )
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and max_tokens <= PROBE_MAX_TOKENS:
        return Step("background", f"max_tokens={max_tokens} (a probe) → background")
    subagent = _subagent_marker(call)
    if _is_compaction(call):
        where = f"{subagent} + " if subagent else ""
        return Step(
            "compact",
            f"{where}last user message asks for a conversation summary → compact",
            main_loop=not subagent,
        )
    if subagent:
        return _subagent_step(call, subagent)
    has_context_management = "context_management" in body
    if not call.tools and not has_context_management:
        return Step(
            "background", "no tools and no context_management (a side request) → background"
        )
    plan = _plan_mode(call)
    if plan:
        return Step("plan", plan, main_loop=True)
    if has_context_management:
        if _notified(call):
            return Step(
                "implement",
                f"main loop (context_management, no subagent header) carrying a "
                f"{TASK_NOTIFICATION} from a background subagent → implement",
                main_loop=True,
            )
        return Step(
            "implement",
            "main loop (context_management, no subagent header) → implement",
            main_loop=True,
        )
    if is_claude_code(call):
        return Step(
            "implement",
            "Claude Code request with tools but no main-loop or subagent marker → implement (default)",
            main_loop=True,
            matched=False,
        )
    return None


# ---------------------------------------------------------------- markers


def _system_texts(call: Call) -> list[str]:
    system = call.body.get("system")
    if isinstance(system, str):
        return [system]
    if isinstance(system, list):
        return [
            b.get("text", "")
            for b in system
            if isinstance(b, dict) and isinstance(b.get("text"), str)
        ]
    return []


def _billing_block(call: Call) -> str | None:
    for text in _system_texts(call):
        if text.startswith(BILLING_PREFIX):
            return text
    return None


def _texts(message: Any) -> list[str]:
    """The text of a message: a string, or its text blocks (tool results included)."""
    if not isinstance(message, dict):
        return []
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    if isinstance(content, list):
        for block in content:
            if not isinstance(block, dict):
                continue
            if isinstance(block.get("text"), str):
                out.append(block["text"])
            elif block.get("type") == "tool_result":
                out.extend(_texts(block))
    return out


def _search(call: Call) -> str | None:
    tools = call.tools
    if len(tools) != 1 or not isinstance(tools[0], dict):
        return None
    kind = str(tools[0].get("type", ""))
    if not kind.startswith("web_search"):
        return None
    choice = call.body.get("tool_choice")
    forced = isinstance(choice, dict) and choice.get("type") in ("tool", "any")
    if forced:
        return f"only tool is {kind} and tool_choice forces it → search"
    return f"only tool is {kind} → search"


def _title_request(body: dict[str, Any]) -> str | None:
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if not isinstance(fmt, dict):
        return None
    schema = fmt.get("schema", fmt.get("json_schema"))
    props = schema.get("properties") if isinstance(schema, dict) else None
    if isinstance(props, dict) and "title" in props and not body.get("tools"):
        return "no tools + output_config.format JSON schema with a title → background (title)"
    if not body.get("tools"):
        return "no tools + output_config.format JSON schema → background"
    return None


def _subagent_marker(call: Call) -> str | None:
    if call.header(AGENT_ID_HEADER):
        if call.header(PARENT_AGENT_ID_HEADER):
            return "headers x-claude-code-agent-id + parent-agent-id (nested)"
        return "header x-claude-code-agent-id"
    billing = _billing_block(call)
    if billing and "cc_is_subagent=true" in billing:
        return "cc_is_subagent=true in the billing block"
    return None


def _subagent_step(call: Call, marker: str) -> Step:
    system = " ".join(_system_texts(call)).lower()
    for needle, kind, subagent_type, label in SUBAGENT_PROMPTS:
        if needle in system:
            return Step(kind, f"{marker} + {label} → {kind}", subagent_type=subagent_type)
    return Step(
        "subagent",
        f"{marker}, system prompt of no built-in type (a custom agent) → subagent",
        subagent_type="custom",
    )


def _notified(call: Call) -> bool:
    """Whether the newest user turn brings a background subagent's task notification."""
    for message in reversed(call.messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return any(TASK_NOTIFICATION in text for text in _texts(message))
    return False


def _is_compaction(call: Call) -> bool:
    messages = call.messages
    if not messages:
        return False
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        return False
    content = last.get("content")
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    # The summary request is a text block of its own, appended to the last user message (after
    # tool results when compaction comes mid-loop); text inside a tool result is file content.
    texts = [
        b["text"]
        for b in blocks
        if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
    ]
    # A substring search before the pattern's: the pattern's own scan of a long text costs twice
    # the lower-casing, and almost no text holds the prefix.
    for text in texts:
        lowered = text.lower()
        if _COMPACT_PREFIX in lowered and _COMPACT.search(lowered):
            return True
    return False


def _plan_mode(call: Call) -> str | None:
    # The newest plan-mode marker decides; scan from the end and stop at the first one.
    for message in reversed(call.messages):
        role = message.get("role") if isinstance(message, dict) else None
        for text in reversed(_texts(message)):
            if "lan mode" not in text:  # cheap filter before lower-casing long texts
                continue
            lowered = text.lower()
            events = [(m.start(), "on") for m in _PLAN_ON.finditer(lowered)]
            events += [(m.start(), "off") for m in _PLAN_OFF.finditer(lowered)]
            if not events:
                continue
            if max(events)[1] == "off":
                return None
            where = "a system message" if role == "system" else f"a {role} message"
            return f"plan-mode reminder in {where} → plan"
    return None

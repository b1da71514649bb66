"""What rules look at in a call: size, images, thinking, tools, server tools, last outcome.

Pure functions over the Call view, for every API surface.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agentwrap.route.outcome import last_tool_failed
from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES, Call

# Anthropic tools that the provider runs itself; only Anthropic's API executes them.
SERVER_TOOL_PREFIXES = ("web_search_", "web_fetch_", "code_execution_")
CHARS_PER_TOKEN = 4  # a rough, provider-neutral estimate: rules need a size, not a bill


@dataclass(frozen=True)
class Features:
    """Facts about one call that routing rules and capability checks use."""

    tokens: int  # estimated prompt tokens (system + tools + messages)
    images: bool
    thinking: bool
    tools: bool
    server_tools: tuple[str, ...]  # types of provider-run tools, e.g. web_search_20250305
    last_failed: bool | None  # the previous step's tool results reported an error; None: unknown


def features(call: Call) -> Features:
    """Extract the routing features of a call."""
    return Features(
        tokens=estimate_tokens(call),
        images=has_images(call),
        thinking=wants_thinking(call),
        tools=bool(call.tools) or bool(call.body.get("functionDeclarations")),
        server_tools=server_tools(call),
        last_failed=last_step_failed(call),
    )


def estimate_tokens(call: Call) -> int:
    """About how many tokens the prompt holds (characters of its JSON / 4)."""
    if call.raw_size is not None:
        # The body's size as received: no need to serialise it again on the hot path.
        return call.raw_size // CHARS_PER_TOKEN
    size = 0
    for key in (
        "system",
        "tools",
        "messages",
        "input",
        "instructions",
        "contents",
        "systemInstruction",
    ):
        value = call.body.get(key)
        if value is not None:
            size += len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    return size // CHARS_PER_TOKEN


def _blocks(message: Any) -> list[Any]:
    if not isinstance(message, dict):
        return []
    content = message.get("content", message.get("parts"))
    if isinstance(content, list):
        return content
    return []


def has_images(call: Call) -> bool:
    """Whether any message carries an image."""
    image_types = {"image", "image_url", "input_image"}
    for message in call.messages:
        for block in _blocks(message):
            if not isinstance(block, dict):
                continue
            if block.get("type") in image_types:
                return True
            inline = block.get("inline_data") or block.get("inlineData")
            if isinstance(inline, dict) and str(
                inline.get("mime_type", inline.get("mimeType", ""))
            ).startswith("image/"):
                return True
            # Anthropic tool results can nest images (a screenshot read by a tool).
            if block.get("type") == "tool_result" and any(
                isinstance(b, dict) and b.get("type") == "image" for b in _blocks(block)
            ):
                return True
    return False


def wants_thinking(call: Call) -> bool:
    """Whether the agent asked for extended thinking / reasoning."""
    body = call.body
    if call.surface == ANTHROPIC:
        thinking = body.get("thinking")
        return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
    if call.surface == OPENAI_CHAT:
        return body.get("reasoning_effort") not in (None, "none", "minimal")
    if call.surface == OPENAI_RESPONSES:
        reasoning = body.get("reasoning")
        return isinstance(reasoning, dict) and reasoning.get("effort") not in (
            None,
            "none",
            "minimal",
        )
    if call.surface == GEMINI:
        config = body.get("generationConfig") or {}
        thinking = config.get("thinkingConfig") if isinstance(config, dict) else None
        return isinstance(thinking, dict) and thinking.get("thinkingBudget", 1) != 0
    return False


def server_tools(call: Call) -> tuple[str, ...]:
    """Types of the provider-run (server) tools the call declares."""
    out = []
    for tool in call.tools:
        kind = tool.get("type") if isinstance(tool, dict) else None
        if isinstance(kind, str) and kind.startswith(SERVER_TOOL_PREFIXES):
            out.append(kind)
    return tuple(out)


def last_step_failed(call: Call) -> bool | None:
    """Whether the newest tool results report an error (None when there are none to read).

    Every surface: Anthropic's is_error, and what route.outcome reads from the others' results.
    """
    return last_tool_failed(call)

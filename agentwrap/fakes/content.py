"""What a fake model answers, in no API's format: content blocks, token counts, an answer.

The formats (agentwrap.fakes.formats) write an `Answer` as each API's JSON or SSE events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Text:
    """A text block, streamed in pieces of `chunk` characters (None: the format's usual size)."""

    text: str
    chunk: int | None = None


@dataclass(frozen=True)
class Thinking:
    """Reasoning, streamed in pieces, with its opaque signature.

    A signature left as None is the format's own placeholder (Anthropic "sig", Responses
    "enc", none for Gemini).
    """

    thinking: str
    signature: str | None = None
    chunk: int | None = None


@dataclass(frozen=True)
class ToolUse:
    """A tool call: its input streams as JSON pieces. `id` defaults to a fresh one per answer.

    `server`: a tool the provider runs itself (Anthropic's `server_tool_use`, web search).
    """

    name: str
    input: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    chunk: int | None = None
    server: bool = False


@dataclass(frozen=True)
class RawBlock:
    """An Anthropic content block sent whole (web_search_tool_result, redacted_thinking...)."""

    block: Mapping[str, Any]


Block = Text | Thinking | ToolUse | RawBlock


@dataclass(frozen=True)
class Tokens:
    """Token counts, each kind apart; formats that count cached tokens inside the prompt add them."""

    input: int = 0  # uncached prompt tokens
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    web_search_requests: int = 0

    @property
    def prompt(self) -> int:
        """Every prompt token, cached or not (OpenAI's and Gemini's prompt count)."""
        return self.input + self.cache_read + self.cache_write


@dataclass(frozen=True)
class Answer:
    """One reply ready to be written in any API's format.

    `id` seeds every id the format needs (message, response, tool calls). `stop` is the
    target API's own stop or finish reason; None lets the format choose from the content.
    """

    model: str
    blocks: tuple[Block, ...]
    tokens: Tokens
    id: str = "fake1"
    stop: str | None = None
    created: int = 1

    @property
    def calls(self) -> list[ToolUse]:
        """The tool calls the client must run (not the provider's own server tools)."""
        return [b for b in self.blocks if isinstance(b, ToolUse) and not b.server]

    @property
    def text(self) -> str:
        """Every text block, joined."""
        return "".join(b.text for b in self.blocks if isinstance(b, Text))

    @property
    def thinking(self) -> list[Thinking]:
        """The reasoning blocks."""
        return [b for b in self.blocks if isinstance(b, Thinking)]

    def tool_id(self, index: int, block: ToolUse, prefix: str) -> str:
        """The id of the tool call at `index` among the blocks: the scripted one, else one
        derived from the answer's id."""
        return block.id or f"{prefix}{self.id}_{index}"

    def calls_with_ids(self, prefix: str) -> list[tuple[str, ToolUse]]:
        """Each client tool call with its id."""
        return [
            (self.tool_id(i, b, prefix), b)
            for i, b in enumerate(self.blocks)
            if isinstance(b, ToolUse) and not b.server
        ]


def estimate_tokens(value: Any) -> int:
    """A rough token count of a text or JSON value (four characters a token); at least 1."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return max(1, len(text) // CHARS_PER_TOKEN)


def pieces(text: str, size: int) -> list[str]:
    """A text cut into streamed pieces of `size` characters (an empty text is no piece)."""
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]

"""Each API's wire format, written out by hand: reading requests, writing answers and errors.

Written independently of agentwrap.wire on purpose: the fakes are the counterpart that judges
agentwrap's own parsers and emitters, so they must not share code with them.
"""

from __future__ import annotations

from agentwrap.fakes.formats.anthropic import AnthropicFormat
from agentwrap.fakes.formats.base import (
    ANTHROPIC,
    APIS,
    GEMINI,
    OPENAI_CHAT,
    OPENAI_RESPONSES,
    Event,
    Format,
    Stream,
)
from agentwrap.fakes.formats.gemini import GeminiFormat
from agentwrap.fakes.formats.openai_chat import ChatFormat
from agentwrap.fakes.formats.openai_responses import ResponsesFormat

__all__ = [
    "ANTHROPIC",
    "APIS",
    "FORMATS",
    "GEMINI",
    "OPENAI_CHAT",
    "OPENAI_RESPONSES",
    "Event",
    "Format",
    "Stream",
    "format_for",
]

FORMATS: dict[str, Format] = {
    ANTHROPIC: AnthropicFormat(),
    OPENAI_CHAT: ChatFormat(),
    OPENAI_RESPONSES: ResponsesFormat(),
    GEMINI: GeminiFormat(),
}


def format_for(api: str) -> Format:
    """The format of an API (one of APIS)."""
    if api not in FORMATS:
        raise ValueError(f"unknown api {api!r}; known: {', '.join(APIS)}")
    return FORMATS[api]

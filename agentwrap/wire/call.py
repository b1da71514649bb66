"""The Call view: what the router needs to know about one inference request.

A thin, read-only view over the parsed JSON body; it never changes the body (same-API
calls are forwarded byte-faithfully, with only the model swapped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ANTHROPIC = "anthropic"
OPENAI_CHAT = "openai-chat"
OPENAI_RESPONSES = "openai-responses"
GEMINI = "gemini"
APIS = (ANTHROPIC, OPENAI_CHAT, OPENAI_RESPONSES, GEMINI)


@dataclass
class Call:
    """One inference request as the agent sent it."""

    surface: str  # one of APIS: the API the agent speaks
    endpoint: str  # messages | count_tokens | chat | responses | generate | stream_generate
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    path_model: str | None = None  # gemini carries the model in the path
    raw_size: int | None = None  # bytes of the body as received (cheap size for estimates)

    @property
    def model(self) -> str | None:
        if self.path_model:
            return self.path_model
        value = self.body.get("model")
        return value if isinstance(value, str) else None

    @property
    def stream(self) -> bool:
        if self.surface == GEMINI:
            return self.endpoint == "stream_generate"
        return bool(self.body.get("stream"))

    @property
    def tools(self) -> list[dict[str, Any]]:
        tools = self.body.get("tools")
        return tools if isinstance(tools, list) else []

    @property
    def messages(self) -> list[dict[str, Any]]:
        key = {OPENAI_RESPONSES: "input", GEMINI: "contents"}.get(self.surface, "messages")
        value = self.body.get(key)
        return value if isinstance(value, list) else []

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

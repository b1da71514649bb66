"""What every fake API format provides, and the SSE and JSON helpers they share."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentwrap.fakes.content import Answer

ANTHROPIC = "anthropic"
OPENAI_CHAT = "openai-chat"
OPENAI_RESPONSES = "openai-responses"
GEMINI = "gemini"
APIS = (ANTHROPIC, OPENAI_CHAT, OPENAI_RESPONSES, GEMINI)


@dataclass(frozen=True)
class Event:
    """One streamed event's bytes, and the content it carries (paced by simulated latency)."""

    data: bytes
    text: str = ""


@dataclass(frozen=True)
class Stream:
    """A streamed answer: its events, the first `content` of which precede the ending ones."""

    events: list[Event]
    content: int


def sse(data: Any, event: str | None = None, *, end: str = "\n\n") -> bytes:
    """One server-sent event: an optional `event:` line, then compact JSON data."""
    head = f"event: {event}\n" if event else ""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}data: {body}{end}".encode()


def arguments(value: Mapping[str, Any]) -> str:
    """A tool call's input as the JSON text the APIs carry."""
    return json.dumps(dict(value), ensure_ascii=False)


class Format(ABC):
    """How one API reads requests and writes answers."""

    api: str = ""
    generates: frozenset[str] = frozenset()  # endpoints that ask the model (consume a script)
    explicit_cache = False  # caching only at the request's marked breakpoints

    @abstractmethod
    def endpoint(self, method: str, path: str) -> str | None:
        """The API's name for the endpoint at `path`, or None when it has none there."""

    def model(self, path: str, body: Any) -> str:
        """The model a request asks for."""
        return str(body.get("model") or "") if isinstance(body, dict) else ""

    def wants_stream(self, path: str, body: Any) -> bool:
        """Whether the request asks for a streamed answer."""
        return isinstance(body, dict) and bool(body.get("stream"))

    @abstractmethod
    def authorised(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        """Whether the request carries a key where this API expects one."""

    def turns(self, body: dict[str, Any]) -> list[Any]:
        """The request's conversation, whatever the API calls it."""
        turns = body.get("messages")
        return turns if isinstance(turns, list) else []

    def is_model_turn(self, item: Any) -> bool:
        """Whether a turn of the conversation is the model's own."""
        return isinstance(item, dict) and item.get("role") == "assistant"

    def offered_tools(self, body: dict[str, Any]) -> set[str]:
        """Names of the function tools a request offers."""
        return {
            str(tool["name"])
            for tool in body.get("tools") or []
            if isinstance(tool, dict) and tool.get("name")
        }

    def asks_for_thinking(self, body: dict[str, Any]) -> bool:
        """Whether the request asks for reasoning blocks in the answer."""
        return False

    def offers_web_search(self, body: dict[str, Any]) -> bool:
        """Whether the request offers the provider's own web-search tool."""
        return False

    def cache_segments(self, body: dict[str, Any]) -> list[tuple[str, bool]]:
        """The prompt in cache order, as (serialised piece, cache breakpoint after it)."""
        # Implicit caches: every piece ends a candidate prefix.
        head = {k: body.get(k) for k in ("instructions", "systemInstruction", "tools") if k in body}
        out = [(dump(head), True)] if head else []
        return out + [(dump(item), True) for item in self.turns(body)]

    @abstractmethod
    def whole(self, answer: Answer, request: dict[str, Any]) -> dict[str, Any]:
        """The answer as one JSON document."""

    @abstractmethod
    def stream(self, answer: Answer, request: dict[str, Any]) -> Stream:
        """The answer as streamed events, in the API's order."""

    @abstractmethod
    def error(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        """An HTTP error's body in the API's shape (`kind` defaults from the status)."""

    @abstractmethod
    def stream_error(self, message: str, kind: str | None = None) -> Event:
        """The event a provider sends when a stream fails after it started."""

    @abstractmethod
    def models(self, names: list[str]) -> dict[str, Any]:
        """The model list endpoint's answer."""

    def count_tokens(self, body: dict[str, Any]) -> dict[str, Any]:
        """The token-counting endpoint's answer, for APIs that have one."""
        raise ValueError(f"{self.api} has no token-counting endpoint")


def dump(value: Any) -> str:
    """Stable compact JSON of a value, for comparing prompt prefixes."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

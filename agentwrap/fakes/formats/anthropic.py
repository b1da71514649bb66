"""Anthropic Messages: `POST /v1/messages` (JSON or SSE), count_tokens and the model list."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentwrap.fakes.content import (
    Answer,
    Block,
    RawBlock,
    Text,
    Thinking,
    ToolUse,
    estimate_tokens,
    pieces,
)
from agentwrap.fakes.formats.base import ANTHROPIC, Event, Format, Stream, dump, sse

# The error `type` the real API uses for each HTTP status.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "api_error",
    529: "overloaded_error",
}
TEXT_CHUNK = 7
TOOL_CHUNK = 5
SIGNATURE = "sig"


class AnthropicFormat(Format):
    """The Messages API's wire format."""

    api = ANTHROPIC
    generates = frozenset({"messages"})
    explicit_cache = True

    def endpoint(self, method: str, path: str) -> str | None:
        """messages, count_tokens or models (under any path prefix)."""
        if method == "POST" and path.endswith("/v1/messages"):
            return "messages"
        if method == "POST" and path.endswith("/v1/messages/count_tokens"):
            return "count_tokens"
        if method == "GET" and path.endswith("/v1/models"):
            return "models"
        return None

    def authorised(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        """An x-api-key, or a bearer token as newer SDKs send it."""
        return bool(headers.get("x-api-key") or headers.get("authorization"))

    def asks_for_thinking(self, body: dict[str, Any]) -> bool:
        """`thinking` enabled or adaptive."""
        thinking = body.get("thinking")
        return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")

    def offers_web_search(self, body: dict[str, Any]) -> bool:
        """A `web_search_*` server tool among the tools."""
        return any(
            isinstance(t, dict) and str(t.get("type", "")).startswith("web_search")
            for t in body.get("tools") or []
        )

    def cache_segments(self, body: dict[str, Any]) -> list[tuple[str, bool]]:
        """Tools, system blocks, then every message block; breakpoints where cache_control is."""
        out: list[tuple[str, bool]] = []
        for tool in body.get("tools") or []:
            out.append((dump(_unmarked(tool)), _marked(tool)))
        system = body.get("system")
        blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system or []
        for block in blocks:
            out.append((dump(_unmarked(block)), _marked(block)))
        for message in self.turns(body):
            content = message.get("content") if isinstance(message, dict) else None
            role = message.get("role") if isinstance(message, dict) else None
            for block in content if isinstance(content, list) else [content]:
                out.append((dump({"role": role, "block": _unmarked(block)}), _marked(block)))
        return out

    def whole(self, answer: Answer, request: dict[str, Any]) -> dict[str, Any]:
        """A `message` object."""
        return _message(answer) | {
            "content": [_block(b, answer, i) for i, b in enumerate(answer.blocks)],
            "stop_reason": _stop(answer),
            "usage": _usage(answer, answer.tokens.output) | {"service_tier": "standard"},
        }

    def stream(self, answer: Answer, request: dict[str, Any]) -> Stream:
        """message_start, per block start/deltas/stop (a ping after the first start),
        message_delta and message_stop: the real API's order."""
        start_usage = _usage(answer, min(1, answer.tokens.output)) | {"service_tier": "standard"}
        message = _message(answer) | {"content": [], "stop_reason": None, "usage": start_usage}
        events = [_event({"type": "message_start", "message": message})]
        for index, block in enumerate(answer.blocks):
            block_events = _block_events(index, block, answer)
            events.append(block_events[0])
            if index == 0:
                events.append(_event({"type": "ping"}))
            events.extend(block_events[1:])
        if not answer.blocks:
            events.append(_event({"type": "ping"}))
        content = len(events)
        delta = {"stop_reason": _stop(answer), "stop_sequence": None}
        usage = _usage(answer, answer.tokens.output)
        events.append(_event({"type": "message_delta", "delta": delta, "usage": usage}))
        events.append(_event({"type": "message_stop"}))
        return Stream(events, content)

    def error(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        """{"type": "error", "error": {"type", "message"}}."""
        kind = kind or ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def stream_error(self, message: str, kind: str | None = None) -> Event:
        """An `error` event (overloaded unless told otherwise)."""
        return _event(self.error(500, message, kind or "overloaded_error"))

    def models(self, names: list[str]) -> dict[str, Any]:
        """A one-page model list."""
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-09-29T00:00:00Z"}
            for m in names
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    def count_tokens(self, body: dict[str, Any]) -> dict[str, Any]:
        """{"input_tokens": N}, estimated from the prompt's size."""
        prompt = {k: body.get(k) for k in ("system", "messages", "tools")}
        return {"input_tokens": estimate_tokens(prompt)}


def _marked(block: Any) -> bool:
    return isinstance(block, dict) and "cache_control" in block


def _unmarked(value: Any) -> Any:
    """A block without its cache_control: moving the breakpoint does not change the prefix."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "cache_control"}
    return value


def _event(data: dict[str, Any], text: str = "") -> Event:
    return Event(sse(data, data["type"]), text)


def _message(answer: Answer) -> dict[str, Any]:
    return {
        "id": f"msg_{answer.id}",
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "stop_sequence": None,
    }


def _stop(answer: Answer) -> str:
    return answer.stop or ("tool_use" if answer.calls else "end_turn")


def _usage(answer: Answer, output: int) -> dict[str, Any]:
    tokens = answer.tokens
    usage: dict[str, Any] = {
        "input_tokens": tokens.input,
        "cache_creation_input_tokens": tokens.cache_write,
        "cache_read_input_tokens": tokens.cache_read,
        "output_tokens": output,
    }
    if tokens.web_search_requests:
        usage["server_tool_use"] = {"web_search_requests": tokens.web_search_requests}
    return usage


def _block(block: Block, answer: Answer, index: int) -> dict[str, Any]:
    """A block as it appears, complete, in a whole message."""
    match block:
        case Text():
            return {"type": "text", "text": block.text}
        case Thinking():
            return {
                "type": "thinking",
                "thinking": block.thinking,
                "signature": block.signature or SIGNATURE,
            }
        case ToolUse():
            return {
                "type": "server_tool_use" if block.server else "tool_use",
                "id": answer.tool_id(index, block, "srvtoolu_" if block.server else "toolu_"),
                "name": block.name,
                "input": dict(block.input),
            }
        case RawBlock():
            return dict(block.block)


def _block_events(index: int, block: Block, answer: Answer) -> list[Event]:
    """content_block_start, its deltas and content_block_stop for one block."""
    deltas: list[tuple[dict[str, Any], str]] = []
    match block:
        case Text():
            start: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [
                ({"type": "text_delta", "text": p}, p)
                for p in pieces(block.text, block.chunk or TEXT_CHUNK)
            ]
        case Thinking():
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                ({"type": "thinking_delta", "thinking": p}, p)
                for p in pieces(block.thinking, block.chunk or TEXT_CHUNK)
            ]
            deltas.append(
                ({"type": "signature_delta", "signature": block.signature or SIGNATURE}, "")
            )
        case ToolUse():
            start = _block(block, answer, index) | {"input": {}}
            encoded = json.dumps(dict(block.input), ensure_ascii=False)
            # The real API opens every tool input with an empty piece.
            deltas = [
                ({"type": "input_json_delta", "partial_json": p}, p)
                for p in ["", *pieces(encoded, block.chunk or TOOL_CHUNK)]
            ]
        case RawBlock():
            start = dict(block.block)
    events = [_event({"type": "content_block_start", "index": index, "content_block": start})]
    events += [
        _event({"type": "content_block_delta", "index": index, "delta": d}, text)
        for d, text in deltas
    ]
    events.append(_event({"type": "content_block_stop", "index": index}))
    return events

"""Gemini: `POST …/models/<model>:generateContent`, and `:streamGenerateContent?alt=sse`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentwrap.fakes.content import Answer, Text, Thinking, pieces
from agentwrap.fakes.formats.base import GEMINI, Event, Format, Stream, arguments, sse

TEXT_CHUNK = 12
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class GeminiFormat(Format):
    """The Gemini API's wire format (generateContent and streamGenerateContent)."""

    api = GEMINI
    generates = frozenset({"generateContent", "streamGenerateContent"})

    def endpoint(self, method: str, path: str) -> str | None:
        """generateContent, streamGenerateContent (the model in the path) or models."""
        if method == "POST" and "/models/" in path and ":" in path:
            action = path.rpartition(":")[2]
            return action if action in self.generates else None
        if method == "GET" and path.endswith("/models"):
            return "models"
        return None

    def model(self, path: str, body: Any) -> str:
        """The model named in the path."""
        if "/models/" not in path:
            return ""
        return path.split("/models/", 1)[1].rpartition(":")[0]

    def wants_stream(self, path: str, body: Any) -> bool:
        """The streaming endpoint, whatever the body says."""
        return path.endswith(":streamGenerateContent")

    def authorised(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        """An x-goog-api-key header or a `key` in the query."""
        return bool(headers.get("x-goog-api-key") or query.get("key"))

    def turns(self, body: dict[str, Any]) -> list[Any]:
        """`contents`."""
        turns = body.get("contents")
        return turns if isinstance(turns, list) else []

    def is_model_turn(self, item: Any) -> bool:
        """A content whose role is `model`."""
        return isinstance(item, dict) and item.get("role") == "model"

    def offered_tools(self, body: dict[str, Any]) -> set[str]:
        """The names in every tool's functionDeclarations."""
        names: set[str] = set()
        for tool in body.get("tools") or []:
            if not isinstance(tool, dict):
                continue
            for decl in tool.get("functionDeclarations") or tool.get("function_declarations") or []:
                if isinstance(decl, dict):
                    names.add(str(decl.get("name")))
        return names

    def whole(self, answer: Answer, request: dict[str, Any]) -> dict[str, Any]:
        """One candidate with every part, finished, with the usage."""
        parts: list[dict[str, Any]] = [
            {"text": b.thinking, "thought": True} for b in answer.thinking
        ]
        if answer.text:
            parts.append({"text": answer.text})
        return _doc(answer, parts + _calls(answer), last=True)

    def stream(self, answer: Answer, request: dict[str, Any]) -> Stream:
        """Thought and text pieces, the function calls whole in one chunk, then a last chunk
        with the finish reason and the usage."""
        events: list[Event] = []
        # Gemini separates its events with CRLFs; the calls and the end use LFs (both happen).
        for block in answer.blocks:
            if isinstance(block, Thinking):
                events += [
                    Event(sse(_doc(answer, [{"text": p, "thought": True}]), end="\r\n\r\n"), p)
                    for p in pieces(block.thinking, block.chunk or TEXT_CHUNK)
                ]
        for block in answer.blocks:
            if isinstance(block, Text):
                events += [
                    Event(sse(_doc(answer, [{"text": p}]), end="\r\n\r\n"), p)
                    for p in pieces(block.text, block.chunk or TEXT_CHUNK)
                ]
        calls = _calls(answer)
        if calls:
            events.append(Event(sse(_doc(answer, calls)), arguments({"calls": calls})))
        content = len(events)
        events.append(Event(sse(_doc(answer, [{"text": ""}], last=True))))
        return Stream(events, content)

    def error(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        """{"error": {"code", "message", "status"}}."""
        name = kind or STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "UNKNOWN")
        return {"error": {"code": status, "message": message, "status": name}}

    def stream_error(self, message: str, kind: str | None = None) -> Event:
        """A data chunk holding only an error (unavailable unless told otherwise)."""
        return Event(sse(self.error(503, message, kind)))

    def models(self, names: list[str]) -> dict[str, Any]:
        """A model list."""
        return {
            "models": [
                {"name": f"models/{m}", "displayName": m, "supportedGenerationMethods": []}
                for m in names
            ]
        }


def _calls(answer: Answer) -> list[dict[str, Any]]:
    """functionCall parts; only scripted ids are sent (Gemini usually sends none), and the
    first call carries the reasoning's signature."""
    signature = next((b.signature for b in answer.thinking if b.signature), None)
    parts: list[dict[str, Any]] = []
    for block in answer.calls:
        call: dict[str, Any] = {"name": block.name, "args": dict(block.input)}
        if block.id:
            call["id"] = block.id
        part: dict[str, Any] = {"functionCall": call}
        if signature and not parts:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _doc(answer: Answer, parts: list[dict[str, Any]], *, last: bool = False) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    doc: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": answer.model,
        "responseId": answer.id,
    }
    if last:
        candidate["finishReason"] = answer.stop or "STOP"
        doc["usageMetadata"] = _usage(answer)
    return doc


def _usage(answer: Answer) -> dict[str, int]:
    tokens = answer.tokens
    usage = {
        "promptTokenCount": tokens.prompt,
        "candidatesTokenCount": tokens.output,
        "totalTokenCount": tokens.prompt + tokens.output,
    }
    if tokens.cache_read:
        usage["cachedContentTokenCount"] = tokens.cache_read
    return usage

"""OpenAI Chat Completions: `POST …/chat/completions`, a whole completion or chunks and [DONE]."""

from __future__ import annotations

from typing import Any

from agentwrap.fakes.content import Answer, Text, Thinking, pieces
from agentwrap.fakes.formats.base import OPENAI_CHAT, Event, Stream, arguments, sse
from agentwrap.fakes.formats.openai import OpenAIFormat

TEXT_CHUNK = 7
TOOL_CHUNK = 4
DONE = Event(b"data: [DONE]\n\n")


class ChatFormat(OpenAIFormat):
    """The Chat Completions API's wire format."""

    api = OPENAI_CHAT
    generates = frozenset({"chat/completions"})

    def offered_tools(self, body: dict[str, Any]) -> set[str]:
        """The names of `{"type": "function", "function": {...}}` tools."""
        return {
            str(tool["function"].get("name"))
            for tool in body.get("tools") or []
            if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
        }

    def whole(self, answer: Answer, request: dict[str, Any]) -> dict[str, Any]:
        """A `chat.completion` with one choice."""
        message: dict[str, Any] = {"role": "assistant", "content": answer.text or None}
        reasoning = "".join(b.thinking for b in answer.thinking)
        if reasoning:
            message["reasoning_content"] = reasoning
        calls = _calls(answer)
        if calls:
            message["tool_calls"] = [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                for i, n, a, _ in calls
            ]
        return _head(answer, "chat.completion") | {
            "choices": [
                {"index": 0, "message": message, "finish_reason": _finish(answer), "logprobs": None}
            ],
            "usage": _usage(answer),
        }

    def stream(self, answer: Answer, request: dict[str, Any]) -> Stream:
        """A role chunk, reasoning, text and tool-call chunks, the finish chunk, usage when
        `stream_options.include_usage` asks for it, then [DONE]."""
        events = [_chunk(answer, {"role": "assistant", "content": ""})]
        for block in answer.blocks:
            if isinstance(block, Thinking):
                events += [
                    _chunk(answer, {"reasoning_content": p}, text=p)
                    for p in pieces(block.thinking, block.chunk or TEXT_CHUNK)
                ]
        for block in answer.blocks:
            if isinstance(block, Text):
                events += [
                    _chunk(answer, {"content": p}, text=p)
                    for p in pieces(block.text, block.chunk or TEXT_CHUNK)
                ]
        for index, (call_id, name, args, chunk) in enumerate(_calls(answer)):
            head = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            events.append(_chunk(answer, {"tool_calls": [head]}))
            events += [
                _chunk(
                    answer, {"tool_calls": [{"index": index, "function": {"arguments": p}}]}, text=p
                )
                for p in pieces(args, chunk or TOOL_CHUNK)
            ]
        content = len(events)
        events.append(_chunk(answer, {}, _finish(answer)))
        options = request.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            usage = _head(answer, "chat.completion.chunk") | {
                "choices": [],
                "usage": _usage(answer),
            }
            events.append(Event(sse(usage)))
        events.append(DONE)
        return Stream(events, content)

    def stream_error(self, message: str, kind: str | None = None) -> Event:
        """A data chunk holding only an error."""
        return Event(sse(self.error(500, message, kind)))


def _head(answer: Answer, kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{answer.id}",
        "object": kind,
        "created": answer.created,
        "model": answer.model,
    }


def _chunk(
    answer: Answer, delta: dict[str, Any], finish: str | None = None, text: str = ""
) -> Event:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
    return Event(sse(_head(answer, "chat.completion.chunk") | {"choices": [choice]}), text)


def _calls(answer: Answer) -> list[tuple[str, str, str, int | None]]:
    """(id, name, arguments, chunk) of each tool call."""
    return [(i, b.name, arguments(b.input), b.chunk) for i, b in answer.calls_with_ids("call_")]


def _finish(answer: Answer) -> str:
    return answer.stop or ("tool_calls" if answer.calls else "stop")


def _usage(answer: Answer) -> dict[str, Any]:
    tokens = answer.tokens
    return {
        "prompt_tokens": tokens.prompt,
        "completion_tokens": tokens.output,
        "total_tokens": tokens.prompt + tokens.output,
        "prompt_tokens_details": {"cached_tokens": tokens.cache_read},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }

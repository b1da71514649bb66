"""OpenAI Responses: `POST …/responses`, a whole response or response.created … completed."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from agentwrap.fakes.content import Answer, Text, pieces
from agentwrap.fakes.formats.base import OPENAI_RESPONSES, Event, Stream, arguments, sse
from agentwrap.fakes.formats.openai import OpenAIFormat

TEXT_CHUNK = 7
TOOL_CHUNK = 4
ENCRYPTED = "enc"
MODEL_TURN_ITEMS = ("function_call", "reasoning", "custom_tool_call", "web_search_call")
Emit = Callable[..., Event]


class ResponsesFormat(OpenAIFormat):
    """The Responses API's wire format."""

    api = OPENAI_RESPONSES
    generates = frozenset({"responses"})

    def turns(self, body: dict[str, Any]) -> list[Any]:
        """`input`: a list of items, or one user message as a string."""
        turns = body.get("input")
        if isinstance(turns, str):
            return [{"role": "user", "content": turns}]
        return turns if isinstance(turns, list) else []

    def is_model_turn(self, item: Any) -> bool:
        """An assistant message, or an item only the model makes (calls, reasoning)."""
        if not isinstance(item, dict):
            return False
        return item.get("type") in MODEL_TURN_ITEMS or item.get("role") == "assistant"

    def whole(self, answer: Answer, request: dict[str, Any]) -> dict[str, Any]:
        """A completed (or incomplete) `response`."""
        return _response(answer, request, "completed", [item for item, _ in _items(answer)])

    def stream(self, answer: Answer, request: dict[str, Any]) -> Stream:
        """response.created, in_progress, each output item's events, then completed."""
        numbers = itertools.count()

        def ev(kind: str, text: str = "", **payload: Any) -> Event:
            data = {"type": kind, **payload, "sequence_number": next(numbers)}
            return Event(sse(data, kind), text)

        opening = _response(answer, request, "in_progress", [])
        events = [
            ev("response.created", response=opening),
            ev("response.in_progress", response=opening),
        ]
        items = _items(answer)
        for pos, (item, chunk) in enumerate(items):
            events += _item_events(ev, pos, item, chunk)
        content = len(events)
        final = _response(answer, request, "completed", [item for item, _ in items])
        ending = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        events.append(ev(ending, response=final))
        return Stream(events, content)

    def stream_error(self, message: str, kind: str | None = None) -> Event:
        """An `error` event."""
        data = {
            "type": "error",
            "code": kind or "server_error",
            "message": message,
            "param": None,
            "sequence_number": 9999,
        }
        return Event(sse(data, "error"))


def _items(answer: Answer) -> list[tuple[dict[str, Any], int]]:
    """Reasoning, one message with all the text, then the function calls; each with the size
    of its streamed pieces."""
    items: list[tuple[dict[str, Any], int]] = []
    for n, block in enumerate(answer.thinking):
        items.append(
            (
                {
                    "id": f"rs_{answer.id}" + (f"_{n}" if n else ""),
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": block.thinking}],
                    "encrypted_content": block.signature or ENCRYPTED,
                },
                block.chunk or TEXT_CHUNK,
            )
        )
    texts = [b for b in answer.blocks if isinstance(b, Text)]
    if answer.text:
        message = {
            "id": f"msg_{answer.id}",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": answer.text, "annotations": []}],
        }
        items.append((message, texts[0].chunk or TEXT_CHUNK))
    for n, (call_id, use) in enumerate(answer.calls_with_ids("call_")):
        call = {
            "id": f"fc_{answer.id}_{n}",
            "type": "function_call",
            "status": "completed",
            "call_id": call_id,
            "name": use.name,
            "arguments": arguments(use.input),
        }
        items.append((call, use.chunk or TOOL_CHUNK))
    return items


def _response(
    answer: Answer, request: dict[str, Any], status: str, output: list[dict[str, Any]]
) -> dict[str, Any]:
    done = status == "completed"
    doc: dict[str, Any] = {
        "id": f"resp_{answer.id}",
        "object": "response",
        "created_at": answer.created,
        "status": status,
        "model": answer.model,
        "output": output,
        "error": None,
        "incomplete_details": None,
        "usage": _usage(answer) if done else None,
        "instructions": request.get("instructions"),
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": 1.0,
        "top_p": 1.0,
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "text": {"format": {"type": "text"}},
        "store": request.get("store", True),
    }
    if done and answer.stop == "max_output_tokens":
        doc["status"] = "incomplete"
        doc["incomplete_details"] = {"reason": "max_output_tokens"}
    return doc


def _usage(answer: Answer) -> dict[str, Any]:
    tokens = answer.tokens
    return {
        "input_tokens": tokens.prompt,
        "input_tokens_details": {"cached_tokens": tokens.cache_read},
        "output_tokens": tokens.output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": tokens.prompt + tokens.output,
    }


def _item_events(ev: Emit, pos: int, item: dict[str, Any], size: int) -> list[Event]:
    """The events of one output item, from output_item.added to output_item.done."""
    base = {"item_id": item["id"], "output_index": pos}
    kind = item["type"]
    if kind == "reasoning":
        text = item["summary"][0]["text"]
        part = {"type": "summary_text", "text": ""}
        out = [
            ev(
                "response.output_item.added",
                output_index=pos,
                item={"id": item["id"], "type": "reasoning", "summary": []},
            ),
            ev("response.reasoning_summary_part.added", **base, summary_index=0, part=part),
        ]
        out += [
            ev("response.reasoning_summary_text.delta", p, **base, summary_index=0, delta=p)
            for p in pieces(text, size)
        ]
        out += [
            ev("response.reasoning_summary_text.done", **base, summary_index=0, text=text),
            ev(
                "response.reasoning_summary_part.done",
                **base,
                summary_index=0,
                part={"type": "summary_text", "text": text},
            ),
        ]
    elif kind == "message":
        text = item["content"][0]["text"]
        ids = {**base, "content_index": 0}
        out = [
            ev(
                "response.output_item.added",
                output_index=pos,
                item={**item, "status": "in_progress", "content": []},
            ),
            ev(
                "response.content_part.added",
                **ids,
                part={"type": "output_text", "text": "", "annotations": []},
            ),
        ]
        out += [
            ev("response.output_text.delta", p, **ids, delta=p, logprobs=[])
            for p in pieces(text, size)
        ]
        out += [
            ev("response.output_text.done", **ids, text=text, logprobs=[]),
            ev("response.content_part.done", **ids, part=item["content"][0]),
        ]
    else:
        out = [
            ev(
                "response.output_item.added",
                output_index=pos,
                item={**item, "status": "in_progress", "arguments": ""},
            )
        ]
        out += [
            ev("response.function_call_arguments.delta", p, **base, delta=p)
            for p in pieces(item["arguments"], size)
        ]
        out.append(
            ev(
                "response.function_call_arguments.done",
                **base,
                name=item["name"],
                arguments=item["arguments"],
            )
        )
    out.append(ev("response.output_item.done", output_index=pos, item=item))
    return out

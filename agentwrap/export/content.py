"""Message content for spans, in the GenAI conventions' shape; used only when the user opted in.

`gen_ai.system_instructions`, `gen_ai.input.messages` and `gen_ai.output.messages` are JSON
text: lists of messages with typed parts (`text`, `reasoning`, `tool_call`,
`tool_call_response`, `blob` for images and documents, whose bytes are left out). The request
is read with the wire parsers from the body the agent sent; the answer from the bytes the agent
received (a JSON body or an SSE stream, in the agent's API). Key-looking strings are scrubbed
here too, and each attribute is capped: the oldest messages go first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentwrap.export.spans import scrub
from agentwrap.wire import canonical as c
from agentwrap.wire import translate
from agentwrap.wire.sse import SSEDecoder
from agentwrap.wire.stream import StreamParser
from agentwrap.wire.surface import SURFACES

MAX_ATTRIBUTE = 128 * 1024  # characters of JSON per attribute


def _part(part: c.Part) -> dict[str, Any]:
    if isinstance(part, c.Text):
        return {"type": "text", "content": part.text}
    if isinstance(part, c.Thinking):
        return {"type": "reasoning", "content": part.text}
    if isinstance(part, c.ToolCall):
        return {"type": "tool_call", "id": part.id, "name": part.name, "arguments": part.input}
    if isinstance(part, c.ToolResult):
        return {"type": "tool_call_response", "id": part.call_id, "response": part.text}
    if isinstance(part, c.Image):
        return {"type": "blob", "modality": "image", "mime_type": part.media_type}
    return {"type": "blob", "modality": "document", "mime_type": part.media_type}


def _message(role: str, parts: list[c.Part], **extra: Any) -> dict[str, Any]:
    return {"role": role, "parts": [_part(p) for p in parts], **extra}


def _dump(items: list[dict[str, Any]]) -> str | None:
    """JSON of the newest items that fit the cap, scrubbed; None for nothing."""
    kept = list(items)
    while kept:
        text = scrub(json.dumps(kept, ensure_ascii=False, default=str), limit=MAX_ATTRIBUTE + 1)
        if len(text) <= MAX_ATTRIBUTE or len(kept) == 1:
            return text[:MAX_ATTRIBUTE]
        kept = kept[1:]
    return None


def request_content(
    body: Mapping[str, Any], surface: str, path_model: str | None = None
) -> dict[str, str]:
    """The system instructions and input messages of a request body (in `surface`'s API)."""
    try:
        request = translate.parse_request(dict(body), surface, path_model)
    except Exception:
        return {}  # content is a courtesy: a body the parsers refuse leaves it out
    out: dict[str, str] = {}
    system = _dump([_part(t) for t in request.system])
    if system:
        out["gen_ai.system_instructions"] = system
    messages = _dump([_message(m.role, m.parts) for m in request.messages])
    if messages:
        out["gen_ai.input.messages"] = messages
    return out


def response_content(data: bytes, surface: str, streamed: bool) -> dict[str, str]:
    """The output message of an answer as the agent received it (JSON or SSE)."""
    api = SURFACES.get(surface)
    if api is None or not data:
        return {}
    try:
        if streamed:
            parts, stop = _from_stream(data, api.stream_parser())
        else:
            response = api.parse_response(json.loads(data))
            parts, stop = list(response.content), response.stop_reason
    except Exception:
        return {}
    text = _dump([_message("assistant", parts, finish_reason=stop)])
    return {"gen_ai.output.messages": text} if text else {}


def _from_stream(data: bytes, parser: StreamParser) -> tuple[list[c.Part], str | None]:
    decoder = SSEDecoder()
    events: list[c.Event] = []
    for event, payload in [*decoder.feed(data), *decoder.close()]:
        try:
            events.extend(parser.feed(event, payload))
        except Exception:
            continue
    if not parser.done and parser.finished:
        # Gemini says it is done with a finish reason, not with a closing event.
        events.extend(parser.finish())
    parts: dict[int, c.Part] = {}
    args: dict[int, str] = {}
    stop: str | None = None
    for ev in events:
        if isinstance(ev, c.BlockStart):
            if ev.kind == "tool_use":
                parts[ev.index] = c.ToolCall(ev.id or "", ev.name or "")
            elif ev.kind in ("thinking", "redacted_thinking"):
                parts[ev.index] = c.Thinking()
            else:
                parts[ev.index] = c.Text("")
        elif isinstance(ev, c.Delta):
            part = parts.setdefault(ev.index, c.Text(""))
            if ev.kind == "json":
                args[ev.index] = args.get(ev.index, "") + ev.value
            elif (
                ev.kind == "text"
                and isinstance(part, c.Text)
                or ev.kind == "thinking"
                and isinstance(part, c.Thinking)
            ):
                part.text += ev.value
        elif isinstance(ev, c.End):
            stop = ev.stop_reason
    for index, raw in args.items():
        call = parts.get(index)
        if isinstance(call, c.ToolCall):
            call.input = c.parse_json_args(raw)
    return [parts[i] for i in sorted(parts)], stop

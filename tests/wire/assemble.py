"""Reassemble a stream of any API into one plain summary, for comparing streams in tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agentwrap.wire import canonical as c
from agentwrap.wire.common import Usage
from agentwrap.wire.sse import SSEDecoder
from agentwrap.wire.surface import SURFACES


@dataclass
class Assembled:
    text: str = ""
    thinking: str = ""
    signatures: list[str] = field(default_factory=list)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)  # (id, name, args)
    stop: str | None = None
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    ended: bool = False


def assemble(api: str, data: bytes) -> Assembled:
    """Parse `data` (SSE of API `api`) and gather what it says."""
    decoder = SSEDecoder()
    parser = SURFACES[api].stream_parser()
    out = Assembled()
    blocks: dict[int, dict[str, Any]] = {}
    events: list[c.Event] = []
    for event, payload in [*decoder.feed(data), *decoder.close()]:
        events += parser.feed(event, payload)
    if not parser.done and parser.finished:
        events += parser.finish()
    for ev in events:
        if isinstance(ev, c.BlockStart):
            blocks[ev.index] = {"start": ev, "json": []}
        elif isinstance(ev, c.Delta):
            if ev.kind == "text":
                out.text += ev.value
            elif ev.kind == "thinking":
                out.thinking += ev.value
            elif ev.kind == "signature":
                out.signatures.append(ev.value)
            elif ev.kind == "json":
                blocks[ev.index]["json"].append(ev.value)
        elif isinstance(ev, c.BlockStop):
            block = blocks.get(ev.index)
            if block and block["start"].kind == "tool_use":
                start = block["start"]
                out.calls.append((start.id, start.name, json.loads("".join(block["json"]) or "{}")))
        elif isinstance(ev, c.End):
            out.stop, out.usage, out.ended = ev.stop_reason, ev.usage, True
        elif isinstance(ev, c.StreamError):
            out.error = ev.message
    return out

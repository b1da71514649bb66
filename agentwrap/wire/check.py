"""Whether a provider's answer is sound: what the proxy looks for before it calls an answer `ok`.

A stream is sound when it is server-sent events whose data lines are JSON (or the API's own
end marker), carries no error event, and reaches the event that ends the answer. A whole body
is sound when it is a JSON document that is not an error. `StreamCheck` watches a stream as
it passes (its lines are split once and very long data lines are not held);
`whole_body_flaw` judges a body already read. Both name the flaw in one sentence.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from agentwrap.wire import canonical as c
from agentwrap.wire.surface import surface_for

# A data line longer than this is content (a huge delta): counted, never held or decoded.
LINE_LIMIT = 1 << 20
_FIELDS = (b"data", b"event", b"id", b"retry")
# After the first chunk only events that may end an answer go to the stream parser: an error
# (every API), Anthropic's message_stop, Chat's [DONE] or a finish_reason that is not null,
# Responses' completed, failed or incomplete, Gemini's finishReason.
_ENDINGS = re.compile(
    rb'"error"|message_stop|\[DONE\]|"finish_reason": ?"|"finishReason"'
    rb"|response\.(?:completed|failed|incomplete)"
)
_JSON = json.JSONDecoder()
# What a parser may raise on an event of a shape nobody expected.
_ODD: tuple[type[Exception], ...] = (TypeError, AttributeError, KeyError, IndexError, ValueError)


class StreamCheck:
    """Watches one SSE answer in API `api`: events, content, an error inside it, its end.

    It sits on the hot path of every streamed call, so it does per event only what C does
    fast (split lines, decode JSON); the surface's stream parser sees the first chunk's events
    (is there content before an error?) and after that only events that may end the answer.
    """

    def __init__(self, api: str) -> None:
        self._parser = surface_for(api).stream_parser()
        self._buf = b""
        self._skipping = False  # inside a data line too long to hold
        self._event: str | None = None
        self._data: list[bytes] = []
        self._long = False
        self._first = True  # the first chunk: every event goes to the parser
        self.bytes = 0
        self.events = 0
        self.content = 0  # events seen by the parser that carry part of the answer
        self.error: str | None = None  # the error event the provider sent, as "kind: message"
        self.malformed = 0
        self.first_malformed: str | None = None

    @property
    def complete(self) -> bool:
        """Whether the answer reached its end (or the API's sign that it is over)."""
        return self._parser.done or self._parser.finished

    def feed(self, chunk: bytes) -> None:
        """Raw answer bytes as they pass."""
        self.bytes += len(chunk)
        if self._skipping:
            end = chunk.find(b"\n")
            if end < 0:
                return
            chunk = chunk[end + 1 :]
            self._skipping, self._long = False, True
        if b"\n" not in chunk:
            self._buf += chunk
            if len(self._buf) > LINE_LIMIT:
                self._buf, self._skipping = b"", True
        else:
            lines = (self._buf + chunk).split(b"\n")
            self._buf = lines.pop()
            for line in lines:
                self._line(line[:-1] if line.endswith(b"\r") else line)
            if len(self._buf) > LINE_LIMIT:
                self._buf, self._skipping = b"", True
        self._first = False

    def close(self) -> None:
        """The stream has ended."""
        if self._buf:
            self._line(self._buf.rstrip(b"\r"))
            self._buf = b""
        self._line(b"")
        if not self._parser.done and self._parser.finished:
            with contextlib.suppress(*_ODD):
                self._parser.finish()

    def flaw(self, ended: bool = True) -> str | None:
        """What is wrong with the stream so far (`ended`: it is over, so it must be whole)."""
        if self.error is not None:
            return f"sent an error event: {self.error}"
        if self.malformed:
            more = f" (and {self.malformed - 1} more)" if self.malformed > 1 else ""
            return f"sent a malformed stream: {self.first_malformed}{more}"
        if not ended:
            return None
        if self.bytes == 0:
            return "sent an empty stream"
        if self.events == 0:
            return "sent a stream without a single event"
        if not self.complete:
            return "ended its stream before the answer was complete"
        return None

    def _line(self, line: bytes) -> None:
        if not line:
            self._dispatch()
        elif line.startswith(b"data:"):
            self._data.append(line[6:] if line.startswith(b"data: ") else line[5:])
        elif line.startswith(b"event:"):
            self._event = line[6:].strip().decode("utf-8", "replace")
        elif not line.startswith(b":") and line.partition(b":")[0] not in _FIELDS:
            self._bad(f"a line that is not an event field: {_snippet(line)}")

    def _dispatch(self) -> None:
        data, event, long = self._data, self._event, self._long
        self._data, self._event, self._long = [], None, False
        if long:
            self.events += 1
            return
        if not data:
            return
        self.events += 1
        raw = data[0] if len(data) == 1 else b"\n".join(data)
        try:
            text = raw.decode("utf-8")
            if text.strip() != "[DONE]":
                _JSON.decode(text)
        except ValueError:  # UnicodeDecodeError is one
            self._bad(f"a data line that is not JSON: {_snippet(raw)}")
            return
        if self._parser.done or not (self._first or _ENDINGS.search(raw)):
            return
        try:
            events = self._parser.feed(event, text)
        except _ODD:
            return
        for ev in events:
            if isinstance(ev, c.StreamError):
                self.error = f"{ev.kind}: {ev.message}"
            elif isinstance(ev, c.Delta | c.BlockStart):
                self.content += 1

    def _bad(self, what: str) -> None:
        self.malformed += 1
        if self.first_malformed is None:
            self.first_malformed = what


def whole_body_flaw(api: str, body: bytes) -> str | None:
    """What is wrong with a whole 2xx answer in API `api`, or None when it is a sound one."""
    text = body.strip()
    if not text:
        return "answered with an empty body"
    try:
        doc: Any = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return f"answered with a body that is not JSON: {_snippet(text)}"
    if isinstance(doc, list) and doc:
        doc = doc[-1]  # Gemini may answer a JSON array of chunks
    if not isinstance(doc, dict):
        return f"answered with JSON that is not an object: {_snippet(text)}"
    if not any(k in doc for k in ("content", "choices", "output", "candidates")):
        try:
            message, kind = surface_for(api).parse_error(doc)
        except _ODD:
            message, kind = None, None
        if message:
            return f"answered with an error: {kind or 'error'}: {message}"
    return None


def _snippet(raw: bytes, limit: int = 80) -> str:
    text = " ".join(raw[: limit * 2].decode("utf-8", "replace").split())
    return repr(text[:limit] + ("…" if len(text) > limit else ""))

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

try:
    import orjson
except ImportError:  # an install without it: the standard library alone
    orjson = None  # type: ignore[assignment]

from agentwrap.wire import canonical as c
from agentwrap.wire.surface import surface_for

# A data line longer than this is content (a huge delta): counted, never held or decoded.
LINE_LIMIT = 1 << 20
_FIELDS = (b"data", b"event", b"id", b"retry")
# Events that may end an answer: an error (every API), Anthropic's message_stop, Chat's
# [DONE] or a finish_reason that is not null, Responses' completed, failed or incomplete,
# Gemini's finishReason. One search per event that may need it (faster than as many
# substring tests on each).
_ENDINGS = re.compile(
    rb'"(?:error"|finish_reason": ?"|finishReason")|message_stop|\[DONE\]'
    rb"|response\.(?:completed|failed|incomplete)"
)
# Every text _ENDINGS matches holds one of these: the lines of a block before the first of them
# need no search (nine bytes.find over a block cost about half the searches of its events).
_ENDING_MARKS = (
    b'"error"',
    b"message_stop",
    b"[DONE]",
    b'_reason":"',
    b'_reason": "',
    b'finishReason"',
    b"response.completed",
    b"response.failed",
    b"response.incomplete",
)
# A block shorter than this (an event or two) is searched event by event: that costs less.
SCAN_FROM = 512
_JSON = json.JSONDecoder()
# What a parser may raise on an event of a shape nobody expected.
_ODD: tuple[type[Exception], ...] = (TypeError, AttributeError, KeyError, IndexError, ValueError)


def _json_refuses(raw: bytes) -> bool:
    """Whether json.loads refuses an event's data that is not the API's end marker."""
    try:
        text = raw.decode("utf-8")
        if text.strip() != "[DONE]":
            _JSON.decode(text)
    except ValueError:  # UnicodeDecodeError is one
        return True
    return False


def _lines_before_an_ending(block: bytes) -> int:
    """How many of a block's lines come before the first that holds one of _ENDING_MARKS."""
    end = len(block)
    for mark in _ENDING_MARKS:
        at = block.find(mark, 0, end)
        if at >= 0:
            end = at
    return block.count(b"\n", 0, end)


if orjson is not None:
    # orjson answers for nearly every event at a fraction of json's cost; what it refuses
    # (NaN, [DONE], undecodable bytes) is judged again the standard library's way.
    _first_look = orjson.loads
    _Refused: type[Exception] = orjson.JSONDecodeError
else:

    class _Refused(Exception):  # type: ignore[no-redef]
        """Nothing judged first: every event goes to the standard library."""

    def _first_look(raw: bytes) -> Any:
        raise _Refused


class StreamCheck:
    """Watches one SSE answer in API `api`: events, content, an error inside it, its end.

    It sits on the hot path of every streamed call, so it does per event only what C does
    fast (split lines, validate JSON, search for a few markers); the surface's stream parser
    sees the answer's first events until one carries content (is there content before an
    error?) and after that only events that may end the answer.
    """

    def __init__(self, api: str) -> None:
        self._parser = surface_for(api).stream_parser()
        self._buf = b""
        self._skipping = False  # inside a data line too long to hold
        self._event: bytes | None = None
        self._data: list[bytes] = []
        self._long = False
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
        if chunk.find(b"\n") < 0:
            self._buf += chunk
        else:
            block = self._buf + chunk
            lines = block.split(b"\n")
            self._buf = lines.pop()
            if block.find(b"\r") >= 0:
                lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
            clean = len(lines)  # how many lines, from the first, need no search per event
            if not self._parser.done:
                clean = 0 if len(block) < SCAN_FROM else _lines_before_an_ending(block)
            if clean:
                self._lines(lines[:clean] if clean < len(lines) else lines, True)
            if clean < len(lines):
                self._lines(lines[clean:], False)
        if len(self._buf) > LINE_LIMIT:
            self._buf, self._skipping = b"", True

    def close(self) -> None:
        """The stream has ended."""
        last = self._buf.rstrip(b"\r")
        self._buf = b""
        # A blank line ends the event being gathered, as the end of the stream does.
        self._lines([last, b""] if last else [b""], False)
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

    def _lines(self, lines: list[bytes], clean: bool) -> None:
        """Lines without their ends (`clean`: none of them holds the end of an answer)."""
        # The state lives in locals for the loop and goes back whatever happens.
        data, event, long, events = self._data, self._event, self._long, self.events
        done, content = self._parser.done, self.content
        # An event gathered before these lines may hold an ending: it is searched.
        carried = bool(data)
        try:
            for line in lines:
                if not line:
                    if long:
                        data, long, event, carried = [], False, None, False
                        events += 1
                        continue
                    if not data:
                        event = None
                        continue
                    events += 1
                    raw = b"\n".join(data)
                    data = []
                    try:
                        _first_look(raw)
                    except _Refused:
                        if _json_refuses(raw):
                            self._bad(f"a data line that is not JSON: {_snippet(raw)}")
                            event, carried = None, False
                            continue
                    if not done and (
                        not content or ((carried or not clean) and _ENDINGS.search(raw) is not None)
                    ):
                        self._parse(event, raw)
                        done, content = self._parser.done, self.content
                    event, carried = None, False
                elif line.startswith(b"data: "):
                    data.append(line[6:])
                elif line.startswith(b"event:"):
                    event = line[6:]
                elif line.startswith(b"data:"):
                    data.append(line[5:])
                elif not line.startswith(b":") and line.partition(b":")[0] not in _FIELDS:
                    self._bad(f"a line that is not an event field: {_snippet(line)}")
        finally:
            self._data, self._event, self._long, self.events = data, event, long, events

    def _parse(self, event: bytes | None, raw: bytes) -> None:
        name = None if event is None else event.strip().decode("utf-8", "replace")
        try:
            events = self._parser.feed(name, raw.decode("utf-8"))
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

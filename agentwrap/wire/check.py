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
# Gemini's finishReason. One search per event (faster here than as many substring tests).
_ENDINGS = re.compile(
    rb'"(?:error"|finish_reason": ?"|finishReason")|message_stop|\[DONE\]'
    rb"|response\.(?:completed|failed|incomplete)"
)
_JSON = json.JSONDecoder()
# What a parser may raise on an event of a shape nobody expected.
_ODD: tuple[type[Exception], ...] = (TypeError, AttributeError, KeyError, IndexError, ValueError)


def _not_json(raw: bytes) -> bool:
    """Whether an event's data is neither JSON nor the API's end marker, as json.loads judges.

    orjson answers for nearly every event at a fraction of json's cost; what it refuses
    (NaN, [DONE], undecodable bytes) is judged again the standard library's way."""
    if orjson is not None:
        try:
            orjson.loads(raw)
            return False
        except orjson.JSONDecodeError:
            pass
    try:
        text = raw.decode("utf-8")
        if text.strip() != "[DONE]":
            _JSON.decode(text)
    except ValueError:  # UnicodeDecodeError is one
        return True
    return False


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
        if b"\n" not in chunk:
            self._buf += chunk
        else:
            lines = (self._buf + chunk).split(b"\n")
            self._buf = lines.pop()
            self._lines(lines)
        if len(self._buf) > LINE_LIMIT:
            self._buf, self._skipping = b"", True

    def close(self) -> None:
        """The stream has ended."""
        if self._buf:
            self._lines([self._buf.rstrip(b"\r")])
            self._buf = b""
        self._dispatch()
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

    def _lines(self, lines: list[bytes]) -> None:
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                self._dispatch()
            elif line.startswith(b"data:"):
                self._data.append(line[6:] if line.startswith(b"data: ") else line[5:])
            elif line.startswith(b"event:"):
                self._event = line[6:]
            elif not line.startswith(b":") and line.partition(b":")[0] not in _FIELDS:
                self._bad(f"a line that is not an event field: {_snippet(line)}")

    def _dispatch(self) -> None:
        data, event, long = self._data, self._event, self._long
        self._event, self._long = None, False
        if long:
            self._data = []
            self.events += 1
            return
        if not data:
            return
        self._data = []
        self.events += 1
        raw = data[0] if len(data) == 1 else b"\n".join(data)
        if _not_json(raw):
            self._bad(f"a data line that is not JSON: {_snippet(raw)}")
            return
        parser = self._parser
        if parser.done or (self.content and _ENDINGS.search(raw) is None):
            return
        name = None if event is None else event.strip().decode("utf-8", "replace")
        try:
            events = parser.feed(name, raw.decode("utf-8"))
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

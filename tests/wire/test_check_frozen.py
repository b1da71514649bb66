"""The stream check and the usage tap give the verdicts they gave before they were made faster.

`FrozenCheck` and `FrozenTap` below are the two as they stood before their hot loops were
tightened, kept here as the judges: the current ones must agree with them on every field,
after every chunk, for random answers of all four APIs and mangled ones (bad JSON, CR/LF
mixes, comments, id: and retry: lines, multi-line data, empty event names, long lines,
[DONE]), however the bytes are cut.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwrap.fakes.formats import format_for
from agentwrap.fakes.provider import Call, Reply, stream_bytes
from agentwrap.wire import canonical as c
from agentwrap.wire import check as check_module
from agentwrap.wire import jsonload
from agentwrap.wire.check import StreamCheck
from agentwrap.wire.common import TapReading, Usage
from agentwrap.wire.surface import SURFACES, surface_for
from agentwrap.wire.usage import UsageTap

try:
    import orjson
except ImportError:  # an install without it: the standard library alone
    orjson = None  # type: ignore[assignment]

APIS = ["anthropic", "openai-chat", "openai-responses", "gemini"]

# ---------------------------------------------------------------- the stream check, frozen

LINE_LIMIT = 1 << 20  # set with check_module.LINE_LIMIT by the tests, to reach long lines cheaply
_FIELDS = (b"data", b"event", b"id", b"retry")
_ENDINGS = re.compile(
    rb'"(?:error"|finish_reason": ?"|finishReason")|message_stop|\[DONE\]'
    rb"|response\.(?:completed|failed|incomplete)"
)
_JSON = json.JSONDecoder()
_ODD: tuple[type[Exception], ...] = (TypeError, AttributeError, KeyError, IndexError, ValueError)


def _not_json(raw: bytes) -> bool:
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
    except ValueError:
        return True
    return False


def _snippet(raw: bytes, limit: int = 80) -> str:
    text = " ".join(raw[: limit * 2].decode("utf-8", "replace").split())
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


class FrozenCheck:
    """StreamCheck as it was before its line loop and dispatch were tightened."""

    def __init__(self, api: str) -> None:
        self._parser = surface_for(api).stream_parser()
        self._buf = b""
        self._skipping = False
        self._event: bytes | None = None
        self._data: list[bytes] = []
        self._long = False
        self.bytes = 0
        self.events = 0
        self.content = 0
        self.error: str | None = None
        self.malformed = 0
        self.first_malformed: str | None = None

    @property
    def complete(self) -> bool:
        return self._parser.done or self._parser.finished

    def feed(self, chunk: bytes) -> None:
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
        if self._buf:
            self._lines([self._buf.rstrip(b"\r")])
            self._buf = b""
        self._dispatch()
        if not self._parser.done and self._parser.finished:
            with contextlib.suppress(*_ODD):
                self._parser.finish()

    def flaw(self, ended: bool = True) -> str | None:
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


# ---------------------------------------------------------------- the usage tap, frozen

_FIRST_DATA = re.compile(rb"^data: ?(.*?)\r?$", re.M)


class FrozenTap:
    """UsageTap (streamed answers) as it was before its scan was tightened."""

    def __init__(self, api: str) -> None:
        self._surface = SURFACES.get(api)
        self._seen = TapReading()
        self._buf = bytearray()
        self._calls = False
        self._markers = self._surface.usage_markers if self._surface is not None else ()

    @property
    def usage(self) -> Usage:
        return self._seen.usage

    @property
    def model(self) -> str | None:
        return self._seen.model

    @property
    def stop_reason(self) -> str | None:
        return self._seen.stop_reason

    def feed(self, chunk: bytes) -> None:
        self._buf += chunk
        end = self._buf.rfind(b"\n")
        if end < 0:
            return
        block = bytes(self._buf[: end + 1])
        del self._buf[: end + 1]
        self._scan(block)

    def finish(self) -> None:
        if self._buf:
            self._scan(bytes(self._buf) + b"\n")
            self._buf.clear()
        surface = self._surface
        if self._seen.finish is not None and surface and surface.stop_from_finish:
            self._seen.stop_reason = surface.stop_from_finish(self._seen.finish, self._calls)

    def _scan(self, block: bytes) -> None:
        surface = self._surface
        if surface is None:
            return
        marker = surface.call_marker
        if marker is not None and not self._calls and marker in block:
            self._calls = True
        if self._seen.model is None and surface.model_in_every_event:
            first = _FIRST_DATA.search(block)
            if first:
                self._line(first.group(1))
        seen: set[int] = set()
        for needle in self._markers:
            pos = block.find(needle)
            while pos >= 0:
                start = block.rfind(b"\n", 0, pos) + 1
                end = block.find(b"\n", pos)
                end = len(block) if end < 0 else end
                if start not in seen and block.startswith(b"data:", start):
                    seen.add(start)
                    self._line(block[start + 5 : end].strip())
                pos = block.find(needle, end)

    def _line(self, data: bytes) -> None:
        try:
            doc = jsonload.loads(data)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(doc, dict) or self._surface is None:
            return
        with contextlib.suppress(*_ODD):
            self._surface.tap_event(doc, self._seen)


# ---------------------------------------------------------------- streams to judge them on

words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
calls = st.lists(
    st.builds(Call, st.sampled_from(["f", "read", "bash"]), st.dictionaries(words, words)),
    max_size=2,
)
replies = st.builds(
    Reply,
    text=words,
    tool_calls=calls,
    reasoning=st.sampled_from(["", "think"]),
    usage=st.fixed_dictionaries(
        {"input": st.integers(0, 10**6), "output": st.integers(0, 9999)},
        optional={"cache_read": st.integers(0, 10**6), "cache_write": st.integers(0, 999)},
    ),
    stop=st.sampled_from([None, "stop", "length", "end_turn", "max_tokens", "STOP"]),
    cut_after=st.sampled_from([None, None, None, 0, 1, 3]),
    stream_error=st.sampled_from([None, None, "Overloaded"]),
    model=st.sampled_from(["fake-model-1", "claude-sonnet-4-6"]),
)
# Lines a provider or a broken proxy might slip in: fields the check ignores, odd data, junk.
odd_lines = st.sampled_from(
    [
        b"",
        b"\r",
        b": ping",
        b":",
        b"id: 7",
        b"id",
        b"retry: 100",
        b"retry",
        b"data",
        b"event",
        b"event:",
        b"event: ",
        b"event:  message_stop ",
        b"data:",
        b"data: ",
        b"data: [DONE]",
        b"data:[DONE]",
        b"data:  [DONE] ",
        b"data: NaN",
        b'data: {"n": Infinity}',
        b"data: 18446744073709551616",
        b'data: "\\ud800"',
        b'data: {"type": "content_block_delta", "ind',
        b'data: {"a": "\xff"}',
        b"data: \xff\xfe",
        b'data: {"error": {"type": "x", "message": "y"}}',
        b'data: {"type": "error", "error": {"type": "api_error", "message": "boom"}}',
        b'data: {"type": "message_stop"}',
        b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}',
        b'data: {"type": "response.completed", "response": {"status": "completed"}}',
        b'data: {"candidates": [{"finishReason": "STOP"}]}',
        b"bogus: x",
        b"bogus",
        b"Data: {}",
        b" data: {}",
        b"\xff\xfe",
    ]
)
junk_lines = st.one_of(odd_lines, st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")))


def long_line(size: int, json_text: bool) -> bytes:
    return b'data: "' + b"a" * size + b'"' if json_text else b"data: " + b"x" * size


@st.composite
def streams(draw: st.DrawFn) -> tuple[str, bytes]:
    """An API to check in, and a stream of it: sound, or mangled line by line."""
    source = draw(st.sampled_from(APIS))
    api = draw(st.sampled_from([source] * 6 + APIS))
    body = stream_bytes(source, draw(replies))
    if draw(st.booleans()):
        body += format_for(source).stream_error("late", "api_error").data
    lines = body.split(b"\n")
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(lines)))
        kind = draw(st.integers(0, 9))
        if kind == 0 and at < len(lines):
            lines[at] += b"\r"
        elif kind == 1:
            lines.insert(at, draw(junk_lines))
        elif kind == 2 and at < len(lines):
            del lines[at]
        elif kind == 3 and at < len(lines) and lines[at].startswith(b"data:"):
            line = lines[at]  # one event's data on two lines
            cut = draw(st.integers(5, max(5, len(line))))
            lines[at : at + 1] = [line[:cut], b"data:" + line[cut:]]
        elif kind == 4 and at < len(lines) and lines[at].startswith(b"data:"):
            line = lines[at]  # its JSON broken off
            lines[at] = line[: draw(st.integers(5, max(5, len(line) - 1)))]
        elif kind == 5:
            lines.insert(at, long_line(draw(st.integers(20, 300)), draw(st.booleans())))
        elif kind == 6 and at < len(lines):
            lines.insert(at, lines[at])
        elif kind == 7 and at < len(lines) and lines[at].startswith(b"event:"):
            lines[at] = draw(st.sampled_from([b"event:", b"event: ", b"event:\r", b"event:x"]))
        elif kind == 8 and at < len(lines):
            lines[at] = lines[at].replace(b"data: ", b"data:", 1)
        elif kind == 9:
            lines.insert(at, draw(st.sampled_from([b"data: [DONE]", b"", b": keep-alive"])))
    return api, b"\n".join(lines)


def pieces(draw: st.DrawFn, body: bytes) -> list[bytes]:
    """`body` cut at random points (an empty piece now and then)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=12)))
    out, prev = [], 0
    for cut in cuts:
        out.append(body[prev:cut])
        prev = cut
    return [*out, body[prev:]]


def verdict(check: FrozenCheck | StreamCheck) -> tuple[Any, ...]:
    return (
        check.bytes,
        check.events,
        check.content,
        check.error,
        check.malformed,
        check.first_malformed,
        check.complete,
        check.flaw(ended=False),
        check.flaw(),
    )


def reading(tap: FrozenTap | UsageTap) -> tuple[Any, ...]:
    return tap.usage, tap.model, tap.stop_reason


@settings(max_examples=400, deadline=None)
@given(
    case=streams(),
    data=st.data(),
    limit=st.sampled_from([1 << 20, 1 << 20, 64, 200]),
    scan_from=st.sampled_from([0, 100, check_module.SCAN_FROM]),
)
def test_the_check_and_the_tap_agree_with_their_frozen_selves(
    case: tuple[str, bytes], data: st.DataObject, limit: int, scan_from: int
) -> None:
    global LINE_LIMIT
    api, body = case
    chunks = pieces(data.draw, body)
    kept = check_module.LINE_LIMIT, check_module.SCAN_FROM
    LINE_LIMIT = check_module.LINE_LIMIT = limit
    check_module.SCAN_FROM = scan_from
    try:
        old, new = FrozenCheck(api), StreamCheck(api)
        old_tap, new_tap = FrozenTap(api), UsageTap(api, True)
        for chunk in chunks:
            old.feed(chunk)
            new.feed(chunk)
            assert verdict(new) == verdict(old)
            old_tap.feed(chunk)
            new_tap.feed(chunk)
        old.close()
        new.close()
        assert verdict(new) == verdict(old)
        old_tap.finish()
        new_tap.finish()
        assert reading(new_tap) == reading(old_tap)
    finally:
        LINE_LIMIT = check_module.LINE_LIMIT = kept[0]
        check_module.SCAN_FROM = kept[1]


ENDING_LINES = [
    b"data: [DONE]",
    b'data: {"type": "message_stop"}',
    b'data: {"type": "error", "error": {"type": "api_error", "message": "boom"}}',
    b'data: {"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}',
    b'data: {"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason":"stop"}]}',
    b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}',
    b'data: {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}]}',
    b'data: {"type": "response.completed", "response": {"status": "completed"}}',
    b'data: {"type": "response.failed", "response": {"error": {"message": "boom"}}}',
    b'data: {"type": "response.failed", "response": {}}',
    b'data: {"type": "response.incomplete", "response": {}}',
]


@pytest.mark.parametrize("scan_from", [0, check_module.SCAN_FROM])
def test_an_ending_anywhere_in_an_unfinished_answer_is_judged_as_before(
    scan_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each event that may end an answer, at every line of a cut-off answer of each API."""
    monkeypatch.setattr(check_module, "SCAN_FROM", scan_from)
    for api in APIS:
        lines = stream_bytes(api, Reply(text="hello there, " * 4, cut_after=8)).split(b"\n")
        for ending in ENDING_LINES:
            for at in range(len(lines) + 1):
                body = b"\n".join([*lines[:at], ending, b"", *lines[at:]])
                for cut in (len(body), len(body) // 3, len(body) // 2 + 5):
                    old, new = FrozenCheck(api), StreamCheck(api)
                    for i in range(0, len(body), cut):
                        old.feed(body[i : i + cut])
                        new.feed(body[i : i + cut])
                        assert verdict(new) == verdict(old), (api, ending, at)
                    old.close()
                    new.close()
                    assert verdict(new) == verdict(old), (api, ending, at)

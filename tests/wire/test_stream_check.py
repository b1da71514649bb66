"""The stream check judges each event's data as json.loads would, however the stream is cut.

Events are validated by orjson first and, where it refuses, by the standard library; the
surface's parser sees events until one carries content and then only those that may end the
answer. These tests hold the check to the same verdicts either way.
"""

from __future__ import annotations

import json

import pytest

from agentwrap.wire.check import StreamCheck

START = {"type": "message_start", "message": {"id": "m", "model": "claude", "usage": {}}}
BLOCK = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
DELTA = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}}
STOP = {"type": "message_stop"}
ERROR = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def sse(*events: dict | bytes) -> bytes:
    out = b""
    for ev in events:
        data = ev if isinstance(ev, bytes) else json.dumps(ev).encode()
        name = b"x" if isinstance(ev, bytes) else str(ev["type"]).encode()
        out += b"event: " + name + b"\ndata: " + data + b"\n\n"
    return out


def checked(stream: bytes, cuts: int = 1) -> StreamCheck:
    """The check after `stream` arrived in `cuts` pieces of equal size, and ended."""
    check = StreamCheck("anthropic")
    size = max(1, -(-len(stream) // cuts))
    for i in range(0, len(stream), size):
        check.feed(stream[i : i + size])
    check.close()
    return check


@pytest.mark.parametrize("cuts", [1, 2, 7, 10_000])
def test_a_whole_answer_is_sound_however_it_is_cut(cuts: int) -> None:
    check = checked(sse(START, BLOCK, DELTA, DELTA, STOP), cuts)
    assert check.flaw() is None
    assert check.complete and check.events == 5 and check.content >= 1


@pytest.mark.parametrize(
    "data",
    [b"NaN", b'{"n": Infinity}', b"18446744073709551616", b'"\\ud800"', b" [DONE] "],
)
def test_data_orjson_refuses_but_json_reads_is_not_malformed(data: bytes) -> None:
    check = checked(sse(START, BLOCK, data, STOP))
    assert check.malformed == 0, check.first_malformed
    assert check.flaw() is None


@pytest.mark.parametrize(
    ("data", "shown"),
    [(b'{"type": "content_block_delta", "ind', "not JSON"), (b'{"a": "\xff"}', "not JSON")],
)
def test_data_json_refuses_is_malformed(data: bytes, shown: str) -> None:
    check = checked(sse(START, BLOCK, DELTA, data, STOP), 3)
    assert check.malformed == 1
    flaw = check.flaw()
    assert flaw is not None and shown in flaw


@pytest.mark.parametrize("cuts", [1, 4])
def test_an_error_after_content_in_the_same_chunk_is_seen(cuts: int) -> None:
    check = checked(sse(START, BLOCK, DELTA, DELTA, ERROR), cuts)
    assert check.content >= 1
    assert check.error == "overloaded_error: Overloaded"


def test_an_error_before_any_content_leaves_no_content() -> None:
    check = StreamCheck("anthropic")
    check.feed(sse(START, ERROR))
    assert check.content == 0
    assert check.flaw(ended=False) == "sent an error event: overloaded_error: Overloaded"


def test_a_stream_without_its_end_is_incomplete() -> None:
    check = checked(sse(START, BLOCK, DELTA, DELTA), 2)
    assert not check.complete
    assert check.flaw() == "ended its stream before the answer was complete"


def test_a_chat_stream_cut_anywhere_ends_with_its_finish_reason_and_done() -> None:
    chunk = {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
    last = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    body = b"".join(
        b"data: " + json.dumps(ev).encode() + b"\n\n" for ev in (chunk, chunk, chunk, last)
    )
    check = StreamCheck("openai-chat")
    for i in range(0, len(body), 40):
        check.feed(body[i : i + 40])
    check.feed(b"data: [DONE]\n\n")
    check.close()
    assert check.complete and check.flaw() is None

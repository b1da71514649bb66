"""jsonload.loads gives every document json.loads's answer, or json.loads's error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentwrap.wire import jsonload

# Documents orjson reads and documents it refuses but json.loads reads.
READABLE = [
    b'{"model": "claude-sonnet-4-5", "stream": true, "messages": []}',
    '{"text": "caf\u00e9 \u2713"}'.encode(),
    b'{"edge": [18446744073709551615, -9223372036854775808]}',
    b'{"x": NaN, "y": Infinity, "z": -Infinity}',
    b'{"lone": "\\ud800"}',
    b'{"dup": 1, "dup": 2}',
    "[1, 2.5, null]",
]


@pytest.mark.parametrize("doc", READABLE)
def test_reads_what_json_reads_the_same_way(doc: bytes | str) -> None:
    got, want = jsonload.loads(doc), json.loads(doc)
    # NaN is not equal to itself: compare what json would write for each.
    assert json.dumps(got) == json.dumps(want)
    assert type(got) is type(want)


def _error(doc: Any) -> tuple[type[BaseException], str]:
    try:
        json.loads(doc)
    except (ValueError, RecursionError) as exc:
        return type(exc), str(exc)
    raise AssertionError("json.loads read it")


@pytest.mark.parametrize(
    "doc",
    [
        b"",
        b"{not json",
        b'{"a": 1,}',
        b"\xff\xfe{}",  # not UTF-8
        b"[" * 100_000 + b"]" * 100_000,  # nested too deeply for json.loads
    ],
    ids=["empty", "garbage", "trailing comma", "not utf-8", "deep"],
)
def test_refuses_what_json_refuses_with_its_error(doc: bytes) -> None:
    kind, message = _error(doc)
    with pytest.raises(kind) as raised:
        jsonload.loads(doc)
    assert str(raised.value) == message


def test_an_integer_beyond_64_bits_is_read_as_the_nearest_float() -> None:
    # The one documented difference from json.loads (see the module's docstring); without
    # orjson installed there is none.
    pytest.importorskip("orjson")
    doc = b'{"big": 123456789012345678901234567890}'
    assert jsonload.loads(doc) == {"big": float(123456789012345678901234567890)}
    assert json.loads(doc) == {"big": 123456789012345678901234567890}


def test_a_memoryview_reads_like_its_bytes() -> None:
    doc = b'{"a": [1, 2]}'
    assert jsonload.loads(memoryview(doc)) == {"a": [1, 2]}

"""Parsing JSON on the hot path: orjson where it can, the standard library where it refuses.

A request body (100 KB for a Claude Code main-loop call) is parsed on every call, and each
streamed event is decoded by the stream check; orjson does either in about a third of the
time json.loads takes (bench/README.md). It refuses a few documents json.loads accepts
(NaN and Infinity, lone surrogates, nesting beyond 1024 levels); those are parsed again by
json.loads, so every document gets the answer, or the error, json.loads gives it, with one
exception: an integer beyond 64 bits (above 18446744073709551615 or below
-9223372036854775808) is read as the nearest float, where json.loads keeps it whole. The
proxy forwards a body's own bytes whenever agent and provider speak the same API, so only a
translated request could carry such a number, rounded.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # an install without it: the standard library alone
    orjson = None  # type: ignore[assignment]


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """The document in `data`, exactly as json.loads reads it."""
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # json.loads decides: it reads some of these, and words its own errors
    return json.loads(bytes(data) if isinstance(data, memoryview) else data)

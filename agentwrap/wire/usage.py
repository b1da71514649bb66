"""Usage taps: token counts, model and stop reason read from a response as its bytes pass.

Used on same-API traffic, which is forwarded untouched, so it sits on the hot path: complete
events are scanned with one regular expression per chunk and only the few lines that can carry
usage, a stop reason or the model are JSON-decoded.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from agentwrap.wire import jsonload
from agentwrap.wire.call import GEMINI
from agentwrap.wire.common import TapReading, Usage
from agentwrap.wire.surface import SURFACES

_FIRST_DATA = re.compile(rb"^data: ?(.*?)\r?$", re.M)
# What reading an event or body of a shape nobody expected may raise.
_ODD = (TypeError, AttributeError, KeyError, IndexError, ValueError)


class UsageTap:
    """Reads usage, model and stop reason from one response without changing it.

    `usage` follows Anthropic semantics: input excludes cache reads and writes. The surface's
    markers say which stream lines are worth decoding; its `tap_event` reads one.
    """

    def __init__(self, api: str, stream: bool) -> None:
        self.api = api
        self.stream = stream
        self._surface = SURFACES.get(api)
        self._seen = TapReading()
        self._buf = bytearray()
        self._calls = False
        self._markers = self._surface.usage_markers if self._surface is not None else ()

    @property
    def usage(self) -> Usage:
        """Tokens read so far."""
        return self._seen.usage

    @property
    def model(self) -> str | None:
        """The model the provider says answered."""
        return self._seen.model

    @property
    def stop_reason(self) -> str | None:
        """Why the answer ended (canonical), once known."""
        return self._seen.stop_reason

    def feed(self, chunk: bytes) -> None:
        """Raw response bytes as they pass (SSE when streaming, JSON otherwise)."""
        if not self.stream:
            self._buf += chunk
            return
        end = chunk.rfind(b"\n") + 1
        if not end:
            self._buf += chunk
            return
        # Complete lines are scanned; a chunk that ends a line and follows none is not copied.
        if self._buf:
            self._buf += chunk[:end]
            block = bytes(self._buf)
            self._buf.clear()
        else:
            block = chunk if end == len(chunk) else chunk[:end]
        if end < len(chunk):
            self._buf += chunk[end:]
        self._scan(block)

    def finish(self) -> None:
        """The body has ended."""
        if not self.stream:
            with contextlib.suppress(*_ODD):
                self._whole(json.loads(bytes(self._buf)))
            return
        if self._buf:
            self._scan(bytes(self._buf) + b"\n")
            self._buf.clear()
        surface = self._surface
        if self._seen.finish is not None and surface and surface.stop_from_finish:
            self._seen.stop_reason = surface.stop_from_finish(self._seen.finish, self._calls)

    # ---------------------------------------------------------------- scanning

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
        # bytes.find runs in C: only the lines around a marker are looked at in Python.
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
        # The tap watches traffic it does not own: an odd event must never break the relay.
        with contextlib.suppress(*_ODD):
            self._surface.tap_event(doc, self._seen)

    # ---------------------------------------------------------------- whole bodies

    def _whole(self, body: Any) -> None:
        if isinstance(body, list) and body and self.api == GEMINI:
            body = body[-1]  # a JSON-array stream: the last element has the totals
        if not isinstance(body, dict) or body.get("type") == "error":
            return
        if body.get("error") and not any(k in body for k in ("choices", "output", "candidates")):
            return
        if self._surface is None:
            return
        resp = self._surface.parse_response(body)
        self._seen.usage = resp.usage
        self._seen.model = resp.model
        self._seen.stop_reason = resp.stop_reason

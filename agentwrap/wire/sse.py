"""Server-sent events: an incremental decoder (bytes split anywhere) and an encoder."""

from __future__ import annotations

import json
from typing import Any


class SSEDecoder:
    """Feeds raw bytes, yields complete (event, data) pairs; tolerant of CRLF and split lines."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        """Every event completed by this chunk."""
        self._buf += chunk
        out: list[tuple[str | None, str]] = []
        while True:
            line = self._next_line()
            if line is None:
                return out
            self._line(line, out)

    def close(self) -> list[tuple[str | None, str]]:
        """Events left when the stream ends without a final blank line."""
        out: list[tuple[str | None, str]] = []
        if self._buf:
            rest = bytes(self._buf).decode("utf-8", "replace")
            self._buf.clear()
            for line in rest.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
                self._line(line, out)
        self._line("", out)
        return out

    def _next_line(self) -> str | None:
        buf = self._buf
        lf, cr = buf.find(b"\n"), buf.find(b"\r")
        if cr < 0 or (0 <= lf < cr):
            if lf < 0:
                return None
            i, end = lf, lf + 1
        else:
            if cr + 1 == len(buf):
                return None  # a CR at the end may be the first half of CRLF
            i, end = cr, cr + 2 if buf[cr + 1] == 0x0A else cr + 1
        line = bytes(buf[:i]).decode("utf-8", "replace")
        del buf[:end]
        return line

    def _line(self, line: str, out: list[tuple[str | None, str]]) -> None:
        if line == "":
            if self._data:
                out.append((self._event, "\n".join(self._data)))
            self._event, self._data = None, []
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)


def encode(data: Any, event: str | None = None) -> bytes:
    """One SSE event; `data` is JSON-encoded unless it is already a string."""
    text = (
        data
        if isinstance(data, str)
        else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    )
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()

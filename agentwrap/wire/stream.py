"""What the surfaces' stream parsers and emitters have in common.

A parser turns one API's SSE events into canonical events; an emitter turns canonical events
into another API's SSE bytes. `StreamParser` keeps the bookkeeping every parser needs: whether
the answer is over, the usage seen so far, and the canonical block indexes it hands out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

from agentwrap.wire import canonical as c
from agentwrap.wire.common import Usage


class StreamParser(ABC):
    """One API's stream events -> canonical events, for one answer.

    Canonical block indexes count up from 0 in the order blocks open. Surfaces that stream one
    part after another (Chat, Gemini) keep at most one block open: opening the next closes it.
    """

    def __init__(self) -> None:
        self.done = False  # the answer ended (or failed): what follows is ignored
        self.usage = Usage()  # token counts seen so far, Anthropic semantics
        self._started = False
        self._next = 0
        self._open: int | None = None
        self._open_kind: str | None = None

    @abstractmethod
    def feed(self, event: str | None, data: str) -> list[c.Event]:
        """Canonical events for one SSE event."""

    @property
    def finished(self) -> bool:
        """Whether the upstream said the answer is over without sending the event that ends it."""
        return False

    def finish(self) -> list[c.Event]:
        """Events that close the answer when the stream ends after `finished`."""
        return []

    def _start(self, answer_id: str, model: str | None = None) -> list[c.Event]:
        """The Start event, the first time only."""
        if self._started:
            return []
        self._started = True
        return [c.Start(answer_id, model)]

    def _fail(self, message: str, kind: str) -> list[c.Event]:
        """An error inside the stream: it ends the answer."""
        self.done = True
        return [c.StreamError(message, kind)]

    def _new_index(self) -> int:
        index = self._next
        self._next += 1
        return index

    def _open_block(
        self,
        kind: str,
        *,
        id: str | None = None,
        name: str | None = None,
        origin: str | None = None,
        item_id: str | None = None,
    ) -> list[c.Event]:
        """Close the open block, if any, and open a new one of `kind`."""
        out = self._close_block()
        index = self._new_index()
        self._open, self._open_kind = index, kind
        return [*out, c.BlockStart(index, kind, id=id, name=name, origin=origin, item_id=item_id)]

    def _close_block(self) -> list[c.Event]:
        """Close the open block, if any."""
        if self._open is None:
            return []
        index, self._open, self._open_kind = self._open, None, None
        return [c.BlockStop(index)]

    @property
    def _open_index(self) -> int:
        assert self._open is not None, "no block is open"
        return self._open


class StreamEmitter(Protocol):
    """Canonical events -> one API's SSE bytes, for one answer."""

    def emit(self, ev: c.Event) -> bytes:
        """The bytes for one canonical event (possibly none)."""
        ...

    def error(self, message: str, kind: str = "api_error") -> bytes:
        """A mid-stream error event; it ends the answer."""
        ...

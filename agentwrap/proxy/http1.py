"""The front door's HTTP/1.1 server: an asyncio protocol around aiohttp's request parser.

aiohttp's web server (application, router, request and response machinery) did more per
request than the front door needs, and took 3 MB to load; this server does only what the front
door uses (bench/README.md, "The front door without aiohttp's web server"). Requests are parsed
by aiohttp's own parser (its C parser where built), so the limits on request lines and headers,
chunked bodies and request decompression are aiohttp's, as before. That parser is not aiohttp's
public API, so pyproject.toml pins aiohttp's minor version. What it keeps of aiohttp's server:
keep-alive (and `Connection: close`, HTTP/1.0), an idle timeout that also bounds a request head
that never completes, `Expect: 100-continue`, a request body left unread drained for a while
before the connection is reused, and the handler cancelled when the client hangs up. One
handler serves every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError
from aiohttp.http_parser import HttpRequestParser, RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader

# Parse errors are aiohttp's parser's: they are logged under the name aiohttp's server gave
# them, which the session's error log (and whoever reads it) knows them by.
log = logging.getLogger("aiohttp.server")

READ_BUFSIZE = 1 << 16  # a request body is buffered up to this before reading pauses
MAX_LINE = 8190  # the longest request line or header line (aiohttp's server's limits)
MAX_HEADERS = 128
LINGER = 10.0  # a body the handler left unread is read and dropped this long, then we close
_QUEUED_MAX = 32  # pipelined requests parsed ahead of the one being answered
_HTTP10 = (1, 0)
_NO_BODY_STATUS = frozenset({204, 304})
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_JOIN_BELOW = 16 * 1024  # a chunk smaller than this is framed in one bytes object
_STATUS_LINES: dict[tuple[tuple[int, int], int], bytes] = {}


class RequestPayloadError(Exception):
    """The request body broke: its chunked encoding or compression is invalid, or it is cut."""


class Request:
    """One request as the handler sees it: method, path as sent, headers, the body as a stream."""

    __slots__ = ("_conn", "_message", "content")

    def __init__(
        self, message: RawRequestMessage, content: StreamReader, conn: _Connection
    ) -> None:
        self._message = message
        self._conn = conn
        self.content = content  # read with `iter_any()`, `read()`...

    @property
    def method(self) -> str:
        return self._message.method

    @property
    def raw_path(self) -> str:
        """The request target as the client sent it (query string included)."""
        return self._message.path

    @property
    def headers(self) -> Mapping[str, str]:
        """The request's headers, looked up without regard to case."""
        return self._message.headers

    @property
    def version(self) -> tuple[int, int]:
        return self._message.version

    @property
    def query_string(self) -> str:
        """The query string, percent-decoded (as aiohttp's web request gave it)."""
        return self._message.url.query_string

    @property
    def content_length(self) -> int | None:
        value = self._message.headers.get("Content-Length")
        return None if value is None else int(value)

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._conn.transport


class StreamResponse:
    """An answer written as it goes: status and headers on `prepare`, then `write`s, then
    `write_eof`. Without a Content-Length header it is sent chunked (to HTTP/1.1 clients).

    The head leaves with the first piece of the body when that is written in the same turn of
    the event loop (one send instead of two), and on its own at the end of that turn if not.
    """

    _length_known = False  # a whole answer's headers carry its Content-Length

    def __init__(self, *, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.headers: dict[str, str] = dict(headers) if headers else {}
        self._conn: _Connection | None = None
        self._head: bytes | None = None  # prepared and not sent yet
        self._chunked = False
        self._head_only = False
        self._eof = False

    @property
    def prepared(self) -> bool:
        return self._conn is not None

    async def prepare(self, request: Request) -> None:
        """Send the status line and headers (once); ConnectionResetError if the client has gone."""
        if self._conn is not None:
            return
        conn = request._conn
        conn.check_open()
        self._head_only = request.method == "HEAD"
        self._chunked = self._frame(request.version, conn)
        self._head = _head(request.version, self.status, self.headers)
        self._conn = conn
        conn.began = True
        conn._loop.call_soon(self._send_head)

    def _send_head(self) -> None:
        head, self._head = self._head, None
        if head is not None and self._conn is not None:
            with contextlib.suppress(ConnectionError):  # the next write says it
                self._conn.send(head)

    def _frame(self, version: tuple[int, int], conn: _Connection) -> bool:
        """Set the framing and connection headers; whether the body goes chunked."""
        names = {k.lower() for k in self.headers}
        if (
            self._length_known
            or "content-length" in names
            or self.status in _NO_BODY_STATUS
            or self.status < 200
        ):
            chunked = False
        elif version >= (1, 1):
            chunked = True
            self.headers["Transfer-Encoding"] = "chunked"
        else:  # an HTTP/1.0 client reads a body of unknown length to the connection's end
            chunked = False
            conn.keep_alive = False
        if "date" not in names:
            self.headers["Date"] = _http_date()
        if conn.keep_alive and version == _HTTP10:
            self.headers["Connection"] = "keep-alive"
        elif not conn.keep_alive and version != _HTTP10:
            self.headers["Connection"] = "close"
        return chunked

    async def write(self, data: bytes) -> None:
        """Send a piece of the body; ConnectionResetError once the client has gone."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("write() before prepare()")
        if self._eof:
            raise RuntimeError("write() after write_eof()")
        if not data or self._head_only:
            return
        head, self._head = self._head or b"", None
        if not self._chunked:
            conn.send_pieces((head, data))
        elif len(data) < _JOIN_BELOW:
            conn.send(b"%b%x\r\n%b\r\n" % (head, len(data), data))
        else:  # a large piece is not copied to frame it
            conn.send_pieces((b"%b%x\r\n" % (head, len(data)), data, b"\r\n"))
        await conn.drain()

    async def write_eof(self, data: bytes = b"") -> None:
        """End the body (with the last chunk, when chunked)."""
        if self._eof:
            return
        if data:
            await self.write(data)
        self._eof = True
        conn = self._conn
        if conn is None:
            return
        head, self._head = self._head or b"", None
        tail = b"0\r\n\r\n" if self._chunked and not self._head_only else b""
        if head or tail:
            conn.send(head + tail)
            await conn.drain()


class Response(StreamResponse):
    """A whole answer, sent with its Content-Length, head and body in one send."""

    _length_known = True

    def __init__(
        self,
        *,
        status: int = 200,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        super().__init__(status=status, headers=headers)
        self.body = body if body is not None else b""
        if content_type is not None:
            self.headers["Content-Type"] = content_type
        elif body and not any(k.lower() == "content-type" for k in self.headers):
            self.headers["Content-Type"] = "application/octet-stream"

    async def prepare(self, request: Request) -> None:
        if self._conn is not None:
            return
        conn = request._conn
        conn.check_open()
        if any(k.lower() == "content-length" for k in self.headers):
            self.headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
        head_only = request.method == "HEAD"
        # A HEAD answer says how long the body would be, unless there is none.
        if self.status not in _NO_BODY_STATUS and (self.body or not head_only):
            self.headers["Content-Length"] = str(len(self.body))
        self._frame(request.version, conn)
        head = _head(request.version, self.status, self.headers)
        self._conn = conn
        self._eof = True
        conn.began = True
        body = self.body if not head_only and self.status not in _NO_BODY_STATUS else b""
        if len(body) < _JOIN_BELOW:
            conn.send(head + body)
        else:
            conn.send_pieces((head, body))
        await conn.drain()


def json_response(data: Any, *, status: int = 200) -> Response:
    """A JSON answer (`application/json; charset=utf-8`)."""
    body = json.dumps(data).encode()
    return Response(status=status, body=body, content_type="application/json; charset=utf-8")


Handler = Callable[[Request], Awaitable[StreamResponse]]


class Server:
    """Serves `handler` on a listening socket; `start` binds, `close` ends every connection."""

    def __init__(self, handler: Handler, *, idle_timeout: float) -> None:
        self.handler = handler
        self.idle_timeout = idle_timeout
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, sock: socket.socket | None = None
    ) -> int:
        """Listen on `sock`, or bind host and port; returns the port listened on."""
        loop = asyncio.get_running_loop()
        if sock is not None:
            self._server = await loop.create_server(
                lambda: _Connection(self, loop), sock=sock, backlog=128
            )
        else:
            self._server = await loop.create_server(
                lambda: _Connection(self, loop), host, port, reuse_address=True, backlog=128
            )
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def close(self, timeout: float = 2.0) -> None:
        """Stop listening and close every connection, cancelling the answers still running."""
        if self._server is not None:
            self._server.close()
        tasks = [c.task for c in self.connections if c.task is not None and not c.task.done()]
        for conn in list(self.connections):
            conn.close()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)


class _Connection(BaseProtocol):
    """One client connection: parses its requests and answers them one after another."""

    def __init__(self, server: Server, loop: asyncio.AbstractEventLoop) -> None:
        parser = HttpRequestParser(
            self,
            loop,
            READ_BUFSIZE,
            max_line_size=MAX_LINE,
            max_headers=MAX_HEADERS,
            max_field_size=MAX_LINE,
            payload_exception=RequestPayloadError,
            auto_decompress=True,
        )
        super().__init__(loop, parser)
        self.server = server
        self.keep_alive = True
        self.began = False  # the answer to the current request has begun
        self.task: asyncio.Task[None] | None = None
        self._queue: deque[tuple[RawRequestMessage | HttpProcessingError, StreamReader]] = deque()
        self._busy = False  # a task is answering the queue
        self._closing = False  # answer no more requests on this connection
        self._count = 0
        self._payload: StreamReader | None = None  # the body of the request being answered
        self._lingering: asyncio.Task[None] | None = None  # dropping an answered request's body
        self._idle_until = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None

    # -- the transport's side ------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self.server.connections.add(self)
        self._idle()

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self.server.connections.discard(self)
        self._closing = True
        self._parser = None
        self._queue.clear()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._payload is not None:
            self._payload.set_exception(ConnectionResetError("Connection lost"))
        if self._lingering is not None:
            self._lingering.cancel()
        # The client hung up: the call it was waiting for is cancelled, fallbacks and all.
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        if self._closing or self._parser is None:
            return
        try:
            messages, _, _ = self._parser.feed_data(data)
        except HttpProcessingError as exc:
            self._queue.append((exc, EMPTY_PAYLOAD))
            self._parser = None  # nothing after a request that could not be parsed is read
        else:
            self._queue.extend(messages)
        if len(self._queue) >= _QUEUED_MAX:
            self._pause_reading_for_buffer()  # pipelined requests wait until these are answered
        if self._queue and not self._busy:
            self._busy = True
            self._idle_until = 0.0
            # Started eagerly: the request is answered up to its first wait right here.
            asyncio.Task(self._answer_queued(), loop=self._loop, eager_start=True)

    # -- idle timeout ----------------------------------------------------------
    def _idle(self) -> None:
        """The connection waits for a request: it closes after the idle timeout."""
        self._idle_until = self._loop.time() + self.server.idle_timeout
        if self._idle_timer is None:
            self._idle_timer = self._loop.call_at(self._idle_until, self._idle_expired)

    def _idle_expired(self) -> None:
        self._idle_timer = None
        if not self._idle_until or self._busy or self.transport is None:
            return  # a request came meanwhile: its end starts the clock again
        if self._loop.time() < self._idle_until:
            self._idle_timer = self._loop.call_at(self._idle_until, self._idle_expired)
            return
        self.close()

    # -- writing ---------------------------------------------------------------
    def check_open(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")

    def send(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        transport.write(data)

    def send_pieces(self, pieces: tuple[bytes, ...]) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        transport.writelines(pieces)

    async def drain(self) -> None:
        if self._paused:
            await self._drain_helper()

    def close(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.close()

    # -- answering -------------------------------------------------------------
    async def _answer_queued(self) -> None:
        """Answer the queued requests in order; then wait idle, or close."""
        self.task = asyncio.current_task()
        try:
            while self._queue and not self._closing:
                message, payload = self._queue.popleft()
                if self._buffer_paused and len(self._queue) < _QUEUED_MAX // 2:
                    self._resume_reading_for_buffer()
                self._count += 1
                if isinstance(message, HttpProcessingError):
                    self._refuse(message)
                    return
                if not await self._answer(message, payload) and self._lingering is None:
                    self.close()
                    return
        except Exception:
            log.exception("Error handling request")
            self.close()
            return
        finally:
            self._busy = False
        if self._lingering is not None:
            return  # the rest of the body decides, once it has come
        if self._closing or not self.keep_alive:
            self.close()
        else:
            self._idle()

    async def _answer(self, message: RawRequestMessage, payload: StreamReader) -> bool:
        """Answer one request; whether the connection may serve another."""
        self.keep_alive = not message.should_close
        self.began = False
        request = Request(message, payload, self)
        self._payload = payload
        try:
            response = self._expect(request)
            if response is None:
                response = await self._handle(request)
            if not response.prepared:
                await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            return False
        finally:
            self._payload = None
        if not payload.is_eof():
            # Dropped apart from the answer, which is over (so that nothing waits on it).
            self._lingering = asyncio.create_task(self._linger(payload, self.keep_alive))
        return self.keep_alive and not self._closing

    def _expect(self, request: Request) -> StreamResponse | None:
        """Answer `Expect:` as aiohttp's server did: 100 Continue, or 417 for anything else."""
        expect = request.headers.get("Expect")
        if not expect or request.version != (1, 1):
            return None
        if expect.lower() == "100-continue":
            self.send(_CONTINUE)
            return None
        return _text(HTTPStatus.EXPECTATION_FAILED, f"Unknown Expect: {expect}")

    async def _handle(self, request: Request) -> StreamResponse:
        try:
            return await self.server.handler(request)
        except Exception as exc:
            log.error("Error handling request", exc_info=exc)
            if self.began:
                raise ConnectionError("the answer had begun when its handler failed") from exc
            self.keep_alive = False
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            return _text(status, f"{status.value} {status.phrase}\n\n{status.description}")

    async def _linger(self, payload: StreamReader, keep_alive: bool) -> None:
        """Read and drop what the handler left of the body, then serve the next request.

        The client gets its answer whole before the connection closes (closing on unread bytes
        would reset it); a body that does not end within LINGER seconds closes it.
        """
        try:
            async with asyncio.timeout(LINGER):
                while not payload.is_eof():
                    await payload.readany()
        except (TimeoutError, RequestPayloadError, ConnectionError):
            keep_alive = False
        finally:
            self._lingering = None
        if self._closing or not keep_alive:
            self.close()
        elif not self._busy and not self._queue:
            self._idle()

    def _refuse(self, exc: HttpProcessingError) -> None:
        """A request the parser refused: 400 (or the parser's status), then the connection ends."""
        if self._count == 1 and isinstance(exc, BadHttpMethod):
            # Not HTTP at all (TLS to a plain port...): common, and not worth an error.
            log.debug("Error handling request", exc_info=exc)
        else:
            log.error("Error handling request", exc_info=exc)
        status = exc.code if 400 <= exc.code < 600 else 400
        body = exc.message.encode("utf-8", "replace")
        head = {
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Length": str(len(body)),
            "Date": _http_date(),
        }
        with contextlib.suppress(ConnectionError):
            self.send(_status_line(_HTTP10, status) + _header_block(head) + body)
        self.close()


def _text(status: HTTPStatus, text: str) -> Response:
    return Response(
        status=status.value, body=text.encode(), content_type="text/plain; charset=utf-8"
    )


def _status_line(version: tuple[int, int], status: int) -> bytes:
    line = _STATUS_LINES.get((version, status))
    if line is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        line = f"HTTP/{version[0]}.{version[1]} {status} {reason}\r\n".encode()
        _STATUS_LINES[(version, status)] = line
    return line


def _header_block(headers: Mapping[str, str]) -> bytes:
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (lines + "\r\n").encode("utf-8", "surrogateescape")


def _head(version: tuple[int, int], status: int, headers: Mapping[str, str]) -> bytes:
    for k, v in headers.items():
        if "\n" in k or "\r" in k or "\n" in v or "\r" in v:
            raise ValueError(f"a newline in response header {k!r}")
    answered = (1, 1) if version >= (1, 1) else _HTTP10
    return _status_line(answered, status) + _header_block(headers)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date = [0, ""]  # the second last formatted, and its text


def _http_date() -> str:
    """The Date header's value (RFC 9110's IMF-fixdate), formatted once a second."""
    now = int(time.time())
    if now != _date[0]:
        t = time.gmtime(now)
        _date[0] = now
        _date[1] = (
            f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
        )
    return str(_date[1])

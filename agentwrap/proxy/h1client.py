"""The upstream side's HTTP/1.1 client: an asyncio protocol around aiohttp's response parser.

aiohttp's client session did more per request than forwarding needs (building the request and
its URL, tracing signals, timeouts, the connector's bookkeeping): about a quarter of the event
loop's time in place (bench/README.md, "The upstream side without aiohttp's client"). This
client does what `UpstreamPool` uses, the way http1.py serves the front door: answers are
parsed by aiohttp's own parser (its C parser where built), which also decodes gzip, deflate
and br bodies, and every failure is raised as the aiohttp exception its client raised, so that
callers catch the same `aiohttp.ClientError` family as before.

What it keeps of aiohttp's client: keep-alive connections pooled per scheme://host:port, at most
`limit` per origin (a request beyond waits for one, its first-byte clock held meanwhile), idle
ones closed after `keepalive_s`; a connection is reused only when its answer was read to the
end and the server allowed keep-alive, and never once the server has closed it. A new one opens
within `connect_timeout` (DNS and happy eyeballs by the event loop's `create_connection`, TLS
with aiohttp's verified default context and SNI). Content-length, chunked and close-delimited
answers; 1xx answers skipped. A request whose reused connection dies before any byte of its
answer is sent again once on a new connection only when its method is idempotent (RFC 9112
§9.3.1): a model call is a POST, which the provider may have taken and charged for, so its
failure goes to the caller (which falls back and records it), as aiohttp's client did.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import deque
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp.base_protocol import BaseProtocol
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_parser import HttpResponseParser, RawResponseMessage
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader

READ_BUFSIZE = 1 << 16  # an answer is buffered up to twice this before reading pauses
MAX_LINE = 8190  # the longest status or header line (aiohttp's client's limits)
MAX_HEADERS = 128
HAPPY_EYEBALLS_DELAY = 0.25  # as aiohttp's connector: the next address is tried after this
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # sent with Content-Length: 0 when bodiless
_NO_BODY_STATUS = frozenset({204, 304})
DEFAULT_PORTS = {"http": 80, "https": 443}  # the schemes it speaks, each with its port
_SAFE_TARGET = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%"
)


def default_ssl_context() -> ssl.SSLContext:
    """The context aiohttp's client verifies with: the system's CAs, hostnames checked, ALPN
    http/1.1 (aiohttp builds it when imported, so it is shared rather than loaded again)."""
    from aiohttp import connector

    made = getattr(connector, "_SSL_CONTEXT_VERIFIED", None)
    if isinstance(made, ssl.SSLContext):
        return made
    context = ssl.create_default_context()
    context.set_alpn_protocols(("http/1.1",))
    return context


class Origin:
    """One scheme://host:port: what a connection to it needs, and its pool."""

    __slots__ = ("host", "host_header", "key", "pool", "port", "server_hostname", "ssl")

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        pool: HostPool,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl = ssl_context if scheme == "https" else None
        self.server_hostname = host if self.ssl is not None else None
        shown = f"[{host}]" if ":" in host else host
        self.host_header = shown if DEFAULT_PORTS.get(scheme) == port else f"{shown}:{port}"
        # What aiohttp's connection errors name ("Cannot connect to host h:p ssl:default").
        self.key = ConnectionKey(host, port, self.ssl is not None, True, None, None, None)
        self.pool = pool


def request_head(
    method: str, target: str, origin: Origin, headers: Mapping[str, str], body: bytes | None
) -> bytes:
    """The request line and headers: Host first, the headers as given (names' case kept), then
    `Accept: */*` when absent and the body's Content-Length, as aiohttp's client wrote them."""
    parts = [f"{method} {target} HTTP/1.1\r\n"]
    host = accept = length = False
    for name, value in headers.items():
        if "\n" in name or "\r" in name or "\n" in value or "\r" in value:
            raise ValueError(f"a newline in request header {name!r}")
        lname = name.lower()
        if lname == "host":
            host = True
            parts.insert(1, f"{name}: {value}\r\n")
            continue
        accept = accept or lname == "accept"
        length = length or lname == "content-length"
        parts.append(f"{name}: {value}\r\n")
    if not host:
        parts.insert(1, f"Host: {origin.host_header}\r\n")
    if not accept:
        parts.append("Accept: */*\r\n")
    if not length and (body is not None or method in _BODY_METHODS):
        parts.append(f"Content-Length: {len(body) if body else 0}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")


def request_target(path: str, query: str) -> str:
    """The origin-form target; one with characters a request line cannot carry is quoted the
    way aiohttp's client quoted it (by yarl, loaded only then)."""
    target = (path or "/") + (f"?{query}" if query else "")
    if all(c in _SAFE_TARGET for c in target):
        return target
    from yarl import URL

    return URL.build(path=path or "/", query_string=query).raw_path_qs


class Answer:
    """A provider's answer whose head has arrived: `UpstreamResponse` over a pooled connection."""

    __slots__ = ("_conn", "_payload", "headers", "status")

    def __init__(
        self, message: RawResponseMessage, payload: StreamReader, conn: Connection
    ) -> None:
        self.status: int = message.code
        self.headers: Mapping[str, str] = message.headers
        self._payload = payload
        self._conn: Connection | None = conn

    async def read(self) -> bytes:
        """The whole (remaining) body."""
        return await self._payload.read()

    async def readany(self) -> bytes:
        """The next bytes of the body as they arrive; b"" at its end."""
        return await self._payload.readany()

    def release(self) -> None:
        """Done with the answer: a connection whose answer was read to its end is pooled already
        (or closed, when it may not be reused); one left mid-answer is closed."""
        conn, self._conn = self._conn, None
        if conn is not None and conn.answer is self:
            conn.close()


class Connection(BaseProtocol):
    """One connection to an origin; it carries one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> None:
        parser = HttpResponseParser(
            self,
            loop,
            READ_BUFSIZE,
            max_line_size=MAX_LINE,
            max_field_size=MAX_LINE,
            max_headers=MAX_HEADERS,
            payload_exception=aiohttp.ClientPayloadError,
            response_with_body=True,
            read_until_eof=True,
            auto_decompress=True,
        )
        super().__init__(loop, parser)
        self.origin = origin
        self.answer: Answer | None = None  # the answer being read (its connection is this one)
        self.answered = False  # a byte of the current request's answer arrived
        self.idle_since = 0.0
        self._head: asyncio.Future[tuple[RawResponseMessage, StreamReader]] | None = None
        self._payload: StreamReader | None = None
        self._keep_alive = True
        self._counted = True  # holds one of its pool's places until closed or lost
        self._parse_error: BaseException | None = None

    # -- the transport's side --------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if data:
            if self._head is None and self._payload is None:
                self.close()  # bytes nobody asked for: the connection cannot be trusted
                return
            self.answered = True
        parser = self._parser
        if parser is None:
            return
        try:
            messages, _, _ = parser.feed_data(data)
        except Exception as exc:  # a status line, header or framing the parser refused
            self._refused(exc)
            return
        for message, payload in messages:
            self._on_message(message, payload)

    def resume_reading(self, resume_parser: bool = True) -> None:
        # The stream asks after every read; only a paused read has anything to resume.
        if self._reading_paused:
            super().resume_reading(resume_parser)

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self._keep_alive = False
        underlying: BaseException | None = self._parse_error
        if self._parser is not None:
            try:
                self._parser.feed_eof()  # ends an answer delimited by the connection's close
            except Exception as cut:
                underlying = cut
            self._parser = None
        payload = self._payload
        if payload is not None and not payload.is_eof() and payload.exception() is None:
            said = f"Response payload is not completed: {underlying!r}"
            if exc is not None:
                said = f"{said}. {exc!r}"
            payload.set_exception(aiohttp.ClientPayloadError(said))
        head, self._head = self._head, None
        if head is not None and not head.done():
            if exc is None:
                head.set_exception(aiohttp.ServerDisconnectedError())
            elif isinstance(exc, OSError):
                head.set_exception(aiohttp.ClientOSError(*exc.args))
            else:
                head.set_exception(aiohttp.ClientConnectionError(f"Connection lost: {exc}"))
        self._forget()

    # -- a request -------------------------------------------------------------
    def usable(self) -> bool:
        """Open, and not closing: the server has not hung up while it was idle."""
        transport = self.transport
        return transport is not None and not transport.is_closing() and self._parser is not None

    def send(
        self, head: bytes, body: bytes | None
    ) -> asyncio.Future[tuple[RawResponseMessage, StreamReader]]:
        """Write the request; the future gets the answer's head and its body's stream."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")
        waiter = self._loop.create_future()
        self._head, self._payload, self.answered = waiter, None, False
        if body:
            transport.writelines((head, body))
        else:
            transport.write(head)
        return waiter

    def _on_message(self, message: RawResponseMessage, payload: StreamReader) -> None:
        if 100 <= message.code < 200 and message.code != 101:
            return  # an interim answer (100 Continue, 103 Early Hints): the real one follows
        head, self._head = self._head, None
        if head is None or head.done():
            self.close()  # an answer to nothing, or to a request given up on
            return
        if message.should_close:
            self._keep_alive = False
        if message.code in _NO_BODY_STATUS:
            payload = EMPTY_PAYLOAD
        self._payload = payload
        head.set_result((message, payload))

    def hand(self, answer: Answer) -> None:
        """`answer` reads this connection's body; the connection is pooled once it has ended."""
        self.answer = answer
        payload = self._payload
        if payload is None or payload is EMPTY_PAYLOAD or payload.is_eof():
            self._answer_ended()
        else:
            payload.on_eof(self._answer_ended)  # not called when the body fails

    def _answer_ended(self) -> None:
        self.answer, self._payload = None, None
        if self._keep_alive and self._parse_error is None:
            self.origin.pool.put_back(self)
        else:
            self.close()

    def _refused(self, exc: BaseException) -> None:
        self._parse_error = exc
        self._keep_alive = False
        head, self._head = self._head, None
        if head is not None and not head.done():
            error = exc if isinstance(exc, HttpProcessingError) else HttpProcessingError()
            head.set_exception(error)
        self.close()

    def close(self) -> None:
        """Close the connection (an answer still being read breaks off)."""
        self._keep_alive = False
        if self.transport is not None:
            self.transport.close()
        self._forget()

    @property
    def counted(self) -> bool:
        """Whether it still holds a place in its pool (it has not been closed or lost)."""
        return self._counted

    def _forget(self) -> None:
        if self._counted:
            self._counted = False
            self.origin.pool.forget(self)


class HostPool:
    """The connections to one origin: idle ones reused newest first, at most `limit` open."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, limit: int, keepalive_s: float, timeout: float
    ) -> None:
        self._loop = loop
        self._limit = limit
        self._keepalive = keepalive_s
        self._connect_timeout = timeout
        self._idle: list[Connection] = []
        self._open: set[Connection] = set()
        self._connecting = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sweep: asyncio.TimerHandle | None = None
        self.origin: Origin | None = None

    async def acquire(self, clock: Any) -> tuple[Connection, bool]:
        """A connection to send on, and whether it served a request before. `clock` (a
        FirstByteClock, or None) is held while this waits for a place or connects."""
        idle = self._idle
        while True:
            while idle:
                conn = idle.pop()
                if conn.usable():
                    return conn, True
                conn.close()
            if len(self._open) + self._connecting < self._limit:
                break
            if clock is not None:
                clock.hold()
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # the place it was given goes to the next in line
                raise
        if clock is not None:
            clock.hold()
        return await self._connect(), False

    async def _connect(self) -> Connection:
        self._connecting += 1
        try:
            conn = await self._open_connection()
        except BaseException:
            self._connecting -= 1
            self._wake()  # the place it would have taken is free
            raise
        self._connecting -= 1
        if conn.counted:  # not lost already (a server that hung up at once)
            self._open.add(conn)
        return conn

    async def _open_connection(self) -> Connection:
        """Connect within the connect timeout, failing as aiohttp's connector failed."""
        origin = self.origin
        assert origin is not None
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await self._loop.create_connection(
                    lambda: Connection(self._loop, origin),
                    origin.host,
                    origin.port,
                    ssl=origin.ssl,
                    server_hostname=origin.server_hostname,
                    happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
                )
        except TimeoutError as exc:
            scheme = "https" if origin.ssl is not None else "http"
            where = f"{scheme}://{origin.host_header}"
            raise aiohttp.ConnectionTimeoutError(f"Connection timeout to host {where}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise aiohttp.ClientConnectorCertificateError(origin.key, exc) from exc
        except ssl.SSLError as exc:
            raise aiohttp.ClientConnectorSSLError(origin.key, exc) from exc
        except socket.gaierror as exc:
            raise aiohttp.ClientConnectorDNSError(origin.key, exc) from exc
        except OSError as exc:
            raise aiohttp.ClientConnectorError(origin.key, exc) from exc
        return conn

    def put_back(self, conn: Connection) -> None:
        """An answer read to its end on a connection that may serve another request."""
        if not conn.usable():
            conn.close()
            return
        conn.idle_since = self._loop.time()
        self._idle.append(conn)
        if self._sweep is None:
            self._sweep = self._loop.call_at(conn.idle_since + self._keepalive, self._expire)
        self._wake()

    def forget(self, conn: Connection) -> None:
        """A connection closed: its place is free."""
        self._open.discard(conn)
        with contextlib.suppress(ValueError):
            self._idle.remove(conn)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _expire(self) -> None:
        """Close the connections idle for `keepalive_s`; look again when the next one will be."""
        self._sweep = None
        deadline = self._loop.time() - self._keepalive
        for conn in [c for c in self._idle if c.idle_since <= deadline]:
            conn.close()
        if self._idle:
            oldest = min(c.idle_since for c in self._idle)
            self._sweep = self._loop.call_at(oldest + self._keepalive, self._expire)

    def close(self) -> None:
        """Close every connection, idle or busy."""
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for conn in list(self._open):
            conn.close()
        self._idle.clear()


async def exchange(
    origin: Origin,
    method: str,
    url: str,
    head: bytes,
    body: bytes | None,
    clock: Any,
) -> Answer:
    """Send one request on a pooled connection and wait for its answer's head (`clock` is
    run once the request is written). A reused connection that dies before any byte of the
    answer is replaced once, for an idempotent method only (see the module's docstring)."""
    retry = method in IDEMPOTENT
    while True:
        conn, reused = await origin.pool.acquire(clock)
        try:
            waiter = conn.send(head, body)
            if clock is not None:
                clock.run()
            message, payload = await waiter
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            conn.close()
            if retry and reused and not conn.answered:
                retry = False
                continue
            raise
        except HttpProcessingError as exc:
            conn.close()
            raise _bad_answer(method, url, exc) from exc
        except BaseException:
            conn.close()  # given up on (a timeout, the agent gone): the answer would be stray
            raise
        answer = Answer(message, payload, conn)
        conn.hand(answer)
        return answer


def _bad_answer(method: str, url: str, exc: HttpProcessingError) -> aiohttp.ClientResponseError:
    """What aiohttp's client raised for an answer its parser refused (a bad status line...)."""
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    where = URL(url)
    info = RequestInfo(where, method, CIMultiDictProxy(CIMultiDict()), where)
    return aiohttp.ClientResponseError(
        info, (), status=exc.code, message=exc.message, headers=exc.headers
    )
